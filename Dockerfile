# Two images from one file (docs/serving.md):
#   docker build -t sentiment-pipeline .                      # the pipeline (last stage: the default)
#   docker run --rm -v "$PWD/data:/home/app/project/data" sentiment-pipeline
#   docker build --target serve -t sentiment-serve .          # the model service
#   docker run --rm -p 8000:8000 -v "$PWD/model:/srv/model:ro" sentiment-serve
# docker-compose.yml runs both. Pinned base: the Python the committed dvc.lock was produced with.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
# requirements.lock pins torch==2.13.0+cpu, the CPU build dvc.lock is made with; it exists only on
# PyTorch's CPU wheel index (the default index's Linux torch is the several-GB CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# ---- serve: build the runtime environment (no test dependencies) in a venv of its own.
FROM ${PYTHON_IMAGE} AS serve-build
ARG TORCH_INDEX_URL
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_EXTRA_INDEX_URL=${TORCH_INDEX_URL}
WORKDIR /build
COPY pyproject.toml requirements.lock README.md ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -c requirements.lock .

# ---- serve: the runtime image: the venv and the code, no compiler, no pip cache, non-root.
FROM ${PYTHON_IMAGE} AS serve
COPY --from=serve-build /opt/venv /opt/venv
WORKDIR /srv
COPY common/ common/
COPY prepare_data/ prepare_data/
COPY predict/ predict/
COPY serve/ serve/
COPY train/ train/
ENV PATH=/opt/venv/bin:${PATH} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SERVE_HOST=0.0.0.0 SERVE_PORT=8000
USER 1000:1000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"]
# Mount the model folder at /srv/model (read-only is enough); SERVE_API_TOKEN turns on the token.
CMD ["python", "-m", "serve"]

# ---- pipeline: the same environment as the README's install (`make install`), running `dvc repro`.
FROM ${PYTHON_IMAGE} AS pipeline
ARG TORCH_INDEX_URL
# git: DVC records experiments in git; make: the same install step as `make repro`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.5-0+deb12u3 make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 app
USER 1000:1000
WORKDIR /home/app/project
ENV PIP_EXTRA_INDEX_URL=${TORCH_INDEX_URL} \
    PIP_NO_CACHE_DIR=1 \
    PATH=/home/app/project/.venv/bin:${PATH}

# Dependencies first, so code changes don't re-install them.
COPY --chown=1000:1000 pyproject.toml requirements.lock README.md Makefile ./
RUN make install

COPY --chown=1000:1000 . .
CMD ["dvc", "repro"]
