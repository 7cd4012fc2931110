//! The sweep's tables, as rows of text: `sweep.csv` (a row per point and replication), `pareto.csv`
//! (a row per point, judged) and `best.toml`. Numbers print in Rust's shortest round-trip form,
//! so the same results always give the same bytes.

use crate::evaluate::PointResult;
use crate::frontier::Judged;
use toml::Table;

fn number(value: f64) -> String {
    format!("{value}")
}

fn optional(value: Option<f64>) -> String {
    value.map(number).unwrap_or_default()
}

/// Parameter paths in first-seen order across the results.
fn parameter_paths(results: &[PointResult]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    for result in results {
        for (path, _) in &result.values {
            if !paths.contains(path) {
                paths.push(path.clone());
            }
        }
    }
    paths
}

fn parameter_cells(result: &PointResult, paths: &[String]) -> Vec<String> {
    paths
        .iter()
        .map(|path| result.values.iter().find(|(p, _)| p == path).map(|(_, v)| v.to_string()).unwrap_or_default())
        .collect()
}

pub struct TableText {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `sweep.csv`: one row per point and replication. `results` and `judged` are in point order.
pub fn sweep_table(results: &[PointResult], judged: &[Judged]) -> TableText {
    let paths = parameter_paths(results);
    let mut header: Vec<String> = vec!["point".into(), "replication".into(), "seed".into()];
    header.extend(paths.iter().cloned());
    header.extend(
        [
            "traffic_scale",
            "replicas_searched",
            "offered_rps",
            "completed_rps",
            "latency_mean_ms",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "availability",
            "dropped",
            "timed_out",
            "utilization",
            "replicas",
            "usd_per_hour",
            "usd_per_million",
            "saturated",
            "stopped_early",
            "point_feasible",
            "reason",
        ]
        .map(String::from),
    );
    // Batch jobs add their columns (scenarios without jobs keep their table as it was).
    let with_jobs = results.iter().any(|r| r.runs.iter().any(|run| !run.jobs.is_empty()));
    if with_jobs {
        header.extend(
            ["usd_per_run", "p_deadline", "p_deadline_low", "p_deadline_high", "makespan_p99_s"].map(String::from),
        );
    }
    let job_cells = |run: Option<&crate::evaluate::RunMetrics>| -> Vec<String> {
        let Some(run) = run.filter(|r| !r.jobs.is_empty()) else { return vec![String::new(); 5] };
        let deadline =
            run.jobs
                .iter()
                .filter_map(|j| j.deadline)
                .reduce(|a, b| if b.probability() < a.probability() { b } else { a });
        let interval = deadline.map(|d| d.interval(sim::job::summary::Z95));
        vec![
            optional(run.usd_per_run()),
            optional(deadline.map(|d| d.probability())),
            optional(interval.map(|i| i[0])),
            optional(interval.map(|i| i[1])),
            optional(run.jobs.iter().filter_map(|j| j.makespan_p99_s).reduce(f64::max)),
        ]
    };
    // Burn-rate alerts add three columns each, by slot (a sweep over their windows renames them).
    let mut slots: Vec<&str> = Vec::new();
    for alert in results.iter().flat_map(|r| &r.runs).flat_map(|run| &run.alerts) {
        if !slots.contains(&alert.slot.as_str()) {
            slots.push(&alert.slot);
        }
    }
    for slot in &slots {
        header.extend(["detection_s", "missed", "unexplained"].map(|column| format!("{slot}.{column}")));
    }
    let alert_cells = |run: Option<&crate::evaluate::RunMetrics>| -> Vec<String> {
        slots
            .iter()
            .flat_map(|slot| match run.and_then(|run| run.alerts.iter().find(|a| a.slot == *slot)) {
                Some(alert) => [optional(alert.detection_s), alert.missed.to_string(), alert.unexplained.to_string()],
                None => Default::default(),
            })
            .collect()
    };
    let mut rows = Vec::new();
    for (result, judgement) in results.iter().zip(judged) {
        let fixed = |replication: String, seed: String| {
            let mut row = vec![result.index.to_string(), replication, seed];
            row.extend(parameter_cells(result, &paths));
            row.push(optional(result.scale));
            row.push(result.replicas.map(|r| r.to_string()).unwrap_or_default());
            row
        };
        if result.runs.is_empty() {
            let mut row = fixed(String::new(), String::new());
            row.extend(std::iter::repeat_n(String::new(), 16));
            row.push("false".into());
            row.push(judgement.reason.clone());
            if with_jobs {
                row.extend(job_cells(None));
            }
            row.extend(alert_cells(None));
            rows.push(row);
        }
        for (replication, run) in result.runs.iter().enumerate() {
            let mut row = fixed(replication.to_string(), run.seed.to_string());
            row.extend([
                number(run.offered_rps),
                number(run.completed_rps),
                optional(run.latency_mean_ms),
                optional(run.p50_ms),
                optional(run.p90_ms),
                optional(run.p99_ms),
                optional(run.p999_ms),
                number(run.availability),
                run.dropped.to_string(),
                run.timed_out.to_string(),
                optional(run.utilization),
                run.replicas.to_string(),
                number(run.usd_per_hour),
                optional(run.usd_per_million),
                run.saturated.to_string(),
                run.stopped_early.to_string(),
                judgement.feasible.to_string(),
                judgement.reason.clone(),
            ]);
            if with_jobs {
                row.extend(job_cells(Some(run)));
            }
            row.extend(alert_cells(Some(run)));
            rows.push(row);
        }
    }
    TableText { header, rows }
}

/// `pareto.csv`: one row per point, judged.
pub fn pareto_table(results: &[PointResult], judged: &[Judged]) -> TableText {
    let paths = parameter_paths(results);
    let mut header: Vec<String> = vec!["point".into()];
    header.extend(paths.iter().cloned());
    header.extend(
        [
            "traffic_scale",
            "replicas_searched",
            "capacity_rps",
            "usd_per_hour",
            "usd_per_million",
            "p99_ms",
            "p99_ci95",
            "availability",
            "feasible",
            "rank",
            "on_frontier",
            "within_noise",
            "reason",
        ]
        .map(String::from),
    );
    let with_jobs = judged.iter().any(|j| j.usd_per_run.is_some());
    if with_jobs {
        header.extend(["usd_per_run", "p_deadline", "makespan_p99_s"].map(String::from));
    }
    let rows = results
        .iter()
        .zip(judged)
        .map(|(result, j)| {
            let mut row = vec![result.index.to_string()];
            row.extend(parameter_cells(result, &paths));
            row.extend([
                optional(result.scale),
                result.replicas.map(|r| r.to_string()).unwrap_or_default(),
                optional(j.capacity_rps),
                optional(j.usd_per_hour),
                optional(j.usd_per_million),
                optional(j.p99_ms),
                number(j.p99_ci95),
                optional(j.availability),
                j.feasible.to_string(),
                j.rank.map(|r| r.to_string()).unwrap_or_default(),
                j.on_frontier.to_string(),
                j.within_noise.to_string(),
                j.reason.clone(),
            ]);
            if with_jobs {
                row.extend([optional(j.usd_per_run), optional(j.p_deadline), optional(j.makespan_p99_s)]);
            }
            row
        })
        .collect();
    TableText { header, rows }
}

/// `best.toml`: the chosen point's scenario, fully resolved, without its `[sweep]`.
pub fn best_document(mut document: Table, result: &PointResult, judged: &Judged, total: usize) -> String {
    document.remove("sweep");
    // The header is a comment: every line break or control character in a path or value is
    // escaped, so no text can end the comment and become a setting that was never simulated.
    let values: Vec<String> = result
        .values
        .iter()
        .map(|(p, v)| match v {
            sim::scenario::ParamValue::Text(text) => format!("{} = {text:?}", p.escape_debug()),
            other => format!("{} = {other}", p.escape_debug()),
        })
        .collect();
    let jobs = match (judged.usd_per_run, judged.p_deadline) {
        (Some(cost), Some(p)) => format!(", jobs {} USD per run, P(deadline) {}", number(cost), number(p)),
        (Some(cost), None) => format!(", jobs {} USD per run", number(cost)),
        _ => String::new(),
    };
    let mut text = if judged.jobs_only {
        format!(
            "# servesim sweep: best of {total} points (point {}): {}\n# {}\n",
            result.index,
            if values.is_empty() { "no parameters".to_string() } else { values.join(", ") },
            jobs.trim_start_matches(", ")
        )
    } else {
        String::new()
    };
    if text.is_empty() {
        text = format!(
            "# servesim sweep: best of {total} points (point {}): {}\n# cost {} USD/h, p99 {} ms{}{jobs}\n",
            result.index,
            if values.is_empty() { "no parameters".to_string() } else { values.join(", ") },
            optional(judged.usd_per_hour),
            optional(judged.p99_ms),
            match (result.scale, judged.capacity_rps) {
                (Some(scale), Some(rps)) =>
                    format!(", capacity {} rps ({}× the scenario's traffic)", number(rps), number(scale)),
                _ => String::new(),
            }
        );
    }
    text.push_str(&toml::to_string(&document).expect("a scenario document serialises"));
    text
}
