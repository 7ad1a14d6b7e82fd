"""Faults while a stage runs: a kill at any rename, a full disk, a read-only folder, SIGTERM and
SIGINT, bad params files. Each ends in one line and a non-zero exit, with the previous outputs
intact (or all replaced), no temp file left behind, and nothing half-replaced that the next
stage would read.

The disk and read-only cases run the stage inside a user and mount namespace (``unshare -rm``)
on a small tmpfs, so they need no root and leave no mount behind."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from common import atomic, errors
from common.errors import PipelineError
from common.params import read_params_yaml
from tests import conftest
from tests.conftest import ROOT, TEST_PARAMS, run_module

STAGES = ["prepare_data.get", "prepare_data", "train", "evaluate"]
STAGE_NAMES = {"prepare_data.get": "get_data"}
# What each stage writes (a folder stands for its files).
OUTPUTS = {
    "prepare_data.get": ["data/raw"],
    "prepare_data": [
        "data/prepared",
        "metrics/split.json",
        "metrics/split_label_cdf.json",
        "metrics/split_text_length_cdf.json",
    ],
    "train": ["model", "metrics/training_curves.json", "metrics/training_schedule.json", "metrics/training"],
    "evaluate": ["metrics/model_performance.json", "metrics/plots"],
}


# Outputs of other features, which may be the first a full disk or read-only folder hits.
OTHER_OUTPUTS = {"train": ["checkpoints"]}


def write_params(folder: Path, **sections: dict) -> None:
    config = read_params_yaml(TEST_PARAMS)
    config["data"]["synthetic_rows"] = 3000
    for section, values in sections.items():
        config[section].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def run_stages(folder: Path, *stages: str) -> None:
    for stage in stages:
        result = run_module(stage, folder, code=ROOT)
        assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder after a full run of the four stages on 3,000 synthetic rows."""
    folder = tmp_path_factory.mktemp("pipeline")
    write_params(folder)
    run_stages(folder, *STAGES)
    return folder


def copy_of(pipeline: Path, dest: Path) -> Path:
    shutil.copytree(pipeline, dest, symlinks=True)
    return dest


def snapshot(folder: Path, paths: list[str]) -> dict[str, bytes]:
    """Every file under ``paths`` (relative to ``folder``) with its bytes."""
    files: dict[str, bytes] = {}
    for name in paths:
        path = folder / name
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in found:
            # A killed run's temp paths and markers are not outputs (`leftovers` checks them).
            if ".tmp-" in file.name or file.name.endswith(atomic.MARKER_SUFFIX):
                continue
            if file.exists():
                files[str(file.relative_to(folder))] = file.read_bytes()
    return files


def leftovers(folder: Path) -> list[Path]:
    """Temp paths and replace markers anywhere in ``folder``."""
    return sorted(p for p in folder.rglob(".*") if ".tmp-" in p.name or p.name.endswith(atomic.MARKER_SUFFIX))


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


# A stage run that dies (like kill -9: no cleanup) at its k-th os.replace, or (argument
# "term") gets a SIGTERM there.
KILL_AT_RENAME = textwrap.dedent(
    """
    import os, runpy, signal, sys
    limit, real, calls = int(sys.argv[2]), os.replace, [0]
    term = sys.argv[3:] == ["term"]

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == limit and term:
            os.kill(os.getpid(), signal.SIGTERM)
        elif calls[0] == limit:
            os._exit(137)
        return real(src, dst)

    os.replace = replace
    sys.argv = [sys.argv[1], *(["--unlocked-model"] if sys.argv[1] == "evaluate" else [])]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    """
)


