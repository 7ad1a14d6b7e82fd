# The pipeline's image (docs/containers.md):
#   docker build -t sentiment-pipeline .                      # the pipeline (last stage: the default)
#   docker run --rm -v "$PWD:/home/app/project" --user "$(id -u):$(id -g)" sentiment-pipeline
# It holds the core (the default pipeline, scikit-learn models) and the EXTRAS (below);
# --build-arg EXTRAS="serve torch" adds torch. An optional part's own image is a stage of its
# own below, built with --target. docker-compose.yml runs them; `make test-images` builds and
# runs them with a real engine.
# Pinned base: the Python the committed dvc.lock was produced with.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
# requirements.lock pins torch==2.13.0+cpu, the CPU build dvc.lock is made with; it exists only on
# PyTorch's CPU wheel index (the default index's Linux torch is the several-GB CUDA build).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# ---- tools: git (DVC keeps experiments in git) and make (the README's install step).
FROM ${PYTHON_IMAGE} AS tools
RUN apt-get update \
    && apt-get install -y --no-install-recommends git=1:2.39.5-0+deb12u3 make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*

# ---- venv: the README's install step, `make install` (requirements.lock as constraints), into
# /opt/venv: outside the project folder, so that a mounted checkout does not hide it. EXTRAS
# are on top of the core (what `make repro` installs: the default pipeline): "serve" for the
# model service (the default), "serve torch" for the torch model, "serve torch test" for the
# dev container. Only
# these files are copied first: a code change re-installs nothing. The build folder
# (build/, *.egg-info) stays in this stage; the images copy the venv alone.
FROM tools AS venv
ARG TORCH_INDEX_URL
ARG EXTRAS="serve"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/build
COPY pyproject.toml requirements.lock README.md Makefile ./
COPY scripts/install.py scripts/
# The packages' own test suites (scipy's, pandas', torch's...) go: 0.1 GB nothing imports.
RUN make install VENV=/opt/venv EXTRAS="${EXTRAS}" TORCH_INDEX_URL="${TORCH_INDEX_URL}" \
    && find /opt/venv -type d -name tests -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/torch/test

# ---- The model service's image (serve/README.md): the stages serve-venv and serve  # optional part: serve
#   docker build --target serve -t sentiment-serve .
#   docker run --rm -p 8000:8000 -v "$PWD/model:/srv/model:ro" sentiment-serve
# It holds the service and the part of the core it imports (no DVC, no git).
# serve-venv: the venv stage's venv without what `python -m serve` never imports. The core's
# distributions that only the pipeline uses go, with every distribution that only they require
# (scripts/prune_venv.py walks the installed requirements; whatever stays requires, stays): DVC
# with its S3 and git stack, dvclive, pre-commit, boto3 and botocore (common/s3_source.py),
# pyfarmhash (the split), PyYAML, tqdm; about 0.12 GB. So serve --rev is not available in this
# image (it says so in one line). Then pip and the bytecode caches, 0.2 GB: the service
# installs nothing, and compiles what it imports once, at start (about a second).
FROM venv AS serve-venv
COPY scripts/__init__.py scripts/prune_venv.py scripts/
RUN /opt/venv/bin/python -m scripts.prune_venv --venv /opt/venv \
        dvc dvclive pre-commit boto3 botocore pyfarmhash pyyaml tqdm \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools \
    && find /opt/venv -type d -name __pycache__ -prune -exec rm -rf {} +

# serve: the model service: the venv and the code `python -m serve` imports, on the plain
# base (no git, no make, no compiler), non-root. It answers with only model/ mounted: the lock
# files of the commit it was built from are in the image (dvc.lock records the model's md5).
FROM ${PYTHON_IMAGE} AS serve
COPY --from=serve-venv /opt/venv /opt/venv
WORKDIR /srv
COPY requirements.lock dvc.lock ./
COPY common/ common/
COPY serve/ serve/
COPY train/ train/
COPY torch_model/ torch_model/
ENV PATH=/opt/venv/bin:${PATH} PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SERVE_HOST=0.0.0.0 SERVE_PORT=8000
USER 1000:1000
EXPOSE 8000
# /ready: 200 once the model is loaded; on SERVE_PORT, which `--network host` runs may change.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['SERVE_PORT']}/ready\")"]
# Mount the model folder at /srv/model (read-only is enough); SERVE_API_TOKEN turns on the token.
CMD ["python", "-m", "serve"]

# ---- pipeline: `dvc repro` in the project, as user app (UID and GID: build arguments, for a
# host owner other than 1000; or `--user`/compose's CONTAINER_USER at run time).
FROM tools AS pipeline
ARG UID=1000
ARG GID=1000
# A git identity for the commits `dvc exp run` makes in a mounted checkout; they stay local
# (refs/exps) until pushed. -e GIT_AUTHOR_NAME=... etc. sign them as yourself.
# USER: DVC asks getpass.getuser(), which reads it before /etc/passwd, so a `--user` uid that
# the image has no entry for (a host owner's) runs too.
ENV PATH=/opt/venv/bin:${PATH} PYTHONUNBUFFERED=1 USER=app \
    GIT_AUTHOR_NAME="Pipeline container" GIT_AUTHOR_EMAIL=pipeline@localhost \
    GIT_COMMITTER_NAME="Pipeline container" GIT_COMMITTER_EMAIL=pipeline@localhost
RUN groupadd --gid "${GID}" app \
    && useradd --create-home --uid "${UID}" --gid "${GID}" app \
    && git config --system user.name "${GIT_AUTHOR_NAME}" \
    && git config --system user.email "${GIT_AUTHOR_EMAIL}" \
    && install -d -o "${UID}" -g "${GID}" /home/app/project
COPY --from=venv /opt/venv /opt/venv
WORKDIR /home/app/project
COPY --chown=${UID}:${GID} . .
USER ${UID}:${GID}
# No .git in the image (.dockerignore): on its own the image runs `dvc repro` without git; a
# mounted checkout (compose) brings its own .git, and this file is hidden by the mount.
RUN printf '[core]\n    no_scm = true\n' > .dvc/config.local
CMD ["dvc", "repro"]
