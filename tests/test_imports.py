"""The code's layout holds: no import cycles, no private names across modules, no stage
importing another stage, except through the one door listed below, and no function above
radon's grade C.

The imports are read from the code (``tests.test_dvc_deps``), function-level ones included:
a cycle that works only because one of its imports sits inside a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

from scripts.stage_deps import imported_modules, module_file
from tests.conftest import ROOT

# The optional parts, each a folder, and the stage it extends: a part builds on its stage's
# modules, and the stage imports the part only at its registration (tests/test_optional_parts.py).
# A part's params section (``<part>.params``) is registered in common/params.py: the one import
# of a part that common makes.
# The model service (serve) builds on train's model store, as evaluate and predict do.
PARTS = {"serve": "train", "spark_engine": "prepare_data", "torch_model": "train"}
PACKAGES = ("common", "prepare_data", "train", "evaluate", "predict", *PARTS)
# The stages that load a trained model do it through train's model store, which knows every
# model's format and checks it against dvc.lock. The remaining step of issue 22 moves it, with
# the model code, out of train into a package of its own.
STAGE_DOORS = {"train.model_store"}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):  # a part's tests/ are not its code
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports (parent packages left out: a
    module always loads its own package first)."""
    graph = {}
    for name, path in project_modules().items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        imported = {n for n in imported_modules(path, package) if module_file(n) is not None}
        graph[name] = {n for n in imported if n != name and not name.startswith(f"{n}.")}
        graph[name] -= {n for n in graph[name] if module_file(n).name == "__init__.py" and n in PACKAGES}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
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


def test_there_are_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 50  # every module was read
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_another_modules_private_name() -> None:
    private = []
    for name, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and module_file(node.module):
                private += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []


def test_common_imports_no_stage_and_stages_meet_only_through_the_model_store() -> None:
    crossing = []
    for name, targets in import_graph().items():
        home = name.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other in (home, "common") or other in (
                PARTS.get(home),
                *[p for p, h in PARTS.items() if h == home],
            ):
                continue
            if name == "common.params" and other in PARTS and target == f"{other}.params":
                continue  # a part's params section, registered there
            if home == "common" or target not in STAGE_DOORS:
                crossing.append(f"{name} -> {target}")
    assert crossing == []


def imported_by_name(call: ast.Call) -> bool:
    """``import_module("literal")`` or ``importlib.import_module("literal")``."""
    function = call.func
    name = function.id if isinstance(function, ast.Name) else getattr(function, "attr", "")
    return (
        name == "import_module"
        and len(call.args) == 1
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def part_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, part)`` of each import of an optional part in ``path``, ``import_module``
    with a literal name included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        elif isinstance(node, ast.Call) and imported_by_name(node):
            names = [node.args[0].value]  # type: ignore[attr-defined]
        found += [
            (node.end_lineno or node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in PARTS
        ]
    return found


def test_the_core_imports_a_part_only_on_its_marked_lines() -> None:
    """Every import of an optional part outside its folder is one of its registration lines,
    which end in ``# optional part: <part>``: deleting them leaves no import of it behind."""
    unmarked = []
    for name, path in project_modules().items():
        home = name.split(".")[0]
        lines = path.read_text().splitlines()
        for line, part in part_imports(path):
            if part != home and not lines[line - 1].rstrip().endswith(f"# optional part: {part}"):
                unmarked.append(f"{path.relative_to(ROOT)}:{line}: {lines[line - 1].strip()}")
    assert unmarked == []


def test_no_function_is_above_radon_grade_c() -> None:
    """Every function of the stage code and the shared code reads in one sitting: cyclomatic
    complexity at most 20 (radon's grade C). Split a function that grows past it."""
    too_complex = []
    for name, path in project_modules().items():
        for block in cc_visit(path.read_text()):
            if cc_rank(block.complexity) not in "ABC":
                too_complex.append(f"{name}.{block.name}: {cc_rank(block.complexity)} ({block.complexity})")
    assert too_complex == []
