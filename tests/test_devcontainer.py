"""`.devcontainer/devcontainer.json` agrees with the Dockerfile it builds on (no Docker needed;
``make test-images`` builds it: containers/test_images.py)."""

from __future__ import annotations

import json
import re

from tests.conftest import ROOT

CONFIG = ROOT / ".devcontainer/devcontainer.json"


def stage_workdir(dockerfile: str, stage: str) -> str:
    """The last WORKDIR of a build stage (``FROM ... AS stage`` up to the next ``FROM``)."""
    match = re.search(rf"^FROM \S+ AS {stage}\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S)
    assert match, f"Dockerfile: no stage {stage}"
    return re.findall(r"^WORKDIR (\S+)", match.group(1), re.M)[-1]


def test_the_dev_container_builds_the_pipeline_image_with_its_environment_and_extensions() -> None:
    config = json.loads(CONFIG.read_text())
    build = config["build"]
    dockerfile = (CONFIG.parent / build["dockerfile"]).resolve()
    assert dockerfile == ROOT / "Dockerfile"
    assert (CONFIG.parent / build["context"]).resolve() == ROOT
    workdir = stage_workdir(dockerfile.read_text(), build["target"])
    # The image's venv (/opt/venv, made by `make install` at build time, with the test extra) is
    # the environment in the container; the workspace is mounted where the image's project is.
    assert config["workspaceFolder"] == workdir
    assert f"target={workdir}," in config["workspaceMount"]
    assert build["args"]["EXTRAS"].split() == ["serve", "torch", "test"]
    assert (
        config["customizations"]["vscode"]["settings"]["python.defaultInterpreterPath"]
        == "/opt/venv/bin/python"
    )
    assert "ln -s /opt/venv .venv" in config["postCreateCommand"]
    assert "pre-commit install" in config["postCreateCommand"]
    extensions = config["customizations"]["vscode"]["extensions"]
    assert {"Iterative.dvc", "ms-python.python"} <= set(extensions)
