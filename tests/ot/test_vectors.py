"""Replay tests/vectors/text_operations.json, the hand-checked cases every suite shares.

The JavaScript client's tests replay the same file, so both sides agree on every case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ot import InvalidOperation, TextOperation, compose, transform, transform_index

VECTORS = Path(__file__).parents[1] / "vectors" / "text_operations.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
KINDS = {"apply", "compose", "transform", "invert", "transform_index", "invalid", "normalize"}


def op(data: Any) -> TextOperation:
    return TextOperation.from_json(data)


def test_the_file_is_well_formed() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert {case["kind"] for case in CASES} == KINDS


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector(case: dict[str, Any]) -> None:
    kind = case["kind"]
    if kind == "apply":
        assert op(case["op"]).apply(case["doc"]) == case["result"]
    elif kind == "compose":
        a, b = op(case["a"]), op(case["b"])
        assert compose(a, b).to_json() == case["result"]
        assert op(case["result"]).apply(case["doc"]) == b.apply(a.apply(case["doc"]))
    elif kind == "transform":
        a, b = op(case["a"]), op(case["b"])
        a2, b2 = transform(a, b)
        assert a2.to_json() == case["a_prime"]
        assert b2.to_json() == case["b_prime"]
        assert b2.apply(a.apply(case["doc"])) == case["result"]
        assert a2.apply(b.apply(case["doc"])) == case["result"]
    elif kind == "invert":
        inverse = op(case["op"]).invert(case["doc"])
        assert inverse.to_json() == case["result"]
        assert inverse.apply(op(case["op"]).apply(case["doc"])) == case["doc"]
    elif kind == "transform_index":
        assert transform_index(case["index"], op(case["op"])) == case["result"]
    elif kind == "invalid":
        with pytest.raises(InvalidOperation):
            TextOperation.from_json(case["op"])
    else:
        assert kind == "normalize"
        assert op(case["op"]).to_json() == case["result"]
