//! Request traces as OpenTelemetry OTLP/JSON (`traces.otlp.json`): one trace per traced request,
//! a client span for the whole request and one child span per stage it spent time in (the same
//! split as the latency breakdown), with region, endpoint, replica, batch size and attempt
//! attributes. Jaeger, Tempo and the OpenTelemetry collector load the file as it is.
//!
//! Simulated time 0 is 2026-01-01T00:00:00Z; ids are hashes of the seed and the request's number,
//! so the same scenario and seed give the same file.

use sim::breakdown::{Stage, STAGE_NAMES};
use sim::world::{mix, Outcome, TracedRequest};
use std::fmt::Write as _;

/// 2026-01-01T00:00:00Z in Unix nanoseconds: where simulated time 0 is put.
pub const EPOCH_UNIX_NANOS: u64 = 1_767_225_600_000_000_000;

/// What the traces are of: names for the indices a `TracedRequest` carries.
pub struct TraceInput<'a> {
    pub scenario: &'a str,
    pub seed: u64,
    /// `main`, then each named endpoint.
    pub endpoints: &'a [String],
    /// Whether each endpoint is a pipeline (its remaining time is its stages, not a failure).
    pub pipelines: &'a [bool],
    pub regions: &'a [String],
    pub traces: &'a [TracedRequest],
}

/// A JSON string literal (escaped).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string is JSON")
}

fn time(nanos: u64) -> u64 {
    EPOCH_UNIX_NANOS + nanos
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Completed => "completed",
        Outcome::Degraded => "degraded",
        Outcome::Failed => "failed",
        Outcome::Dropped => "dropped",
        Outcome::TimedOut => "timed_out",
        Outcome::Unfinished => "unfinished",
    }
}

/// 16 lowercase hex digits of `value` (a span id; two make a trace id).
fn push_hex(out: &mut String, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buffer = [0u8; 16];
    for (k, byte) in buffer.iter_mut().enumerate() {
        *byte = DIGITS[((value >> (60 - 4 * k)) & 0xf) as usize];
    }
    out.push_str(std::str::from_utf8(&buffer).expect("hex digits are ASCII"));
}

/// A decimal number in quotes (OTLP/JSON's 64-bit integers).
fn push_quoted_number(out: &mut String, value: u64) {
    let mut buffer = [0u8; 20];
    let mut at = buffer.len();
    let mut rest = value;
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.push('"');
    out.push_str(std::str::from_utf8(&buffer[at..]).expect("digits are ASCII"));
    out.push('"');
}

fn push_attribute(out: &mut String, key: &str, kind: &str, value: &str) {
    out.push_str("{\"key\":\"");
    out.push_str(key);
    out.push_str("\",\"value\":{\"");
    out.push_str(kind);
    out.push_str("\":");
    out.push_str(value);
    out.push_str("}}");
}

fn push_int_attribute(out: &mut String, key: &str, value: u64) {
    out.push_str(",{\"key\":\"");
    out.push_str(key);
    out.push_str("\",\"value\":{\"intValue\":");
    push_quoted_number(out, value);
    out.push_str("}}");
}

/// A span's opening: ids, name, kind and times (the caller adds attributes and closes it).
fn push_span_head(out: &mut String, ids: (u64, u64, u64, Option<u64>), name: &str, kind: u8, (from, to): (u64, u64)) {
    let (trace_high, trace_low, span, parent) = ids;
    out.push_str("{\"traceId\":\"");
    push_hex(out, trace_high);
    push_hex(out, trace_low);
    out.push_str("\",\"spanId\":\"");
    push_hex(out, span);
    if let Some(parent) = parent {
        out.push_str("\",\"parentSpanId\":\"");
        push_hex(out, parent);
    }
    out.push_str("\",\"name\":");
    out.push_str(name);
    out.push_str(if kind == 3 { ",\"kind\":3,\"startTimeUnixNano\":" } else { ",\"kind\":1,\"startTimeUnixNano\":" });
    push_quoted_number(out, time(from));
    out.push_str(",\"endTimeUnixNano\":");
    push_quoted_number(out, time(to));
    out.push_str(",\"attributes\":[");
}

