"""``python -m serve`` as a real uvicorn process on 127.0.0.1: every endpoint, every 4xx,
keys, batching of concurrent requests, the token, and a graceful SIGTERM."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from serve.app import MAX_BATCH, MAX_BODY_BYTES, MAX_TEXT_CHARS
from serve.tests.support import ServeProcess, refusal
from tests.conftest import ROOT
from tests.conftest import test_env as stage_env
from tests.model_support import NEGATIVE, POSITIVE, small_model
from tests.s3_server import HOST, free_port
from train.model_store import load_scorer

GOOD, BAD = POSITIVE[2], NEGATIVE[2]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve") / "model"
    small_model(folder)
    return folder


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[ServeProcess]:
    process = ServeProcess(
        ["--model", str(model_dir), "--unlocked-model"], model_dir.parent, model_dir.parent / "serve.log"
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_health_ready_model_and_docs(server: ServeProcess, model_dir: Path) -> None:
    assert server.request("GET", "/health") == (200, {"status": "ok"})
    status, ready = server.request("GET", "/ready")
    assert status == 200 and ready["status"] == "ready"
    status, info = server.request("GET", "/model")
    assert status == 200
    assert info["kind"] == "sklearn" and info["model"] == "logreg" and info["params"] == {}
    assert info["md5"].endswith(".dir") and len(info["md5"]) == 36
    assert info["git_revision"] is None and info["metrics"] is None and info["dvc_lock_md5"] is None
    status, docs = server.request("GET", "/docs")
    assert status == 200 and "swagger" in docs.lower()
    status, schema = server.request("GET", "/openapi.json")
    assert {"/predict", "/predict/batch", "/health", "/ready", "/model"} <= set(schema["paths"])


def test_predict_returns_the_label_its_confidence_and_the_score(
    server: ServeProcess, model_dir: Path
) -> None:
    scores, labels = load_scorer(model_dir, unlocked=True).predict([GOOD, BAD])
    for text, score, label in zip([GOOD, BAD], scores, labels, strict=True):
        status, body = server.request("POST", "/predict", {"text": text})
        assert status == 200, body
        assert body["label"] == label and body["prediction"] == ("positive" if label else "negative")
        assert body["score"] == pytest.approx(score)
        confidence = score if label else 1 - score
        assert body["prediction_score"] == pytest.approx(100 * confidence, abs=0.01)
        assert 50 <= body["prediction_score"] <= 100


LONG = "x" * (MAX_TEXT_CHARS + 1)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/predict", {"text": "abc"}, 422, "text: Review must be at least 4 characters long"),
        ("/predict", {"text": "   a   "}, 422, "text: Review must be at least 4 characters long"),
        ("/predict", {"text": "12345"}, 422, "text: Review cannot be a number"),
        ("/predict", {"text": " -3.5e2 "}, 422, "text: Review cannot be a number"),
        ("/predict", {"text": LONG}, 422, f"text: String should have at most {MAX_TEXT_CHARS} characters"),
        ("/predict", {"text": 12345}, 422, "text: Input should be a valid string"),
        ("/predict", {"text": None}, 422, "text: Input should be a valid string"),
        ("/predict", {"txt": "good film"}, 422, "text: Field required"),
        ("/predict", {"text": "good film", "extra": 1}, 422, "extra: Extra inputs are not permitted"),
        ("/predict", ["good film"], 422, "request body must be a JSON object"),
        ("/predict", b'{"text": "good', 422, "request body is not valid JSON"),
        ("/predict/batch", {"instances": []}, 422, "instances: List should have at least 1 item"),
        ("/predict/batch", {"instances": "good film"}, 422, "instances: Input should be a valid list"),
        (
            "/predict/batch",
            {"instances": [{"key": 1.5, "text": GOOD}]},
            422,
            "instances.0.key: must be a string or an integer",
        ),
        (
            "/predict/batch",
            {"instances": [{"key": True, "text": GOOD}]},
            422,
            "instances.0.key: must be a string or an integer",
        ),
        (
            "/predict/batch",
            {"instances": [{"key": None, "text": GOOD}]},
            422,
            "instances.0.key: must be a string or an integer",
        ),
        ("/predict/batch", {"instances": [{"text": GOOD}]}, 422, "instances.0.key: Field required"),
        (
            "/predict/batch",
            b'{"instances": [{"key": "r-\\udc80", "text": "a wonderful film"}]}',
            422,
            "instances.0.key: must be UTF-8 text: it holds a lone surrogate",
        ),
        # Bodies FastAPI cannot decode answer 422 with a message too, not a bare 400.
        ("/predict", b"\xff\xfe{", 422, "body: not valid JSON"),
        ("/predict", b"[" * 100_000 + b"]" * 100_000, 422, "body: not valid JSON"),
        (
            "/predict/batch",
            {"instances": [{"key": 1, "text": "4242"}]},
            422,
            "instances.0.text: Review cannot be a number",
        ),
        (
            "/predict/batch",
            {"instances": [{"key": i, "text": GOOD} for i in range(MAX_BATCH + 1)]},
            422,
            f"instances: List should have at most {MAX_BATCH} items",
        ),
    ],
)
def test_bad_requests_are_4xx_with_a_message(
    server: ServeProcess, path: str, body: object, status: int, message: str
) -> None:
    raw = body if isinstance(body, bytes) else None
    got, answer = server.request("POST", path, None if raw else body, raw=raw)
    assert got == status, answer
    assert answer["message"].startswith(message), answer
    assert LONG not in json.dumps(answer)  # inputs are not echoed back


def test_other_4xx(server: ServeProcess) -> None:
    status, answer = server.request(
        "POST",
        "/predict",
        raw=b"text=good+film",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 422 and "Content-Type: application/json" in answer["message"]
    assert server.request("GET", "/predict") == (
        405,
        {"message": "Method Not Allowed", "detail": "Method Not Allowed"},
    )
    assert server.request("POST", "/nowhere", {"text": GOOD}) == (
        404,
        {"message": "Not Found", "detail": "Not Found"},
    )
    big = b'{"text": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    status, answer = server.request("POST", "/predict", raw=big)
    assert status == 413 and answer["message"] == f"request body over {MAX_BODY_BYTES} bytes"
    assert server.request("GET", "/health")[0] == 200  # and the server lives on


def test_batch_keys_come_back_unchanged_in_order(server: ServeProcess, model_dir: Path) -> None:
    keys = ["b", 7, "b", "日本語-ключ-🙂", 0, -12345678901234, "", "7"]
    texts = [GOOD, BAD, BAD, GOOD, BAD, GOOD, BAD, GOOD]
    status, body = server.request(
        "POST",
        "/predict/batch",
        {"instances": [{"key": k, "text": t} for k, t in zip(keys, texts, strict=True)]},
    )
    assert status == 200, body
    predictions = body["predictions"]
    assert [p["key"] for p in predictions] == keys  # 7 stays a number, "7" a string
    assert [type(p["key"]) for p in predictions] == [type(k) for k in keys]
    scores, labels = load_scorer(model_dir, unlocked=True).predict(texts)
    assert [p["label"] for p in predictions] == labels.tolist()
    assert [p["score"] for p in predictions] == pytest.approx(scores.tolist())
    status, full = server.request(
        "POST", "/predict/batch", {"instances": [{"key": i, "text": GOOD} for i in range(MAX_BATCH)]}
    )
    assert status == 200 and [p["key"] for p in full["predictions"]] == list(range(MAX_BATCH))


def test_concurrent_single_requests_are_scored_together(server: ServeProcess, model_dir: Path) -> None:
    before = server.request("GET", "/ready")[1]
    texts = [
        f"{POSITIVE[i % 4]} number {i}" if i % 2 else f"{NEGATIVE[i % 4]} number {i}" for i in range(128)
    ]
    with ThreadPoolExecutor(max_workers=64) as pool:
        answers = list(pool.map(lambda t: server.request("POST", "/predict", {"text": t}), texts))
    assert all(status == 200 for status, _ in answers)
    scores, _ = load_scorer(model_dir, unlocked=True).predict(texts)
    assert [body["score"] for _, body in answers] == pytest.approx(scores.tolist())
    after = server.request("GET", "/ready")[1]
    texts_scored = after["batched_texts"] - before["batched_texts"]
    batches = after["batches"] - before["batches"]
    assert texts_scored == 128 and batches < 128, (batches, texts_scored)


def test_the_token_guards_every_endpoint_but_health(model_dir: Path, tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test"
    log = tmp_path / "serve.log"
    server = ServeProcess(
        ["--model", str(model_dir), "--unlocked-model", "--access-log"],
        tmp_path,
        log,
        env={"SERVE_API_TOKEN": token},
    )
    good = {"Authorization": f"Bearer {token}"}
    try:
        server.wait_ready(headers=good)
        assert server.request("GET", "/health")[0] == 200
        for method, path, body in [
            ("GET", "/ready", None),
            ("GET", "/model", None),
            ("GET", "/docs", None),
            ("GET", "/openapi.json", None),
            ("POST", "/predict", {"text": GOOD}),
            ("POST", "/predict/batch", {"instances": [{"key": 1, "text": GOOD}]}),
        ]:
            for headers in [
                None,
                {"Authorization": "Bearer wrong"},
                {"Authorization": token},
                {"Authorization": f"bearer {token}x"},
            ]:
                status, answer = server.request(method, path, body, headers=headers)
                assert status == 401 and answer["message"] == "missing or wrong bearer token", (
                    path,
                    headers,
                )
            assert server.request(method, path, body, headers=good)[0] == 200, path
    finally:
        assert server.stop() == 0
    output = log.read_text()
    assert "POST /predict" in output and token not in output


def test_two_authorization_headers_are_refused_even_if_one_is_right(model_dir: Path, tmp_path: Path) -> None:
    token = "s3cret-token-for-the-test"
    server = ServeProcess(
        ["--model", str(model_dir), "--unlocked-model"],
        tmp_path,
        tmp_path / "serve.log",
        env={"SERVE_API_TOKEN": token},
    )
    try:
        server.wait_ready(headers={"Authorization": f"Bearer {token}"})
        for values in ([f"Bearer {token}", "Bearer wrong"], ["Bearer wrong", f"Bearer {token}"]):
            connection = http.client.HTTPConnection(HOST, server.port, timeout=60)
            connection.putrequest("GET", "/model")
            for value in values:
                connection.putheader("Authorization", value)
            connection.endheaders()
            assert connection.getresponse().status == 401
            connection.close()
    finally:
        server.stop()


def test_an_empty_token_is_refused_at_start(model_dir: Path, tmp_path: Path) -> None:
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    env["SERVE_API_TOKEN"] = ""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serve",
            "--model",
            str(model_dir),
            "--unlocked-model",
            "--port",
            str(free_port()),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "serve: error: SERVE_API_TOKEN: set but empty; set a token, or unset it to serve without access control"
    )


def test_a_huge_rev_is_one_line(tmp_path: Path) -> None:
    result = refusal(["--rev", "a" * 100_000], ROOT)
    assert result.returncode == 2 and len(result.stderr) < 500, result.stderr[:500]
    assert "--rev: 'aaaa" in result.stderr and "not a commit, branch, tag or experiment name" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-wait-ms", "inf"], "--max-wait-ms: 'inf': not a number of milliseconds from 0 to 1000"),
        (["--max-wait-ms", "nan"], "--max-wait-ms: 'nan': not a number of milliseconds from 0 to 1000"),
        (["--max-batch", "-5"], "--max-batch: '-5': not a whole number from 1 to 1000"),
    ],
)
def test_batching_settings_are_bounded(args: list[str], message: str) -> None:
    # `inf` was accepted, and then every /predict waited for good.
    result = refusal(args, ROOT)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_a_port_in_use_is_one_line_before_the_model_loads() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = refusal(["--port", str(port), "--model", "no-such-model"], ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"serve: error: --host/--port: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_sigterm_finishes_the_requests_in_flight(model_dir: Path, tmp_path: Path) -> None:
    server = ServeProcess(["--model", str(model_dir), "--unlocked-model"], tmp_path, tmp_path / "serve.log")
    server.wait_ready()
    body = json.dumps({"text": GOOD}).encode()
    head = f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    with socket.create_connection((HOST, server.port), timeout=60) as in_flight:
        in_flight.sendall(head.encode() + body[:5])
        # A full request on another connection: by its answer the server has read the first one's headers.
        assert server.request("GET", "/health")[0] == 200
        server.process.send_signal(15)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # shutting down: new connections are refused
            try:
                socket.create_connection((HOST, server.port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.02)
        else:
            raise AssertionError("serve still accepts connections after SIGTERM")
        in_flight.sendall(body[5:])
        response = b""
        while chunk := in_flight.recv(65536):
            response += chunk
    head_text, _, payload = response.partition(b"\r\n\r\n")
    assert head_text.startswith(b"HTTP/1.1 200"), response
    assert json.loads(payload)["prediction"] == "positive"
    assert server.process.wait(timeout=60) == 0
    assert "Finished server process" in (tmp_path / "serve.log").read_text()


# Runs `python -m serve` as if the serve extra were not installed: importing uvicorn fails.
WITHOUT_THE_EXTRA = """
import runpy, sys
class NoUvicorn:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("uvicorn", "fastapi"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoUvicorn())
sys.argv = ["serve"]
runpy.run_module("serve", run_name="__main__")
"""


def test_without_the_serve_extra_serve_says_how_to_install_it(tmp_path: Path) -> None:
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "serve: error: uvicorn is not installed: the service needs the serve extra (make install EXTRAS=serve)"
    ]


# Runs `python -m serve --rev main` as in the service image, which has no DVC: from the
# interpreter's start, importing dvc fails (so nothing imported before --rev needs it).
WITHOUT_DVC = """
import runpy, sys
class NoDvc:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "dvc":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoDvc())
sys.argv = ["serve", "--port", sys.argv[1], "--rev", "main"]
runpy.run_module("serve", run_name="__main__")
"""


@pytest.mark.parametrize("git", [False, True], ids=["no-git", "git"])
def test_rev_without_dvc_says_what_is_missing_and_what_to_use(tmp_path: Path, git: bool) -> None:
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    if not git:  # the service image: no git either
        env["PATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DVC, str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    missing = "DVC and git" if not git else "DVC"
    assert result.stderr.strip().splitlines() == [
        f"serve: error: --rev main: needs {missing}, not installed here: serve a revision with the "
        "pipeline image (sentiment-pipeline) or from a checkout with `make install EXTRAS=serve`, "
        "or mount that revision's model/ and serve it without --rev"
    ]


@pytest.mark.parametrize(("variable", "flag"), [("abc", []), ("8000", ["--port", "70000"])])
def test_a_bad_serve_port_is_one_argparse_line(tmp_path: Path, variable: str, flag: list[str]) -> None:
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    env["SERVE_PORT"] = variable
    result = subprocess.run(
        [sys.executable, "-m", "serve", "--unlocked-model", *flag],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --port:" in result.stderr.strip().splitlines()[-1]
