"""``make verify``: reproduce the committed results on this machine, artifact by artifact.

Clones the committed HEAD into a temp folder, runs every stage there (``dvc repro --force``)
with this project's environment, and compares what it made with the committed ``dvc.lock``:
each output is identical or different; for a folder that differs, which files in it; for a
metrics file that differs, both values of each metric. Exits 1 if anything differs, 2 if the
pipeline itself fails.

The clone shares this repository's DVC cache: it can then check out inputs tracked by
``.dvc`` files, and list the files of a committed folder that differs (after ``dvc pull``, or a
``dvc repro`` here, the cache holds the committed folder's file list).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(args, cwd=cwd, env=env, text=True, **kwargs)


def lock_outputs(lock: dict[str, Any]) -> dict[str, str]:
    """``{path: md5}`` of every stage output and metrics file in a parsed ``dvc.lock``."""
    outputs = {}
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            outputs[out["path"]] = out.get("md5", "")
    return outputs


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def metric_differences(committed: str, reproduced: str) -> list[str]:
    """``key: committed -> reproduced`` for each value that differs between two JSON texts."""
    try:
        old, new = flatten(json.loads(committed)), flatten(json.loads(reproduced))
    except json.JSONDecodeError:
        return []
    return [
        f"{key}: {old.get(key, '(absent)')} -> {new.get(key, '(absent)')}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


def dir_manifest(cache: Path, md5: str) -> dict[str, str] | None:
    """``{relpath: md5}`` of a DVC folder hash, from the cache; None if it is not there."""
    path = cache / "files" / "md5" / md5[:2] / md5[2:]
    if not path.is_file():
        return None
    return {entry["relpath"]: entry["md5"] for entry in json.loads(path.read_text())}


def file_differences(cache: Path, committed: str, reproduced: str) -> str:
    old, new = dir_manifest(cache, committed), dir_manifest(cache, reproduced)
    if old is None or new is None:
        return "(the committed file list is not in the DVC cache: `dvc pull` it to see which files)"
    changed = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    notes = {
        name: " (only in the reproduced folder)" if name not in old else " (not reproduced)"
        for name in changed
        if name not in old or name not in new
    }
    same = len(set(old) & set(new)) - len([n for n in changed if n in old and n in new])
    listed = ", ".join(name + notes.get(name, "") for name in changed)
    return f"files that differ: {listed}; {same} identical"


def compare(clone: Path, committed_lock: dict, cache: Path) -> list[tuple[str, bool, list[str]]]:
    """``(path, identical, details)`` for every output of the committed lock."""
    reproduced = lock_outputs(yaml.safe_load((clone / "dvc.lock").read_text()))
    rows: list[tuple[str, bool, list[str]]] = []
    for path, md5 in lock_outputs(committed_lock).items():
        new_md5 = reproduced.get(path)
        if new_md5 == md5:
            rows.append((path, True, []))
            continue
        details = []
        if new_md5 is None:
            details.append("not produced by this run")
        elif md5.endswith(".dir"):
            details.append(file_differences(cache, md5, new_md5))
        elif path.endswith(".json"):  # metrics and plot data: both values of what changed
            committed_text = run(["git", "show", f"HEAD:{path}"], clone, capture_output=True).stdout
            details.extend(metric_differences(committed_text, (clone / path).read_text()))
        rows.append((path, False, details))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temp clone and print its path")
    args = parser.parse_args()
    head = run(["git", "rev-parse", "--short", "HEAD"], ROOT, capture_output=True, check=True).stdout.strip()
    cache = Path(run(["dvc", "cache", "dir"], ROOT, capture_output=True, check=True).stdout.strip())
    work = Path(tempfile.mkdtemp(prefix="verify-"))
    clone = work / "repo"
    run(["git", "clone", "--quiet", str(ROOT), str(clone)], ROOT, check=True)
    committed_lock = yaml.safe_load((clone / "dvc.lock").read_text())
    run(["dvc", "cache", "dir", "--local", str(cache)], clone, check=True)
    run(["dvc", "checkout", "--quiet"], clone, capture_output=True)  # inputs tracked by .dvc files
    print(f"verify: reproducing commit {head} in {clone} (dvc repro --force: every stage runs)", flush=True)
    if run(["dvc", "repro", "--force"], clone).returncode != 0:
        print(f"verify: the pipeline failed at commit {head} (its output is above)", file=sys.stderr)
        return 2
    rows = compare(clone, committed_lock, cache)
    width = max(len(path) for path, _, _ in rows)
    print(f"\nverify: commit {head} against its dvc.lock")
    for path, identical, details in rows:
        print(f"  {path:<{width}}  {'identical' if identical else 'DIFFERENT'}")
        for line in details:
            print(f"  {'':<{width}}    {line}")
    different = sum(not identical for _, identical, _ in rows)
    print(f"verify: {len(rows) - different} of {len(rows)} artifacts identical", flush=True)
    if args.keep:
        print(f"verify: the clone is kept in {clone}")
    else:
        shutil.rmtree(work)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
