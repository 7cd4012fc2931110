"""Parses an OTLP/JSON traces file with the official OpenTelemetry protobuf definitions
(opentelemetry-proto's TracesData) and checks what servesim promises of it. OTLP/JSON writes trace
and span ids as hex (the OTLP specification), where protobuf's JSON mapping expects base64: the ids
are converted before parsing, as OTLP receivers do. Prints one JSON line of facts for the Rust
test, or raises. Usage: validate_otlp.py FILE"""
import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.trace.v1.trace_pb2 import Span, TracesData

raw = json.load(open(sys.argv[1]))
for resource in raw["resourceSpans"]:
    for scope in resource["scopeSpans"]:
        for span in scope["spans"]:
            for key, size in [("traceId", 16), ("spanId", 8), ("parentSpanId", 8)]:
                if key in span:
                    value = bytes.fromhex(span[key])
                    assert len(value) == size, (key, span[key])
                    span[key] = base64.b64encode(value).decode()
data = json_format.Parse(json.dumps(raw), TracesData())

traces = {}
for resource in data.resource_spans:
    service = {a.key: a.value for a in resource.resource.attributes}["service.name"].string_value
    for scope in resource.scope_spans:
        for span in scope.spans:
            traces.setdefault(span.trace_id, []).append(span)

outcomes = {}
stages = {}
for trace_id, spans in traces.items():
    roots = [s for s in spans if not s.parent_span_id]
    assert len(roots) == 1, f"trace {trace_id.hex()} has {len(roots)} roots"
    root = roots[0]
    assert root.kind == Span.SPAN_KIND_CLIENT
    attributes = {a.key: a.value for a in root.attributes}
    for key in ["servesim.endpoint", "servesim.region", "servesim.origin", "servesim.outcome", "servesim.attempts"]:
        assert key in attributes, f"root span lacks {key}"
    outcome = attributes["servesim.outcome"].string_value
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    children = sorted((s for s in spans if s.parent_span_id), key=lambda s: s.start_time_unix_nano)
    ids = {s.span_id for s in spans}
    assert len(ids) == len(spans), "span ids repeat within a trace"
    # The stage spans tile the request: each starts where the one before ended, from the root's
    # start to its end.
    at = root.start_time_unix_nano
    for child in children:
        assert child.parent_span_id == root.span_id
        assert child.start_time_unix_nano == at, f"gap or overlap before {child.name} in {trace_id.hex()}"
        assert child.end_time_unix_nano > child.start_time_unix_nano
        at = child.end_time_unix_nano
        stages[child.name] = stages.get(child.name, 0) + 1
    assert at == root.end_time_unix_nano, f"stages end at {at}, the request at {root.end_time_unix_nano}"
    if outcome in ("failed", "dropped", "timed_out"):
        assert root.status.code == 2
print(json.dumps({"service": service, "traces": len(traces), "outcomes": outcomes, "stages": stages}))
