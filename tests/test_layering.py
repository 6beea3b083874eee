"""The structure holds: the allowed-imports table of docs/architecture.md is what the code does,
no package cycle, the public API is declared, and no function grows past 80 lines."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import pkgutil
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest

import blockwatch
from layering import cycles, package_graph, parse_rules, top_level_imports, violations

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "blockwatch"
RULES = parse_rules((REPO / "docs" / "architecture.md").read_text())
MAX_FUNCTION_LINES = 80


def test_the_table_has_a_row_for_every_package_and_the_restricted_modules() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(RULES.allowed)
    assert RULES.only == {"store.writer": {"pipeline"}, "store.rewrite": {"pipeline"}}


def test_every_import_in_the_code_is_allowed_by_the_table() -> None:
    assert violations(SRC, RULES) == []


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_code_imports_only_the_standard_library_and_its_declared_dependencies() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_canonical(re.split(r"[<>=!~ \[;]", d)[0]) for d in project["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        name: where
        for name, where in top_level_imports(SRC).items()
        if name not in sys.stdlib_module_names
        and not {_canonical(d) for d in providers.get(name, [])} & declared
    }
    assert undeclared == {}


def test_no_cycle_between_packages_in_the_code_or_in_the_table() -> None:
    assert cycles(package_graph(SRC, RULES)) == []
    table = {k: {RULES.owner(g) or g for g in v} - {"*", k} for k, v in RULES.allowed.items()}
    assert cycles(table) == []


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def test_only_the_pipeline_calls_the_stores_batch_writer() -> None:
    # Store.write_batch is called by the store's Writer, and a Writer is made by the pipeline.
    callers = {
        p.relative_to(SRC).as_posix(): _calls(p) & {"write_batch", "Writer"}
        for p in SRC.rglob("*.py")
    }
    assert {k: v for k, v in callers.items() if v} == {
        "store/writer.py": {"write_batch"},
        "pipeline/ingest.py": {"Writer"},
        "pipeline/bulk.py": {"Writer"},
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the source tree to break on purpose."""
    copy = tmp_path / "blockwatch"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_the_check_fails_when_analysis_imports_the_store(tree: Path) -> None:
    _append(tree / "analysis" / "bogons.py", "\nfrom blockwatch.store import Store\n")
    found = violations(tree, RULES)
    assert any("analysis may not import store" in v for v in found), found


def test_the_check_fails_on_a_forbidden_import_hidden_in_a_function(tree: Path) -> None:
    _append(
        tree / "probe" / "testlist.py",
        "\n\ndef _sneak() -> None:\n    # a comment does not make it allowed\n"
        "    from blockwatch.control.helper import Helper  # noqa\n",
    )
    found = violations(tree, RULES)
    assert any("probe may not import control.helper" in v for v in found), found


def test_the_check_fails_on_an_uncommented_import_in_a_function(tree: Path) -> None:
    _append(tree / "web" / "views.py", "\n\ndef _lazy() -> None:\n    import json\n")
    found = violations(tree, RULES)
    assert any("views" in v and "needs a comment" in v for v in found), found


def test_the_check_fails_when_the_web_writes_batches(tree: Path) -> None:
    _append(tree / "web" / "views.py", "\nfrom blockwatch.store.writer import Writer\n")
    found = violations(tree, RULES)
    assert any("only ['pipeline'] may import store.writer" in v for v in found), found


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("import blockwatch\n", "not the whole of blockwatch"),
        ("import importlib\nimportlib.import_module('blockwatch.store')\n", "may not import store"),
        ("import importlib\nimportlib.import_module(NAME)\n", "cannot follow"),
        ("\n\ndef _f() -> None:\n    import json  # noqa: PLC0415\n", "needs a comment"),
    ],
)
def test_the_check_sees_through_other_ways_of_importing(tree: Path, code: str, why: str) -> None:
    _append(tree / "analysis" / "bogons.py", "\n" + code)
    found = violations(tree, RULES)
    assert any(v.startswith("analysis.bogons:") and why in v for v in found), found


def test_the_check_fails_on_a_module_no_row_owns(tree: Path) -> None:
    (tree / "newstage").mkdir()
    (tree / "newstage" / "__init__.py").write_text('"""A stage without a row."""\n')
    assert any("newstage" in v and "no row" in v for v in violations(tree, RULES))


def _packages() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(blockwatch.__path__, "blockwatch.") if m.ispkg]


@pytest.mark.parametrize("name", ["blockwatch", *_packages()])
def test_every_package_declares_its_public_names(name: str) -> None:
    package = importlib.import_module(name)
    assert isinstance(package.__all__, list), f"{name} has no __all__"
    missing = [n for n in package.__all__ if not hasattr(package, n)]
    assert missing == [], f"{name}.__all__ names what it does not have"


def test_the_package_ships_its_type_hints() -> None:
    assert (SRC / "py.typed").is_file()


def test_no_function_outside_the_tests_is_longer_than_80_lines() -> None:
    long = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.name} ({lines} lines)")
    assert long == []
