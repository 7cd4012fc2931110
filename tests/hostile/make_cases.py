"""Writes tests/hostile/cases.toml: the corpus of malformed and hostile inputs that tests/hostile.rs
runs, each with the outcome it must get. The expectations are written here by hand, from the
issue that reported the input (items 1-13 of the hardening issue) and from the contract: bad
input exits 2 with one line naming the file, line and column; nothing panics or hangs.

Positions are computed from the input text itself (the line holding a marker), never from
servesim's output. Run `python3 tests/hostile/make_cases.py` after editing; commit both files.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

BASE = """name = "h"
duration = "5s"
[regions.a]
replicas = 2
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "100/s" }
[serving]
service_time = { kind = "exponential", mean = "5ms" }
[slo]
latency = [{ percentile = 99, max = "100ms" }]
"""

cases = []


def line_of(text, marker):
    index = text.index(marker)
    return text[:index].count("\n") + 1


def add(name, item, text=None, command=("validate", "{dir}/s.toml"), exit=2, stderr=(), marker=None,
        files=None, files_hex=None, links=None, stderr_lacks=(), json_checks=(), lines_absent=(),
        absent=(), one_line=None, file_texts=(), toml_absent=(), stdout=None, stdout_has=()):
    case = {"name": name, "item": item, "command": list(command), "exit": exit}
    if stdout is not None:
        case["stdout"] = stdout
    if stdout_has:
        case["stdout_has"] = list(stdout_has)
    all_files = dict(files or {})
    if text is not None:
        all_files["s.toml"] = text
    if all_files:
        case["files"] = all_files
    if files_hex:
        case["files_hex"] = files_hex
    if links:
        case["links"] = links
    fragments = list(stderr)
    if marker is not None:
        # The error must point at the line holding the marker.
        fragments.insert(0, f"s.toml:{line_of(text, marker)}:")
    if fragments:
        case["stderr"] = fragments
    if stderr_lacks:
        case["stderr_lacks"] = list(stderr_lacks)
    if json_checks:
        case["json"] = [list(c) for c in json_checks]
    if lines_absent:
        case["lines_absent"] = [list(c) for c in lines_absent]
    if absent:
        case["absent"] = list(absent)
    if one_line is not None:
        case["one_line"] = one_line
    if toml_absent:
        case["toml_absent"] = [list(c) for c in toml_absent]
    if file_texts:
        case["file_texts"] = [list(c) for c in file_texts]
    assert all(c["name"] != name for c in cases), name
    cases.append(case)


def edit(old, new, text=BASE):
    assert old in text, old
    return text.replace(old, new, 1)


RUN = ("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty", "-q")

# --- Typos: unknown keys everywhere are refused at the key (not silently ignored). ---------------
for name, old, new, marker in [
    ("typo-top", 'duration = "5s"', 'duration = "5s"\ndurration = "6s"', "durration"),
    ("typo-region", "replicas = 2", "replicas = 2\nreplica = 3", "replica = 3"),
    ("typo-traffic", 'origin = "a"', 'origin = "a"\norigni = "a"', "origni"),
    ("typo-arrivals", 'rate = "100/s" }', 'rate = "100/s", rat = 1 }', "rat = 1"),
    ("typo-serving", "[serving]", "[serving]\nqueue_capacty = 10", "queue_capacty"),
    ("typo-service", 'mean = "5ms" }', 'mean = "5ms", cv2 = 1 }', "cv2"),
    ("typo-slo", "[slo]", "[slo]\navailabilty = 0.99", "availabilty"),
    ("typo-latency-target", 'max = "100ms" }', 'max = "100ms", pct = 1 }', "pct = 1"),
    ("typo-batching", "[serving]", "[serving]\nbatching = { max_bach = 8 }", "max_bach"),
    ("typo-network", "[serving]", "[network]\nsame_region_rt = \"1ms\"\n[serving]", "same_region_rt"),
    ("typo-routing", "[serving]", "[routing]\npolicy = \"nearest\"\npolcy = 1\n[serving]", "polcy"),
    ("typo-sweep", "[slo]", "[sweep]\nstrategey = \"grid\"\n[slo]", "strategey"),
    ("typo-plan", "[slo]", "[plan]\ntraffic_margn = 0.2\n[slo]", "traffic_margn"),
    ("typo-overhead", "[serving]", "[serving]\noverhead = { pre = { kind = \"constant\", value = \"1ms\" }, psot = 1 }", "psot"),
    ("typo-autoscaling", "replicas = 2", "replicas = 2\nautoscaling = { metric = \"utilization\", target = 0.6, min_replicas = 1, max_replicas = 4, metrc = \"cpu\" }", "metrc"),
    ("typo-calibration", "[serving]", "[serving]\ncalibration = { service_scale = 1.0, sevice_cv = 0.1 }", "sevice_cv"),
    ("typo-uncertainty", "[slo]", "[uncertainty]\nservice_tim = 0.1\n[slo]", "service_tim ="),
    ("typo-region-serving", "replicas = 2", "replicas = 2\nserving = { queue_capacity = 10, servce_time = 1 }", "servce_time"),
]:
    add(name, "typo", edit(old, new), marker=marker, stderr=["unknown field", marker.split(" ")[0]])

# --- Values that mean nothing: refused at their key. ----------------------------------------------
for name, old, new, marker, fragment in [
    ("rate-negative", '"100/s"', '"-5/s"', "-5/s", "rate must be positive"),
    ("rate-zero", '"100/s"', '"0/s"', "0/s", "rate must be positive"),
    ("rate-nan", '"100/s"', "nan", "nan", "rate"),
    ("rate-inf", '"100/s"', "inf", "inf", "rate"),
    ("rate-unit", '"100/s"', '"100/fortnight"', "fortnight", "unknown rate unit"),
    ("rate-text", '"100/s"', '"lots"', "lots", "invalid rate"),
    ("duration-no-unit", 'duration = "5s"', 'duration = "5"', 'duration = "5"', "needs a unit"),
    ("duration-number", 'duration = "5s"', "duration = 5", "duration = 5", "needs a unit"),
    ("duration-negative", 'duration = "5s"', 'duration = "-5s"', 'duration = "-5s"', "not negative"),
    ("duration-unit", 'duration = "5s"', 'duration = "5 fortnights"', "fortnights", "unknown duration unit"),
    ("duration-huge", 'duration = "5s"', 'duration = "1e12s"', "1e12s", "too long"),
    ("duration-zero", 'duration = "5s"', 'duration = "0s"', 'duration = "0s"', "duration"),
    ("warmup-past-duration", 'duration = "5s"', 'duration = "5s"\nwarmup = "10s"', "warmup", "warm"),
    ("replicas-negative", "replicas = 2", "replicas = -1", "replicas = -1", "replicas"),
    ("replicas-huge", "replicas = 2", "replicas = 100001", "replicas = 100001", "replicas"),
    ("replicas-float", "replicas = 2", "replicas = 2.5", "replicas = 2.5", "replicas"),
    ("replicas-text", "replicas = 2", 'replicas = "two"', "two", "replicas"),
    ("max-batch-zero", "[serving]", "[serving]\nbatching = { max_batch = 0 }", "max_batch = 0", "max_batch"),
    ("max-batch-huge", "[serving]", "[serving]\nbatching = { max_batch = 10000000 }", "max_batch", "max_batch"),
    ("instances-huge", "[serving]", "[serving]\nbatching = { instances = 5000 }", "instances", "instances"),
    ("cv-negative", '"exponential", mean = "5ms" }', '"lognormal", mean = "5ms", cv = -1 }', "cv = -1", "cv (coefficient of variation) must be zero or positive"),
    ("lognormal-no-cv", '"exponential", mean = "5ms" }', '"lognormal", mean = "5ms", cv = nan }', "nan", "cv"),
    ("uniform-min-max", '{ kind = "exponential", mean = "5ms" }', '{ kind = "uniform", min = "9ms", max = "1ms" }', "uniform", "min"),
    ("empirical-empty", '{ kind = "exponential", mean = "5ms" }', '{ kind = "empirical", samples = [] }', "empirical", "at least one sample"),
    ("mixture-empty", '{ kind = "exponential", mean = "5ms" }', '{ kind = "mixture", parts = [] }', "mixture", "a mixture needs 1 to 16 parts"),
    ("mixture-weight-negative", '{ kind = "exponential", mean = "5ms" }', '{ kind = "mixture", parts = [{ weight = -1, dist = { kind = "constant", value = "1ms" } }] }', "mixture", "weight must be above 0"),
    ("mixture-nested", '{ kind = "exponential", mean = "5ms" }', '{ kind = "mixture", parts = [{ weight = 1, dist = { kind = "mixture", parts = [] } }] }', "mixture", "not mixtures"),
    ("mixture-part-typo", '{ kind = "exponential", mean = "5ms" }', '{ kind = "mixture", parts = [{ wieght = 1, dist = { kind = "constant", value = "1ms" } }] }', "wieght", "wieght"),
    ("proxy-threads-zero", "[serving]", "[serving]\noverhead = { proxy = { time = { kind = \"constant\", value = \"1ms\" }, threads = 0 } }", "threads = 0", "threads must be between 1"),
    ("stalls-rate-negative", "[serving]", "[serving]\noverhead = { stalls = { rate = \"-1/s\", duration = { kind = \"constant\", value = \"1ms\" } } }", "stalls", "rate"),
    ("stalls-most-of-the-time", "[serving]", "[serving]\noverhead = { stalls = { rate = \"10/s\", duration = { kind = \"constant\", value = \"60ms\" } } }", "stalls", "at most 50%"),
    ("stalls-duration-model", "[serving]", "[serving]\noverhead = { stalls = { rate = \"1/s\", duration = { kind = \"model\", model = \"bert-base-uncased\", device = \"t4\" } } }", "stalls", "use a distribution here"),
    ("kind-unknown", '"exponential"', '"exponentail"', "exponentail", "exponentail"),
    ("process-unknown", '"poisson"', '"poison"', "poison", "poison"),
    ("origin-unknown", 'origin = "a"', 'origin = "nowhere"', "nowhere", "nowhere"),
    ("balancer-unknown", "[serving]", "[serving]\nbalancer = \"random-ish\"", "random-ish", "unknown variant `random-ish`"),
    ("percentile-bad", "percentile = 99", "percentile = 100.5", "100.5", "percentile"),
    ("percentile-zero", "percentile = 99", "percentile = 0", "percentile = 0", "percentile"),
    ("availability-bad", "[slo]", "[slo]\navailability = 1.5", "1.5", "availability"),
    ("queue-negative", "[serving]", "[serving]\nqueue_capacity = -3", "-3", "expected u32"),
    ("timeout-zero", "[serving]", "[serving]\ntimeout = \"0ms\"", "timeout", "timeout"),
    ("service-long", 'mean = "5ms"', 'mean = "30d"', "30d", "one-day limit"),
    ("constant-long", '{ kind = "exponential", mean = "5ms" }', '{ kind = "constant", value = "2d" }', "constant", "one-day limit"),
    ("table-zero-latency", '{ kind = "exponential", mean = "5ms" }', '{ kind = "table", points = [[1, "0ms"]] }', "table", "more than zero"),
    ("table-unsorted", '{ kind = "exponential", mean = "5ms" }', '{ kind = "table", points = [[2, "3ms"], [1, "2ms"]] }', "table", "increase strictly"),
    ("table-both", '{ kind = "exponential", mean = "5ms" }', '{ kind = "table", file = "fine.csv", points = [[1, "2ms"]] }', "table", "not both"),
    ("seed-negative", 'name = "h"', 'name = "h"\nseed = -1', "seed", "seed"),
    ("interval-1ns", 'duration = "5s"', 'duration = "5s"\ninterval = "1ns"', "interval", "interval"),
    ("diurnal-peak-below-base", '{ process = "poisson", rate = "100/s" }', '{ process = "diurnal", base = "100/s", peak = "10/s", period = "1h" }', "diurnal", "peak rate"),
    ("schedule-unordered", '{ process = "poisson", rate = "100/s" }', '{ process = "schedule", points = [["10s", "5/s"], ["1s", "5/s"]] }', "schedule", "time order"),
    ("schedule-all-zero", '{ process = "poisson", rate = "100/s" }', '{ process = "schedule", points = [["0s", "0/s"]] }', "schedule", "zero"),
    ("speedup-zero", '{ process = "poisson", rate = "100/s" }', '{ process = "trace", file = "fine.csv", timestamp_column = "batch_size", speedup = 0.0 }', "trace", "speedup must be positive"),
    ("instance-unknown", "replicas = 2", 'replicas = 2\ninstance = "g99.mega@nowhere"', "g99", "g99"),
    ("device-unknown", '{ kind = "exponential", mean = "5ms" }', '{ kind = "model", model = "bert-base-uncased", device = "abacus" }', "abacus", "abacus"),
    ("model-unknown", '{ kind = "exponential", mean = "5ms" }', '{ kind = "model", model = "gpt-17", device = "a10g" }', "gpt-17", "gpt-17"),
    ("fault-region-unknown", "[serving]", "[[faults]]\nkind = \"region_outage\"\nregion = \"mars\"\nat = \"1s\"\nduration = \"1s\"\n[serving]", "mars", "mars"),
    ("autoscaling-min-max", "replicas = 2", "replicas = 2\nautoscaling = { metric = \"utilization\", target = 0.6, min_replicas = 5, max_replicas = 2 }", "autoscaling", "min_replicas"),
    ("shadow-fraction", "[serving]", "[shadow]\nfraction = 2.0\nreplicas = 1\n[serving]", "fraction", "fraction"),
]:
    add(name, "value", edit(old, new), marker=marker, stderr=[fragment],
        files={"fine.csv": "batch_size,latency_ms\n1,2\n"} if "fine.csv" in new else None)

# --- TOML that does not parse, at its position. ---------------------------------------------------
for name, text, marker, fragment in [
    ("toml-unterminated", edit('name = "h"', 'name = "h'), 'name = "h', ""),
    ("toml-duplicate-key", edit('duration = "5s"', 'duration = "5s"\nduration = "6s"'), 'duration = "6s"', "duplicate"),
    ("toml-duplicate-table", BASE + "[serving]\n", None, ""),
    ("toml-bad-header", edit("[serving]", "[serving"), "[serving", ""),
    ("toml-missing-equals", edit("replicas = 2", "replicas 2"), "replicas 2", ""),
    ("toml-bare-word", edit('name = "h"', "name = h"), "name = h", ""),
    ("toml-array-of-tables-clash", edit("[[traffic]]", "[traffic]"), None, ""),
    ("toml-bad-escape", edit('name = "h"', 'name = "h\\q"'), 'name = "h', ""),
    ("toml-leading-zero", edit("replicas = 2", "replicas = 02"), "replicas = 02", ""),
    ("toml-number-overflow", edit("replicas = 2", "replicas = 99999999999999999999999"), "replicas = 9", ""),
    ("toml-date-as-name", edit('name = "h"', "name = 1979-05-27"), "name = 1979", "name"),
    ("toml-empty", "", None, "missing field"),
    ("toml-only-comment", "# nothing here\n", None, "missing field"),
    ("toml-deep-arrays", 'name = "deep"\nduration = "1s"\nx = ' + "[" * 5000 + "]" * 5000 + "\n", "x = ", "recurse"),
    ("toml-deep-tables", 'name = "deep"\nduration = "1s"\nx = ' + "{a = " * 3000 + "1" + "}" * 3000 + "\n", "x = ", "recurse"),
    ("toml-nul-byte", edit('name = "h"', 'name = "h\x00"'), 'name = "h', ""),
    ("toml-control-char", edit('name = "h"', 'name = "h\x07"'), 'name = "h', ""),
]:
    add(name, 12, text, marker=marker, stderr=[fragment] if fragment else [])

add("non-utf8-scenario", 12, files_hex={"s.toml": "6e616d65203d20226361" + "e9" + "220a"},
    stderr=["s.toml", "invalid byte 0xe9 at byte offset 10"])
add("utf16-scenario", 12, files_hex={"s.toml": "fffe6e0061006d006500"}, stderr=["s.toml", "byte offset 0"])
add("binary-scenario", 12, files_hex={"s.toml": "00010203ff"}, stderr=["s.toml", "not UTF-8"])
add("gzip-scenario", 11, files_hex={"s.toml": "1f8b0800000000000003"}, stderr=["s.toml", "gzip-compressed"])
add("missing-scenario", 12, command=("validate", "{dir}/nope.toml"), stderr=["nope.toml", "cannot read scenario"])
add("directory-scenario", 6, command=("validate", "{dir}"), stderr=["not a regular file"])
add("dev-zero-scenario", 6, command=("validate", "/dev/zero"), stderr=["/dev/zero", "not a regular file"])

# --- Files a scenario names (item 6, 11, 13). ------------------------------------------------------
TRACE = edit('{ process = "poisson", rate = "100/s" }', '{ process = "trace", file = "t.csv" }')
TABLE = edit('{ kind = "exponential", mean = "5ms" }', '{ kind = "table", file = "t.csv" }')
for name, text, path, fragment in [
    ("trace-dev-zero", TRACE.replace("t.csv", "/dev/zero"), "/dev/zero", "not a regular file"),
    ("table-dev-zero", TABLE.replace("t.csv", "/dev/zero"), "/dev/zero", "not a regular file"),
    ("trace-missing", TRACE, "t.csv", "cannot read trace"),
    ("table-missing", TABLE, "t.csv", "cannot read latency table"),
    ("trace-directory", TRACE.replace("t.csv", "."), ".", "not a regular file"),
]:
    add(name, 6, text, marker="file =", stderr=[fragment])
add("table-etc-passwd", 13, TABLE.replace("t.csv", "/etc/passwd"), stderr=["/etc/passwd"], stderr_lacks=["root:x:0"])

for name, table, line, fragment in [
    ("table-huge-latency", "batch_size,latency_ms\n1,1e300\n", 2, "at most a day"),
    ("table-nan-latency", "batch_size,latency_ms\n1,NaN\n", 2, "more than zero"),
    ("table-negative", "batch_size,latency_ms\n1,-4\n", 2, "more than zero"),
    ("table-zero", "batch_size,latency_ms\n1,0\n", 2, "more than zero"),
    ("table-text", "batch_size,latency_ms\n1,fast\n", 2, "not a number"),
    ("table-duplicate", "batch_size,latency_ms\n1,2\n1,3\n", 3, "listed twice"),
    ("table-batch-float", "batch_size,latency_ms\n1.5,2\n", 2, "whole number"),
    ("table-ragged", "batch_size,latency_ms\n1,2,3\n", 2, ""),
    ("table-missing-column", "batch,latency\n1,2\n", 1, "missing column"),
]:
    add(name, 11, TABLE, files={"t.csv": table}, stderr=[f"t.csv:{line}:"] + ([fragment] if fragment else []))
add("table-empty", 11, TABLE, files={"t.csv": "batch_size,latency_ms\n"}, marker="file =", stderr=["no rows"])
add("table-short", 11, edit("[serving]", "[serving]\nbatching = { max_batch = 8 }", TABLE),
    files={"t.csv": "batch_size,latency_ms\n1,2\n4,5\n"}, marker="file =", stderr=["stops at batch size 4"])
add("table-zstd", 11, TABLE, files_hex={"t.csv": "28b52ffd0000"}, marker="file =", stderr=["zstd-compressed"])

for name, trace, line, fragment in [
    ("trace-feb-30", "timestamp\n2023-02-28 00:00:00\n2023-02-30 00:00:00\n", 3, "valid date"),
    ("trace-year-overflow", "timestamp\n2023-02-28 00:00:00\n1000000000403-01-01 00:00:00\n", 3, "valid date"),
    ("trace-month-13", "timestamp\n2023-13-01 00:00:00\n", 2, "valid date"),
    ("trace-hour-25", "timestamp\n2023-01-01 25:00:00\n", 2, "valid date"),
    ("trace-text", "timestamp\nsoon\n", 2, "not a timestamp"),
    ("trace-nan", "timestamp\nNaN\n", 2, "not a timestamp"),
    ("trace-huge-number", "timestamp\n1e300\n", 2, "not a timestamp"),
    ("trace-size-fraction", "timestamp,tokens\n0.5,10.5\n", 2, "not a whole number"),
    ("trace-size-negative", "timestamp,tokens\n0.5,-1\n", 2, "not a whole number"),
    ("trace-ragged", "timestamp,tokens\n0.5,1,2\n", 2, ""),
]:
    text = TRACE.replace('file = "t.csv" }', 'file = "t.csv", size_column = "tokens" }') if "tokens" in trace else TRACE
    add(name, 11, text, files={"t.csv": trace}, stderr=[f"t.csv:{line}:"] + ([fragment] if fragment else []))
add("trace-no-rows", 11, TRACE, files={"t.csv": "timestamp\n"}, marker="file =", stderr=["no rows"])
add("trace-missing-column", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", timestamp_column = "when" }'),
    files={"t.csv": "timestamp\n1\n"}, marker="when", stderr=['no column "when"', "timestamp"])
add("trace-gzip", 11, TRACE, files_hex={"t.csv": "1f8b08000000"}, marker="file =", stderr=["gzip-compressed", "gunzip"])
add("trace-bzip2", 11, TRACE, files_hex={"t.csv": "425a683931"}, marker="file =", stderr=["bzip2-compressed"])
add("trace-xz", 11, TRACE, files_hex={"t.csv": "fd377a585a00"}, marker="file =", stderr=["xz-compressed"])
add("trace-zip", 11, TRACE, files_hex={"t.csv": "504b0304"}, marker="file =", stderr=["zip-compressed"])
MS_ROWS = "timestamp\n" + "".join(f"{i * 100}\n" for i in range(200))
add("trace-ms-read-as-seconds", 11, TRACE, files={"t.csv": MS_ROWS}, marker="file =",
    stderr=["runs to 19900 s", "only 1 of its 200", "timestamp_unit"])
add("trace-ms-with-unit", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", timestamp_unit = "ms", truncate = true }'),
    command=RUN, exit=0, files={"t.csv": MS_ROWS}, json_checks=[("out/summary.json", "/requests/offered", 50)])
add("trace-unit-unknown", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", timestamp_unit = "fortnight" }'),
    files={"t.csv": "timestamp\n1\n"}, marker="fortnight", stderr=["fortnight"])
add("trace-past-duration", 11, TRACE, files={"t.csv": "timestamp\n0\n1\n2\n30\n"}, marker="file =",
    stderr=["only 3 of its 4 requests", "truncate = true"])
add("trace-truncated", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", truncate = true }'), command=RUN, exit=0,
    files={"t.csv": "timestamp\n0\n1\n2\n30\n"}, json_checks=[("out/summary.json", "/requests/offered", 3)])
add("trace-origin-bad", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", origin = "noon" }'),
    files={"t.csv": "timestamp\n1\n"}, marker="noon", stderr=["origin"])
add("trace-integral-decimal-sizes", 11,
    edit('{ kind = "exponential", mean = "5ms" }',
         '{ kind = "model", model = "all-minilm-l6-v2", device = "a10g", seq = 128, seq_buckets = [64, 128] }',
         TRACE.replace('file = "t.csv" }', 'file = "t.csv", size_column = "tokens" }')),
    command=RUN, exit=0, files={"t.csv": "timestamp,tokens\n0.5,100.0\n1.0,20\n"},
    json_checks=[("out/summary.json", "/requests/offered", 2)])
add("trace-unused-size-column", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", size_column = "tokens" }'),
    command=RUN, exit=0, files={"t.csv": "timestamp,tokens\n0.5,100\n4.5,100\n"}, marker="size_column",
    stderr=["warning:", "size_column is read but"], one_line=False)
add("trace-unused-output-column", 11, TRACE.replace('file = "t.csv" }', 'file = "t.csv", output_column = "out" }'),
    command=RUN, exit=0, files={"t.csv": "timestamp,out\n0.5,100\n4.5,100\n"}, marker="output_column",
    stderr=["warning:", "output_column is read but"], one_line=False)
JSONL = TRACE.replace("t.csv", "t.jsonl")
add("jsonl-trace", 11, JSONL, command=RUN, exit=0, files={"t.jsonl": '{"timestamp": 0.5}\n\n{"timestamp": "1.5"}\n'},
    json_checks=[("out/summary.json", "/requests/offered", 2)])
add("jsonl-not-object", 11, JSONL, files={"t.jsonl": '{"timestamp": 1}\n[1, 2]\n'}, stderr=["t.jsonl:2:", "not a JSON object"])
add("jsonl-missing-key", 11, JSONL, files={"t.jsonl": '{"timestamp": 1}\n{"ts": 2}\n'}, stderr=["t.jsonl:2:1:", "no key"])
add("jsonl-nested", 11, JSONL, files={"t.jsonl": '{"timestamp": {"s": 1}}\n'}, stderr=["t.jsonl:1:2:", "neither a number nor a string"])
add("jsonl-truncated", 11, JSONL, files={"t.jsonl": '{"timestamp": 1}\n{"timestamp": '}, stderr=["t.jsonl:2:", "not a JSON object"])
RATE = edit('{ process = "poisson", rate = "100/s" }', '{ process = "rate_trace", file = "q.csv", timestamp_column = "t", rate_column = "qps" }')
add("rate-trace", 11, RATE, command=RUN, exit=0, files={"q.csv": "t,qps\n0,0\n5,400\n"},
    json_checks=[("out/summary.json", "/requests/offered", ("between", 800, 1200))])
add("rate-trace-negative", 11, RATE, files={"q.csv": "t,qps\n0,5\n1,-2\n"}, stderr=["q.csv:3:3:", "not a rate"])
add("rate-trace-huge", 11, RATE, files={"q.csv": "t,qps\n0,1e12\n"}, stderr=["q.csv:2:3:", "not a rate"])
add("rate-trace-unordered", 11, RATE, files={"q.csv": "t,qps\n5,1\n1,2\n"}, stderr=["q.csv:3:1:", "increasing time order"])
add("rate-trace-all-zero", 11, RATE, files={"q.csv": "t,qps\n0,0\n1,0\n"}, marker="rate_trace", stderr=["every rate"])
add("rate-trace-empty", 11, RATE, files={"q.csv": "t,qps\n"}, marker="rate_trace", stderr=["no rows"])
add("rate-trace-scale-negative", 11, RATE.replace('rate_column = "qps" }', 'rate_column = "qps", scale = -1.0 }'),
    files={"q.csv": "t,qps\n0,5\n"}, marker="scale", stderr=["scale"])

# --- Admission before allocation (item 6) and runs that cannot progress (item 8). -------------------
add("seq-zero", 6, edit('{ kind = "exponential", mean = "5ms" }', '{ kind = "model", model = "bert-base-uncased", device = "a10g", seq = 0 }'),
    marker="seq = 0", stderr=["seq must be between"])
add("seq-huge", 6, edit('{ kind = "exponential", mean = "5ms" }', '{ kind = "model", model = "bert-base-uncased", device = "a10g", seq = 2000000 }'),
    marker="seq = 2000000", stderr=["seq must be between"])
add("seq-buckets-unsorted", 6, edit('{ kind = "exponential", mean = "5ms" }', '{ kind = "model", model = "bert-base-uncased", device = "a10g", seq_buckets = [128, 64] }'),
    marker="seq_buckets", stderr=["seq_buckets"])
add("replicas-times-instances", 6, edit("[serving]", "[serving]\nbatching = { instances = 1024 }", edit("replicas = 2", "replicas = 100000")),
    marker="replicas = 100000", stderr=["1000000"])
add("regions-10000", 6, 'name = "many"\nduration = "1s"\n' + "".join(f"[regions.r{i}]\nreplicas = 1\n" for i in range(1001))
    + '[[traffic]]\norigin = "r0"\narrivals = { process = "poisson", rate = "1/s" }\n[serving]\nservice_time = { kind = "constant", value = "1ms" }\n',
    stderr=["s.toml:", "1000"])
# Command-line values clap refuses get clap's three-line usage error (exit 2), which names the flag.
add("replications-huge", 6, BASE, command=("run", "{dir}/s.toml", "--replications", "4000000000", "--out", "{dir}/out"),
    stderr=["replications", "not in 1..=10000"], one_line=False)
add("replications-zero", 6, BASE, command=("run", "{dir}/s.toml", "--replications", "0", "--out", "{dir}/out"),
    stderr=["replications"], one_line=False)
add("threads-zero", 6, BASE, command=("run", "{dir}/s.toml", "--threads", "0", "--out", "{dir}/out"), stderr=["threads"], one_line=False)
add("requests-too-many", 8, edit('"100/s"', '"4e8/s"', edit('duration = "5s"', 'duration = "1min"')), marker="duration",
    stderr=["requests"])
add("mtbf-1ns", 8, edit("[serving]", '[[faults]]\nkind = "replica_crash"\nregion = "a"\nmtbf = "1ns"\nmttr = "1s"\n[serving]'),
    marker="mtbf", stderr=["at least 1ms"])
add("evaluation-interval-1ns", 8, edit("replicas = 2", 'replicas = 2\nautoscaling = { metric = "utilization", target = 0.6, min_replicas = 1, max_replicas = 4, evaluation_interval = "1ns" }'),
    marker="evaluation_interval", stderr=["at least 1ms"])
add("probe-period-1ns", 8, edit("[serving]", "[serving]\nhealth_check = { interval = \"1ns\" }"), marker="health_check", stderr=["at least 1ms"])
add("overload-unbounded-queue", 7, edit("[serving]", "[serving]\nqueue_capacity = 100000000", edit('"100/s"', '"4000/s"', edit('duration = "5s"', 'duration = "2min"'))),
    command=RUN, exit=0, json_checks=[("out/summary.json", "/saturated", True), ("out/summary.json", "/drain_s", 120.0),
                                      ("out/summary.json", "/requests/unfinished", ("between", 1, 10**9))])
add("overload-with-drops", 7, edit('"100/s"', '"2000/s"'), command=RUN, exit=0,
    json_checks=[("out/summary.json", "/saturated", True)])

# --- Sweeps: parameters located in the file (item 12), sizes admitted (item 6), collisions. ---------
def sweep(params, extra=""):
    return BASE.replace("[slo]", f"[sweep{extra}]\n[sweep.parameters]\n{params}\n[slo]")

SWEEP = ("sweep", "{dir}/s.toml", "--out", "{dir}/out", "-q")
for name, params, marker, fragment in [
    ("sweep-bad-path", '"serving..max_batch" = [1, 2]', "serving..max_batch", "serving..max_batch"),
    ("sweep-unknown-key", '"serving.max_bach" = [1, 2]', "max_bach", "max_bach"),
    ("sweep-bad-type", '"regions.a.replicas" = ["two", "three"]', "regions.a.replicas", "regions.a.replicas"),
    ("sweep-index-out-of-range", '"traffic[5].arrivals.rate" = ["1/s"]', "traffic[5]", "traffic[5]"),
    ("sweep-latency-pxyz", '"slo.latency_pxyz" = ["10ms"]', "latency_pxyz", "latency_pxyz"),
    ("sweep-empty-list", '"regions.a.replicas" = []', "regions.a.replicas", "empty list"),
    ("sweep-range-backwards", '"regions.a.replicas" = { range = [8, 2], step = 1 }', "regions.a.replicas", "range"),
    ("sweep-range-huge", '"regions.a.replicas" = { range = [1, 1e9], step = 1 }', "regions.a.replicas", "larger step"),
    ("sweep-log-points-huge", '"regions.a.replicas" = { log_range = [1, 8], points = 4000000000 }', "regions.a.replicas", "points"),
    ("sweep-grid-huge", '"regions.a.replicas" = { range = [1, 1000], step = 1 }\n"serving.queue_capacity" = { range = [1, 1000], step = 1 }', "[sweep.parameters]", "points"),
    ("sweep-alias-duplicate", '"region.a.replicas" = [1, 2]\n"regions.a.replicas" = [3]', "regions.a.replicas\" = [3]", "both set"),
    ("sweep-value-breaks-scenario", '"regions.a.replicas" = [-1]', "regions.a.replicas", "replicas"),
    ("sweep-nan-value", '"serving.timeout" = [nan]', "serving.timeout", "serving.timeout"),
]:
    text = sweep(params)
    add(name, 12, text, command=SWEEP, marker=marker, stderr=[fragment])
add("sweep-replications-zero", 6, sweep('"regions.a.replicas" = [1]').replace("[sweep]", "[sweep]\nreplications = 0"),
    command=SWEEP, marker="replications = 0", stderr=["replications"])
add("sweep-replications-huge", 6, sweep('"regions.a.replicas" = [1]').replace("[sweep]", "[sweep]\nreplications = 4000000000"),
    command=SWEEP, marker="replications = 4", stderr=["replications"])
add("sweep-confidence-bad", 12, sweep('"regions.a.replicas" = [1]').replace("[sweep]", "[sweep]\nslo_confidence = 1.5"),
    command=SWEEP, marker="slo_confidence", stderr=["slo_confidence"])
add("sweep-random-no-samples", 12, sweep('"regions.a.replicas" = [1]').replace("[sweep]", '[sweep]\nstrategy = "random"'),
    command=SWEEP, marker="strategy", stderr=["samples"])
add("sweep-right-size-min-max", 11, sweep('"regions.a.replicas" = [1]').replace(
    "[sweep]", '[sweep]\nstrategy = "right_size"\nright_size = { paths = ["regions.a.replicas"], min = 9, max = 2 }'),
    command=SWEEP, marker="right_size =", stderr=["1 ≤ min ≤ max"])
add("sweep-set-bad-path", 12, BASE, command=SWEEP + ("--set", "serving..x=1"), stderr=["--set serving..x"])
add("sweep-set-no-equals", 12, BASE, command=SWEEP + ("--set", "serving.timeout"), stderr=["--set", "PATH=V1"])
add("sweep-shard-bad", 12, sweep('"regions.a.replicas" = [1]'), command=SWEEP + ("--shard", "3/2"), stderr=["--shard"])
add("sweep-journal-dangling-link", 9, sweep('"regions.a.replicas" = [1, 2]'), command=SWEEP,
    links={"out/journal.jsonl": "{dir}/elsewhere/journal.jsonl"}, stderr=["journal.jsonl"], absent=["elsewhere/journal.jsonl"])
add("sweep-journal-foreign", 3, sweep('"regions.a.replicas" = [1, 2]'), command=SWEEP,
    files={"out/journal.jsonl": '{"servesim_journal": 1, "hash": "0000000000000000", "points": 2}\n'},
    stderr=["journal"])
add("sweep-best-toml-injection", 4, sweep('"regions.a.replicas" = [1, 2]'), exit=0,
    command=SWEEP + ("--set", "description=ok\nretries = { max_attempts = 7 }\n#"),
    toml_absent=[("out/best.toml", "retries")])
add("sweep-name-injection", 4, edit('name = "h"', 'name = "h\\n[retries]\\nmax_attempts = 7\\n#"', sweep('"regions.a.replicas" = [1, 2]')),
    exit=0, command=SWEEP, toml_absent=[("out/best.toml", "retries")])

# --- Generated shell and manifests (item 1), deploy configs (items 2, 5). ------------------------
EMIT = ("sweep", "{dir}/s.toml", "--emit-k8s-job", "--out", "{dir}/out")
add("emit-hostile-file-name", 1, None, exit=0, command=("sweep", "{dir}/a$(touch X).toml", "--emit-k8s-job", "--out", "{dir}/out"),
    files={"a$(touch X).toml": sweep('"regions.a.replicas" = [1, 2]')}, absent=["X"])
add("emit-hostile-set", 1, sweep('"regions.a.replicas" = [1, 2]'), exit=0,
    command=EMIT + ("--set", "description=x' ; touch X ; echo '"), absent=["X"],
    lines_absent=[("out/slurm-sweep.sh", "touch X")])
add("emit-hostile-image", 1, sweep('"regions.a.replicas" = [1, 2]'),
    command=EMIT + ("--image", "busybox\n   securityContext: {privileged: true}\n#"), stderr=["not a container image reference"])
add("emit-image-with-space", 1, sweep('"regions.a.replicas" = [1, 2]'), command=EMIT + ("--image", "a b"),
    stderr=["not a container image reference"])
PLAN = ("plan", "{dir}/s.toml", "--out", "{dir}/out", "-q")
add("plan-name-yaml-injection", 2, edit('name = "h"', 'name = "demo\\ninjected_key: pwned\\n#"'), command=PLAN, exit=0,
    lines_absent=[("out/deploy/a/deployment.yaml", "injected_key: pwned"), ("out/deploy/a/hpa.yaml", "injected_key: pwned")])
add("plan-name-pbtxt-injection", 2, edit('name = "h"', 'name = "demo\\ninstance_group: [ { count: 64 kind: KIND_CPU } ]\\n#"'),
    command=PLAN, exit=0, lines_absent=[("out/deploy/a/config.pbtxt", "instance_group: [ { count: 64 kind: KIND_CPU } ]")])
add("plan-region-newline", 2, BASE.replace("[regions.a]", '[regions."a\\nb"]').replace('origin = "a"', 'origin = "a\\nb"'),
    command=PLAN, exit=0, json_checks=[("out/deploy/a-b/service.yaml", "", None)])
add("plan-image-newline", 2, BASE, command=PLAN + ("--image", "x\ny: z"), stderr=["not a container image reference"])
TWO = BASE.replace("[[traffic]]", '[regions.B]\nreplicas = 1\n[network]\nlinks = [{ from = "A", to = "B", rtt = "10ms" }]\n[[traffic]]')
def two(first, second):
    return (TWO.replace("[regions.a]", f'[regions."{first}"]').replace('origin = "a"', f'origin = "{first}"')
            .replace("[regions.B]", f'[regions."{second}"]').replace('from = "A", to = "B"', f'from = "{first}", to = "{second}"'))
add("plan-region-collision-case", 5, two("US_EAST", "us-east"), command=PLAN, stderr=['"US_EAST"', '"us-east"', "rename one"])
add("plan-region-collision-unicode", 5, two("東京", "大阪"), command=PLAN, stderr=['"東京"', '"大阪"', "rename one"])
add("plan-region-collision-long-name", 5, two("a", "b").replace('name = "h"', 'name = "' + "x" * 60 + '"'),
    command=PLAN, stderr=['"a"', '"b"', "rename one"])

# --- Output folders (items 3, 9, 10). -------------------------------------------------------------
add("plan-stale-deploy-region", 10, BASE, command=PLAN, exit=0, files={"out/deploy/old-region/deployment.yaml": "kind: Old\n"},
    absent=["out/deploy/old-region"])
add("report-no-manifest", 10, None, command=("report", "{dir}/out"), files={"out/summary.json": "{}"},
    stderr=["not a complete output set"])
add("report-missing-folder", 10, None, command=("report", "{dir}/nowhere"), stderr=["not a complete output set"])
add("report-bad-manifest", 10, None, command=("report", "{dir}/out"), files={"out/manifest.json": "{not json"},
    stderr=["manifest.json"])
add("report-manifest-lies", 10, None, command=("report", "{dir}/out"),
    files={"out/manifest.json": '{"servesim_version": "0", "complete": true, "files": [{"path": "summary.json", "bytes": 3, "fnv1a64": "0"}]}',
           "out/summary.json": "{}\n"}, stderr=["summary.json: differs from what the run wrote"])
add("run-lock-is-directory", 3, BASE, command=RUN, files={"out/.servesim.lock/x": ""}, stderr=[".servesim.lock is not a regular file"])
add("run-planted-temp-link", 9, BASE, command=RUN, exit=0, links={"out/.summary.json.1.0.tmp": "{dir}/victim"},
    files={"victim": "keep"}, file_texts=[("victim", "keep")])

# --- Command-line numbers (item 11). --------------------------------------------------------------
add("check-max-usd-nan", 11, BASE, command=("check", "{dir}/s.toml", "--max-usd-per-hour", "nan"), stderr=["nan"], one_line=False)
add("check-max-usd-negative", 11, BASE, command=("check", "{dir}/s.toml", "--max-usd-per-hour=-1"), stderr=["not a price"], one_line=False)
add("latency-batch-zero", 11, None, command=("latency", "--model", "bert-base-uncased", "--device", "a10g", "--batch", "0"), stderr=["batch"], one_line=False)
add("latency-seq-zero", 11, None, command=("latency", "--model", "bert-base-uncased", "--device", "a10g", "--seq", "0"), stderr=["seq"], one_line=False)
add("latency-unknown-model", 11, None, command=("latency", "--model", "gpt-17", "--device", "a10g"), stderr=["gpt-17"])
add("seed-not-a-number", 11, BASE, command=("run", "{dir}/s.toml", "--seed", "abc", "--out", "{dir}/out"), stderr=["seed"], one_line=False)
add("prices-missing", 11, BASE, command=("validate", "{dir}/s.toml", "--prices", "{dir}/nope.csv"), stderr=["nope.csv"])
add("prices-nan", 11, BASE, command=("validate", "{dir}/s.toml", "--prices", "{dir}/p.csv"),
    files={"p.csv": "cloud,instance,gpu,gpus,region,usd_per_hour,source\naws,x,none,0,us,NaN,me\n"}, stderr=["p.csv:2:"])
add("prices-negative", 11, BASE, command=("validate", "{dir}/s.toml", "--prices", "{dir}/p.csv"),
    files={"p.csv": "cloud,instance,gpu,gpus,region,usd_per_hour,source\naws,x,none,0,us,-3,me\n"}, stderr=["p.csv:2:"])

# --- Batch jobs (issue 13): every job key refused at its line. --------------------------------------
JOB = """name = "j"
[instance_types.cpu]
usd_per_hour = 0.5
[[jobs]]
name = "score"
start = "02:00"
deadline = { at = "06:00", probability = 0.99 }
records = 100000
partitions = 10
batch_records = 1000
service_time = { kind = "constant", value = "10ms" }
[jobs.workers]
instance = "cpu"
count = 4
[jobs.feature_store]
per_task = "1000/s"
[jobs.sink]
per_writer = "1000/s"
"""
add("job-base-validates", "jobs", JOB, exit=0)
for name, old, new, marker, fragment in [
    ("job-typo", "records = 100000", "records = 100000\nrecrods = 5", "recrods", "unknown field"),
    ("job-typo-workers", "count = 4", "count = 4\ncuont = 5", "cuont", "unknown field"),
    ("job-typo-store", 'per_task = "1000/s"', 'per_task = "1000/s"\nlatncy = "1ms"', "latncy", "unknown field"),
    ("job-deadline-before-start", 'at = "06:00"', 'at = "01:00"', 'at = "01:00"', "not after the start"),
    ("job-deadline-equal-start", 'at = "06:00"', 'at = "02:00"', 'at = "02:00"', "not after the start"),
    ("job-deadline-probability", "probability = 0.99", "probability = 1.5", "probability = 1.5", "probability"),
    ("job-clock-25h", 'start = "02:00"', 'start = "25:00"', "25:00", "not a time of day"),
    ("job-clock-text", 'start = "02:00"', 'start = "2am"', "2am", "not a time of day"),
    ("job-clock-days", 'at = "06:00"', 'at = "06:00+9d"', "+9d", "at most 7 days"),
    ("job-records-zero", "records = 100000", "records = 0", "records = 0", "records"),
    ("job-records-negative", "records = 100000", "records = -5", "records = -5", "records"),
    ("job-records-trillion", "records = 100000", "records = 1_000_000_000_000", "records = 1_000_000_000_000", "batches to simulate"),
    ("job-batches-over-replications", "records = 100000\npartitions = 10\nbatch_records = 1000", "records = 100001\npartitions = 10\nbatch_records = 1\nreplications = 100000", "records = 100001", "1.00e10 batches"),
    ("job-engine-unknown", "batch_records = 1000", 'batch_records = 1000\nengine = "flink"', "flink", "unknown variant"),
    ("job-vcpus-without-memory", "usd_per_hour = 0.5", "usd_per_hour = 0.5\nvcpus = 8", "vcpus = 8", "needs memory_gib"),
    ("job-inject-task-past", "batch_records = 1000", "batch_records = 1000\nfailures = { inject = [{ task = 10, after_batches = 1 }] }", "failures", "past the job's 10 tasks"),
    ("job-inject-after-every-batch", "batch_records = 1000", "batch_records = 1000\nfailures = { inject = [{ task = 0, after_batches = 10 }] }", "failures", "has 10 batches"),
    ("job-task-overhead-week", "batch_records = 1000", 'batch_records = 1000\ntask_overhead = "8d"', "task_overhead", "at most a day"),
    ("job-partitions-zero", "partitions = 10", "partitions = 0", "partitions = 0", "partitions"),
    ("job-partitions-over-records", "partitions = 10", "partitions = 200000", "partitions = 200000", "nothing to score"),
    ("job-batch-zero", "batch_records = 1000", "batch_records = 0", "batch_records = 0", "batch_records"),
    ("job-batch-huge", "batch_records = 1000", "batch_records = 100000", "batch_records = 100000", "batch_records"),
    ("job-workers-zero", "count = 4", "count = 0", "count = 0", "count must be between 1"),
    ("job-slots-zero", "count = 4", "count = 4\nslots = 0", "slots = 0", "slots"),
    ("job-spot-share", "count = 4", "count = 4\nspot_share = 1.5", "spot_share", "fraction"),
    ("job-spot-no-price", "count = 4", "count = 4\nspot_share = 0.5", "spot_share", "spot"),
    ("job-preempt-no-spot", "count = 4", 'count = 4\npreempt_at = ["1h"]', "preempt_at", "spot_share gives none"),
    ("job-preemptions-negative", "count = 4", "count = 4\npreemptions_per_hour = -1", "preemptions_per_hour", "between 0 and 3600"),
    ("job-crashes-nan", "count = 4", "count = 4\ncrashes_per_hour = nan", "crashes_per_hour", "between 0 and 3600"),
    ("job-straggler-slowdown", "count = 4", "count = 4\nstragglers = { fraction = 0.1, slowdown = 0.5 }", "stragglers", "slowdown"),
    ("job-autoscaling-min-max", "count = 4", "count = 4\nautoscaling = { min = 5, max = 2 }", "autoscaling", "greater than max"),
    ("job-autoscaling-count", "count = 4", "count = 4\nautoscaling = { min = 5, max = 8 }", "count = 4", "must lie between"),
    ("job-unknown-instance", 'instance = "cpu"', 'instance = "cpu9"', "cpu9", "unknown instance type"),
    ("job-store-error-rate", 'per_task = "1000/s"', 'per_task = "1000/s"\nerror_rate = 0.9', "error_rate", "at most 0.5"),
    ("job-store-rate-zero", 'per_task = "1000/s"', 'per_task = "0/s"', 'per_task = "0/s"', "rate must be positive"),
    ("job-sink-cap-week", 'per_writer = "1000/s"', 'per_writer = "1000/s"\nmax = "0.0001/s"', 'max = "0.0001/s"', "longer than a week"),
    ("job-failure-probability-negative", "batch_records = 1000", "batch_records = 1000\nfailures = { probability = -0.1 }", "failures", "probability"),
    ("job-attempts-zero", "batch_records = 1000", "batch_records = 1000\nfailures = { max_attempts = 0 }", "failures", "max_attempts"),
    ("job-backoff-order", "batch_records = 1000", 'batch_records = 1000\nfailures = { backoff = "10m", max_backoff = "1m" }', "failures", "max_backoff"),
    ("job-checkpoint-zero", "batch_records = 1000", "batch_records = 1000\ncheckpoint_records = 0", "checkpoint_records", "at least 1"),
    ("job-speculation-quantile", "batch_records = 1000", "batch_records = 1000\nspeculation = { quantile = 0 }", "speculation", "quantile"),
    ("job-replications-zero", "batch_records = 1000", "batch_records = 1000\nreplications = 0", "replications = 0", "replications"),
    ("job-interval-short", "batch_records = 1000", 'batch_records = 1000\ninterval = "10ms"', "interval", "interval"),
    ("job-name-empty", 'name = "score"', 'name = ""', 'name = ""', "needs a name"),
    ("job-shared-without-traffic", "batch_records = 1000", 'batch_records = 1000\nshared = { region = "a" }', "shared", "needs online replicas"),
    ("job-service-table-missing", 'service_time = { kind = "constant", value = "10ms" }', 'service_time = { kind = "table", file = "nope.csv" }', "nope.csv", "cannot read"),
    ("job-service-unknown-model", 'service_time = { kind = "constant", value = "10ms" }', 'service_time = { kind = "model", model = "gpt-9", device = "a10g" }', "gpt-9", "gpt-9"),
]:
    add(name, "jobs", edit(old, new, JOB), marker=marker, stderr=[fragment], one_line=True)
add("job-two-same-name", "jobs", JOB + '[[jobs]]\nname = "score"\nrecords = 10\npartitions = 1\nbatch_records = 1\nservice_time = { kind = "constant", value = "1ms" }\nworkers = { count = 1 }\n',
    marker='name = "score"\nrecords = 10', stderr=["two jobs are named"], one_line=True)
add("job-shared-unknown-region", "jobs", edit("[[jobs]]", "[[jobs]]\nshared = { region = \"zz\" }", BASE + JOB[JOB.index("[instance_types"):]),
    marker='region = "zz"', stderr=["unknown region"], one_line=True)
add("job-hostile-name-runs", "jobs", edit('name = "score"', 'name = "<script>alert(1)</script>\\u2028x"', JOB), command=RUN, exit=0)


# --- No silently wrong answers (issue 21): each case got a confident answer or a bad report before. -
# 1. Rate series and traces whose time unit or span cannot be what was meant.
MS_SERIES = "t,qps\n0,100\n1000,100\n2000,100\n5000,100\n"
add("rate-trace-ms-as-seconds", "21.1", RATE, files={"q.csv": MS_SERIES}, marker="rate_trace",
    stderr=["spans 5000 s", "more than 100 times duration", 'timestamp_unit = "ms"'])
add("rate-trace-ms-as-seconds-check", "21.1", RATE, command=("check", "{dir}/s.toml"), files={"q.csv": MS_SERIES},
    marker="rate_trace", stderr=['timestamp_unit = "ms"'])
add("rate-trace-ms-with-unit", "21.1", RATE.replace('rate_column = "qps" }', 'rate_column = "qps", timestamp_unit = "ms" }'),
    command=RUN, exit=0, files={"q.csv": MS_SERIES}, json_checks=[("out/summary.json", "/requests/offered", ("between", 400, 600))])
add("rate-trace-too-short", "21.1", RATE, files={"q.csv": "t,qps\n0,100\n0.01,100\n"}, marker="rate_trace",
    stderr=["ends at 0.01 s", "first 1% of duration"])
add("trace-inside-warmup", "21.1", edit('duration = "5s"', 'duration = "5s"\nwarmup = "2s"', TRACE),
    files={"t.csv": "timestamp\n0\n0.5\n1\n"}, marker="file =", stderr=["ends at 1 s", "inside the warm-up (2 s)"])
add("trace-seconds-read-as-ms", "21.1", TRACE.replace('file = "t.csv" }', 'file = "t.csv", timestamp_unit = "ms" }'),
    files={"t.csv": "timestamp\n0\n1\n2\n3\n4\n"}, marker="file =",
    stderr=["ends at 0.004 s", 'timestamp_unit = "s"', "it then spans 4 s"])

# 2. compare: one rate sizes the online fleet and divides its cost.
COMPARE = BASE + JOB[JOB.index("[instance_types"):] + \
    '[compare]\npredictions_per_day = 1000000\nlookup = { latency = { kind = "constant", value = "3ms" }, usd_per_million = 0.25 }\n'
add("compare-predictions-disagree", "21.2", COMPARE, command=("compare", "{dir}/s.toml", "--out", "{dir}/out", "-q"),
    marker="predictions_per_day", stderr=["disagrees with the online traffic", "8640000 a day"], absent=["out/compare.csv"])
add("validate-compare-predictions-disagree", "21.6", COMPARE, marker="predictions_per_day", stderr=["disagrees with the online traffic"])
add("compare-predictions-agree", "21.2", COMPARE.replace("1000000", "8640000"), exit=0,
    command=("compare", "{dir}/s.toml", "--out", "{dir}/out", "-q"), json_checks=[("out/compare.json", "/0/option", "online (real-time serving)")])

# 3. A measured window without a request is refused, whichever command measures it.
EMPTY_WINDOW = edit('{ process = "poisson", rate = "100/s" }', '{ process = "schedule", points = [["0s", "100/s"], ["1s", "0/s"]] }',
                    edit('duration = "5s"', 'duration = "5s"\nwarmup = "2s"'))
for name, command in [("run", RUN), ("check", ("check", "{dir}/s.toml")), ("plan", PLAN),
                      ("sweep", ("sweep", "{dir}/s.toml", "--out", "{dir}/out", "-q", "--set", "regions.a.replicas=1,2"))]:
    add(f"nothing-measured-{name}", "21.3", EMPTY_WINDOW, command=command,
        stderr=["nothing was measured", "warm-up (2 s)"] + (["sweep point 0"] if name == "sweep" else []),
        absent=["out/manifest.json", "out/best.toml"])

# 1.5 requests a run on average: the first replication gets some, the sixth none, which must not be
# averaged in as a result.
add("nothing-measured-some-replications", "21.3", edit('"100/s"', '"0.3/s"'),
    command=("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty", "-q", "--replications", "8"),
    stderr=["(replication 5)", "nothing was measured"], absent=["out/manifest.json"])

# 4. Sweeps whose every point would fail for an input reason: refused before any point runs.
def sweep_on(text, params, extra=""):
    return text.replace("[slo]", f"[sweep{extra}]\n[sweep.parameters]\n{params}\n[slo]")
RIGHT = lambda paths, top: BASE.replace("[slo]", f'[sweep]\nstrategy = "right_size"\n[sweep.right_size]\npaths = {paths}\nmin = 1\nmax = {top}\n[slo]')
for name, text, command, marker, fragments in [
    ("sweep-unknown-region", sweep('"regions.b.replicas" = [1, 2]'), SWEEP, "regions.b.replicas", ['no region "b"', "cannot add one"]),
    ("sweep-unknown-region-shorthand", sweep('"region.zz.replicas" = [1]'), SWEEP, "region.zz", ['no region "zz"']),
    ("sweep-list-nan", sweep('"slo.availability" = [0.99, nan]'), SWEEP, "slo.availability", ["not a finite number"]),
    ("sweep-point-past-limit", sweep('"regions.a.replicas" = [1, 200000]'), SWEEP, "regions.a.replicas", ["sweep point 1", "at most 100000"]),
    ("sweep-right-size-past-limit", RIGHT('["regions.a.replicas"]', 200000), SWEEP, None, ["s.toml:", "right_size at 200000 replicas", "at most 100000"]),
    ("sweep-right-size-unknown-region", RIGHT('["regions.zz.replicas"]', 4), SWEEP, None, ["s.toml:", "right_size at 1 replicas", 'no region "zz"']),
    ("plan-right-size-past-limit", RIGHT('["regions.a.replicas"]', 200000), PLAN, None, ["right_size at 200000 replicas"]),
    ("validate-sweep-unknown-key", sweep('"serving.max_bach" = [1, 2]'), ("validate", "{dir}/s.toml"), "max_bach", ["max_bach"]),
    ("validate-sweep-unknown-region", sweep('"regions.b.replicas" = [1, 2]'), ("validate", "{dir}/s.toml"), "regions.b", ["no region"]),
    ("validate-sweep-point-past-limit", sweep('"regions.a.replicas" = [1, 200000]'), ("validate", "{dir}/s.toml"), "regions.a.replicas", ["at most 100000"]),
    ("validate-plan-survive-one-region", BASE.replace("[slo]", '[plan]\nsurvive = ["replica", "region"]\n[slo]'), ("validate", "{dir}/s.toml"), "survive", ["another region"]),
    ("plan-survive-one-region", BASE.replace("[slo]", '[plan]\nsurvive = ["region"]\n[slo]'), PLAN, "survive", ["another region"]),
]:
    add(name, "21.4" if not name.startswith("validate") else "21.6", text, command=command, marker=marker, stderr=fragments,
        absent=["out/journal.jsonl", "out/sweep"])
add("sweep-set-infinite", "21.4", sweep('"regions.a.replicas" = [1, 2]'), command=SWEEP + ("--set", "slo.availability=1e400"),
    stderr=["--set slo.availability", "inf is not a finite number"], absent=["out/journal.jsonl"])
add("plan-region-collision-before-sweep", "21.4", two("US_EAST", "us-east"), command=PLAN, stderr=["rename one"], absent=["out/sweep"])
add("validate-sweep-ok", "21.6", sweep('"regions.a.replicas" = [1, 2]'), exit=0)

# 5. A decode step of a model that does not decode.
add("latency-decode-kv-encoder", "21.5", None, command=("latency", "--model", "bert-base-uncased", "--device", "a10g", "--decode-kv", "128"),
    stderr=["--decode-kv", "not a decoder"])

# 7. An output set holds only its own files: a run into a plan's folder removes the plan's.
PLAN_MANIFEST = json.dumps({"servesim_version": "0", "complete": True, "folders": ["sweep", "deploy"], "files": [
    {"path": "best.toml", "bytes": 1, "fnv1a64": "0"}, {"path": "deploy/a/config.pbtxt", "bytes": 1, "fnv1a64": "0"}]})
add("run-into-plan-folder", "21.7", BASE, command=RUN, exit=0,
    files={"out/manifest.json": PLAN_MANIFEST, "out/best.toml": "x", "out/deploy/a/config.pbtxt": "x",
           "out/sweep/journal.jsonl": "{}", "out/notes.txt": "mine"},
    absent=["out/best.toml", "out/deploy", "out/sweep"], file_texts=[("out/notes.txt", "mine")])

# 8. Every gate applies or says why it cannot.
add("check-usd-per-hour-jobs-only", "21.8", JOB, command=("check", "{dir}/s.toml", "--max-usd-per-hour", "1"),
    stderr=["--max-usd-per-hour", "no online traffic"])
add("check-usd-per-run-no-jobs", "21.8", BASE, command=("check", "{dir}/s.toml", "--max-usd-per-run", "1"),
    stderr=["--max-usd-per-run", "no [[jobs]]"])

# 9. A failed write to standard output.
add("schema-to-dev-full", "21.9", None, command=("schema",), stdout="/dev/full", stderr=["cannot write to standard output"])
add("run-table-to-dev-full", "21.9", BASE, command=("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty"),
    stdout="/dev/full", stderr=["cannot write to standard output"])

# 10. Nesting past the TOML reader's recursion limit, located.
DEEP_HEAD = 'name = "deep"\nduration = "1s"\n'
add("toml-deep-dotted-keys", "21.10", DEEP_HEAD + "x." + ".".join(["a"] * 10000) + " = 1\n", stderr=["s.toml:3:", "nested"])
add("toml-deep-table-header", "21.10", DEEP_HEAD + "[" + ".".join(["a"] * 10000) + "]\nb = 1\n", stderr=["s.toml:3:", "nested"])

# 11. Bad values in a load test or a --compare file: blamed on their cell.
add("calibrate-loadtest-huge-rate", "21.11", BASE, command=("calibrate", "{dir}/s.toml", "{dir}/lt.csv", "--out", "{dir}/out"),
    files={"lt.csv": "offered_rps,p50_ms,p90_ms,p99_ms\n10,1,2,3\n1e300,1,2,3\n"}, stderr=["lt.csv:3:1:", "offered rate"],
    stderr_lacks=["duration"])
add("calibrate-loadtest-huge-latency", "21.11", BASE, command=("calibrate", "{dir}/s.toml", "{dir}/lt.csv", "--out", "{dir}/out"),
    files={"lt.csv": "offered_rps,p50_ms,p90_ms,p99_ms\n10,1,2,1e300\n"}, stderr=["lt.csv:2:", "at most a day"])
LATENCY_COMPARE = ("latency", "--model", "bert-base-uncased", "--device", "a10g", "--compare", "{dir}/c.csv")
add("latency-compare-bad-median", "21.11", None, command=LATENCY_COMPARE, files={"c.csv": "batch,seq,median_ms\n1,128,abc\n"},
    stderr=["c.csv:2:7:", "median_ms", '"abc"'])
add("latency-compare-fractional-batch", "21.11", None, command=LATENCY_COMPARE, files={"c.csv": "batch,seq,median_ms\n1.5,128,3\n"},
    stderr=["c.csv:2:1:", "batch must be a whole number"])
add("latency-compare-huge-seq", "21.11", None, command=LATENCY_COMPARE, files={"c.csv": "batch,seq,median_ms\n1,1e30,3\n"},
    stderr=["c.csv:2:3:", "seq"])

# 12. A --set with a line break: echoed escaped, on one line.
add("sweep-set-newline", "21.12", sweep('"regions.a.replicas" = [1, 2]'), command=SWEEP + ("--set", "regions.a.repl\nicas=1"),
    stderr=["--set regions.a.repl\\nicas"])

# 13. JSON lines: a byte-order mark as the other readers take it; a key written twice refused.
add("jsonl-bom", "21.13", JSONL, command=RUN, exit=0, files={"t.jsonl": '\ufeff{"timestamp": 0.5}\n{"timestamp": 1.5}\n'},
    json_checks=[("out/summary.json", "/requests/offered", 2)])
add("jsonl-duplicate-key", "21.13", JSONL, files={"t.jsonl": '{"timestamp": 1, "timestamp": 2}\n'},
    stderr=["t.jsonl:1:", 'key "timestamp" appears twice'])

# 14. QPS files with one row per container per time.
PER_CONTAINER = "t,container,qps\n0,a,100\n0,b,100\n5,a,100\n5,b,100\n"
add("rate-trace-shared-times", "21.14", RATE, files={"q.csv": PER_CONTAINER}, stderr=["q.csv:3:1:", "also on line 2", 'aggregate = "sum"'])
add("rate-trace-per-container-blocks", "21.14", RATE, files={"q.csv": "t,container,qps\n0,a,100\n5,a,100\n0,b,100\n5,b,100\n"},
    stderr=["q.csv:4:1:", "earlier than line 3", 'aggregate = "sum"'])
AGGREGATED = RATE.replace('rate_column = "qps" }', 'rate_column = "qps", aggregate = "sum" }')
add("rate-trace-aggregate-sum", "21.14", AGGREGATED, command=RUN, exit=0, files={"q.csv": PER_CONTAINER},
    json_checks=[("out/summary.json", "/requests/offered", ("between", 850, 1150))])
add("rate-trace-aggregate-filter", "21.14",
    RATE.replace('rate_column = "qps" }', 'rate_column = "qps", aggregate = "sum", filter = { column = "container", value = "a" } }'),
    command=RUN, exit=0, files={"q.csv": PER_CONTAINER}, json_checks=[("out/summary.json", "/requests/offered", ("between", 400, 600))])
add("rate-trace-filter-no-rows", "21.14",
    RATE.replace('rate_column = "qps" }', 'rate_column = "qps", filter = { column = "container", value = "zz" } }'),
    files={"q.csv": PER_CONTAINER}, marker="rate_trace", stderr=['no rows whose container is "zz"'])
add("rate-trace-filter-no-column", "21.14",
    RATE.replace('rate_column = "qps" }', 'rate_column = "qps", filter = { column = "pod", value = "a" } }'),
    files={"q.csv": PER_CONTAINER}, marker="rate_trace", stderr=['no column "pod"'])

# 15. Compressed tar archives: extract, not gunzip.
TAR = TRACE.replace("t.csv", "t.tar.gz")
add("trace-tar-gz", "21.15", TAR, files_hex={"t.tar.gz": "1f8b08000000"}, marker="file =", stderr=["tar archive", "tar -xzf"],
    stderr_lacks=["gunzip"])
add("trace-plain-tar", "21.15", TRACE.replace("t.csv", "t.tar"), files_hex={"t.tar": "61" * 257 + "7573746172" + "61" * 250},
    marker="file =", stderr=["tar archive", "tar -xf"])

# 16. Thread counts past any host's.
add("threads-huge", "21.16", BASE, command=("run", "{dir}/s.toml", "--threads", "100000000", "--out", "{dir}/out"),
    stderr=["--threads", "1..=1024"], one_line=False)

# 17. An autoscaled run's table shows what ran, not the configured count.
AUTOSCALED = edit("replicas = 2", 'replicas = 1\nautoscaling = { metric = "utilization", target = 0.5, min_replicas = 1, max_replicas = 6, evaluation_interval = "1s" }',
                  edit('"100/s"', '"600/s"', edit('duration = "5s"', 'duration = "60s"')))
add("run-autoscaled-table", "21.17", AUTOSCALED, command=("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty"), exit=0,
    stdout_has=["(peak "])

# Issue 22: endpoints.
ENDPOINTS = BASE + """[endpoints.embed]
serving = { service_time = { kind = "exponential", mean = "8ms" } }
regions.a = { replicas = 1 }
[[traffic]]
origin = "a"
endpoint = "embed"
arrivals = { process = "poisson", rate = "20/s" }
"""
add("endpoint-unknown-in-traffic", "22.1", edit('endpoint = "embed"', 'endpoint = "embedd"', ENDPOINTS),
    marker='endpoint = "embedd"', stderr=['unknown endpoint "embedd"', "endpoints are: embed"])
add("endpoint-without-endpoints", "22.1", edit('arrivals = { process = "poisson", rate = "100/s" }',
    'endpoint = "x"\narrivals = { process = "poisson", rate = "100/s" }'), marker='endpoint = "x"',
    stderr=['unknown endpoint "x"', "no [endpoints]"])
add("endpoint-unknown-region", "22.1", edit("regions.a = { replicas = 1 }", "regions.b = { replicas = 1 }", ENDPOINTS),
    marker="regions.b", stderr=['unknown region "b"'])
add("endpoint-no-replicas", "22.1", edit("regions.a = { replicas = 1 }", "regions.a = { replicas = 0 }", ENDPOINTS),
    marker="regions.a = { replicas = 0 }", stderr=['endpoint "embed" has no region with replicas'])
add("endpoint-no-serving", "22.1", edit('serving = { service_time = { kind = "exponential", mean = "8ms" } }\n', "", ENDPOINTS),
    marker="regions.a = { replicas = 1 }", stderr=["its endpoint has no serving"])
add("endpoint-bad-name", "22.1", ENDPOINTS.replace("[endpoints.embed]", '[endpoints."em/bed"]').replace('endpoint = "embed"', 'endpoint = "em/bed"'),
    marker='[endpoints."em/bed"]', stderr=["endpoint name", "letters, digits"])
add("endpoint-slo-bad-percentile", "22.1", edit("regions.a = { replicas = 1 }", 'regions.a = { replicas = 1 }\nslo = { latency = [{ percentile = 100, max = "1s" }] }', ENDPOINTS),
    marker="slo = { latency", stderr=["percentile must be between 0 and 100"])
add("endpoint-main-traffic-unserved", "22.1", edit("replicas = 2", "replicas = 0", ENDPOINTS), marker="[[traffic]]",
    stderr=["calls the main endpoint, which no region serves"])
add("endpoint-crash-fault-only-named", "22.1", edit("replicas = 2", "replicas = 0", ENDPOINTS).replace(
    '[[traffic]]\norigin = "a"\narrivals = { process = "poisson", rate = "100/s" }\n', "", 1) + """[[faults]]
