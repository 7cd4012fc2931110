//! The run report: one self-contained HTML file (inline CSS and SVG, no scripts, no fonts, no
//! network). Every string that comes from a scenario goes through [`escape`].

use crate::charts::{self, Series};
use crate::table::{self, ms};
use sim::metrics::TimeseriesRow;
use sim::summary::Summary;
use std::fmt::Write;

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a run report shows besides the time series and CDFs (which live in their own CSV files):
/// saved as `report.json` so that `servesim report DIR` can render the page again.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReportData {
    pub description: String,
    pub summary: Summary,
    /// Label → value lines on where the numbers come from.
    pub provenance: Vec<(String, String)>,
    /// Present for `servesim plan`: the search that chose this configuration.
    pub plan: Option<PlanSection>,
    /// How far the results may be off because their inputs are estimates.
    #[serde(default)]
    pub uncertainty: Option<UncertaintySection>,
}

/// The band around p50 and p99 that follows from the inputs' uncertainty.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct UncertaintySection {
    /// One sentence: the band and the input that dominates it.
    pub headline: String,
    /// Header, then one row per input and one for all together.
    pub rows: Vec<Vec<String>>,
}

/// The sweep behind a plan.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PlanSection {
    pub points: usize,
    pub feasible: usize,
    /// Sweep points: (cost USD/h, p99 ms, kind) with kind chosen | frontier | feasible | infeasible.
    pub dots: Vec<(f64, f64, String)>,
    /// Parameter, the scenario's value, the chosen value.
    pub changes: Vec<(String, String, String)>,
    /// The best alternatives: header, then rows.
    pub alternatives: Vec<Vec<String>>,
    /// The risks the choice had to survive, in words ("none" when none were set).
    #[serde(default)]
    pub risks: String,
    /// The chosen configuration, the runner-up and any cheaper ones a risk ruled out: header, then
    /// rows with their margins to the first SLO breach and the binding risk.
    #[serde(default)]
    pub robustness: Vec<Vec<String>>,
    /// A scenario of batch jobs alone: dots are (USD per run, p99 makespan in hours) and
    /// feasibility is every job's deadline target.
    #[serde(default)]
    pub jobs_only: bool,
    /// The chosen point's index.
    #[serde(default)]
    pub chosen_point: Option<usize>,
    /// Cheaper points that meet the SLO but break under one of the plan's risks, with that risk.
    #[serde(default)]
    pub ruled_out: Vec<(usize, String)>,
    /// What was chosen, in a few words ("3 × g5.xlarge in us-east").
    #[serde(default)]
    pub configuration: String,
    /// Why each "breaks" in the robustness table breaks (shown on demand).
    #[serde(default)]
    pub risk_details: Vec<String>,
    /// With model variants: per set of variants, the cheapest point meeting the SLO with them
    /// (header, then rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality_tradeoff: Vec<Vec<String>>,
    /// A fleet plan's choice: endpoint × instance type × replicas × USD/h (header, then rows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleet: Vec<Vec<String>>,
    /// Each endpoint alone on each instance type: the replicas it needs and their cost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleet_sizing: Vec<Vec<String>>,
}

/// What a run report shows.
pub struct RunReport<'a> {
    pub data: &'a ReportData,
    pub timeseries: &'a [TimeseriesRow],
    /// Per region (and "all"): `(latency ms, fraction of requests at or below)`.
    pub latency_cdf: &'a [(String, Vec<(f64, f64)>)],
    /// LLM deployments' TTFT and TPOT CDFs (empty without LLM engines).
    pub token_cdf: &'a [sim::summary::TokenCdf],
    /// Per job: the first replication's timeline.
    pub job_series: &'a [(String, Vec<sim::job::JobSeriesRow>)],
}

/// What was chosen and why, in one true sentence: the cheapest that meets the target, or, when
/// cheaper ones were ruled out by the plan's risks, the cheapest that also holds under them.
fn choice_sentence(plan: &PlanSection) -> String {
    let target = if plan.jobs_only { "meet every job's deadline target" } else { "meet the SLO" };
    let chosen = match (plan.chosen_point, plan.configuration.is_empty()) {
        (Some(point), false) => format!("point {point} ({})", plan.configuration),
        (Some(point), true) => format!("point {point}"),
        (None, _) => "the chosen configuration".to_string(),
    };
    let why = match plan.ruled_out.len() {
        0 if plan.risks.starts_with("none") || plan.jobs_only => "the cheapest that does".to_string(),
        0 => "the cheapest that does, and it holds under every risk of the plan".to_string(),
        n => {
            let (them, break_) = if n == 1 { ("it", "breaks") } else { ("them", "break") };
            format!(
                "the cheapest that also holds under every risk of the plan: the {n} cheaper one{} that meet{} the SLO \
                 {break_} under a risk (marked ruled out below, with the risk that rules {them} out)",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            )
        }
    };
    format!("{} configurations simulated; {} {target}. Chosen: {chosen}, {why}.", plan.points, plan.feasible)
}

