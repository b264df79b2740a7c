# The two commands of the README: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint bench install

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

serve: $(BIN)/.installed
	$(BIN)/collab serve $(ARGS)

test: $(BIN)/.installed
	$(BIN)/pytest -q
	cd web && node --test test/

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.engine
