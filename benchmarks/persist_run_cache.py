"""What ``persist: true`` on every stage output costs: DVC's run cache (issue 21, BUG 4).

DVC keeps a stage with a persisted output out of its run cache, so going back to params that
ran before re-runs the stage instead of restoring its outputs. In two temp copies of the
project (git init, synthetic data of ``--rows`` rows), one with dvc.yaml as committed and one
with ``persist: false`` on every output but ``checkpoints`` (persisted before this change, so
train never used the run cache), it runs ``dvc repro`` with split.modulus 10, then 20, then 10
again, and prints the time of that last run and the stages it ran.

    .venv/bin/python benchmarks/persist_run_cache.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.params import read_params_yaml  # noqa: E402

VENV_BIN = Path(sys.executable).parent
DVC = str(VENV_BIN / "dvc")
# The stages' `python` is this venv's; no analytics.
ENV = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1"}


def project_copy(dest: Path, rows: int, persist: bool) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in files.splitlines():
        if not (ROOT / name).is_file() or name == "dvc.lock":
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, dest / name)
    if not persist:
        text = (dest / "dvc.yaml").read_text().replace("persist: true", "persist: false")
        text = re.sub(r"(- checkpoints:\n\s+)persist: false", r"\1persist: true", text)
        (dest / "dvc.yaml").write_text(text)
    set_params(dest, data={"synthetic_rows": rows})
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        subprocess.run(command, cwd=dest, check=True, capture_output=True)


def set_params(folder: Path, **sections: dict) -> None:
    params = read_params_yaml(folder / "params.yaml")
    for section, values in sections.items():
        params[section].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def repro(folder: Path) -> tuple[float, list[str]]:
    start = time.perf_counter()
    result = subprocess.run([DVC, "repro"], cwd=folder, env=ENV, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"dvc repro failed in {folder}:\n{result.stdout}{result.stderr}")
    out = result.stdout
    return time.perf_counter() - start, re.findall(r"Running stage '(\w+)'", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for persist in (True, False):
            folder = Path(tmp) / f"persist-{persist}"
            folder.mkdir()
            project_copy(folder, args.rows, persist)
            repro(folder)
            split = {"modulus": 20, "train": [0, 16], "valid": [16, 18], "test": [18, 20]}
            set_params(folder, split=split)
            repro(folder)
            set_params(folder, split={"modulus": 10, "train": [0, 8], "valid": [8, 9], "test": [9, 10]})
            results[persist] = repro(folder)
    for persist, (seconds, ran) in results.items():
        label = "persist: true (committed)" if persist else "persist: false (run cache)"
        print(f"{label:28} back to modulus 10: {seconds:6.1f} s, ran {ran or 'nothing (restored)'}")
    print(f"persist/run-cache time ratio: {results[True][0] / results[False][0]:.2f}x")


if __name__ == "__main__":
    main()