fn plan_section(out: &mut String, plan: &PlanSection) {
    let _ = write!(
        out,
        "<h2>How this configuration was chosen</h2><p class=choice>{}</p><div class=grid><div>",
        escape(&choice_sentence(plan))
    );
    let dots: Vec<charts::Dot> = plan
        .dots
        .iter()
        .map(|(x, y, kind)| charts::Dot {
            x: *x,
            y: *y,
            kind: match kind.as_str() {
                "chosen" => charts::DotKind::Chosen,
                "frontier" => charts::DotKind::Frontier,
                "feasible" => charts::DotKind::Feasible,
                _ => charts::DotKind::Infeasible,
            },
        })
        .collect();
    if plan.jobs_only {
        out.push_str(&charts::pareto_on(
            "Cost per run against p99 makespan, every configuration tried",
            "cost (USD per run)",
            "p99 makespan (hours)",
            &dots,
        ));
    } else {
        out.push_str(&charts::pareto("Cost against p99 latency, every configuration tried", &dots));
    }
    out.push_str("<p class=note>Configurations far slower than the feasible ones are drawn at the top edge.</p>");
    out.push_str("</div><div><h3>Chosen against the scenario as written</h3><table><tr><th class=text>parameter</th><th class=text>scenario</th><th class=text>chosen</th></tr>");
    for (parameter, original, chosen) in &plan.changes {
        let _ = write!(
            out,
            "<tr><td class=text>{}</td><td class=text>{}</td><td class=text>{}</td></tr>",
            escape(parameter),
            escape(original),
            escape(chosen)
        );
    }
    out.push_str("</table>");
    if !plan.fleet.is_empty() {
        text_table(out, "The fleet", &plan.fleet);
    }
    text_table(
        out,
        if plan.fleet.is_empty() { "Best alternatives" } else { "Fleets run together" },
        &plan.alternatives,
    );
    if !plan.fleet_sizing.is_empty() {
        text_table(out, "Each endpoint alone on each instance type", &plan.fleet_sizing);
    }
    if !plan.quality_tradeoff.is_empty() {
        text_table(
            out,
            "Quality against cost: the cheapest configuration meeting the SLO with each set of model variants",
            &plan.quality_tradeoff,
        );
    }
    out.push_str("</div></div>");
    if !plan.robustness.is_empty() {
        let _ = write!(
            out,
            "<h3>What the choice survives</h3><p>Risks the choice had to hold under: {}.</p>",
            escape(&plan.risks)
        );
        text_table(out, "", &plan.robustness);
        if !plan.risk_details.is_empty() {
            out.push_str("<details><summary>Why each “breaks” breaks</summary><ul>");
            for line in &plan.risk_details {
                let _ = write!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul></details>");
        }
    }
}

/// A table of text cells: the first row is the header.
fn text_table(out: &mut String, title: &str, table: &[Vec<String>]) {
    let Some((header, rows)) = table.split_first() else {
        return;
    };
    if !title.is_empty() {
        let _ = write!(out, "<h3>{}</h3>", escape(title));
    }
    out.push_str("<table><tr>");
    for cell in header {
        let _ = write!(out, "<th class=text>{}</th>", escape(cell));
    }
    out.push_str("</tr>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td class=text>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1400px;\
color:#222;padding:0 1rem}h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;\
border-bottom:1px solid #ddd;padding-bottom:.3rem}.verdict{font-size:1.1rem;padding:.8rem 1rem;border-radius:6px;\
margin:1rem 0}.met{background:#e6f4ea;border:1px solid #34a853}.missed{background:#fce8e6;border:1px solid #d93025}\
.neutral{background:#f1f3f4;border:1px solid #bbb}table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}\
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}th{background:#f5f5f5}td.text,th.text{text-align:left}\
.grid{display:flex;flex-wrap:wrap;gap:1rem}.grid>div{flex:1 1 640px}.note{color:#555;font-size:.85rem}";

/// A row of the regions or endpoints table: name, instance, the cells, then `last` in words.
fn region_row(out: &mut String, row: &table::Row, last: &str) {
    let _ = write!(
        out,
        "<tr><td class=text>{}</td><td class=text>{}</td>",
        escape(&row.name),
        escape(row.instance.unwrap_or("–"))
    );
    for cell in row.cells() {
        let _ = write!(out, "<td>{}</td>", escape(&cell));
    }
    let _ = write!(out, "<td class=text>{}</td></tr>", escape(last));
}

/// With named endpoints: each endpoint's row and its own SLO's verdict.
fn endpoints_table(out: &mut String, summary: &Summary) {
    let rows = table::endpoint_rows(summary);
    if rows.is_empty() {
        return;
    }
    out.push_str("<h2>Endpoints</h2><table><tr><th class=text>endpoint</th><th class=text>instance</th>");
    for title in table::HEADERS {
        let _ = write!(out, "<th>{title}</th>");
    }
    out.push_str("<th class=text>SLO</th></tr>");
    for (row, slo) in &rows {
        region_row(out, row, &slo.map_or(String::new(), table::slo_words));
    }
    out.push_str(
        "</table><p class=note>Each endpoint on its own; the regions table above adds every endpoint together.</p>",
    );
    for line in table::sharing_lines(summary) {
        let _ = write!(out, "<p>{}</p>", escape(&line));
    }
}

fn verdict(summary: &Summary) -> (String, &'static str) {
    let o = &summary.overall;
    let regions = summary.regions.values().filter(|r| r.stats.replicas > 0).count();
    let mut text = format!(
        "{} replicas in {} region{} served {:.0} requests/s at p99 {} ms for {:.2} USD/hour",
        o.replicas,
        regions,
        if regions == 1 { "" } else { "s" },
        o.throughput.completed_rps,
        ms(o.latency_ms.p99),
        o.cost.usd_per_hour
    );
    if let Some(per_million) = o.cost.usd_per_million_requests {
        let _ = write!(text, " ({per_million:.3} USD per million requests)");
    }
    let class = match &summary.slo {
        Some(slo) if slo.met => {
            text.insert_str(0, "<b>SLO met.</b> ");
            "met"
        }
        Some(_) => {
            text.insert_str(0, "<b>SLO NOT met.</b> ");
            "missed"
        }
        None => "neutral",
    };
    if let Some(reason) = summary.saturation_reason() {
        text.push_str(&format!(". <b>Saturated:</b> {}", escape(&reason)));
    }
    (text + ".", class)
}

/// Seconds, minutes or hours, whichever keeps the time axis readable.
fn time_unit(span_s: f64) -> (f64, &'static str) {
    if span_s > 3.0 * 3600.0 {
        (3600.0, "time (h)")
    } else if span_s > 3.0 * 60.0 {
        (60.0, "time (min)")
    } else {
        (1.0, "time (s)")
    }
}

fn timeseries_charts(rows: &[TimeseriesRow], warmup_s: f64, alerts: &[(f64, f64)]) -> Vec<String> {
    let all: Vec<&TimeseriesRow> = rows.iter().filter(|r| r.region == "all").collect();
    let span = rows.iter().map(|r| r.end_s).fold(0.0, f64::max);
    let (unit, axis) = time_unit(span);
    let mid = |r: &TimeseriesRow| (r.start_s + r.end_s) / 2.0 / unit;
    let shade = if warmup_s > 0.0 { vec![(0.0, warmup_s / unit)] } else { vec![] };
    let alerts: Vec<(f64, f64)> = alerts.iter().map(|&(a, b)| (a / unit, b / unit)).collect();
    let throughput = [
        Series { name: "offered".into(), points: all.iter().map(|r| (mid(r), r.offered_rps)).collect() },
        Series { name: "completed".into(), points: all.iter().map(|r| (mid(r), r.completed_rps)).collect() },
    ];
    let mut regions: Vec<&str> = rows.iter().map(|r| r.region.as_str()).filter(|r| *r != "all").collect();
    regions.sort_unstable();
    regions.dedup();
    let p99: Vec<Series> = regions
        .iter()
        .map(|region| Series {
            name: (*region).to_string(),
            points: rows.iter().filter(|r| r.region == *region).filter_map(|r| r.p99_ms.map(|p| (mid(r), p))).collect(),
        })
        .collect();
    let end = |r: &TimeseriesRow| r.end_s / unit;
    let load = [
        Series { name: "queued requests".into(), points: all.iter().map(|r| (end(r), r.queue_depth as f64)).collect() },
        Series { name: "busy replicas".into(), points: all.iter().map(|r| (end(r), r.busy_replicas as f64)).collect() },
        Series {
            name: "ready replicas".into(),
            points: all.iter().map(|r| (end(r), r.ready_replicas as f64)).collect(),
        },
    ];
    let mut out = vec![
        charts::lines("Offered and completed load (all regions)", axis, "requests/s", &throughput, &shade, true),
        charts::lines_marked("p99 latency per region, per interval", axis, "ms", &p99, &shade, &alerts, true),
        charts::lines("Queue depth and replicas at interval ends (all regions)", axis, "count", &load, &shade, true),
    ];
    // Autoscaling and faults: only when replicas ever differ from the configured count.
    let moving = all.iter().any(|r| {
        r.desired_replicas != r.ready_replicas || r.starting_replicas + r.draining_replicas + r.down_replicas > 0
    });
    if moving {
        let count = |name: &str, f: fn(&TimeseriesRow) -> u64| Series {
            name: name.into(),
            points: all.iter().map(|r| (end(r), f(r) as f64)).collect(),
        };
        let replicas = [
            count("desired", |r| r.desired_replicas),
            count("starting", |r| r.starting_replicas),
            count("ready", |r| r.ready_replicas),
            count("draining", |r| r.draining_replicas),
            count("down", |r| r.down_replicas),
        ];
        out.push(charts::lines("Replicas by state (all regions)", axis, "replicas", &replicas, &shade, true));
    }
    if all.iter().any(|r| r.output_tokens_per_s.is_some()) {
        let series = |name: &str, f: fn(&TimeseriesRow) -> Option<f64>| Series {
            name: name.into(),
            points: all.iter().filter_map(|r| f(r).map(|v| (mid(r), v))).collect(),
        };
        let tokens = [series("TTFT p99 (ms)", |r| r.ttft_p99_ms), series("TPOT p99 (ms)", |r| r.tpot_p99_ms)];
        out.push(charts::lines(
            "LLM: time to first token and per output token, p99 per interval",
            axis,
            "ms",
            &tokens,
            &shade,
            true,
        ));
        let usage = [series("KV cache in use (%)", |r| r.kv_usage.map(|u| 100.0 * u))];
        out.push(charts::lines(
            "LLM: KV cache in use at interval ends (mean over ready replicas)",
            axis,
            "%",
            &usage,
            &shade,
            true,
        ));
        let rate = [series("output tokens/s", |r| r.output_tokens_per_s)];
        out.push(charts::lines("LLM: output tokens per second", axis, "tokens/s", &rate, &shade, true));
    }
    let troubled = all.iter().any(|r| r.failed + r.degraded + r.retries + r.failover > 0);
    if troubled {
        let rate = |name: &str, f: fn(&TimeseriesRow) -> u64| Series {
            name: name.into(),
            points: all.iter().map(|r| (mid(r), f(r) as f64 / (r.end_s - r.start_s))).collect(),
        };
        let errors = [
            rate("failed", |r| r.failed),
            rate("degraded (fallback)", |r| r.degraded),
            rate("retries", |r| r.retries),
            rate("failed over", |r| r.failover),
        ];
        out.push(charts::lines_marked(
            "Failures, fallbacks, retries and failover",
            axis,
            "requests/s",
            &errors,
            &shade,
            &alerts,
            true,
        ));
    }
    if rows.iter().any(|r| r.breaker.is_some_and(|b| b > 0)) {
        let states: Vec<Series> = regions
            .iter()
            .filter(|region| rows.iter().any(|r| r.region == **region && r.breaker.is_some()))
            .map(|region| Series {
                name: (*region).to_string(),
                points: rows
                    .iter()
                    .filter(|r| r.region == *region)
                    .filter_map(|r| r.breaker.map(|b| (end(r), f64::from(b))))
                    .collect(),
            })
            .collect();
        out.push(charts::lines(
            "Circuit breaker at interval ends (0 closed, 1 half-open, 2 open)",
            axis,
            "state",
            &states,
            &shade,
            true,
        ));
    }
    out
}

/// Where the latency goes: per region, the mean time in each stage stacked, and the slowest 1%'s
/// time by stage as shares.
fn breakdown_section(out: &mut String, summary: &sim::summary::Summary) {
    let regions: Vec<(&String, &sim::breakdown::BreakdownStats)> =
        summary.regions.iter().filter_map(|(name, r)| r.stats.breakdown.as_ref().map(|b| (name, b))).collect();
    if regions.is_empty() {
        return;
    }
    let mut stages: Vec<&str> = Vec::new();
    for name in sim::breakdown::STAGE_NAMES {
        if regions.iter().any(|(_, b)| b.stages.iter().any(|s| s.stage == name)) {
            stages.push(name);
        }
    }
    let categories: Vec<String> = regions.iter().map(|(name, _)| (*name).clone()).collect();
    let mean_layers: Vec<(String, Vec<f64>)> = stages
        .iter()
        .map(|&stage| {
            let values = regions
                .iter()
                .map(|(_, b)| b.stages.iter().find(|s| s.stage == stage).map_or(0.0, |s| s.mean_ms))
                .collect();
            (stage.replace('_', " "), values)
        })
        .collect();
    let tail_layers: Vec<(String, Vec<f64>)> = stages
        .iter()
        .map(|&stage| {
            let values = regions
                .iter()
                .map(|(_, b)| {
                    b.slowest
                        .as_ref()
                        .and_then(|t| t.shares.iter().find(|s| s.stage == stage))
                        .map_or(0.0, |s| 100.0 * s.share)
                })
                .collect();
            (stage.replace('_', " "), values)
        })
        .collect();
    out.push_str(
        "<h2>Where the time goes</h2><p class=note>Every answered request's latency split into stages (they add up \
         to it exactly); summary.json's breakdown has each stage's mean, p50 and p99 per region.</p><div class=grid>",
    );
    let _ = write!(
        out,
        "<div>{}</div><div>{}</div></div>",
        charts::stacked_bars("Mean latency by stage, per region", "ms", &categories, &mean_layers),
        charts::stacked_bars("The slowest 1%: share of their time by stage", "%", &categories, &tail_layers)
    );
    for line in table::breakdown_lines(summary) {
        let _ = write!(out, "<p>{}</p>", escape(&line));
    }
}

/// The SLO's burn-rate alerts as the run would have fired them: when, how long after each fault,
/// and firings no fault explains.
fn alerts_table(out: &mut String, summary: &sim::summary::Summary) {
    let Some(monitoring) = &summary.monitoring else { return };
    let _ = write!(
        out,
        "<h2>Alerts</h2><p class=note>The SLO's burn-rate alerts (deploy/monitoring/slo-rules.yaml in a plan), evaluated \
         on the simulated clients' counters as Prometheus would: scraped every {} s, evaluated every {} s. Red bands \
         on the charts below: an alert firing.</p><table><tr><th class=text>alert</th><th>windows</th><th>burn rate</th>\
         <th>fired (s)</th><th>detected after (s)</th><th>no fault</th></tr>",
        monitoring.scrape_interval_s, monitoring.evaluation_interval_s
    );
    for alert in &monitoring.alerts {
        let fired: Vec<String> = alert.firing.iter().map(|f| format!("{:.0}–{:.0}", f.start_s, f.end_s)).collect();
        let detected: Vec<String> = alert
            .detections
            .iter()
            .map(|d| d.detected_after_s.map_or("missed".into(), |s| format!("{s:.0}")))
            .collect();
        let _ = write!(
            out,
            "<tr><td class=text>{}</td><td>{:.0} s / {:.0} s</td><td>{}×</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&alert.rule.alert),
            alert.rule.long_window_s,
            alert.rule.short_window_s,
            alert.rule.burn_rate,
            if fired.is_empty() { "–".into() } else { fired.join(", ") },
            if detected.is_empty() { "no fault".into() } else { detected.join(", ") },
            alert.unexplained
        );
    }
    out.push_str("</table>");
    for line in &monitoring.not_alerted {
        let _ = write!(out, "<p class=note>Not alerted: {}</p>", escape(line));
    }
}

/// Failures, fallbacks, retries, replica counts and breaker openings, per deployment.
fn resilience_table(out: &mut String, summary: &sim::summary::Summary) {
    let sections: Vec<(&String, &sim::summary::Section)> = summary
        .regions
        .iter()
        .map(|(name, r)| (name, &r.stats))
        .chain(summary.deployments.iter().map(|(name, d)| (name, &d.stats)))
        .filter(|(_, s)| s.replicas > 0 || s.requests.offered > 0)
        .collect();
    let shown = sections.iter().any(|(_, s)| {
        s.requests.failed + s.requests.degraded + s.requests.retries + s.requests.failover > 0
            || s.replicas_peak != s.replicas
            || s.breaker.is_some()
    });
    if !shown && summary.deployments.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Resilience and scaling</h2><table><tr><th class=text>deployment</th><th>failed</th><th>degraded</th>\
         <th>retries</th><th>failed over in</th><th>replicas (start / mean / peak)</th><th>replica-hours starting</th>\
         <th>replica-hours ready</th><th>breaker openings</th><th>USD/h</th></tr>",
    );
    for (name, s) in sections {
        let h = &s.replica_hours;
        let _ = write!(
            out,
            "<tr><td class=text>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {:.1} / {}</td><td>{:.2}</td>\
             <td>{:.2}</td><td>{}</td><td>{:.2}</td></tr>",
            escape(name),
            s.requests.failed,
            s.requests.degraded,
            s.requests.retries,
            s.requests.failover,
            s.replicas,
            s.replicas_mean,
            s.replicas_peak,
            h.provisioning + h.image_pull + h.model_load,
            h.ready,
            s.breaker.as_ref().map_or("-".into(), |b| b.opened.to_string()),
            s.cost.usd_per_hour
        );
    }
    out.push_str(
        "</table><p class=note>Deployments named REGION#variant take an A/B share of the traffic; REGION#shadow \
         receive a mirror their clients never see. Availability counts degraded (fallback) answers as answered.</p>",
    );
}

/// The whole report.
pub fn render_run(report: &RunReport) -> String {
    let summary = &report.data.summary;
    let mut out = String::with_capacity(256 * 1024);
    let title = format!("servesim report: {}", escape(&summary.scenario));
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>{title}</title><style>{STYLE}</style></head><body><h1>{title}</h1>"
    );
    match (&report.data.plan, report.data.description.is_empty()) {
        // A plan's page describes what it chose; the scenario's own words describe what was written.
        (Some(plan), empty) => {
            if !plan.configuration.is_empty() {
                let _ = write!(out, "<p class=planned><b>Plan:</b> {}</p>", escape(&plan.configuration));
            }
            if !empty {
                let _ = write!(out, "<p class=note>The scenario as written: {}</p>", escape(&report.data.description));
            }
        }
        (None, false) => {
            let _ = write!(out, "<p>{}</p>", escape(&report.data.description));
        }
        (None, true) => {}
    }
    let jobs_only = summary.regions.is_empty() && !summary.jobs.is_empty();
    let (text, class) = if jobs_only {
        match crate::jobs::verdict(&summary.jobs) {
            (text, Some(true)) => (format!("<b>Deadline met.</b> {text}"), "met"),
            (text, Some(false)) => (format!("<b>Deadline NOT met.</b> {text}"), "missed"),
            (text, None) => (text, "neutral"),
        }
    } else {
        verdict(summary)
    };
    let _ = write!(out, "<div class=\"verdict {class}\">{text}</div>");
    if let Some(plan) = &report.data.plan {
        plan_section(&mut out, plan);
    }
    crate::jobs::section(&mut out, &summary.jobs, report.job_series);
    if jobs_only {
        provenance_table(&mut out, &report.data.provenance);
        out.push_str("<p class=note>Data behind every chart: summary.json, jobs_timeseries.csv.</p></body></html>\n");
        return out;
    }
    if let Some(uncertainty) = &report.data.uncertainty {
        let _ = write!(out, "<h2>How far these numbers may be off</h2><p>{}</p>", escape(&uncertainty.headline));
        text_table(&mut out, "", &uncertainty.rows);
    }

    if let Some(slo) = &summary.slo {
        out.push_str("<h2>SLO attainment</h2><table><tr><th class=text>target</th><th>observed</th><th>within target</th><th class=text>result</th></tr>");
        for t in &slo.latency {
            let _ = write!(
                out,
                "<tr><td class=text>p{} ≤ {} ms</td><td>{} ms</td><td>{:.3}%</td><td class=text>{}</td></tr>",
                t.percentile,
                t.target_ms,
                ms(t.observed_ms),
                100.0 * t.within_target,
                if t.met { "met" } else { "<b>missed</b>" }
            );
        }
        if let Some(a) = &slo.availability {
            let _ = write!(
                out,
                "<tr><td class=text>availability ≥ {}</td><td>{:.5}</td><td></td><td class=text>{}</td></tr>",
                a.target,
                a.observed,
                if a.met { "met" } else { "<b>missed</b>" }
            );
        }
        out.push_str("</table>");
    }

    out.push_str("<h2>Regions</h2><table><tr><th class=text>region</th><th class=text>instance</th>");
    for title in table::HEADERS {
        let _ = write!(out, "<th>{title}</th>");
    }
    out.push_str("<th class=text></th></tr>");
    for row in table::rows(summary) {
        region_row(&mut out, &row, if row.section.saturated { "saturated" } else { "" });
    }
    out.push_str("</table>");
    endpoints_table(&mut out, summary);
    for line in table::llm_lines(summary) {
        let _ = write!(out, "<p>{}</p>", escape(&line));
    }
    resilience_table(&mut out, summary);
    alerts_table(&mut out, summary);

    out.push_str("<h2>Latency</h2><div class=grid>");
    let cdf: Vec<Series> = report
        .latency_cdf
        .iter()
        .map(|(name, points)| Series {
            name: name.clone(),
            points: points.iter().map(|&(ms, q)| (ms, 100.0 * q)).collect(),
        })
        .collect();
    let _ = write!(
        out,
        "<div>{}</div>",
        charts::lines("Latency CDF (client-observed)", "latency (ms)", "% of requests at or below", &cdf, &[], true)
    );
    for (metric, title) in [("ttft", "Time to first token CDF"), ("tpot", "Time per output token CDF")] {
        let series: Vec<Series> = report
            .token_cdf
            .iter()
            .filter(|cdf| cdf.metric == metric)
            .map(|cdf| Series {
                name: cdf.deployment.clone(),
                points: cdf.points.iter().map(|&(ms, q)| (ms, 100.0 * q)).collect(),
            })
            .collect();
        if !series.is_empty() {
            let axis = if metric == "ttft" { "TTFT (ms)" } else { "TPOT (ms)" };
            let _ = write!(
                out,
                "<div>{}</div>",
                charts::lines(title, axis, "% of completions at or below", &series, &[], true)
            );
        }
    }
    let batches: Vec<(String, f64)> =
        summary.overall.batch_size.histogram.iter().map(|&(size, n)| (size.to_string(), n as f64)).collect();
    let _ = write!(out, "<div>{}</div></div>", charts::bars("Batch sizes", "batches", &batches));

    breakdown_section(&mut out, summary);

    out.push_str(
        "<h2>Over time</h2><p class=note>The grey band is the warm-up, left out of the statistics.</p><div class=grid>",
    );
    let firing: Vec<(f64, f64)> = summary
        .monitoring
        .iter()
        .flat_map(|m| &m.alerts)
        .flat_map(|a| a.firing.iter().map(|f| (f.start_s, f.end_s)))
        .collect();
    for chart in timeseries_charts(report.timeseries, summary.warmup_s, &firing) {
        let _ = write!(out, "<div>{chart}</div>");
    }
    out.push_str("</div>");

    out.push_str("<h2>Cost</h2><div class=grid>");
    let costs: Vec<(String, f64)> = summary
        .regions
        .iter()
        .filter(|(_, r)| r.stats.replicas > 0)
        .map(|(name, r)| (name.clone(), r.stats.cost.usd_per_hour))
        .collect();
    let _ = write!(out, "<div>{}</div></div>", charts::bars("Cost per region (USD per hour)", "USD/h", &costs));

    provenance_table(&mut out, &report.data.provenance);
    out.push_str("<p class=note>Data behind every chart: summary.json, timeseries.csv, latency_cdf.csv, token_cdf.csv for LLM engines (and, for a plan, sweep/pareto.csv).</p></body></html>\n");
    out
}

fn provenance_table(out: &mut String, provenance: &[(String, String)]) {
    out.push_str("<h2>Where the numbers come from</h2><table>");
    for (label, value) in provenance {
        let _ = write!(out, "<tr><th class=text>{}</th><td class=text>{}</td></tr>", escape(label), escape(value));
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
