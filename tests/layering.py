"""The import rules of docs/architecture.md, read from its tables and checked against a source
tree: every import of every module, at module level and inside functions."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = "blockwatch"
_CELL = re.compile(r"`([^`]+)`")
# Markers that are not a reason: a comment must say why beyond them.
_NOT_A_REASON = re.compile(r"noqa(:\s*[A-Z0-9, ]+)?|type:\s*ignore(\[[^\]]*\])?|fmt:\s*\w+")
_DYNAMIC = ("import_module", "__import__")


@dataclass
class Rules:
    """owner -> what it may import ({"*"}: anything); module -> the owners that may import it."""

    allowed: dict[str, set[str]] = field(default_factory=dict)
    only: dict[str, set[str]] = field(default_factory=dict)

    def owner(self, module: str) -> str | None:
        """The table row a module belongs to: the longest row name it is, or is under."""
        best = None
        for key in self.allowed:
            if (module == key or module.startswith(key + ".")) and len(key) > len(best or ""):
                best = key
        return best


def _table(markdown: str, header: str) -> list[tuple[str, str]]:
    """(first cell, second cell) of each row of the table whose header row starts so."""
    rows: list[tuple[str, str]] = []
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header):
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip("|").split("|")]
                rows.append((cells[0], cells[1]))
    return rows


def parse_rules(markdown: str) -> Rules:
    rules = Rules()
    for first, second in _table(markdown, "| package | may import |"):
        (name,) = _CELL.findall(first)
        rules.allowed[name] = {"*"} if second == "anything" else set(_CELL.findall(second))
    for first, second in _table(markdown, "| module | may be imported by |"):
        (name,) = _CELL.findall(first)
        rules.only[name] = set(_CELL.findall(second))
    return rules


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, relative to the package root ("ooni.reader")
    line: int
    target: str  # the imported module, relative to the root ("" for the root itself)
    in_function: bool
    commented: bool  # a comment on the line, or just above the block of imports it is in
    problem: str | None = None  # an import the check cannot follow, and why


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split(".")) if dotted else root
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_pkg: bool, root: Path) -> list[str]:
    """The modules of blockwatch an import statement reaches, relative to the root."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        # A bare `import blockwatch` reaches every package through attributes: name the
        # module instead ("blockwatch" itself only holds the version).
        return [n.removeprefix(ROOT).lstrip(".") or "*" for n in names if n.split(".")[0] == ROOT]
    if node.level:
        here = module.split(".") if module else []
        base = here if is_pkg else here[:-1]
        base = base[: len(base) - (node.level - 1)]
        stem = ".".join([*base, *([node.module] if node.module else [])])
    elif node.module and node.module.split(".")[0] == ROOT:
        stem = node.module.removeprefix(ROOT).lstrip(".")
    else:
        return []
    out = []
    for alias in node.names:  # `from blockwatch.web import report` reaches web.report
        sub = f"{stem}.{alias.name}" if stem else alias.name
        out.append(sub if _is_module(root, sub) else stem)
    return out


def _says_why(line: str) -> bool:
    """A comment on this line that says something (not only noqa or type: ignore)."""
    if "#" not in line:
        return False
    text = _NOT_A_REASON.sub("", line.split("#", 1)[1]).replace("#", "")
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= 2


def _commented(lines: list[str], lineno: int) -> bool:
    if _says_why(lines[lineno - 1]):
        return True
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith(("import ", "from ")):
        i -= 1
    return i >= 0 and lines[i].strip().startswith("#") and _says_why(lines[i])


def _dynamic(node: ast.Call) -> tuple[str | None, str | None] | None:
    """For a call of importlib.import_module or __import__: (target, None), or (None, why it
    cannot be checked); None for any other call. ``f"{__name__}.x"`` stays in its package."""
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
    if name not in _DYNAMIC or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        if arg.value.split(".")[0] != ROOT:
            return "", None
        return arg.value.removeprefix(ROOT).lstrip(".") or "*", None
    if isinstance(arg, ast.JoinedStr) and arg.values:
        first = arg.values[0]
        inner = first.value if isinstance(first, ast.FormattedValue) else None
        if isinstance(inner, ast.Name) and inner.id == "__name__":
            return None, None  # a module of this package
    return None, "a dynamic import the layering check cannot follow"


def imports_of(root: Path) -> Iterator[Import]:
    """Every import of blockwatch modules (and every import inside a function) under root."""
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        inner = {
            id(sub)
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
            for sub in ast.walk(fn)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (found := _dynamic(node)) is not None:
                target, problem = found
                if target is not None or problem is not None:
                    yield Import(module, node.lineno, target or "", True, True, problem)
                continue
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            in_function = id(node) in inner
            commented = _commented(lines, node.lineno)
            targets = _targets(node, module, path.name == "__init__.py", root)
            for target in targets:
                yield Import(module, node.lineno, target, in_function, commented)
            if in_function and not targets:  # a third-party import inside a function
                yield Import(module, node.lineno, "", in_function, commented)


def _allowed(rules: Rules, me: str, target: str) -> bool:
    mine = rules.owner(me)
    if target == "" or rules.owner(target) == mine:
        return True
    grants = rules.allowed.get(mine or "", set())
    return "*" in grants or any(target == g or target.startswith(g + ".") for g in grants)


def violations(root: Path, rules: Rules) -> list[str]:
    """Every import the rules forbid, as ``module:line: why``."""
    found: list[str] = []
    for name in sorted({module_name(root, p) for p in root.rglob("*.py")} - {""}):
        if rules.owner(name) is None:
            found.append(f"{name}: no row of the allowed-imports table owns this module")
    for imp in imports_of(root):
        where = f"{imp.module}:{imp.line}"
        if imp.problem is not None:
            found.append(f"{where}: {imp.problem}")
            continue
        if imp.target == "*":
            found.append(f"{where}: import the module you use, not the whole of {ROOT}")
            continue
        if imp.in_function and not imp.commented:
            found.append(f"{where}: an import inside a function needs a comment saying why")
        if not _allowed(rules, imp.module, imp.target):
            found.append(f"{where}: {rules.owner(imp.module)} may not import {imp.target}")
        for restricted, importers in rules.only.items():
            hits = imp.target == restricted or imp.target.startswith(restricted + ".")
            mine = rules.owner(imp.module)
            if hits and mine not in importers and mine != rules.owner(restricted):
                found.append(f"{where}: only {sorted(importers)} may import {restricted}")
    return found


def package_graph(root: Path, rules: Rules) -> dict[str, set[str]]:
    """Owner -> owners it imports, from the code."""
    graph: dict[str, set[str]] = {}
    for imp in imports_of(root):
        a, b = rules.owner(imp.module), rules.owner(imp.target) if imp.target else None
        if a and b and a != b:
            graph.setdefault(a, set()).add(b)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def top_level_imports(root: Path) -> dict[str, list[str]]:
    """Top-level module name -> where it is imported, for every module outside blockwatch."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != ROOT:
                    found.setdefault(top, []).append(f"{module}:{node.lineno}")
    return found
