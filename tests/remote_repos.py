"""Helpers for the S3 remote tests: a bare git remote, clones of it, and integrity checks."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import yaml
from botocore.client import BaseClient

from tests.conftest import Repo

OUTPUT_DIRS = ("data/raw", "data/prepared", "model", "metrics")
STAGES = ("get_data", "prepare_data", "train", "evaluate")


def ran_stages(output: str) -> list[str]:
    return [s for s in STAGES if f"Running stage '{s}'" in output]


def add_bare_origin(repo: Repo, bare: Path) -> None:
    """Create a bare repository at ``bare``, make it ``origin`` and push ``main`` to it."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    repo.run("git", "remote", "add", "origin", str(bare))
    repo.run("git", "push", "-q", "origin", "main")


def clone(bare: Path, dest: Path) -> Repo:
    """``git clone`` of the bare remote: what a coworker or CI starts from (no DVC cache)."""
    subprocess.run(["git", "clone", "-q", str(bare), str(dest)], check=True)
    repo = Repo(dest)
    repo.run("git", "config", "user.email", "coworker@example.com")
    repo.run("git", "config", "user.name", "coworker")
    return repo


def file_md5s(root: Path, dirs: tuple[str, ...] = OUTPUT_DIRS) -> dict[str, str]:
    """``relative path -> md5`` of every file under ``dirs`` of ``root``."""
    digests = {}
    for name in dirs:
        for path in sorted((root / name).rglob("*")):
            if path.is_file():
                digests[path.relative_to(root).as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return digests


def cache_objects(repo: Repo) -> dict[str, Path]:
    """``md5 -> path`` of every object in the repository's DVC cache (``.dir`` listings too)."""
    objects = {}
    root = repo.path / ".dvc/cache/files/md5"
    for path in root.glob("*/*"):
        objects[path.parent.name + path.name.removesuffix(".dir")] = path
    return objects


def cached_out_md5s(repo: Repo) -> set[str]:
    """md5 of every cached output in ``dvc.lock`` (a directory's ``.dir`` listing for a folder);
    outputs with ``cache: false`` in dvc.yaml (metrics, plots, checkpoints) live elsewhere.
    """
    uncached = set()
    for stage in yaml.safe_load((repo.path / "dvc.yaml").read_text())["stages"].values():
        for out in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
            if isinstance(out, dict):
                uncached.update(
                    path for path, options in out.items() if (options or {}).get("cache") is False
                )
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    return {
        out["md5"].removesuffix(".dir")
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] not in uncached
    }


def assert_cache_intact(repo: Repo) -> None:
    """Every cache object's content hashes to its name: nothing partial or damaged."""
    objects = cache_objects(repo)
    assert objects, f"{repo.path}: empty DVC cache"
    for md5, path in objects.items():
        actual = hashlib.md5(path.read_bytes()).hexdigest()
        assert actual == md5, f"{path}: content md5 {actual}"


def remote_md5s(client: BaseClient, bucket: str, prefix: str) -> set[str]:
    """md5 of every object of a DVC 3 remote at ``s3://bucket/prefix`` (``files/md5/ab/cdef...``)."""
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}files/md5/"):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return {key.removeprefix(f"{prefix}files/md5/").replace("/", "").removesuffix(".dir") for key in keys}
