"""A worker process exports its spans over OTLP, as the OTEL_* variables say, into the
trace its client started: workflow → activity → step → provider call across processes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

from llm_orchestrator.observability import tracing_configured
from tests.conftest import EXAMPLES
from tests.helpers.net import serve_http
from tests.helpers.runs import start_run
from tests.observability.conftest import clean_env, cli_worker

Request = trace_service_pb2.ExportTraceServiceRequest


class _Collector:
    """What an OTLP receiver got: (resource attributes, span) pairs."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, Any], Any]] = []
        self._lock = threading.Lock()

    def take(self, request: Any) -> None:
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend((resource, span) for span in scope_spans.spans)


@contextmanager
def http_collector() -> Iterator[tuple[_Collector, str]]:
    collector = _Collector()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/v1/traces":
                collector.take(Request.FromString(body))
            payload = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    with serve_http(Handler) as url:
        yield collector, url


@contextmanager
def grpc_collector() -> Iterator[tuple[_Collector, str]]:
    collector = _Collector()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            collector.take(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield collector, f"http://127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def test_tracing_is_off_unless_configured() -> None:
    assert not tracing_configured({})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})
    assert tracing_configured({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_configured(
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"}
    )
    assert not tracing_configured({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "x"})


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
@pytest.mark.asyncio(loop_scope="session")
async def test_a_worker_process_exports_the_run_into_the_clients_trace(
    client: Client, tmp_path: Path, protocol: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    config = client.config()
    config["interceptors"] = [TracingInterceptor(provider.get_tracer("test"))]
    traced = Client(**config)

    receiver = http_collector() if protocol == "http/protobuf" else grpc_collector()
    with receiver as (collector, endpoint):
        env = clean_env(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
            OTEL_BSP_SCHEDULE_DELAY="100",
            OTEL_SERVICE_NAME="worker-under-test",
        )
        task_queue = f"otlp-{uuid.uuid4().hex[:8]}"
        args = [
            "--address", client.service_client.config.target_host,
            "--task-queue", task_queue,
            "--catalog", str(EXAMPLES),
        ]  # fmt: skip
        with cli_worker(args, env, tmp_path / "worker.log"):
            handle = await start_run(
                traced,
                task_queue,
                {"workflow": "sentiment-analysis", "inputs": {"text": "Great!"}, "offline": True},
            )
            await asyncio.wait_for(handle.result(), timeout=60)
        # the worker flushes its spans when it stops
        deadline = time.monotonic() + 10
        while not any(s.name.startswith("chat") for _, s in collector.spans):
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            await asyncio.sleep(0.1)

    (root,) = [s for s in exporter.get_finished_spans() if s.name.startswith("StartWorkflow")]
    trace_id = root.context.trace_id.to_bytes(16, "big")
    names = {span.name for _, span in collector.spans}
    assert {"RunWorkflow:DagWorkflow", "RunActivity:step_llm", "step extract_sentiment"} <= names
    assert {span.trace_id for _, span in collector.spans} == {trace_id}
    assert {r.get("service.name") for r, _ in collector.spans} == {"worker-under-test"}
    chats = [s for _, s in collector.spans if s.name.startswith("chat ")]
    assert len(chats) == 2  # the example's two llm steps, answered offline
    attributes = {a.key: a.value for a in chats[0].attributes}
    assert attributes["gen_ai.system"].string_value == "offline"
    assert attributes["gen_ai.usage.input_tokens"].int_value > 0
