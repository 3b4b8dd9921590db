"""The package's shape: imports flow one way, no module grows past a screenful of screens."""
import ast
from pathlib import Path

import isogen

PACKAGE = Path(isogen.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports() -> dict[str, set[str]]:
    """module -> the isogen modules it imports at run time (imports under `if TYPE_CHECKING:` excluded)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name, package = module_name(path), module_name(path if path.name == "__init__.py" else path.parent)
        tree = ast.parse(path.read_text())
        type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                     and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
        targets = set()
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
                targets |= {f"{stem}.{a.name}" if f"{stem}.{a.name}" in modules() else stem for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("isogen"):
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("isogen")}
        graph[name] = {t for t in targets if t != name}
    return graph


def modules() -> set[str]:
    return {module_name(p) for p in PACKAGE.rglob("*.py")}


def reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_import_cycles():
    graph = project_imports()
    assert graph["isogen.study"] and "isogen.metrics.evaluate" in graph["isogen.study"]  # the parser sees imports
    assert sorted(m for m in graph if m in reaches(graph, m)) == []


def test_imports_flow_one_way():
    graph = project_imports()
    everything = {m: reaches(graph, m) for m in graph}
    importers = {name for name, deps in everything.items() if "isogen.cli" in deps}
    assert importers <= {"isogen.__main__"}  # nothing but `python -m isogen` imports the command line
    for name, deps in everything.items():
        if name.startswith("isogen.metrics"):
            assert not deps & {"isogen.train", "isogen.study", "isogen.report"}, name  # evaluation needs no training
        if name.startswith("isogen.losses"):
            assert not {d for d in deps if not d.startswith("isogen.losses")}, name  # losses are pure math
    for leaf in ("isogen.geometry", "isogen.augment", "isogen.errors", "isogen.registry"):
        assert everything[leaf] <= {"isogen.errors"}, leaf


def test_no_module_over_300_lines():
    long = {module_name(p): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert long == {}
