"""The model as an HTTP service: ``python -m serve [--rev REV]`` (FastAPI under uvicorn), an
optional part: its code, tests, benchmark and docs page (README.md) live in this folder, and it
needs the ``serve`` extra.

No stage imports it and no param chooses it: it loads the model through train's model store,
as evaluate and predict do. It joins the core only through its container image: the marked
stage header of the service's stages in the ``Dockerfile`` and the marked ``serve`` service of
``docker-compose.yml``, each ending in ``# optional part: serve``. Delete them and this folder,
and the project works without the service (tests/test_optional_parts.py does it on a copy).
"""

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py
