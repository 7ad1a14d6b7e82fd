"""The service image's stages of the Dockerfile and the ``serve`` service of
docker-compose.yml, checked without a Docker engine (tests/test_containers.py's way, with its
helpers): the image holds the code ``python -m serve`` runs and none of the test tools, and
none of what it uninstalls is imported by that code."""

from __future__ import annotations

import re
from importlib import metadata

import yaml
from packaging.utils import canonicalize_name

from scripts.stage_deps import imported_modules, stage_code
from tests.conftest import ROOT
from tests.test_containers import stage


def test_the_service_image_copies_the_code_serve_runs_and_installs_no_test_extra() -> None:
    serve = stage("serve")
    copied = set(re.findall(r"^COPY (\w+)/ \1/$", serve, re.M))
    needed = {path.split("/")[0] for path in stage_code("serve")}
    assert needed <= copied, f"Dockerfile serve stage misses {sorted(needed - copied)}"
    # The README's install step, the core and the serve extra by default (EXTRAS="serve torch"
    # for a torch model), without pip and bytecode caches (serve-venv).
    build = stage("venv")
    assert 'ARG EXTRAS="serve"\n' in build and 'make install VENV=/opt/venv EXTRAS="${EXTRAS}"' in build
    assert "pip uninstall" in stage("serve-venv")
    assert "COPY --from=serve-venv /opt/venv /opt/venv" in serve
    assert "COPY --from=venv /opt/venv /opt/venv" in stage("pipeline")
    assert re.search(r"^USER \d+:\d+$", serve, re.M)  # numeric, non-root
    assert not re.search(r"apt-get|gcc|build-essential", serve)
    assert re.search(r"^CMD \[\"python\", \"-m\", \"serve\"\]$", serve, re.M)


def test_compose_runs_the_pipeline_and_the_service_images() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["pipeline"]["build"]["target"] == "pipeline"
    assert services["serve"]["build"]["target"] == "serve"
    # The checkout as a whole (outputs are replaced by rename; a mount point cannot be).
    assert services["pipeline"]["volumes"] == [".:/home/app/project"]
    assert services["serve"]["ports"] == ["127.0.0.1:${SERVE_HOST_PORT:-8000}:8000"]
    assert "./model:/srv/model:ro" in services["serve"]["volumes"]
    assert "SERVE_PORT=8000" in stage("serve") and "WORKDIR /srv" in stage("serve")


def pruned_distributions() -> list[str]:
    """The distributions the serve-venv stage uninstalls (with what only they require)."""
    match = re.search(
        r"python -m scripts\.prune_venv --venv /opt/venv \\\n\s+([\w. -]+?) \\\n", stage("serve-venv")
    )
    assert match, "Dockerfile serve-venv: no scripts.prune_venv line"
    return match.group(1).split()


def test_the_service_code_imports_none_of_what_its_image_uninstalls() -> None:
    """scripts/prune_venv.py drops them from the service image: no file that ``python -m serve``
    runs may import them, but the ``--rev`` path's dvc, which says in one line that it is missing
    (serve/tests/test_serve.py). What they alone require, libraries import only optionally
    (``make test-images`` runs the service in the image)."""
    pruned = pruned_distributions()
    assert {"dvc", "dvclive", "pre-commit"} <= set(pruned)
    providers = metadata.packages_distributions()
    pruned_modules = {
        module: distribution
        for module, distributions in providers.items()
        for distribution in distributions
        if canonicalize_name(distribution) in {canonicalize_name(name) for name in pruned}
    }
    found = sorted(
        f"{path} imports {module} ({pruned_modules[module.split('.')[0]]})"
        for path in stage_code("serve")
        for module in imported_modules(ROOT / path, path.split("/")[0])
        if module.split(".")[0] in pruned_modules
        and not (path == "serve/model_source.py" and module.split(".")[0] == "dvc")
    )
    assert found == []
