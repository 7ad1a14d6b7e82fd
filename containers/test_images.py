"""``make test-images``: the Dockerfile's images built and run with a real Docker engine.

Both targets are built with BuildKit and with the legacy builder, the dev container from
``.devcontainer/devcontainer.json``'s build section; then the pipeline image reproduces
``dvc.lock``, compose's ``pipeline`` service runs on a clone, the docs' ``dvc exp run`` example
records an experiment, and the service image (``docker run`` with only ``model/`` mounted, and
``docker compose up serve``) answers with the model ``dvc.lock`` records. Not part of ``make
test`` (minutes of CPU): docs/containers.md.

Where no registry is reachable the base image is a stand-in (containers/base-image.sh); torch
comes from a loopback PEP 503 index of the wheels in ``$PIP_FIND_LINKS`` unless
``TORCH_INDEX_URL`` is set. Builds and the service use the host's network, so every request
goes to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from scripts.verify import lock_outputs

ROOT = Path(__file__).resolve().parent.parent
PIPELINE, SERVE = "sentiment-pipeline", "sentiment-serve"  # docker-compose.yml's image names
PROJECT = "/home/app/project"
COMPOSE_PROJECT = "sentiment-images-test"
HEALTHY_WITHIN_S = 120
# The loopback torch index's port: the same on every run, because TORCH_INDEX_URL is a build
# argument of the install step, so part of its cache key (a new port: every build installs again).
TORCH_INDEX_PORT = 38503
# The checkout's owner in the compose tests: the host user, or as root a uid the image lacks.
OWNER = "4321:4321" if os.getuid() == 0 else f"{os.getuid()}:{os.getgid()}"
TIMES: dict[str, float] = {}


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, fail the test with its output (the build log, the error)."""
    kwargs.setdefault("capture_output", True)
    result = subprocess.run(args, text=True, **kwargs)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"[-6000:])
    return result


def docker_cli() -> str:
    """A docker client that can build with BuildKit: one with buildx, or a 20.10 one (built in)."""
    candidates = [c for c in (shutil.which("docker"), "/usr/bin/docker") if c and Path(c).exists()]
    for candidate in candidates:
        if subprocess.run([candidate, "buildx", "version"], capture_output=True).returncode == 0:
            return candidate
        version = subprocess.run(
            [candidate, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
        ).stdout
        if version.split(".")[0].isdigit() and int(version.split(".")[0]) < 23:
            return candidate
    pytest.fail(f"no docker client that builds with BuildKit among {candidates} (install docker-buildx)")


@functools.cache
def docker() -> str:
    return docker_cli()


@functools.cache
def compose() -> list[str]:
    if subprocess.run([docker(), "compose", "version"], capture_output=True).returncode == 0:
        return [docker(), "compose"]
    return ["docker-compose"]  # Debian's, which make test-images installs when there is no plugin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def git(repo: Path, *args: str) -> str:
    """git in a checkout that may belong to another user (OWNER)."""
    return run(["git", "-c", "safe.directory=*", *args], cwd=repo).stdout.strip()


def locked_outputs(lock_file: Path) -> dict[str, str]:
    return lock_outputs(yaml.safe_load(lock_file.read_text()))


@pytest.fixture(scope="session", autouse=True)
def engine() -> None:
    """The base image under the Dockerfile's tag: pulled, or the stand-in (make test-images
    starts dockerd before pytest)."""
    run([docker(), "info", "--format", "{{.ServerVersion}}"])
    run([str(ROOT / "containers" / "base-image.sh")], capture_output=False)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """pip asks this extra index for every package: its 404s are not worth a log line."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def torch_index_url() -> Iterator[str]:
    """``TORCH_INDEX_URL``, or a PEP 503 index on 127.0.0.1 of the torch wheels in
    ``$PIP_FIND_LINKS``, or "" (the Dockerfile's default index)."""
    if os.environ.get("TORCH_INDEX_URL"):
        yield os.environ["TORCH_INDEX_URL"]
        return
    wheels = sorted(Path(os.environ.get("PIP_FIND_LINKS", "/nonexistent")).glob("torch-*.whl"))
    if not wheels:  # the Dockerfile's default: PyTorch's CPU index
        yield ""
        return
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"torch-index-{os.getpid()}"
    (root / "simple" / "torch").mkdir(parents=True, exist_ok=True)
    links = []
    for wheel in wheels:
        (root / wheel.name).unlink(missing_ok=True)
        (root / wheel.name).symlink_to(wheel)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        links.append(f'<a href="../../{wheel.name}#sha256={digest}">{wheel.name}</a>')
    (root / "simple" / "torch" / "index.html").write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links))
    handler = functools.partial(QuietHandler, directory=str(root))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", TORCH_INDEX_PORT), handler)
    except OSError as busy:  # another port works too, but every build then misses the cache
        print(f"\ntorch index: 127.0.0.1:{TORCH_INDEX_PORT}: {busy.strerror}; the builds will install again")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
        server.shutdown()
    shutil.rmtree(root, ignore_errors=True)