def run_killed_at_rename(
    stage: str, folder: Path, rename: int, term: bool = False
) -> subprocess.CompletedProcess[str]:
    env = conftest.test_env()
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-c", KILL_AT_RENAME, stage, str(rename), *(["term"] if term else [])]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("stage", "reader", "before"),
    [
        # prepare_data replaces the splits, the report and the plot data; train reads the splits.
        ("prepare_data", "train", []),
        # train replaces model/, the curves, the schedule and DVCLive's metrics; evaluate reads
        # model/. DVCLive rewrites its file while training: the set is marked from the start.
        ("train", "evaluate", ["prepare_data"]),
        # evaluate replaces the metrics and the plot data (after a new split and model).
        ("evaluate", None, ["prepare_data", "train"]),
    ],
)
def test_a_kill_at_any_rename_leaves_all_old_all_new_or_a_refused_set(
    pipeline: Path, tmp_path: Path, stage: str, reader: str | None, before: list[str]
) -> None:
    new_params = {"split": {"modulus": 20, "train": [0, 16], "valid": [16, 18], "test": [18, 20]}}
    # The stages before this one, run once with the new params: each killed run starts from a copy.
    ready = copy_of(pipeline, tmp_path / "ready")
    write_params(ready, **new_params)
    run_stages(ready, *before)
    reference = copy_of(ready, tmp_path / "reference")
    old = snapshot(reference, OUTPUTS[stage])
    run_stages(reference, stage)
    new = snapshot(reference, OUTPUTS[stage])
    # The plots' files and a scikit-learn model's schedule ([]) may be the same for both.
    same_allowed = ("plots", "training_schedule")
    assert old.keys() == new.keys() and all(
        old[k] != new[k] for k in old if not any(n in k for n in same_allowed)
    )

    outcomes = set()
    for rename in range(1, 50):
        folder = copy_of(ready, tmp_path / f"killed{rename}")
        killed = run_killed_at_rename(stage, folder, rename)
        if killed.returncode == 0:  # the run had fewer renames: every one was tried
            assert snapshot(folder, OUTPUTS[stage]) == new
            break
        assert killed.returncode == 137, killed.stderr
        now = snapshot(folder, OUTPUTS[stage])
        markers = [p for p in leftovers(folder) if p.name.endswith(atomic.MARKER_SUFFIX)]
        if now == old:
            outcomes.add("old")
        elif now == new:
            outcomes.add("new")
        else:
            outcomes.add("mixed")
            assert markers, f"rename {rename}: a mixed set without a marker"
        if now not in (old, new) and reader:  # every marker is written before the first rename
            refused = run_module(reader, folder, code=ROOT)
            assert refused.returncode == 2
            assert "was killed while replacing its outputs" in last_line(refused)
        elif now == new and reader:  # killed after the set was replaced (train: kept.json)
            assert run_module(reader, folder, code=ROOT).returncode == 0
        # The next run replaces the whole set and cleans up what the killed one left.
        run_stages(folder, stage)
        assert snapshot(folder, OUTPUTS[stage]) == new
        assert leftovers(folder) == []
        shutil.rmtree(folder)
    else:
        pytest.fail("the stage never finished")
    assert "mixed" in outcomes and "old" in outcomes


@pytest.mark.parametrize(
    ("params", "break_output", "message"),
    [
        # A bad init_from fails once training starts, after DVCLive cleared its folder.
        (
            {"train": {"model": "torch", "torch": {"init_from": 99, "keep_checkpoints": "all"}}},
            None,
            "init_from",
        ),
        # An output path that cannot be written fails before anything is replaced.
        ({"train": {"model": "svm"}}, "metrics/training_schedule.json", "is a folder"),
    ],
)
def test_a_failed_train_run_leaves_every_output_as_it_was(
    pipeline: Path, tmp_path: Path, params: dict, break_output: str | None, message: str
) -> None:
    folder = copy_of(pipeline, tmp_path / "failed")
    write_params(folder, **params)
    if break_output is not None:
        (folder / break_output).unlink()
        (folder / break_output).mkdir()
    before = snapshot(folder, OUTPUTS["train"])
    assert "metrics/training/metrics.json" in before
    failed = run_module("train", folder, code=ROOT)
    assert failed.returncode == 2, failed.stderr
    assert message in last_line(failed)
    assert snapshot(folder, OUTPUTS["train"]) == before
    assert leftovers(folder) == []


