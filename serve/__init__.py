"""The model as an HTTP service: ``python -m serve [--rev REV]`` (FastAPI under uvicorn)."""

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py
