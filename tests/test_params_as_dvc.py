"""params.yaml is read as DVC reads it (YAML 1.2), in time proportional to its size, and no
param may hold a secret (issue 21: BUGs 1, 2 and 5)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from dvc.utils.serialize import parse_yaml

from common.errors import PipelineError, redact_urls
from common.params import load_params, read_params_yaml
from tests.conftest import ROOT
from tests.conftest import test_env as stage_env

# YAML 1.1 (PyYAML) and YAML 1.2 (ruamel.yaml, DVC) disagree on each of these.
TRAPS = {
    "012": 12,  # 1.1: octal 10
    "0o12": 10,  # 1.1: the string '0o12'
    "1:30": "1:30",  # 1.1: sexagesimal 90
    "yes": "yes",  # 1.1: True
    "no": "no",
    "on": "on",
    "off": "off",
    "1e3": 1000.0,  # 1.1: the string '1e3'
    ".inf": float("inf"),
    "2024-01-31": datetime.date(2024, 1, 31),
    "~": None,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("scalar", list(TRAPS))
def test_each_yaml_1_1_trap_reads_as_dvc_reads_it(tmp_path: Path, scalar: str) -> None:
    text = f"split:\n  modulus: {scalar}\n"
    ours = read_params_yaml(write(tmp_path, text))
    assert ours == parse_yaml(text, "params.yaml")  # DVC's own reader: what dvc.lock records
    assert ours["split"]["modulus"] == TRAPS[scalar]


def test_an_octal_looking_modulus_is_the_twelve_dvc_records(tmp_path: Path) -> None:
    assert (
        load_params(
            write(tmp_path, "split: {modulus: 012, train: [0, 10], valid: [10, 11], test: [11, 12]}")
        ).split.modulus
        == 12
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("split: {modulus: 1:30}", "split.modulus: expected an integer, got '1:30'"),
        ("train: {nb: {norm: yes}}", "train.nb.norm: expected true or false, got 'yes'"),
        ("train: {svm: {C: .inf}}", "train.svm.C: expected a finite number, got inf"),
        (
            "data: {text_column: 2024-01-31}",
            "data.text_column: expected a string, got datetime.date(2024, 1, 31)",
        ),
        ("split: {spark_master: ~}", None),
    ],
)
def test_the_traps_are_refused_or_taken_as_dvc_takes_them(
    tmp_path: Path, text: str, message: str | None
) -> None:
    path = write(tmp_path, text)
    if message is None:
        assert load_params(path).split.spark_master is None
        return
    with pytest.raises(PipelineError) as error:
        load_params(path)
    assert message in str(error.value)


def billion_laughs(levels: int) -> str:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &lol{level} [{', '.join([f'*lol{level - 1}'] * 9)}]")
    body = "\n".join(lines)
    return f"{body}\nsplit:\n  key: *lol{levels}\n"


def test_an_alias_bomb_is_refused_in_one_line(tmp_path: Path) -> None:
    write(tmp_path, billion_laughs(9))
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    # The timeout only keeps a regression from hanging the suite (it took over 60 s).
    result = subprocess.run(
        [sys.executable, "-m", "common.check_params"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "check_params: error: params.yaml: lol1[0]: an alias of the value at line 1; YAML anchors and "
        "aliases (&name, *name) are not supported in params.yaml: write the value out"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("? [a, b]\n: 1\n", "the document: line 1: a key must be a plain name"),
        ("data: &d {seed: 1}\nsplit: *d\n", "split: an alias of the value at line 1"),
        ("split: {key: " + "[" * 20_000 + "]" * 20_000 + "}\n", "nested too deep to read"),
    ],
)
def test_complex_keys_and_aliases_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PipelineError, match=message):
        load_params(write(tmp_path, text))


SECRET = "TopSecret42"


@pytest.mark.parametrize(
    "text",
    [
        # pathlib writes this `data/external/https:/bob:...`: no `://` left for a pattern to match.
        f"data: {{source: 'data/external/https://bob:{SECRET}@example.com/reviews.tsv'}}",
        f"data: {{source: 'https://bob:{SECRET}@example.com/r.tsv', source_dep: 'https://bob:{SECRET}@example.com/r.tsv'}}",
        f"data: {{source: 's3://bucket/r.tsv?X-Amz-Credential=AKIA&X-Amz-Signature={SECRET}', "
        f"source_dep: 's3://bucket/r.tsv?X-Amz-Credential=AKIA&X-Amz-Signature={SECRET}'}}",
        f"split: {{spark_master: 'spark://u:{SECRET}@host:7077'}}",
    ],
)
def test_a_secret_in_any_param_is_refused_at_check_params_without_echoing_it(
    tmp_path: Path, text: str
) -> None:
    write(tmp_path, text)
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "common.check_params"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "(not shown)" in lines[0], lines
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "data/external/https:/bob:pw@example.com/r.tsv: gone",
            "data/external/https:/***@example.com/r.tsv: gone",
        ),
        ("see bob:pw@host and http://u:p@h", "see ***@host and http://***@h"),
        ("s3://b/k?X-Amz-Signature=abc&X-Amz-Date=1", "s3://b/k?X-Amz-Signature=***&X-Amz-Date=1"),
        ("mail user@example.com at 12:30", "mail user@example.com at 12:30"),
    ],
)
def test_user_password_is_redacted_anywhere_in_a_line(text: str, expected: str) -> None:
    assert redact_urls(text) == expected


def test_an_unknown_key_with_a_newline_stays_one_line(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as error:
        load_params(write(tmp_path, '"spl\\nit": {}\n'))
    assert "\n" not in str(error.value) and "'spl\\nit': unknown key" in str(error.value)
