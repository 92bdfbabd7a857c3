"""The shape of the annotator package: no import circles, services that the web
process can import without the recognizer's training side, and a web process
that never loads PyTorch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "annotator"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def annotator_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def imported_names(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, resolved
    to full names (``from a import b`` names ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path) if path.is_relative_to(ROOT) else path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    modules = annotator_modules()
    return {
        name: {target for target in imported_names(path) if target in modules and target != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_annotator_import_graph_has_no_circles() -> None:
    graph = import_graph()
    assert "annotator.jobs.training" in graph["annotator.tasks"], "the graph sees the tasks' imports"
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from annotator import tasks\n", encoding="utf-8")
    assert "annotator.tasks" in imported_names(source)


def test_services_import_neither_torch_nor_training_nor_the_tasks() -> None:
    forbidden = ("torch", "recognition.train", "annotator.tasks", "annotator.jobs")
    for path in sorted((PACKAGE / "services").glob("*.py")):
        bad = sorted(
            name for name in imported_names(path) if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        assert bad == [], f"{path.name} imports {bad}"


def test_the_web_process_never_loads_pytorch() -> None:
    """Everything the web serves (urls: the API and its services), imported in a
    fresh interpreter, leaves torch out of sys.modules."""
    code = (
        "import sys, django; django.setup(); import annotator.urls, annotator.services, annotator.admin; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('recognition.train', 'annotator.jobs', "
        "'annotator.tasks'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "annotator.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
