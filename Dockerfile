# The same environment as the README's install, running the pipeline (`dvc repro`).
#   docker build -t sentiment-pipeline .
#   docker run --rm -v "$PWD/data:/home/app/project/data" sentiment-pipeline
# Pinned base: the Python the committed dvc.lock was produced with.
FROM python:3.11.7-slim-bookworm

# git: DVC records experiments in git; make: the same install step as `make repro`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 app
USER app
WORKDIR /home/app/project

# torch==2.13.0 from the default index is the CUDA build; for the CPU build (as on the
# machines dvc.lock was made on) pass the CPU wheel index:
#   docker build --build-arg PIP_EXTRA_INDEX_URL=<PyTorch CPU wheel index> .
ARG PIP_EXTRA_INDEX_URL=""
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    PIP_NO_CACHE_DIR=1 \
    PATH=/home/app/project/.venv/bin:${PATH}

# Dependencies first, so code changes don't re-install them.
COPY --chown=app:app pyproject.toml requirements.lock README.md Makefile ./
RUN make install

COPY --chown=app:app . .
CMD ["dvc", "repro"]
