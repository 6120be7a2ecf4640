"""Exports GenAI spans to driftwatch with the OpenTelemetry Python SDK's own
OTLP/HTTP protobuf exporter, as an instrumented application would (the
integration test `http::a_real_opentelemetry_exporter_feeds_otlp_ingest`).

Usage: python3 export.py ENDPOINT TOKEN

One span per convention (GenAI semantic conventions, OpenLLMetry,
OpenInference) plus one HTTP span without LLM I/O; the finished spans are
exported twice, as an exporter retrying a batch would. Prints the result of
each export.
"""
import json
import sys

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

endpoint, token = sys.argv[1], sys.argv[2]
memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
tracer = provider.get_tracer("driftwatch-test")

with tracer.start_as_current_span("chat gpt-4o-mini") as s:
    s.set_attribute("gen_ai.operation.name", "chat")
    s.set_attribute("gen_ai.request.model", "gpt-4o-mini")
    s.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
    s.set_attribute("gen_ai.usage.input_tokens", 12)
    s.set_attribute("gen_ai.usage.output_tokens", 5)
    s.set_attribute("gen_ai.input.messages", json.dumps([
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "where is my card"}]},
    ]))
    s.set_attribute("gen_ai.output.messages", json.dumps([
        {"role": "assistant", "parts": [{"type": "text", "content": "it is on its way"}]},
    ]))

with tracer.start_as_current_span("openai.chat") as s:
    s.set_attribute("gen_ai.system", "openai")
    s.set_attribute("gen_ai.request.model", "gpt-4o")
    s.set_attribute("gen_ai.prompt.0.role", "user")
    s.set_attribute("gen_ai.prompt.0.content", "reset my pin")
    s.set_attribute("gen_ai.completion.0.role", "assistant")
    s.set_attribute("gen_ai.completion.0.content", "open settings, then security")
    s.set_attribute("gen_ai.usage.prompt_tokens", 7)
    s.set_attribute("gen_ai.usage.completion_tokens", 6)
    s.set_status(Status(StatusCode.ERROR, "rate limited"))

with tracer.start_as_current_span("ChatCompletion") as s:
    s.set_attribute("openinference.span.kind", "LLM")
    s.set_attribute("input.value", "close my account")
    s.set_attribute("output.value", "I can help with that")
    s.set_attribute("llm.model_name", "claude-3-haiku")
    s.set_attribute("llm.token_count.prompt", 9)
    s.set_attribute("llm.token_count.completion", 5)

with tracer.start_as_current_span("GET /health") as s:
    s.set_attribute("http.route", "/health")

spans = memory.get_finished_spans()
exporter = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": "Bearer " + token})
for attempt in (1, 2):
    print(f"export {attempt}: {exporter.export(spans).name}")
exporter.shutdown()
