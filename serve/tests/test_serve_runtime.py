"""``python -m serve`` pins the CPU kernels before numpy loads, as every stage does
(tests/test_runtime.py: the stages, and the helper)."""

from __future__ import annotations

from tests.test_runtime import kernels_after_importing


def test_the_serve_package_pins_the_kernels_before_numpy_loads() -> None:
    """``python -m serve`` (or any of its modules) imports the package first."""
    assert kernels_after_importing("serve") == "['Haswell']"