def build(target: str, tag: str, torch_index_url: str, buildkit: bool, *args: str) -> None:
    started = time.monotonic()
    env = dict(os.environ, DOCKER_BUILDKIT="1" if buildkit else "0")
    command = [docker(), "build", "--network", "host", "--target", target, "--tag", tag]
    if torch_index_url:
        command += ["--build-arg", f"TORCH_INDEX_URL={torch_index_url}"]
    command += [*args, str(ROOT)]
    run(command, env=env)
    TIMES[f"build {tag} ({'BuildKit' if buildkit else 'legacy'})"] = time.monotonic() - started


def image_size_mb(tag: str) -> float:
    return int(run([docker(), "image", "inspect", "--format", "{{.Size}}", tag]).stdout) / 1e6


@pytest.fixture(scope="session")
def images(torch_index_url: str) -> None:
    """Both targets, built with BuildKit, under compose's image names."""
    build("pipeline", PIPELINE, torch_index_url, True)
    build("serve", SERVE, torch_index_url, True)


def test_report_sizes_and_times(images: None, request: pytest.FixtureRequest) -> None:
    """Not an assertion about speed: prints what the images cost, at the end of the session."""

    def report() -> None:
        lines = [f"{tag}: {image_size_mb(tag):.0f} MB" for tag in (PIPELINE, SERVE)]
        lines += [f"{what}: {seconds:.0f} s" for what, seconds in TIMES.items()]
        print("\nimages:\n  " + "\n  ".join(lines))

    request.session.config.add_cleanup(report)
    assert image_size_mb(SERVE) < image_size_mb(PIPELINE)


def test_the_images_hold_no_git_no_build_leftovers_and_no_test_tools(images: None) -> None:
    for tag, workdir in ((PIPELINE, PROJECT), (SERVE, "/srv")):
        found = run(
            [docker(), "run", "--rm", "--network", "none", tag, "sh", "-c",
             f"cd {workdir}; ls -d .git build *.egg-info tests /opt/build 2>/dev/null;"
             " ls /opt/venv/bin | grep -E '^(pytest|ruff|hadolint|moto_server)$';"
             " python -c 'import pytest' 2>/dev/null && echo pytest; true"],
        ).stdout.split()  # fmt: skip
        assert found == [], f"{tag}: {found}"
        # The core and the serve extra: torch only when asked for (--build-arg EXTRAS="serve torch").
        torch = run([docker(), "run", "--rm", "--network", "none", tag, "python", "-c",
                     "import importlib.util as u; print(u.find_spec('torch') is not None)"]).stdout  # fmt: skip
        assert torch.strip() == "False", f"{tag} has torch"
    # The service image: no git, no make, no pip, no DVC (nor what only the pipeline uses).
    found = run([docker(), "run", "--rm", "--network", "none", SERVE, "sh", "-c",
                 "command -v git make; ls /opt/venv/bin | grep -x pip; true"]).stdout.split()  # fmt: skip
    assert found == []
    assert_no_dvc(SERVE)


