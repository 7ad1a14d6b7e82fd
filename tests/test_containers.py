"""The Dockerfile and docker-compose.yml, checked without a Docker engine: lint, targets, the
install step. An optional part's image (a stage of its own) is checked in its tests/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
HADOLINT = Path(sys.executable).parent / "hadolint"


def stage(name: str) -> str:
    """The instructions of the Dockerfile stage ``name`` (up to the next FROM)."""
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    assert match, f"Dockerfile: no stage {name}"
    return match.group(1)


@pytest.mark.skipif(not HADOLINT.exists() and not shutil.which("hadolint"), reason="hadolint not installed")
def test_hadolint_passes() -> None:
    binary = str(HADOLINT) if HADOLINT.exists() else "hadolint"
    result = subprocess.run([binary, "Dockerfile"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_image_is_the_readmes_install_step_in_its_venv() -> None:
    # The README's install step with the EXTRAS build argument, into /opt/venv.
    assert 'make install VENV=/opt/venv EXTRAS="${EXTRAS}"' in stage("venv")
    assert "COPY --from=venv /opt/venv /opt/venv" in stage("pipeline")
    # The pipeline is the last stage: what a plain `docker build` makes.
    assert re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.M)[-1] == "pipeline"


def test_torch_comes_from_the_cpu_index_by_default() -> None:
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in DOCKERFILE
    assert (
        "torch==2.13.0+cpu ; sys_platform == 'linux'" in (ROOT / "requirements.lock").read_text().splitlines()
    )
    assert 'TORCH_INDEX_URL="${TORCH_INDEX_URL}"' in stage("venv")


def test_compose_runs_the_pipeline_image_on_the_checkout() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert services["pipeline"]["build"]["target"] == "pipeline"
    # The checkout as a whole (outputs are replaced by rename; a mount point cannot be).
    assert services["pipeline"]["volumes"] == [".:/home/app/project"]