kind = "replica_crash"
region = "a"
at = "1s"
duration = "1s"
""", marker='region = "a"\nat = "1s"', stderr=["name the endpoint whose replicas fail with `endpoint`"])
add("fault-endpoint-unknown", "22.1", ENDPOINTS + """[[faults]]
kind = "replica_crash"
region = "a"
endpoint = "embd"
at = "1s"
duration = "1s"
""", marker='endpoint = "embd"', stderr=['unknown endpoint "embd"', "endpoints are: embed"])
add("fault-outage-with-endpoint", "22.1", ENDPOINTS + """[[faults]]
kind = "region_outage"
region = "a"
endpoint = "embed"
at = "1s"
duration = "1s"
""", marker='endpoint = "embed"\nat', stderr=["leave endpoint out"])
add("fault-on-named-endpoint-runs", "22.1", ENDPOINTS + """[[faults]]
kind = "replica_crash"
region = "a"
endpoint = "embed"
at = "1s"
duration = "1s"
""", command=("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty", "--quiet"), exit=0,
    json_checks=[("out/summary.json", "/endpoints/main/replicas", 2)])
add("endpoint-run-ok", "22.1", ENDPOINTS, command=("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty", "--quiet"), exit=0,
    json_checks=[("out/summary.json", "/endpoints/embed/regions/a/replicas", 1),
                 ("out/summary.json", "/endpoints/main/replicas", 2)])

# Issue 22: pipelines.
PIPE = BASE + """[endpoints.embed]
serving = { service_time = { kind = "exponential", mean = "8ms" } }
regions.a = { replicas = 1 }
[endpoints.flow.pipeline]
stages = [{ name = "first", call = ["embed"] }, { name = "second", call = ["main"], timeout = "50ms" }]
[[traffic]]
origin = "a"
endpoint = "flow"
arrivals = { process = "poisson", rate = "20/s" }
"""
add("pipeline-unknown-callee", "22.2", edit('call = ["embed"]', 'call = ["embd"]', PIPE), marker='stages = [',
    stderr=['unknown endpoint "embd"', "stages[0].call[0]"])
add("pipeline-cycle", "22.2", PIPE + """[endpoints.loop.pipeline]
stages = [{ name = "back", call = ["loop2"] }]
[endpoints.loop2.pipeline]
stages = [{ name = "forth", call = ["loop"] }]
""", marker="[endpoints.loop.pipeline]", stderr=["cycle: loop → loop2 → loop"])
add("pipeline-with-serving", "22.2", edit("[endpoints.flow.pipeline]", '[endpoints.flow]\nserving = { service_time = { kind = "constant", value = "1ms" } }\n[endpoints.flow.pipeline]', PIPE),
    marker="[endpoints.flow.pipeline]", stderr=["a pipeline has no serving or regions of its own"])
add("pipeline-first-too-big", "22.2", edit('call = ["embed"] }', 'call = ["embed"], first = 2 }', PIPE), marker="stages = [",
    stderr=["first must be between 1 and 1"])
add("pipeline-all-optional", "22.2", edit('call = ["embed"] }', 'call = ["embed"], optional = true }',
    edit('timeout = "50ms" }', 'timeout = "50ms", optional = true }', PIPE)), marker="stages = [", stderr=["every stage is optional"])
add("pipeline-zero-timeout", "22.2", edit('timeout = "50ms"', 'timeout = "0ms"', PIPE), marker="stages = [", stderr=["timeout"])
add("pipeline-runs-nowhere", "22.2", edit("[regions.a]", '[regions.b]\nreplicas = 0\n[regions.a]',
    edit("regions.a = { replicas = 1 }", "regions.b = { replicas = 1 }", PIPE)), marker="[endpoints.flow.pipeline]",
    stderr=['pipeline "flow" runs nowhere'])
add("endpoint-named-main", "22.1", ENDPOINTS.replace("[endpoints.embed]", "[endpoints.main]").replace('endpoint = "embed"', 'endpoint = "main"'),
    marker="[endpoints.main]", stderr=['"main" names the main endpoint'])
add("pipeline-run-ok", "22.2", PIPE, command=("run", "{dir}/s.toml", "--out", "{dir}/out", "--no-uncertainty", "--quiet"), exit=0,
    json_checks=[("out/summary.json", "/endpoints/flow/stages/1/name", "second"),
                 ("out/summary.json", "/endpoints/flow/replicas", 0)])

# --- Models sharing GPUs (issue 22 item 3). ---------------------------------------------------
SHARED = BASE + """[endpoints.x]
serving = { service_time = { kind = "exponential", mean = "4ms" }, memory = { weights = "2GB", per_instance = "1GB" } }
[endpoints.y]
serving = { service_time = { kind = "exponential", mean = "6ms" }, memory = { weights = "3GB", per_instance = "1GB" } }
[gpu_sharing.g]
endpoints = ["x", "y"]
gpu_memory = "24GB"
regions.a = { replicas = 2 }
[[traffic]]
origin = "a"
endpoint = "x"
arrivals = { process = "poisson", rate = "50/s" }
"""
add("shared-run-ok", "22.3", SHARED, command=RUN, exit=0,
    json_checks=[("out/summary.json", "/gpu_sharing/g/regions/a/gpus", 2),
                 ("out/summary.json", "/gpu_sharing/g/mode", "time_sliced")])
add("shared-unknown-endpoint", "22.3", edit('endpoints = ["x", "y"]', 'endpoints = ["x", "zz"]', SHARED),
    marker='endpoints = ["x", "zz"]', stderr=['"zz" is not a named model endpoint', "model endpoints are: x, y"])
add("shared-member-twice", "22.3", edit('endpoints = ["x", "y"]', 'endpoints = ["x", "y", "x"]', SHARED),
    marker='endpoints = ["x", "y", "x"]', stderr=['"x" is listed twice'])
add("shared-member-with-regions", "22.3", edit('memory = { weights = "2GB", per_instance = "1GB" } }\n',
    'memory = { weights = "2GB", per_instance = "1GB" } }\nregions.a = { replicas = 1 }\n', SHARED),
    marker="regions.a = { replicas = 1 }", stderr=["its replicas are the group's"])
add("shared-does-not-fit", "22.3", edit('weights = "3GB"', 'weights = "30GB"', SHARED), marker="regions.a = { replicas = 2 }",
    stderr=["do not fit in one GPU's memory", "y 27.94 weights + 1 × 0.93 per instance", "> 22.35 GiB"])
add("shared-mps-without-interference", "22.3", edit('gpu_memory = "24GB"', 'gpu_memory = "24GB"\nmode = "mps"', SHARED),
    marker='[gpu_sharing.g]', stderr=["needs mps_interference"])
add("shared-mps-interference-range", "22.3", edit('gpu_memory = "24GB"', 'gpu_memory = "24GB"\nmode = "mps"\nmps_interference = 1.5', SHARED),
    marker="mps_interference = 1.5", stderr=["between 0 and 1"])
add("shared-interference-with-time-slicing", "22.3", edit('gpu_memory = "24GB"', 'gpu_memory = "24GB"\nmps_interference = 0.3', SHARED),
    marker="mps_interference = 0.3", stderr=['applies to mode = \"mps\" only'])
add("shared-memory-unit", "22.3", edit('weights = "2GB"', 'weights = "2gb"', SHARED), marker='weights = "2gb"',
    stderr=['unknown memory unit "gb"'])
add("shared-memory-without-unit", "22.3", edit('weights = "2GB"', 'weights = 2', SHARED), marker='weights = 2',
    stderr=["needs a unit"])
add("shared-memory-missing", "22.3", edit(', memory = { weights = "3GB", per_instance = "1GB" }', '', SHARED),
    marker='serving = { service_time = { kind = "exponential", mean = "6ms" } }', stderr=['"y" shares GPUs: give memory'])
add("shared-autoscaling", "22.3", edit("regions.a = { replicas = 2 }",
    'regions.a = { replicas = 2, autoscaling = { metric = "utilization", target = 0.6, min_replicas = 1, max_replicas = 4 } }', SHARED),
    marker="regions.a = { replicas = 2, autoscaling", stderr=["autoscaling"])
add("shared-zero-replicas", "22.3", edit("regions.a = { replicas = 2 }", "regions.a = { replicas = 0 }", SHARED),
    marker="regions.a = { replicas = 0 }", stderr=["replicas must be between 1"])
add("shared-named-like-endpoint", "22.3", SHARED.replace("[gpu_sharing.g]", "[gpu_sharing.x]"),
    marker="[gpu_sharing.x]", stderr=["cannot be named like an endpoint"])
add("shared-gpu-memory-unknown", "22.3", edit('gpu_memory = "24GB"\nregions.a = { replicas = 2 }',
    'regions.a = { replicas = 2, instance = "box" }\n[instance_types.box]\nusd_per_hour = 1.0', SHARED),
    marker="[gpu_sharing.g]", stderr=["not in the GPU catalog: give gpu_memory"])
add("shared-pipeline-member", "22.3", edit('endpoints = ["x", "y"]', 'endpoints = ["x", "flow"]', SHARED) + """[endpoints.flow.pipeline]
stages = [{ name = "s", call = ["x"] }]
""", marker='endpoints = ["x", "flow"]', stderr=['"flow" is a pipeline'])

# --- Model variants (issue 22 item 4). ----------------------------------------------------------
VARIANTS = edit('service_time = { kind = "exponential", mean = "5ms" }', """min_quality = 0.9
variants = [
  { name = "fp16", service_time = { kind = "exponential", mean = "5ms" }, quality = 0.92 },
  { name = "int8", service_time = { kind = "exponential", mean = "3ms" }, quality = 0.91 },
]""")
add("variants-run-ok", "22.4", edit("min_quality = 0.9", 'min_quality = 0.9\nvariant = "int8"', VARIANTS), command=RUN, exit=0,
    json_checks=[("out/summary.json", "/variants/main/variant", "int8"), ("out/summary.json", "/variants/main/met", True)])
add("variants-unknown", "22.4", edit("min_quality = 0.9", 'min_quality = 0.9\nvariant = "int4"', VARIANTS),
    marker='variant = "int4"', stderr=['unknown variant "int4"', "variants are: fp16, int8"])
add("variants-and-service-time", "22.4", edit("min_quality = 0.9", 'min_quality = 0.9\nservice_time = { kind = "constant", value = "1ms" }', VARIANTS),
    marker='service_time = { kind = "constant"', stderr=["give service_time or variants, not both"])
add("variants-twice", "22.4", edit('name = "int8"', 'name = "fp16"', VARIANTS), marker='{ name = "fp16", service_time = { kind = "exponential", mean = "3ms" }',
    stderr=['variant "fp16" is listed twice'])
add("variants-quality-missing", "22.4", edit(', quality = 0.91', '', VARIANTS), marker='{ name = "int8"', stderr=["quality"])
add("variant-without-variants", "22.4", edit("[serving]", '[serving]\nvariant = "fp16"'), marker='variant = "fp16"',
    stderr=["variant needs variants"])
add("serving-without-service-time", "22.4", edit('service_time = { kind = "exponential", mean = "5ms" }\n', ""),
    marker="[serving]", stderr=["serving needs service_time (or variants"])
add("variants-nan-quality", "22.4", edit("quality = 0.91", "quality = nan", VARIANTS), marker="quality = nan",
    stderr=["quality must be a finite number"])

# --- Fleet plans (issue 22 item 6). ------------------------------------------------------------
FLEET = ENDPOINTS + """[instance_types.big]
usd_per_hour = 2.0
[fleet]
instances = [{ instance = "big" }, { instance = "g5.xlarge@us-east-1", service_scale = 0.5 }]
"""
add("fleet-validate-ok", "22.6", FLEET, command=("validate", "{dir}/s.toml"), exit=0, stdout_has=["a fleet plan over 2 instance types"])
add("fleet-unknown-endpoint", "22.6", edit("[fleet]", '[fleet]\nendpoints = ["embd"]', FLEET), marker='endpoints = ["embd"]',
    stderr=['unknown endpoint "embd"'])
add("fleet-no-instances", "22.6", edit('instances = [{ instance = "big" }, { instance = "g5.xlarge@us-east-1", service_scale = 0.5 }]', "instances = []", FLEET),
    marker="instances = []", stderr=["list the instance types"])
add("fleet-unknown-instance", "22.6", edit('{ instance = "big" }', '{ instance = "huge" }', FLEET), marker='{ instance = "huge" }',
    stderr=['unknown instance type "huge"'])
add("fleet-bad-scale", "22.6", edit("service_scale = 0.5", "service_scale = -1", FLEET), marker="service_scale = -1",
    stderr=["service_scale must be above 0"])
add("fleet-model-needs-device", "22.6", edit('serving = { service_time = { kind = "exponential", mean = "8ms" } }',
    'serving = { service_time = { kind = "model", model = "all-MiniLM-L6-v2", device = "t4" } }', FLEET),
    marker='{ instance = "big" }', stderr=['"embed" has a kind = \"model\" service time: give this instance\'s device'])
add("fleet-unknown-device", "22.6", edit('serving = { service_time = { kind = "exponential", mean = "8ms" } }',
    'serving = { service_time = { kind = "model", model = "all-MiniLM-L6-v2", device = "t4" } }', FLEET).replace(
    '{ instance = "big" }, { instance = "g5.xlarge@us-east-1", service_scale = 0.5 }', '{ instance = "big", device = "tpu9" }'),
    marker='device = "tpu9"', stderr=['unknown device "tpu9"'])
add("fleet-no-endpoints", "22.6", BASE + "[fleet]\ninstances = [{ instance = \"g5.xlarge@us-east-1\" }]\n", marker="[fleet]",
    stderr=["no named model endpoint"])
add("fleet-plan-runs", "22.6", FLEET, command=("plan", "{dir}/s.toml", "--out", "{dir}/out", "--quiet"), exit=0,
    json_checks=[("out/summary.json", "/endpoints/embed/regions/a/replicas/mean", 1.0)])

# --- LLM engines (issue 23): every engine argument checked at its key, memory refused with its
# arithmetic, token counts and traces located. ------------------------------------------------------
LLM = edit('service_time = { kind = "exponential", mean = "5ms" }\n',
           '[serving.llm]\nmodel = "llama-3-8b"\ndevice = "h100-sxm"\n',
           edit('[slo]\nlatency = [{ percentile = 99, max = "100ms" }]', '[slo]\nttft = [{ percentile = 99, max = "500ms" }]',
                edit('rate = "100/s" }', 'rate = "5/s" }\ntokens = { prompt = { kind = "constant", value = 500 }, output = { kind = "constant", value = 50 } }')))
add("llm-runs", "23.1", LLM, command=RUN, exit=0)
for name, old, new, marker, message in [
    ("llm-typo", 'device = "h100-sxm"', 'device = "h100-sxm"\nmax_num_seq = 8', "max_num_seq", "unknown field"),
    ("llm-unknown-model", 'model = "llama-3-8b"', 'model = "llama-9b"', 'model = "llama-9b"', "unknown LLM"),
    ("llm-encoder-model", 'model = "llama-3-8b"', 'model = "bert-base-uncased"', 'model = "bert-base-uncased"', "not a decoder"),
    ("llm-unknown-device", 'device = "h100-sxm"', 'device = "tpu9"', 'device = "tpu9"', 'unknown device "tpu9"'),
    ("llm-no-device", 'device = "h100-sxm"\n', '', "[serving.llm]", "which GPU"),
    ("llm-zero-seqs", 'device = "h100-sxm"', 'device = "h100-sxm"\nmax_num_seqs = 0', "max_num_seqs = 0", "max_num_seqs must be"),
    ("llm-negative-seqs", 'device = "h100-sxm"', 'device = "h100-sxm"\nmax_num_seqs = -4', "max_num_seqs = -4", ""),
    ("llm-utilization", 'device = "h100-sxm"', 'device = "h100-sxm"\ngpu_memory_utilization = 1.5', "gpu_memory_utilization = 1.5", "fraction in (0, 1]"),
    ("llm-block-zero", 'device = "h100-sxm"', 'device = "h100-sxm"\nblock_size = 0', "block_size = 0", "block_size must be"),
    ("llm-tp-heads", 'device = "h100-sxm"', 'device = "h100-sxm"\ntensor_parallel_size = 3', "tensor_parallel_size = 3", "32 attention heads"),
    ("llm-context", 'device = "h100-sxm"', 'device = "h100-sxm"\nmax_model_len = 100000', "max_model_len = 100000", "beyond the model's context"),
    ("llm-no-memory", 'device = "h100-sxm"', 'device = "h100-sxm"\ngpu_memory = "16GB"', "[serving.llm]", "do not fit"),
    ("llm-kv-too-small", 'device = "h100-sxm"', 'device = "h100-sxm"\ngpu_memory_utilization = 0.235', "[serving.llm]", "larger than the KV cache holds"),
    ("llm-with-service-time", '[serving.llm]', 'service_time = { kind = "constant", value = "1ms" }\n[serving.llm]', 'service_time = { kind = "constant"', "leave service_time"),
    ("llm-with-batching", '[serving.llm]', 'batching = { max_batch = 8 }\n[serving.llm]', "batching = { max_batch = 8 }", "schedules iterations"),
    ("llm-both-times", 'device = "h100-sxm"', 'device = "h100-sxm"\niteration = { overhead = "1ms" }', "iteration = {", "not both"),
    ("llm-iteration-no-kv", 'model = "llama-3-8b"\ndevice = "h100-sxm"', 'iteration = { overhead = "1ms" }', "[serving.llm]", "kv_cache_tokens"),
    ("llm-no-chunking-budget", 'device = "h100-sxm"', 'device = "h100-sxm"\nenable_chunked_prefill = false\nmax_num_batched_tokens = 2048', "max_num_batched_tokens = 2048", "at least max_model_len"),
    ("llm-token-zero", '{ kind = "constant", value = 500 }', '{ kind = "constant", value = 0 }', "tokens = {", "between 1 and"),
    ("llm-token-cv", '{ kind = "constant", value = 500 }', '{ kind = "lognormal", mean = 500, cv = -1 }', "tokens = {", "cv must be"),
    ("llm-prefix-groups", 'output = { kind = "constant", value = 50 } }', 'output = { kind = "constant", value = 50 }, shared_prefix = { tokens = 100, groups = 0 } }', "tokens = {", "groups must be"),
    ("llm-ttft-percentile", 'percentile = 99, max = "500ms"', 'percentile = 100, max = "500ms"', "ttft = [", "percentile must be"),
    ("llm-split-all-prefill", 'device = "h100-sxm"', 'device = "h100-sxm"\ndisaggregation = { prefill_replicas = 2, kv_transfer_gbps = 50 }', "replicas = 2", "leaves none to decode"),
    ("llm-split-bandwidth", 'device = "h100-sxm"', 'device = "h100-sxm"\ndisaggregation = { prefill_replicas = 1, kv_transfer_gbps = -5 }', "disaggregation = {", "kv_transfer_gbps must be"),
    ("llm-kv-metric-on-batcher", 'replicas = 2', 'replicas = 2\nautoscaling = { metric = "kv_cache_usage", target = 0.7, min_replicas = 1, max_replicas = 4 }', "autoscaling = {", "LLM engine's metrics"),
]:
    text = BASE.replace("replicas = 2", 'replicas = 2\nautoscaling = { metric = "kv_cache_usage", target = 0.7, min_replicas = 1, max_replicas = 4 }') if name == "llm-kv-metric-on-batcher" else edit(old, new, LLM)
    add(name, "23.3", text, marker=marker, stderr=[message] if message else ())
SHARED_LLM = """name = "gs"
duration = "10s"
[regions.a]
replicas = 0
[endpoints.chat]
serving = { llm = { model = "llama-3-8b", device = "a10g", kv_cache_tokens = 9000 } }
[endpoints.embed]
serving = { service_time = { kind = "exponential", mean = "5ms" } }
[gpu_sharing.g]
endpoints = ["chat", "embed"]
regions.a = { replicas = 1, instance = "g5.xlarge@us-east-1" }
[[traffic]]
origin = "a"
endpoint = "chat"
arrivals = { process = "poisson", rate = "1/s" }
tokens = { prompt = { kind = "constant", value = 100 }, output = { kind = "constant", value = 10 } }
"""
add("llm-shares-a-gpu", "23.3", SHARED_LLM, marker='endpoints = ["chat", "embed"]', stderr=['"chat" is an LLM engine'])
# --- Serving stacks (issue 25): a stack is named at its key, belongs to the model's family and
# goes with a catalog estimate only. -----------------------------------------------------------------
MODEL_TIME = '{ kind = "model", model = "bert-base-uncased", device = "a10g" }'
for name, stack, message in [
    ("stack-unknown", "onnxruntime-cudaa", 'unknown stack "onnxruntime-cudaa"'),
    ("stack-llm-on-encoder", "vllm", "vllm does not serve a whole-graph model"),
    ("stack-empty", "", 'unknown stack ""'),
]:
    add(name, "25.1", edit('{ kind = "exponential", mean = "5ms" }', MODEL_TIME.replace(" }", f', stack = "{stack}" }}')),
        marker=f'stack = "{stack}"', stderr=[message])
add("stack-with-profile", "25.1", edit('{ kind = "exponential", mean = "5ms" }',
    '{ kind = "model", model = "bert-base-uncased", device = "p.csv", stack = "pytorch" }'),
    files={"p.csv": "device,op,shape,median_ns,p10_ns,p90_ns,runs\n"}, marker='stack = "pytorch"', stderr=["goes with a catalog device"])
add("stack-number", "25.1", edit('{ kind = "exponential", mean = "5ms" }', MODEL_TIME.replace(" }", ", stack = 7 }")),
    marker="stack = 7", stderr=["invalid type"])
for name, old, new, marker, message in [
    ("llm-stack-unknown", 'device = "h100-sxm"', 'device = "h100-sxm"\nstack = "vlm"', 'stack = "vlm"', 'unknown stack "vlm"'),
    ("llm-stack-encoder-only", 'device = "h100-sxm"', 'device = "h100-sxm"\nstack = "onnxruntime-cuda"', 'stack = "onnxruntime-cuda"', "does not serve an LLM engine"),
    ("llm-stack-with-iteration", 'model = "llama-3-8b"\ndevice = "h100-sxm"', 'iteration = { overhead = "1ms" }\nkv_cache_tokens = 1000\nstack = "vllm"', 'stack = "vllm"', "stack goes with model"),
]:
    add(name, "25.1", edit(old, new, LLM), marker=marker, stderr=[message])
add("llm-stack-runs", "25.1", edit('device = "h100-sxm"', 'device = "h100-sxm"\nstack = "llama.cpp"', LLM), command=RUN, exit=0)

TRACE_LLM = edit('arrivals = { process = "poisson", rate = "5/s" }\ntokens = { prompt = { kind = "constant", value = 500 }, output = { kind = "constant", value = 50 } }',
                 'arrivals = { process = "trace", file = "t.jsonl", timestamp_unit = "ms", size_column = "input_length", output_column = "output_length", hash_column = "hash_ids" }', LLM)
add("llm-mooncake-runs", "23.6", TRACE_LLM, command=RUN, exit=0, files={"t.jsonl": "".join(
    f'{{"timestamp": {t}, "input_length": 1024, "output_length": 20, "hash_ids": [1, 2]}}\n' for t in range(0, 4000, 100))})
add("llm-mooncake-bad-hashes", "23.6", TRACE_LLM, files={"t.jsonl":
    '{"timestamp": 0, "input_length": 1024, "output_length": 20, "hash_ids": [1, 2]}\n{"timestamp": 100, "input_length": 1024, "output_length": 20, "hash_ids": [1, -2]}\n'},
    stderr=["t.jsonl:2:", "hash_ids"])
add("llm-mooncake-missing-column", "23.6", TRACE_LLM, files={"t.jsonl": '{"timestamp": 0, "input_length": 1024, "output_length": 20}\n'},
    marker="hash_column", stderr=['no key "hash_ids"'])

# --- Monitoring (issue 24): alerts that could never fire, windows Prometheus cannot compute, and a
# run whose alerts are checked in summary.json. --------------------------------------------------
MON = BASE.replace('latency = [{ percentile = 99, max = "100ms" }]', 'latency = [{ percentile = 99, max = "100ms" }]\navailability = 0.999')
for name, section, marker, message in [
    ("monitoring-alert-cannot-fire", '[monitoring]\nburn_rate_alerts = [{ long_window = "1h", short_window = "5m", burn_rate = 200 }]\n',
     "burn_rate = 200", "could never fire"),
    ("monitoring-short-not-shorter", '[monitoring]\nburn_rate_alerts = [{ long_window = "5m", short_window = "1h", burn_rate = 2 }]\n',
     "short_window", "must be shorter than long_window"),
    ("monitoring-short-one-scrape", '[monitoring]\nscrape_interval = "1m"\nburn_rate_alerts = [{ long_window = "1h", short_window = "1m", burn_rate = 2 }]\n',
     "short_window", "two scrapes"),
    ("monitoring-scrape-too-fast", '[monitoring]\nscrape_interval = "10ms"\n', 'scrape_interval = "10ms"', "at least 1s"),
    ("monitoring-negative-burn", '[monitoring]\nburn_rate_alerts = [{ long_window = "1h", short_window = "5m", burn_rate = -3 }]\n',
     "burn_rate = -3", "burn_rate must be positive"),
    ("monitoring-severity-injection", '[monitoring]\nburn_rate_alerts = [{ long_window = "1h", short_window = "5m", burn_rate = 2, severity = "page\\nexpr: vector(1)" }]\n',
     "severity", "plain word"),
    ("monitoring-typo", '[monitoring]\nscrape_intervall = "30s"\n', "scrape_intervall", "unknown field"),
    ("monitoring-window-too-long", '[monitoring]\nburn_rate_alerts = [{ long_window = "60d", short_window = "1h", burn_rate = 1 }]\n',
     "long_window", "over 30 days"),
]:
    add(name, "24.4", MON + section, marker=marker, stderr=[message])
DRIFT = MON + '[monitoring.drift]\nsample = 0.05\nwindow = "1min"\nthreshold = 0.1\ninject = { at = "2s", shift = 0.5 }\n'
for name, old, new, marker, message in [
    ("drift-sample-zero", "sample = 0.05", "sample = 0", "sample = 0", "share in (0, 1]"),
    ("drift-window-not-scrapes", 'window = "1min"', 'window = "45s"', 'window = "45s"', "whole number of scrape intervals"),
    ("drift-window-too-long", 'window = "1min"', 'window = "1h"', 'window = "1h"', "longer than duration"),
    ("drift-ks-threshold", "threshold = 0.1", 'threshold = 5\ntest = "ks"', "threshold = 5", "p-value below which it alarms"),
    ("drift-psi-one-bin", "threshold = 0.1", "threshold = 0.1\nbins = 1", "bins = 1", "bins must be between 2 and 1000"),
    ("drift-late-injection", 'at = "2s"', 'at = "9min"', "inject = {", "after the traffic ends"),
    ("drift-unknown-test", "threshold = 0.1", 'threshold = 0.1\ntest = "chi2"', 'test = "chi2"', "unknown variant"),
]:
    add(name, "24.5", edit(old, new, DRIFT.replace('duration = "5s"', 'duration = "5min"')), marker=marker, stderr=[message])
# Without [monitoring], a p50 target's budget (half the requests) is too loose for the default pages:
# said in summary.json, not refused, and the availability SLI is still alerted.
add("monitoring-loose-target-runs", "24.4",
    MON.replace('percentile = 99, max = "100ms"', 'percentile = 50, max = "100ms"'), command=RUN, exit=0,
    json_checks=[("out/summary.json", "/monitoring/alerts/0/alert", "MainAvailabilityBudgetBurn1h")])

out = ['# Generated by tests/hostile/make_cases.py: the hostile-input corpus tests/hostile.rs runs.',
       '# Each case: the files it writes into a scratch folder ({dir}), the servesim command, and the',
       '# outcome it must get. Do not edit by hand; edit the script and rerun it.', '']
def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if value is None:
        return '"(exists)"'
    raise TypeError(value)

for case in cases:
    out.append("[[case]]")
    for key in ["name", "item", "command", "exit", "stderr", "stderr_lacks", "one_line", "absent", "stdout", "stdout_has"]:
        if key in case:
            out.append(f"{key} = {toml_value(case[key])}")
    if "json" in case:
        checks = []
        for file, pointer, want in case["json"]:
            if want is None:
                checks.append(f"{{ file = {json.dumps(file)} }}")
            elif isinstance(want, (tuple, list)):
                checks.append(f"{{ file = {json.dumps(file)}, pointer = {json.dumps(pointer)}, between = [{want[1]}, {want[2]}] }}")
            else:
                checks.append(f"{{ file = {json.dumps(file)}, pointer = {json.dumps(pointer)}, equals = {toml_value(want)} }}")
        out.append("json = [" + ", ".join(checks) + "]")
    if "toml_absent" in case:
        out.append("toml_absent = [" + ", ".join(
            f"{{ file = {json.dumps(f)}, key = {json.dumps(k)} }}" for f, k in case["toml_absent"]) + "]")
    if "file_texts" in case:
        out.append("file_texts = [" + ", ".join(
            f"{{ file = {json.dumps(f)}, text = {json.dumps(t)} }}" for f, t in case["file_texts"]) + "]")
    if "lines_absent" in case:
        out.append("lines_absent = [" + ", ".join(
            f"{{ file = {json.dumps(f)}, line = {json.dumps(l)} }}" for f, l in case["lines_absent"]) + "]")
    for key in ["files", "files_hex", "links"]:
        if key in case:
            out.append(f"[case.{key}]")
            for name, value in case[key].items():
                out.append(f"{json.dumps(name)} = {json.dumps(value)}")
    out.append("")
open(os.path.join(HERE, "cases.toml"), "w").write("\n".join(out))
print(f"{len(cases)} cases")
