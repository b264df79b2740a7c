"""The engine's public surface, and its promise to need nothing but the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ot

OT_DIR = Path(ot.__file__).parent


def test_exported_members() -> None:
    assert ot.__all__ == [
        "Component",
        "InvalidOperation",
        "LengthMismatch",
        "OTError",
        "Range",
        "Selection",
        "TextBuffer",
        "TextOperation",
        "compose",
        "from_splice",
        "rebase",
        "transform",
        "transform_index",
    ]
    for name in ot.__all__:
        assert hasattr(ot, name), name


def test_errors_are_value_errors() -> None:
    assert issubclass(ot.InvalidOperation, ot.OTError)
    assert issubclass(ot.LengthMismatch, ot.OTError)
    assert issubclass(ot.OTError, ValueError)


def imported_top_level_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside the package
                modules.add("ot")
            else:
                assert node.module is not None
                modules.add(node.module.split(".")[0])
    return modules


def test_the_engine_imports_only_the_standard_library() -> None:
    files = sorted(OT_DIR.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        outside = {
            m
            for m in imported_top_level_modules(path)
            if m != "ot" and m not in sys.stdlib_module_names
        }
        assert not outside, f"{path.name} imports {sorted(outside)}"