/// A request's spans, written straight into `out`: a JSON tree per span cost about 100
/// instructions per byte of output, `format!` a tenth of that; this, a few. OTLP/JSON writes 64-bit
/// integers as decimal strings and ids as hex.
fn write_spans(out: &mut String, input: &TraceInput, names: &Names, request: &TracedRequest) {
    let trace = (mix(input.seed, request.serial), mix(input.seed ^ 0x5EED_0F7E_4CE5, request.serial));
    let span_id = |k: u64| mix(input.seed.rotate_left(17) ^ k, request.serial).max(1);
    let endpoint = &names.endpoints[request.endpoint as usize];
    let region = names.regions.get(request.region as usize).map_or("\"none\"", String::as_str);
    let root = span_id(0);
    if !out.ends_with('[') {
        out.push(',');
    }
    push_span_head(
        out,
        (trace.0, trace.1, root, None),
        &names.requests[request.endpoint as usize],
        3,
        (request.sent, request.finished),
    );
    push_attribute(out, "servesim.endpoint", "stringValue", endpoint);
    out.push(',');
    push_attribute(out, "servesim.origin", "stringValue", &names.regions[request.origin as usize]);
    out.push(',');
    push_attribute(out, "servesim.region", "stringValue", region);
    out.push(',');
    push_attribute(out, "servesim.outcome", "stringValue", &format!("\"{}\"", outcome_name(request.outcome)));
    push_int_attribute(out, "servesim.attempts", u64::from(request.attempts));
    out.push(',');
    push_attribute(out, "servesim.sampled", "boolValue", if request.sampled { "true" } else { "false" });
    push_int_attribute(out, "servesim.request", request.serial);
    if request.replica != u32::MAX {
        push_int_attribute(out, "servesim.replica", u64::from(request.replica));
    }
    if request.batch_size > 0 {
        push_int_attribute(out, "servesim.batch_size", u64::from(request.batch_size));
    }
    let error = matches!(request.outcome, Outcome::Failed | Outcome::Dropped | Outcome::TimedOut);
    if error {
        out.push_str("],\"status\":{\"code\":2,\"message\":\"");
        out.push_str(outcome_name(request.outcome));
        out.push_str("\"}}");
    } else {
        out.push_str("],\"status\":{\"code\":1}}");
    }
    let pipeline = input.pipelines.get(request.endpoint as usize).copied().unwrap_or(false);
    for (k, (stage, from, to)) in request.stages.spans(request.sent, request.finished).into_iter().enumerate() {
        // Time after the last stamp and before the way back: a pipeline's stages, or for a
        // request that failed, its call until the failure.
        let name = match stage {
            Stage::Pipeline if !pipeline => "until_failure",
            _ => STAGE_NAMES[stage as usize],
        };
        out.push(',');
        push_span_head(
            out,
            (trace.0, trace.1, span_id(k as u64 + 1), Some(root)),
            &format!("\"{name}\""),
            1,
            (from, to),
        );
        push_attribute(out, "servesim.region", "stringValue", region);
        out.push_str("]}");
    }
}

/// Names written once, quoted.
struct Names {
    endpoints: Vec<String>,
    requests: Vec<String>,
    regions: Vec<String>,
}

/// The OTLP/JSON `TracesData` document.
pub fn render(input: &TraceInput) -> String {
    let names = Names {
        endpoints: input.endpoints.iter().map(|e| quoted(e)).collect(),
        requests: input.endpoints.iter().map(|e| quoted(&format!("{e} request"))).collect(),
        regions: input.regions.iter().map(|r| quoted(r)).collect(),
    };
    let mut out = String::with_capacity(600 * input.traces.len() + 512);
    let _ = write!(
        out,
        "{{\"resourceSpans\":[{{\"resource\":{{\"attributes\":[{{\"key\":\"service.name\",\"value\":{{\"stringValue\":{}}}}},\
         {{\"key\":\"servesim.seed\",\"value\":{{\"intValue\":\"{}\"}}}}]}},\"scopeSpans\":[{{\"scope\":{{\"name\":\"servesim\",\
         \"version\":\"{}\"}},\"spans\":[",
        quoted(&format!("servesim-{}", input.scenario)),
        input.seed,
        env!("CARGO_PKG_VERSION")
    );
    for request in input.traces {
        write_spans(&mut out, input, &names, request);
    }
    out.push_str("]}]}]}\n");
    out
}
