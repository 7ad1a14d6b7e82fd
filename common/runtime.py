"""The same bits on every x86-64 machine with AVX2: pinned CPU kernels and checked versions.

numpy's and scipy's OpenBLAS, torch's own kernels, MKL and oneDNN each pick their CPU
kernels at run time, from the CPU and from environment variables. Kernels for wider vectors
sum in another order, so a model trained on an AVX-512 machine differs in its last bits from
one trained on an AVX2 machine, and ``dvc.lock`` stops reproducing. Every stage package calls
``pin_cpu_kernels`` in its ``__init__.py``, before numpy or torch loads, so ``python -m train``
typed by hand gets the pin too. It overrides what the shell says: a setting made there must
not silently change the bits. The cost is measured in ``benchmarks/pinned_kernels.py``.

``check_runtime`` (called by ``run_stage``) then checks that the pin took effect and that the
installed libraries are the ones ``requirements.lock`` pins.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from common.errors import PipelineError

# The AVX2 kernels of every library: the widest that all x86-64 CPUs since 2013 run.
PINNED_ENVIRONMENT = {
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's OpenBLAS
    "OPENBLAS_NUM_THREADS": "1",  # a reduction split over threads sums in another order
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 loops
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's vectorized kernels
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL inside torch
    "MKL_CBWR": "AVX2,STRICT",  # MKL's conditional numerical reproducibility mode
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN inside torch
    "ONEDNN_DEFAULT_FPMATH_MODE": "STRICT",  # no implicit bf16/tf32 down-conversion
}
# Settings that would fight the pin (numpy refuses to start with both enable and disable).
UNSET_ENVIRONMENT = ("NPY_ENABLE_CPU_FEATURES", "DNNL_MAX_CPU_ISA", "DNNL_DEFAULT_FPMATH_MODE")
NUMERIC_LIBRARIES = ("numpy", "scipy", "torch")
LOCK_FILE = Path(__file__).resolve().parent.parent / "requirements.lock"
# The packages whose version can change a stage's output bits.
BIT_DECIDING_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "pandas", "pyarrow", "pyfarmhash")

log = logging.getLogger(__name__)
# Settings from the environment that the pin replaced, for run_stage to report.
overridden: dict[str, str] = {}


def pin_cpu_kernels() -> None:
    """Set ``PINNED_ENVIRONMENT`` for the libraries to read when they load.

    Must run before numpy, scipy or torch is imported; ``check_runtime`` catches the case
    where one was loaded first and the pin could not take effect.
    """
    for name, value in PINNED_ENVIRONMENT.items():
        current = os.environ.get(name)
        if current is not None and current != value:
            overridden[name] = current
        os.environ[name] = value
    for name in UNSET_ENVIRONMENT:
        if name in os.environ:
            overridden[name] = os.environ.pop(name)


def has_avx2() -> bool:
    """Whether this is an x86-64 CPU with AVX2, where the pin holds bit for bit."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    from numpy._core._multiarray_umath import __cpu_features__

    return bool(__cpu_features__.get("AVX2"))


def kernel_problems() -> list[str]:
    """What differs from the pinned kernels, among the numeric libraries loaded so far."""
    problems = []
    if "numpy" in sys.modules or "scipy" in sys.modules:
        from threadpoolctl import threadpool_info

        for library in threadpool_info():
            if library["internal_api"] == "openblas" and library.get("architecture") != "Haswell":
                problems.append(
                    f"OpenBLAS ({Path(library['filepath']).name}) runs {library.get('architecture')} kernels"
                )
    if "torch" in sys.modules:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
        if capability != "AVX2":
            problems.append(f"torch runs {capability} kernels")
    return problems


def locked_versions(lock: Path = LOCK_FILE) -> dict[str, str]:
    """The pins of ``requirements.lock`` that apply to this Python and platform.

    The lock is universal (``make lock``): a line may carry an environment marker, such as
    ``torch==2.13.0+cpu ; sys_platform == 'linux'``, and only the lines whose marker holds here count.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    pins = {}
    for line in lock.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        versions = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if versions:
            pins[re.sub(r"[-_.]+", "-", requirement.name).lower()] = versions[0]
    return pins


def version_problems(lock: Path = LOCK_FILE) -> list[str]:
    """Where a bit-deciding package differs from ``requirements.lock``.

    Python's own version is not among them: the default pipeline gives the same ``dvc.lock``
    on Python 3.11, 3.12 and 3.13 (``tests/test_install.py`` runs it on each).
    """
    pins = locked_versions(lock)
    problems = []
    for package in BIT_DECIDING_PACKAGES:
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
        # The public version: torch's CUDA build (2.13.0+cu130) runs the same CPU kernels.
        if package in pins and installed.split("+")[0] != pins[package].split("+")[0]:
            problems.append(f"{package} {installed} is installed, {lock.name} pins {pins[package]}")
    return problems


def log_overrides() -> None:
    if overridden:
        settings = ", ".join(f"{name}={value}" for name, value in sorted(overridden.items()))
        log.info("ignored from the environment (CPU kernels are pinned, see common/runtime.py): %s", settings)


def check_runtime() -> None:
    """Refuse to run where the output bits would silently differ from ``dvc.lock``'s.

    On x86-64 with AVX2 an unpinned kernel or an unpinned library version is an error. On
    other CPUs (arm64, x86-64 without AVX2) the pin cannot hold: warn and run. Call it again
    after importing torch lazily, to check its kernels too.
    """
    problems = version_problems() + kernel_problems()
    if not problems:
        return
    if not has_avx2():
        log.warning(
            "not an x86-64 CPU with AVX2 (%s): results may differ from dvc.lock; "
            "`make verify` shows which artifacts reproduce",
            "; ".join(problems),
        )
        return
    raise PipelineError(
        f"{problems[0]}: outputs would differ from dvc.lock "
        "(run stages as `python -m <stage>` from a fresh process, after `make install`)"
    )
