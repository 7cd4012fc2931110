//! Input data read as meant or refused with its position: timestamp units, JSON lines, compressed
//! files, calendar dates, traces longer than the run, rate series, columns read for nothing, and
//! latencies no batch can take.

mod common;

use common::{ok, scratch, servesim, stderr, write};
use std::path::Path;

fn scenario(duration: &str, arrivals: &str, service: &str) -> String {
    format!(
        r#"name = "data"
duration = "{duration}"
[regions.a]
replicas = 2
[[traffic]]
origin = "a"
arrivals = {arrivals}
[serving]
service_time = {service}
"#
    )
}

const EXPONENTIAL: &str = r#"{ kind = "exponential", mean = "2ms" }"#;

/// `run` on `text`: the summary, and stdout and stderr.
fn run(dir: &Path, name: &str, text: &str) -> (serde_json::Value, String, String) {
    let path = write(dir, name, text);
    let out = dir.join(format!("{name}-out"));
    let output = servesim(&["run", &path, "--out", out.to_str().unwrap(), "--no-uncertainty"]);
    let err = stderr(&output);
    let stdout = ok(output);
    let summary = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    (summary, stdout, err)
}

/// `validate` on `text` must fail with exit 2 and one line holding every fragment.
fn refused(dir: &Path, name: &str, text: &str, fragments: &[&str]) {
    let path = write(dir, name, text);
    let output = servesim(&["validate", &path]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{name}: {message}");
    assert_eq!(message.trim_end().lines().count(), 1, "{name}: {message}");
    for fragment in fragments {
        assert!(message.contains(fragment), "{name}: {message:?} lacks {fragment:?}");
    }
}

fn offered(summary: &serde_json::Value) -> u64 {
    summary["requests"]["offered"].as_u64().unwrap()
}

#[test]
fn timestamp_units_json_lines_and_integral_decimals_read_as_meant() {
    let dir = scratch("data-units");
    // 300 requests, one every 100 ms over 30 s, written in milliseconds.
    let mut csv = String::from("t_ms,tokens\n");
    let mut jsonl = String::new();
    for i in 0..300 {
        csv.push_str(&format!("{},{}.0\n", i * 100, 10 + i % 7));
        jsonl.push_str(&format!("{{\"t_ms\": {}, \"tokens\": {}}}\n", i * 100, 10 + i % 7));
    }
    write(&dir, "ms.csv", &csv);
    write(&dir, "ms.jsonl", &jsonl);
    let trace = |file: &str, extra: &str| {
        scenario(
            "40s",
            &format!(r#"{{ process = "trace", file = "{file}", timestamp_column = "t_ms"{extra} }}"#),
            EXPONENTIAL,
        )
    };
    // Read as seconds, the trace would run to 29 900 s: refused, with the unit named as a cause.
    refused(
        &dir,
        "as-seconds.toml",
        &trace("ms.csv", ""),
        &["as-seconds.toml:7:", "runs to 29900 s", "timestamp_unit"],
    );
    let (summary, stdout, _) = run(&dir, "ms.toml", &trace("ms.csv", r#", timestamp_unit = "ms""#));
    assert_eq!(offered(&summary), 300);
    assert!(stdout.contains("replayed 300 of the trace's 300 requests"), "{stdout}");
    let (from_json, _, _) = run(&dir, "jsonl.toml", &trace("ms.jsonl", r#", timestamp_unit = "ms""#));
    assert_eq!(from_json["requests"], summary["requests"]);
    // Sizes written as 12.0 are whole numbers; a column read for nothing gets a located warning.
    let (_, _, warning) =
        run(&dir, "sizes.toml", &trace("ms.csv", r#", timestamp_unit = "ms", size_column = "tokens""#));
    assert!(warning.contains("sizes.toml:7:") && warning.contains("size_column is read but"), "{warning}");
}

#[test]
fn a_trace_longer_than_the_run_is_refused_unless_truncation_is_asked_for() {
    let dir = scratch("data-truncate");
    let rows: String = (0..100).map(|i| format!("{}\n", i as f64 * 0.5)).collect();
    write(&dir, "long.csv", &format!("timestamp\n{rows}"));
    let trace =
        |extra: &str| scenario("20s", &format!(r#"{{ process = "trace", file = "long.csv"{extra} }}"#), EXPONENTIAL);
    // Rows at 0, 0.5, …, 49.5 s: 40 fall before 20 s.
    refused(&dir, "long.toml", &trace(""), &["long.toml:7:", "only 40 of its 100 requests", "truncate = true"]);
    let (summary, stdout, _) = run(&dir, "cut.toml", &trace(", truncate = true"));
    assert_eq!(offered(&summary), 40);
    assert!(stdout.contains("replayed 40 of the trace's 100 requests (truncated at duration)"), "{stdout}");
}

#[test]
fn a_rate_series_drives_poisson_arrivals_at_its_interpolated_rate() {
    let dir = scratch("data-rate");
    // 100/s at 0 s rising linearly to 300/s at 10 s, then held: 2000 + 3000 = 5000 expected in 20 s.
    write(&dir, "qps.csv", "minute,qps\n0,100\n10000,300\n");
    let text = scenario(
        "20s",
        r#"{ process = "rate_trace", file = "qps.csv", timestamp_column = "minute", rate_column = "qps", timestamp_unit = "ms" }"#,
        EXPONENTIAL,
    );
    let (summary, _, _) = run(&dir, "rate.toml", &text);
    // Poisson: sd √5000 ≈ 71; five of them either way.
    assert!(offered(&summary).abs_diff(5000) < 354, "{}", offered(&summary));
    // Scaled by a traffic margin like any other rate.
    let doubled = text.replace(r#"timestamp_unit = "ms" }"#, r#"timestamp_unit = "ms", scale = 2.0 }"#);
    let (summary, _, _) = run(&dir, "rate-x2.toml", &doubled);
    assert!(offered(&summary).abs_diff(10_000) < 500, "{}", offered(&summary));
    write(&dir, "unordered.csv", "t,rate\n0,100\n5,100\n3,50\n");
    let unordered =
        scenario("20s", r#"{ process = "rate_trace", file = "unordered.csv", timestamp_column = "t" }"#, EXPONENTIAL);
    refused(&dir, "unordered.toml", &unordered, &["unordered.csv:4:1:", "increasing time order"]);
    write(&dir, "negative.csv", "t,rate\n0,100\n5,-3\n");
    let negative =
        scenario("20s", r#"{ process = "rate_trace", file = "negative.csv", timestamp_column = "t" }"#, EXPONENTIAL);
    refused(&dir, "negative.toml", &negative, &["negative.csv:3:3:", "not a rate"]);
}

#[test]
fn malformed_data_is_refused_at_its_position() {
    let dir = scratch("data-bad");
    let trace = |file: &str| scenario("20s", &format!(r#"{{ process = "trace", file = "{file}" }}"#), EXPONENTIAL);
    write(&dir, "feb30.csv", "timestamp\n2023-02-28 00:00:00\n2023-02-30 00:00:00\n");
    refused(&dir, "feb30.toml", &trace("feb30.csv"), &["feb30.csv:3:1:", "valid date", "2023-02-30"]);
    write(&dir, "far.csv", "timestamp\n2023-02-28 00:00:00\n1000000000403-01-01 00:00:00\n");
    refused(&dir, "far.toml", &trace("far.csv"), &["far.csv:3:1:"]);
    std::fs::write(dir.join("gz.csv"), b"\x1f\x8b\x08\x00\x00\x00\x00\x00").unwrap();
    refused(&dir, "gz.toml", &trace("gz.csv"), &["gz.toml:7:", "gzip-compressed", "gunzip"]);
    write(&dir, "bad.jsonl", "{\"timestamp\": 1}\n{\"timestamp\": [2]}\n");
    refused(&dir, "jsonl.toml", &trace("bad.jsonl"), &["bad.jsonl:2:2:", "neither a number nor a string"]);
    write(&dir, "broken.jsonl", "{\"timestamp\": 1}\n{\"timestamp\": \n");
    refused(&dir, "broken.toml", &trace("broken.jsonl"), &["broken.jsonl:2:", "not a JSON object"]);

    // Latencies no batch can take.
    write(&dir, "huge.csv", "batch_size,latency_ms\n1,1e300\n");
    let table =
        scenario("20s", r#"{ process = "poisson", rate = "10/s" }"#, r#"{ kind = "table", file = "huge.csv" }"#);
    refused(&dir, "huge.toml", &table, &["huge.csv:2:3:", "at most a day"]);
    let long = scenario("20s", r#"{ process = "poisson", rate = "10/s" }"#, r#"{ kind = "constant", value = "30d" }"#);
    refused(&dir, "long-service.toml", &long, &["long-service.toml:9:", "one-day limit"]);
    let points =
        scenario("20s", r#"{ process = "poisson", rate = "10/s" }"#, r#"{ kind = "table", points = [[1, "0ms"]] }"#);
    refused(&dir, "zero.toml", &points, &["zero.toml:9:", "more than zero"]);
    // Non-UTF-8 scenario: the byte offset.
    std::fs::write(dir.join("latin1.toml"), b"name = \"caf\xe9\"\n").unwrap();
    let output = servesim(&["validate", dir.join("latin1.toml").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid byte 0xe9 at byte offset 11"), "{}", stderr(&output));
}
