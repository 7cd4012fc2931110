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

/// A request's spans, written straight into `out` (a JSON tree per span cost 100 instructions a
/// byte; this costs a few). OTLP/JSON writes 64-bit integers as decimal strings, ids as hex.
fn write_spans(out: &mut String, input: &TraceInput, names: &Names, request: &TracedRequest) {
    let trace_id =
        format!("{:016x}{:016x}", mix(input.seed, request.serial), mix(input.seed ^ 0x5EED_0F7E_4CE5, request.serial));
    let span_id = |k: u64| format!("{:016x}", mix(input.seed.rotate_left(17) ^ k, request.serial).max(1));
    let endpoint = &names.endpoints[request.endpoint as usize];
    let region = names.regions.get(request.region as usize).map_or("\"none\"", String::as_str);
    let root = span_id(0);
    if !out.ends_with('[') {
        out.push(',');
    }
    let _ = write!(
        out,
        "{{\"traceId\":\"{trace_id}\",\"spanId\":\"{root}\",\"name\":{},\"kind\":3,\"startTimeUnixNano\":\"{}\",\
         \"endTimeUnixNano\":\"{}\",\"attributes\":[",
        names.requests[request.endpoint as usize],
        time(request.sent),
        time(request.finished)
    );
    let text = |out: &mut String, key: &str, value: &str| {
        let _ = write!(out, "{{\"key\":\"{key}\",\"value\":{{\"stringValue\":{value}}}}}");
    };
    let int = |out: &mut String, key: &str, value: u64| {
        let _ = write!(out, ",{{\"key\":\"{key}\",\"value\":{{\"intValue\":\"{value}\"}}}}");
    };
    text(out, "servesim.endpoint", endpoint);
    out.push(',');
    text(out, "servesim.origin", &names.regions[request.origin as usize]);
    out.push(',');
    text(out, "servesim.region", region);
    out.push(',');
    text(out, "servesim.outcome", &quoted(outcome_name(request.outcome)));
    int(out, "servesim.attempts", u64::from(request.attempts));
    let _ = write!(out, ",{{\"key\":\"servesim.sampled\",\"value\":{{\"boolValue\":{}}}}}", request.sampled);
    int(out, "servesim.request", request.serial);
    if request.replica != u32::MAX {
        int(out, "servesim.replica", u64::from(request.replica));
    }
    if request.batch_size > 0 {
        int(out, "servesim.batch_size", u64::from(request.batch_size));
    }
    let error = matches!(request.outcome, Outcome::Failed | Outcome::Dropped | Outcome::TimedOut);
    if error {
        let _ = write!(out, "],\"status\":{{\"code\":2,\"message\":\"{}\"}}}}", outcome_name(request.outcome));
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
        let _ = write!(
            out,
            ",{{\"traceId\":\"{trace_id}\",\"spanId\":\"{}\",\"parentSpanId\":\"{root}\",\"name\":\"{name}\",\"kind\":1,\
             \"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\",\"attributes\":[",
            span_id(k as u64 + 1),
            time(from),
            time(to)
        );
        text(out, "servesim.region", region);
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
