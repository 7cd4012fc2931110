//! The results table, formatted once: which sections a summary lists and each row's cells, for
//! the terminal (`servesim run`) and the HTML report alike.

use sim::summary::{Section, SloReport, Summary};
use std::borrow::Cow;

/// A latency in milliseconds, or a dash when there is none.
pub fn ms(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.2}"))
}

/// One row: a region, "all", or an extra deployment (A/B variant, shadow).
pub struct Row<'s> {
    pub name: Cow<'s, str>,
    pub instance: Option<&'s str>,
    pub section: &'s Section,
}

impl Row<'_> {
    /// replicas, offered/s, completed/s, dropped, timed out, p50 ms, p99 ms, utilisation, USD/h.
    pub fn cells(&self) -> [String; 9] {
        let s = self.section;
        [
            replicas(s),
            format!("{:.1}", s.throughput.offered_rps),
            format!("{:.1}", s.throughput.completed_rps),
            s.requests.dropped.to_string(),
            s.requests.timed_out.to_string(),
            ms(s.latency_ms.p50),
            ms(s.latency_ms.p99),
            s.utilization.map_or("–".into(), |u| format!("{:.0}%", 100.0 * u)),
            format!("{:.2}", s.cost.usd_per_hour),
        ]
    }
}

/// The replicas a run had: the configured count when it held all run long, else what happened
/// (the time-average over the measured window and the peak): an autoscaled run's configured count
/// is its starting point, not what it ran or paid for.
fn replicas(s: &Section) -> String {
    let held = (s.replicas_mean - s.replicas as f64).abs() < 1e-9 && s.replicas_peak <= s.replicas;
    if held {
        s.replicas.to_string()
    } else {
        format!("{:.1} (peak {})", s.replicas_mean, s.replicas_peak)
    }
}

/// The column titles of [`Row::cells`].
pub const HEADERS: [&str; 9] =
    ["replicas", "offered/s", "completed/s", "dropped", "timed out", "p50 ms", "p99 ms", "utilisation", "USD/h"];

/// The rows a summary shows: regions that serve or are offered traffic, "all" when there is more
/// than one region or any extra deployment, then the extra deployments.
pub fn rows(summary: &Summary) -> Vec<Row<'_>> {
    let mut rows: Vec<Row> = summary
        .regions
        .iter()
        .filter(|(_, r)| r.stats.replicas > 0 || r.stats.requests.offered > 0)
        .map(|(name, r)| Row { name: name.into(), instance: r.instance.as_deref(), section: &r.stats })
        .collect();
    if summary.regions.len() > 1 || !summary.deployments.is_empty() {
        rows.push(Row { name: "all".into(), instance: None, section: &summary.overall });
    }
    rows.extend(summary.deployments.iter().map(|(name, d)| Row {
        name: name.into(),
        instance: d.instance.as_deref(),
        section: &d.stats,
    }));
    rows
}

/// With named endpoints: each endpoint's row (its SLO beside it), then a row per region serving
/// it (`ENDPOINT/REGION`) when it is deployed in more than one.
pub fn endpoint_rows(summary: &Summary) -> Vec<(Row<'_>, Option<&SloReport>)> {
    let mut rows = Vec::new();
    for (name, endpoint) in &summary.endpoints {
        rows.push((Row { name: name.into(), instance: None, section: &endpoint.stats }, endpoint.slo.as_ref()));
        if endpoint.regions.len() > 1 {
            for (region, r) in &endpoint.regions {
                let row =
                    Row { name: format!("{name}/{region}").into(), instance: r.instance.as_deref(), section: &r.stats };
                rows.push((row, None));
            }
        }
    }
    rows
}

/// An SLO's verdict in words: each target against what was observed, ✓ or ✗.
pub fn slo_words(slo: &SloReport) -> String {
    let mut parts = Vec::new();
    for target in &slo.latency {
        parts.push(format!(
            "p{} {} ≤ {} ms {}",
            target.percentile,
            ms(target.observed_ms),
            target.target_ms,
            if target.met { "✓" } else { "✗" }
        ));
    }
    for (what, targets) in [("TTFT", &slo.ttft), ("TPOT", &slo.tpot)] {
        for target in targets {
            parts.push(format!(
                "{what} p{} {} ≤ {} ms {}",
                target.percentile,
                ms(target.observed_ms),
                target.target_ms,
                if target.met { "✓" } else { "✗" }
            ));
        }
    }
    if let Some(a) = &slo.availability {
        parts.push(format!("availability {:.5} ≥ {} {}", a.observed, a.target, if a.met { "✓" } else { "✗" }));
    }
    format!("{}: {}", if slo.met { "met" } else { "NOT met" }, parts.join("; "))
}

