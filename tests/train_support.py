"""Small labelled phrase data and a runner for ``python -m train`` in a temp folder."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from tests.conftest import ROOT, test_env

POSITIVE = ["good", "great", "superb", "lovely", "fun", "moving"]
NEGATIVE = ["bad", "awful", "dull", "weak", "boring", "poor"]
NEUTRAL = ["movie", "plot", "actor", "the", "a", "scene", "story", "film", "it", "was", "and", "of"]


def phrases(rows: int, seed: int) -> tuple[list[str], list[int]]:
    """Phrases with a long tail of lengths; the label is the sign of (positive - negative) words."""
    rng = np.random.default_rng(seed)
    words = np.array(POSITIVE + NEGATIVE + NEUTRAL)
    texts, labels = [], []
    for _ in range(rows):
        length = 1 + min(int(rng.lognormal(1.3, 0.8)), 60)
        chosen = list(rng.choice(words, size=length))
        score = sum(w in POSITIVE for w in chosen) - sum(w in NEGATIVE for w in chosen)
        if score == 0:
            extra = str(rng.choice(POSITIVE + NEGATIVE))
            chosen.insert(int(rng.integers(0, length + 1)), extra)
            score = 1 if extra in POSITIVE else -1
        texts.append(" ".join(chosen))
        labels.append(int(score > 0))
    return texts, labels


def write_split(folder: Path, name: str, texts: list[Any], labels: list[int]) -> None:
    prepared = folder / "data/prepared"
    prepared.mkdir(parents=True, exist_ok=True)
    table = pa.table({"Phrase": pa.array(texts, pa.string()), "label": pa.array(labels, pa.int64())})
    pq.write_table(table, prepared / f"{name}.parquet")


def make_stage_folder(folder: Path, train_rows: int, model: str, **sections: dict[str, Any]) -> Path:
    """A folder with params.yaml and prepared train/valid splits, ready for ``python -m train``;
    ``sections``: train's params sections (``logreg={"C": 1.0}``)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_split(folder, "train", *phrases(train_rows, seed=1))
    write_split(folder, "valid", *phrases(max(50, train_rows // 5), seed=2))
    params = {"train": {"model": model, "seed": 7, **sections}}
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    return folder


def train_command_env() -> dict[str, str]:
    env = test_env()
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_train(folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "train"],
        cwd=folder,
        env=train_command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_train(folder: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "train"],
        cwd=folder,
        env=train_command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def has_no_model(folder: Path) -> bool:
    model = folder / "model"
    return not model.exists() or not any(model.iterdir())
