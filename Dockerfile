# The llm-orchestrator worker: `docker compose up --scale worker=3`, or on its own:
#   docker build -t llm-orchestrator .
#   docker run --rm -e TEMPORAL_ADDRESS=host:7233 -e OPENAI_API_KEY llm-orchestrator
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# dependencies first, so a code change does not reinstall them
COPY pyproject.toml README.md ./
COPY interpreter ./interpreter
COPY activities ./activities
COPY llm_orchestrator ./llm_orchestrator
RUN pip install ".[otel]"

COPY examples ./examples

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin worker
USER worker

# the catalog that {"workflow": NAME} resolves against; mount your own over it
ENV LLM_ORCHESTRATOR_CATALOG=/app/examples \
    LLM_ORCHESTRATOR_METRICS_BIND=0.0.0.0:9464 \
    LLM_ORCHESTRATOR_LOG_FORMAT=json

# Prometheus metrics (Temporal SDK + steps) on /metrics
EXPOSE 9464

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=2)"]

ENTRYPOINT ["llm-orchestrator"]
CMD ["worker"]