/// The column titles of [`stage_rows`]' cells.
pub const STAGE_HEADERS: [&str; 6] = ["runs", "failed", "p50 ms", "p99 ms", "share of p50", "share of p99"];

/// Every pipeline's stages: (endpoint, stage, cells under [`STAGE_HEADERS`]).
pub fn stage_rows(summary: &Summary) -> Vec<(&str, &str, [String; 6])> {
    let share = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.0}%", 100.0 * v));
    summary
        .endpoints
        .iter()
        .flat_map(|(name, endpoint)| {
            endpoint.stages.iter().map(move |stage| {
                let cells = [
                    stage.runs.to_string(),
                    stage.failed.to_string(),
                    ms(stage.latency_ms.p50),
                    ms(stage.latency_ms.p99),
                    share(stage.share_of_p50),
                    share(stage.share_of_p99),
                ];
                (name.as_str(), stage.name.as_str(), cells)
            })
        })
        .collect()
}

/// One sentence per LLM deployment (and all together when several): time to first token and
/// per output token, tokens per second, goodput, the KV cache and its cost per output token.
pub fn llm_lines(summary: &Summary) -> Vec<String> {
    let line = |name: &str, llm: &sim::summary::LlmStats| {
        let kv = llm.kv_utilization.map_or("–".into(), |u| format!("{:.0}%", 100.0 * u));
        let cost = llm.usd_per_million_output_tokens.map_or("–".into(), |c| format!("{c:.3}"));
        format!(
            "LLM {name}: TTFT p50 {} / p99 {} ms, TPOT p50 {} / p99 {} ms; {:.0} input and {:.0} output tokens/s, \
             goodput {:.2} requests/s; KV cache {} tokens per replica, {kv} used, {} preemptions; {cost} USD per million output tokens",
            ms(llm.ttft_ms.p50),
            ms(llm.ttft_ms.p99),
            ms(llm.tpot_ms.p50),
            ms(llm.tpot_ms.p99),
            llm.input_tokens_per_s,
            llm.output_tokens_per_s,
            llm.goodput_rps,
            llm.kv_capacity_tokens,
            llm.preemptions
        )
    };
    let mut lines: Vec<String> = summary
        .regions
        .iter()
        .filter_map(|(name, region)| region.stats.llm.as_ref().map(|llm| line(name, llm)))
        .collect();
    for (endpoint, summary) in &summary.endpoints {
        for (region, stats) in &summary.regions {
            if let Some(llm) = &stats.stats.llm {
                lines.push(line(&format!("{endpoint}/{region}"), llm));
            }
        }
    }
    if lines.len() > 1 {
        if let Some(llm) = &summary.overall.llm {
            lines.push(line("all", llm));
        }
    }
    lines
}

/// One sentence per GPU-sharing group: its models, GPUs and memory per region, and how much
/// slower its batches ran than on GPUs of their own.
pub fn sharing_lines(summary: &Summary) -> Vec<String> {
    summary
        .gpu_sharing
        .iter()
        .map(|(name, group)| {
            let regions: Vec<String> = group
                .regions
                .iter()
                .map(|(region, m)| {
                    format!("{} GPUs in {region} ({:.2} of {:.2} GiB used)", m.gpus, m.needed_gib, m.gpu_gib)
                })
                .collect();
            let stretch = group.stretch.map_or("no batch ran in the measured window".to_string(), |s| {
                format!("batches took {s:.2}× their dedicated service time")
            });
            format!(
                "GPU sharing {name} ({}): {} on {}; {stretch}",
                group.mode.replace('_', "-"),
                group.models.join(" + "),
                regions.join(", ")
            )
        })
        .collect()
}

/// Where each section's slowest 1% spent its time, one line per section with a breakdown: the
/// stages of at least 1%, largest first ("the p99 is 61% queueing").
pub fn breakdown_lines(summary: &Summary) -> Vec<String> {
    let sections = std::iter::once(("all", &summary.overall))
        .chain(summary.regions.iter().map(|(name, r)| (name.as_str(), &r.stats)))
        .filter(|(_, s)| s.breakdown.is_some());
    let mut lines = Vec::new();
    for (name, section) in sections {
        let Some(slowest) = section.breakdown.as_ref().and_then(|b| b.slowest.as_ref()) else { continue };
        let mut shares: Vec<_> = slowest.shares.iter().filter(|s| s.share >= 0.01).collect();
        shares.sort_by(|a, b| b.share.total_cmp(&a.share));
        let parts: Vec<String> =
            shares.iter().map(|s| format!("{:.0}% {}", 100.0 * s.share, s.stage.replace('_', " "))).collect();
        lines.push(format!("Slowest 1% ({name}, from {:.1} ms): {}", slowest.from_ms, parts.join(", ")));
    }
    lines
}