# What the serve-venv stage uninstalls (scripts/prune_venv.py), by module: none importable.
PRUNED_MODULES = ("dvc", "dvclive", "pre_commit", "boto3", "botocore", "farmhash", "yaml", "tqdm", "pygit2")
REV_WITHOUT_DVC = (
    "serve: error: --rev main: needs DVC and git, not installed here: serve a revision with the "
    "pipeline image (sentiment-pipeline) or from a checkout with `make install EXTRAS=serve`, "
    "or mount that revision's model/ and serve it without --rev"
)


def assert_no_dvc(tag: str) -> None:
    """``tag`` holds none of ``PRUNED_MODULES``, and its ``python -m serve --rev`` says so in one line."""
    query = f"import importlib.util as u; print(*[m for m in {PRUNED_MODULES!r} if u.find_spec(m)])"
    found = run([docker(), "run", "--rm", "--network", "none", tag, "python", "-c", query]).stdout.split()
    assert found == [], f"{tag} holds {found}"
    result = subprocess.run([docker(), "run", "--rm", "--network", "none", tag, "python", "-m", "serve", "--rev", "main"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [REV_WITHOUT_DVC]


def test_the_pipeline_image_reproduces_dvc_lock(images: None, tmp_path: Path) -> None:
    name = f"pipeline-test-{os.getpid()}"
    started = time.monotonic()
    try:
        run([docker(), "run", "--name", name, "--network", "none", PIPELINE])  # its CMD: dvc repro
        TIMES["docker run sentiment-pipeline (dvc repro)"] = time.monotonic() - started
        run([docker(), "cp", f"{name}:{PROJECT}/dvc.lock", str(tmp_path / "dvc.lock")])
    finally:
        subprocess.run([docker(), "rm", "-f", name], capture_output=True)
    assert locked_outputs(tmp_path / "dvc.lock") == locked_outputs(ROOT / "dvc.lock")


@pytest.fixture(scope="session")
def clone(images: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this commit, reproduced by ``docker compose run --rm pipeline`` as the host owner."""
    clone = tmp_path_factory.mktemp("compose") / "project"
    run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)])
    if os.getuid() == 0:  # as root (CI): a checkout owned by neither root nor the image's uid 1000
        run(["chown", "-R", OWNER, str(clone)])
    env = dict(os.environ, CONTAINER_USER=OWNER, COMPOSE_PROJECT_NAME=COMPOSE_PROJECT)
    run([*compose(), "run", "--rm", "pipeline"], cwd=clone, env=env)
    return clone


def test_compose_pipeline_writes_the_outputs_of_dvc_lock_into_the_checkout(clone: Path) -> None:
    assert locked_outputs(clone / "dvc.lock") == locked_outputs(ROOT / "dvc.lock")
    for output in ("model", "data/prepared", "metrics/model_performance.json", "dvc.lock"):
        owner = (clone / output).stat()
        assert f"{owner.st_uid}:{owner.st_gid}" == OWNER, f"{output} is not the checkout owner's"
    assert git(clone, "status", "--porcelain") == ""


@contextlib.contextmanager
def healthy(container: str, since: float) -> Iterator[None]:
    """Returns once docker reports ``container`` healthy (events since ``since``), fails if it
    goes unhealthy or dies first; bounded by HEALTHY_WITHIN_S."""
    with subprocess.Popen(
        [docker(), "events", "--since", str(int(since)), "--until", str(int(time.time()) + HEALTHY_WITHIN_S),
         "--filter", f"container={container}", "--format", "{{.Status}}"],
        stdout=subprocess.PIPE, text=True,
    ) as stream:  # fmt: skip
        assert stream.stdout is not None
        for line in stream.stdout:
            status = line.strip()
            if status == "health_status: healthy":
                stream.terminate()
                break
            if status in ("health_status: unhealthy", "die"):
                stream.terminate()
                logs = subprocess.run([docker(), "logs", container], capture_output=True, text=True)
                pytest.fail(f"{container}: {status}\n{logs.stdout}{logs.stderr}")
        else:
            pytest.fail(f"{container}: not healthy within {HEALTHY_WITHIN_S} s")
    yield


def get_json(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_the_service_image_answers_with_only_the_model_mounted_read_only(clone: Path) -> None:
    name, port = f"serve-test-{os.getpid()}", free_port()
    since = time.time() - 1
    run([docker(), "run", "-d", "--name", name, "--network", "host", "--read-only",
         "-e", f"SERVE_PORT={port}", "-v", f"{clone / 'model'}:/srv/model:ro", SERVE])  # fmt: skip
    try:
        with healthy(name, since):
            base = f"http://127.0.0.1:{port}"
            assert get_json(f"{base}/ready")
            prediction = get_json(f"{base}/predict", {"text": "a wonderful, warm film"})
            assert prediction["prediction"] in ("positive", "negative")
            model = get_json(f"{base}/model")
            print("\nGET /model from the container:\n" + json.dumps(model, indent=2))
            assert model["md5"] == locked_outputs(ROOT / "dvc.lock")["model"]
            assert model["matches_dvc_lock"] is True
    finally:
        subprocess.run([docker(), "rm", "-f", name], capture_output=True)


def test_compose_up_serve_is_healthy_and_serves_the_pipelines_model(clone: Path) -> None:
    env = dict(os.environ, COMPOSE_PROJECT_NAME=COMPOSE_PROJECT, SERVE_HOST_PORT=str(free_port()))
    since = time.time() - 1
    run([*compose(), "up", "-d", "serve"], cwd=clone, env=env)
    try:
        container = run([*compose(), "ps", "-q", "serve"], cwd=clone, env=env).stdout.strip()
        with healthy(container, since):
            query = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/model').read().decode())"
            model = json.loads(
                run([*compose(), "exec", "-T", "serve", "python", "-c", query], cwd=clone, env=env).stdout
            )
            assert model["md5"] == locked_outputs(clone / "dvc.lock")["model"]
    finally:
        subprocess.run([*compose(), "down"], cwd=clone, env=env, capture_output=True)


def test_the_docs_dvc_exp_run_example_records_an_experiment(clone: Path) -> None:
    # docs/containers.md: the image on a mounted checkout, as its owner. Last of the clone's
    # tests: the experiment is applied to the workspace (model/, dvc.lock).
    run([docker(), "run", "--rm", "--network", "none", "-v", f"{clone}:{PROJECT}",
         "--user", OWNER, PIPELINE,
         "dvc", "exp", "run", "-n", "svm-in-container", "-S", "train.model=svm"])  # fmt: skip
    refs = git(clone, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    experiment = [ref for ref in refs if ref.endswith("/svm-in-container")]
    assert experiment, f"no experiment ref among {refs}"
    assert (
        git(clone, "log", "-1", "--format=%an <%ae>", experiment[0])
        == "Pipeline container <pipeline@localhost>"
    )


@pytest.mark.parametrize("target", ["pipeline", "serve"])
def test_the_legacy_builder_builds_both_targets(target: str, torch_index_url: str) -> None:
    tag = f"{PIPELINE if target == 'pipeline' else SERVE}:legacy"
    build(target, tag, torch_index_url, False)
    user = run([docker(), "run", "--rm", "--network", "none", tag, "id", "-u"]).stdout.strip()
    assert user != "0"
    # The pipeline image has DVC; the service image has what serve imports, and no DVC.
    modules = "sklearn, dvc, uvicorn" if target == "pipeline" else "sklearn, skops, pandas, uvicorn"
    run([docker(), "run", "--rm", "--network", "none", tag, "python", "-c", f"import {modules}"])
    if target == "serve":
        assert_no_dvc(tag)


def test_the_dev_container_builds_from_devcontainer_json(torch_index_url: str) -> None:
    config = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())["build"]
    folder = ROOT / ".devcontainer"
    args = [f"--build-arg={name}={value}" for name, value in config.get("args", {}).items()]
    dockerfile = (folder / config["dockerfile"]).resolve()
    assert dockerfile == ROOT / "Dockerfile" and (folder / config["context"]).resolve() == ROOT
    build(config["target"], "sentiment-dev", torch_index_url, True, *args)
    run([docker(), "run", "--rm", "--network", "none", "sentiment-dev", "sh", "-c",
         "pytest --version && ruff --version && dvc --version && python -c 'import torch'"])  # fmt: skip