def test_temp_paths_that_cannot_all_be_made_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = []
    real = atomic.tempfile.mkstemp

    def mkstemp(**kwargs: str) -> tuple[int, str]:
        if len(made) == 3:
            raise OSError(28, "No space left on device")
        made.append(real(**kwargs))
        return made[-1]

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    targets = [tmp_path / f"out{i}.json" for i in range(4)]
    with pytest.raises(OSError, match="No space left"), atomic.atomic_outputs(*targets):
        pass
    assert len(made) == 3 and list(tmp_path.iterdir()) == []


def test_a_run_removes_the_temp_paths_a_killed_run_left(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    stale = [tmp_path / "data/.prepared.tmp-abc123", tmp_path / "data/.split.json.tmp-x"]
    stale[0].mkdir()
    (stale[0] / "train.parquet").write_bytes(b"half")
    stale[1].write_bytes(b"half")
    with atomic.atomic_outputs(tmp_path / "data/split.json", dirs=(tmp_path / "data/prepared",)) as (
        report,
        prepared,
    ):
        report.write_text("{}")
        (prepared / "train.parquet").write_bytes(b"whole")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["prepared", "split.json"]
    assert [p.name for p in (tmp_path / "data/prepared").iterdir()] == ["train.parquet"]


@pytest.mark.integration
def test_dvc_sees_no_temp_file_after_a_killed_prepare_data(repo_factory: Callable[..., object]) -> None:
    repo = repo_factory()
    repo.dvc("repro", "prepare_data")  # type: ignore[attr-defined]
    folder: Path = repo.path  # type: ignore[attr-defined]
    killed = run_killed_at_rename("prepare_data", folder, 1)  # every temp written, none renamed
    assert killed.returncode == 137
    assert sorted(p.name for p in (folder / "data/prepared").iterdir()) == [
        "test.parquet",
        "train.parquet",
        "valid.parquet",
    ]
    status = repo.dvc("status", "prepare_data")  # type: ignore[attr-defined]
    assert "up to date" in status.stdout, status.stdout
    run_stages(folder, "prepare_data")
    assert leftovers(folder) == []
    assert "up to date" in repo.dvc("status", "prepare_data").stdout  # type: ignore[attr-defined]


def unshare_available() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


needs_namespaces = pytest.mark.skipif(
    not unshare_available(), reason="unshare -rm (user and mount namespaces) is not allowed here"
)

# Inside `unshare -rm`: a tmpfs on `work`, the folder copied onto it, then a full disk (all but
# `free` bytes taken) or a read-only remount; the stage runs there, and the folder is copied
# back out for the checks.
IN_NAMESPACE = textwrap.dedent(
    """
    import os, shutil, subprocess, sys
    source, work, out, stage, mode = sys.argv[1:6]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", work], check=True)
    shutil.copytree(source, work, dirs_exist_ok=True, symlinks=True)
    if mode == "full":
        stat = os.statvfs(work)
        with open(os.path.join(work, "filler"), "wb") as filler:
            filler.write(b"\\0" * (stat.f_bavail * stat.f_frsize - 8192))
    else:
        subprocess.run(["mount", "-o", "remount,ro", work], check=True)
    extra = ["--unlocked-model"] if stage == "evaluate" else []  # no dvc.lock here
    result = subprocess.run([sys.executable, "-m", stage, *extra], cwd=work, capture_output=True, text=True)
    shutil.copytree(work, out, symlinks=True, ignore=shutil.ignore_patterns("filler"))
    sys.stderr.write(result.stderr)
    sys.exit(result.returncode)
    """
)


def run_in_namespace(
    stage: str, source: Path, tmp_path: Path, mode: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    work, out = tmp_path / "mnt", tmp_path / "out"
    work.mkdir()
    env = conftest.test_env()
    env["PYTHONPATH"] = str(ROOT)
    command = [
        "unshare",
        "-rm",
        sys.executable,
        "-c",
        IN_NAMESPACE,
        str(source),
        str(work),
        str(out),
        stage,
        mode,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600), out


@needs_namespaces
@pytest.mark.parametrize("mode", ["full", "read-only"])
@pytest.mark.parametrize("stage", STAGES)
def test_a_full_disk_or_read_only_folder_is_one_line_naming_the_path(
    pipeline: Path, tmp_path: Path, stage: str, mode: str
) -> None:
    source = copy_of(pipeline, tmp_path / "source")
    write_params(
        source,
        data={"synthetic_rows": 20_000},
        split={"modulus": 20, "train": [0, 16], "valid": [16, 18], "test": [18, 20]},
    )
    before = snapshot(source, OUTPUTS[stage])
    result, out = run_in_namespace(stage, source, tmp_path, mode)
    assert result.returncode == 2, result.stderr
    line = last_line(result)
    reason = "No space left on device" if mode == "full" else "Read-only file system"
    name = STAGE_NAMES.get(stage, stage)
    assert line.startswith(f"{name}: error: ") and line.endswith(f": {reason}"), line
    named = [*OUTPUTS[stage], *OTHER_OUTPUTS.get(stage, [])]
    assert any(output in line for output in named), line  # it names the path
    assert snapshot(out, OUTPUTS[stage]) == before
    assert leftovers(out) == []


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def signal_while_stopped(process: subprocess.Popen[str], signum: int) -> None:
    """Stop ``process``, send it ``signum``, let it go on: the signal reaches it while it still
    runs, however late this (possibly starved) test process saw its temp folder."""
    process.send_signal(signal.SIGSTOP)
    process.send_signal(signum)
    process.send_signal(signal.SIGCONT)


def signal_masks(pid: int) -> str:
    """The process's blocked, ignored and caught signals (for a failure message)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return "no /proc status"
    return " ".join(
        line for line in status.read_text().splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))
    )


@pytest.mark.parametrize(
    ("signum", "code", "name"), [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "SIGINT")]
)
def test_sigterm_and_sigint_print_one_interrupted_line_and_leave_the_outputs(
    pipeline: Path, tmp_path: Path, signum: int, code: int, name: str
) -> None:
    folder = copy_of(pipeline, tmp_path / "folder")
    write_params(folder, data={"synthetic_rows": 2_000_000})  # 20 s of generating: signalled first
    before = snapshot(folder, OUTPUTS["prepare_data.get"])
    env = conftest.test_env()
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "prepare_data.get"],
        cwd=folder,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,  # a test run in the background would hand down SIGINT ignored
    )
    try:
        wait_for(lambda: any((folder / "data").glob(".raw.tmp-*")), "the stage's temp folder")
        signal_while_stopped(process, signum)
        masks = signal_masks(process.pid)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == code, (stderr, masks)
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == f"get_data: interrupted ({name}); no output half-written"
    assert snapshot(folder, OUTPUTS["prepare_data.get"]) == before
    assert leftovers(folder) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", "params.yaml: is empty (restore it: git checkout params.yaml)"),
        (
            b"split:\n  modulus: 10\n  modulus: 20\n",
            "params.yaml: split.modulus: given twice (lines 2 and 3); keep one",
        ),
        (b"data:\n  text_column: caf\xe9\n", "params.yaml: line 2 (byte offset 24) is not UTF-8 (bytes e9)"),
        (
            b"split: {modulus: 9223372036854775808}\n",
            "params.yaml: split.modulus: must be at most 2147483647",
        ),
        (b"train: {seed: -1}\n", "params.yaml: train.seed: must be at least 0, got -1"),
    ],
)
@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_refuses_a_bad_params_file_in_one_line(
    pipeline: Path, tmp_path: Path, stage: str, text: bytes, expected: str
) -> None:
    folder = copy_of(pipeline, tmp_path / "folder")
    (folder / "params.yaml").write_bytes(text)
    before = snapshot(folder, OUTPUTS[stage])
    result = run_module(stage, folder, code=ROOT)
    assert result.returncode == 2
    assert last_line(
        result
    ) == f"{STAGE_NAMES.get(stage, stage)}: error: {expected}" or expected in last_line(result)
    assert snapshot(folder, OUTPUTS[stage]) == before
    assert leftovers(folder) == []


def test_sigterm_while_prepare_data_streams_stops_its_threads_and_leaves_the_outputs(
    pipeline: Path, tmp_path: Path
) -> None:
    spec = importlib.util.spec_from_file_location("bench_prepare_data", ROOT / "benchmarks/prepare_data.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # its generator of the default data's shape
    folder = copy_of(pipeline, tmp_path / "folder")
    bench.generate_tsv(folder / "data/raw/reviews.tsv", 1_000_000)  # 50 MB: seconds of streaming
    before = snapshot(folder, OUTPUTS["prepare_data"])
    env = conftest.test_env()
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen(
        [sys.executable, "-m", "prepare_data"], cwd=folder, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: any((folder / "data").glob(".prepared.tmp-*")), "the stage's temp folder")
        signal_while_stopped(process, signal.SIGTERM)
        masks = signal_masks(process.pid)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 143, (stderr, masks)
    assert stderr.strip().splitlines()[-1] == "prepare_data: interrupted (SIGTERM); no output half-written"
    assert "Traceback" not in stderr
    after = snapshot(folder, OUTPUTS["prepare_data"])
    # All old, or (a signal during the renames waits for them) all new; never a mix.
    assert after == before or not set(after.items()) & set(before.items())
    assert leftovers(folder) == []


def test_a_device_or_fifo_is_never_replaced_by_an_output(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PipelineError, match="not a regular file or folder; refusing to replace it"):
        atomic.write_bytes_atomic(fifo, b"x")
    assert fifo.is_fifo()
    with pytest.raises(PipelineError, match="/dev/full: not a regular file"):
        atomic.write_bytes_atomic("/dev/full", b"x")
    assert Path("/dev/full").is_char_device()


def test_a_sigterm_at_any_rename_waits_for_the_whole_set(pipeline: Path, tmp_path: Path) -> None:
    new_params = {"split": {"modulus": 20, "train": [0, 16], "valid": [16, 18], "test": [18, 20]}}
    reference = copy_of(pipeline, tmp_path / "reference")
    write_params(reference, **new_params)
    run_stages(reference, "prepare_data")
    new = snapshot(reference, OUTPUTS["prepare_data"])
    for rename in range(1, 50):
        folder = copy_of(pipeline, tmp_path / f"term{rename}")
        write_params(folder, **new_params)
        result = run_killed_at_rename("prepare_data", folder, rename, term=True)
        if result.returncode == 0:
            break
        assert result.returncode == 143, result.stderr
        assert last_line(result) == "prepare_data: interrupted (SIGTERM); no output half-written"
        assert snapshot(folder, OUTPUTS["prepare_data"]) == new  # every rename went through
        assert leftovers(folder) == []
        shutil.rmtree(folder)
    assert rename > 5


def test_interrupts_in_a_deferred_block_take_effect_at_its_end() -> None:
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    reached_end = False
    try:
        errors.install_signal_handlers()
        with pytest.raises(errors.Interrupted) as interrupted, errors.defer_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
            reached_end = True
        assert reached_end and interrupted.value.name == "SIGTERM"
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def test_a_swallowed_interrupt_still_stops_the_commit(tmp_path: Path) -> None:
    # A library's bare `except:` (one ran inside an import while get_data generated its data)
    # can swallow the signal's exception: the outputs are then not replaced either.
    previous = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    target = tmp_path / "out.json"
    target.write_text("old")
    try:
        errors.install_signal_handlers()
        with pytest.raises(errors.Interrupted), atomic.atomic_outputs(target) as (temp,):
            temp.write_text("new")
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
            except BaseException:  # what the library did
                pass
    finally:
        errors._received.clear()
        for number, handler in previous.items():
            signal.signal(number, handler)
    assert target.read_text() == "old" and leftovers(tmp_path) == []
