"""``python -m scripts.stage_deps`` (part of ``make schema``): each stage's code deps in
dvc.yaml, derived from the imports.

A stage's code is its ``python -m`` module and every project module it imports, transitively,
function-level imports included, found by reading the code, not by running it. A file that is
missing from the deps re-runs nothing when it changes; a file listed but never read re-runs
the stage for nothing. So the ``.py`` lines of each stage's ``deps:`` are written from the
imports, sorted, where the first of them stood; every other line (data, ``requirements.lock``,
comments) stays as it was. ``--check`` writes nothing and exits 1 when dvc.yaml is stale
(tests/test_dvc_deps.py runs it).

An import is ``import x``, ``from x import y`` (relative ones too), or
``importlib.import_module("x")`` with a literal name: how an optional part's registration
loads it on one line.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DVC_YAML = "dvc.yaml"
_PYTHON_STAGE = re.compile(r"python -m ([\w.]+)")
_DEP_LINE = re.compile(r"^(?P<indent> +)- (?P<path>[^\s#]+)(?P<comment>\s+#.*)?$")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The project file of module ``name`` (``train.registry``), or None if not ours."""
    parts = name.split(".")
    if not (root / parts[0] / "__init__.py").is_file():
        return None
    for candidate in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, package: str) -> set[str]:
    """Module names ``path`` imports, anywhere in the file; parent packages included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*anchor, base]))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif _is_import_module_call(node):
            names.add(node.args[0].value)  # type: ignore[attr-defined]
    parents = {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 1)}
    return names | parents


def _is_import_module_call(node: ast.AST) -> bool:
    """``import_module("x")`` or ``importlib.import_module("x")`` with a literal name."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
        return False
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    return name == "import_module" and isinstance(node.args[0].value, str)


def docstring_only(path: Path) -> bool:
    """A file that holds a docstring and nothing else (a package's ``__init__.py``) runs no
    code, so it cannot change a stage's outputs: it is not a dependency."""
    body = ast.parse(path.read_text()).body
    return len(body) <= 1 and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )


def stage_code(module: str, root: Path = ROOT) -> set[str]:
    """Repository-relative paths of the files ``python -m module`` runs."""
    main = module_file(f"{module}.__main__", root) or module_file(module, root)
    if main is None:
        raise SystemExit(f"{DVC_YAML}: python -m {module}: no such module in the repository")
    pending = [(main, module)] + [
        (module_file(parent, root), parent) for parent in (module.split(".")[0], module.rsplit(".", 1)[0])
    ]
    seen: set[Path] = set()
    while pending:
        path, name = pending.pop()
        if path is None or path in seen:
            continue
        seen.add(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        pending.extend((module_file(n, root), n) for n in imported_modules(path, package))
    return {p.relative_to(root).as_posix() for p in seen if not docstring_only(p)}


def python_stages(dvc_yaml: str) -> dict[str, str]:
    """Each stage whose command is ``python -m MODULE``, and that module."""
    stages = (yaml.safe_load(dvc_yaml) or {}).get("stages", {})
    return {
        name: match.group(1)
        for name, stage in stages.items()
        if (match := _PYTHON_STAGE.fullmatch(str(stage.get("cmd", "")).strip()))
    }


def with_derived_deps(dvc_yaml: str, code: dict[str, set[str]]) -> str:
    """``dvc_yaml`` with each stage's ``.py`` deps replaced by ``code[stage]``, sorted, where the
    first of them stood (after the other deps if it had none); a kept file keeps its comment."""
    lines = dvc_yaml.splitlines(keepends=True)
    out: list[str] = []
    stage = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (match := re.match(r"^  (\w+):\s*$", line)) and not line.startswith("   "):
            stage = match.group(1)
        out.append(line)
        i += 1
        if stage in code and line.strip() == "deps:":
            block = []
            while i < len(lines) and (lines[i].startswith(" " * 6) or not lines[i].strip()):
                block.append(lines[i])
                i += 1
            out.extend(_rewrite_deps(block, code[stage]))
    return "".join(out)


def _rewrite_deps(block: list[str], code: set[str]) -> list[str]:
    items = [_DEP_LINE.match(line) for line in block]
    comments = {m["path"]: m["comment"] or "" for m in items if m and m["path"].endswith(".py")}
    indent = next((m["indent"] for m in items if m), " " * 6)
    derived = [f"{indent}- {path}{comments.get(path, '')}\n" for path in sorted(code)]
    kept: list[str] = []
    for line, match in zip(block, items, strict=True):
        if match and match["path"].endswith(".py"):
            kept.extend(derived)
            derived = []
        else:
            kept.append(line)
    if derived:  # no .py dep yet: after the last listed dep
        last = max((n for n, m in enumerate(items) if m), default=-1)
        kept[last + 1 : last + 1] = derived
    return kept


def derived_dvc_yaml(root: Path = ROOT) -> str:
    text = (root / DVC_YAML).read_text()
    code = {stage: stage_code(module, root) for stage, module in python_stages(text).items()}
    return with_derived_deps(text, code)


def main(argv: list[str]) -> int:
    path = ROOT / DVC_YAML
    derived = derived_dvc_yaml()
    if derived == path.read_text():
        return 0
    if argv == ["--check"]:
        print(f"{DVC_YAML}: the stages' code deps are stale (run `make schema`)", file=sys.stderr)
        return 1
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(derived)
    temp.replace(path)
    print(f"wrote {DVC_YAML}'s code deps")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
