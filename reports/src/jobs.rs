//! The report's batch-job section: the verdict on the deadline, a results table, and the timeline
//! charts (records written, tasks running, failed and preempted, workers up).

use crate::charts::{self, Series};
use crate::html::escape;
use sim::job::{JobSeriesRow, JobSummary};
use std::fmt::Write;

fn hours(seconds: f64) -> String {
    format!("{:.2} h", seconds / 3600.0)
}

/// One sentence per job for the verdict box, and whether every deadline target is met.
pub fn verdict(jobs: &[JobSummary]) -> (String, Option<bool>) {
    let mut text = String::new();
    let mut all_met = None;
    for job in jobs {
        let finish = job.finish_clock_p99.as_deref().unwrap_or("never");
        let _ = write!(
            text,
            "Job {} finishes by {finish} in 99% of nights for {:.2} USD per run",
            escape(&job.name),
            job.cost.usd_per_run
        );
        if let Some(d) = &job.deadline {
            let _ = write!(
                text,
                "; deadline {} met with P = {:.3} (95% CI {:.3}–{:.3}) against a target of {}",
                escape(&d.at),
                d.probability,
                d.interval_95[0],
                d.interval_95[1],
                d.target_probability
            );
            all_met = Some(all_met.unwrap_or(true) && d.meets_target);
        }
        text.push_str(". ");
    }
    (text.trim_end().to_string(), all_met)
}

/// The section: a table per job and its timeline charts (first replication).
pub fn section(out: &mut String, jobs: &[JobSummary], series: &[(String, Vec<JobSeriesRow>)]) {
    if jobs.is_empty() {
        return;
    }
    out.push_str("<h2>Batch jobs</h2><table><tr><th class=text>job</th><th>start</th><th>makespan p50</th><th>p99</th><th>P(deadline)</th><th>95% CI</th><th>USD/run</th><th>all on-demand</th><th>unwritten, worst night</th><th>duplicates/run</th><th>failed attempts/run</th><th>preemptions/run</th><th class=text>bottleneck</th></tr>");
    for job in jobs {
        let (p50, p99) = job.makespan_s.as_ref().map_or(("-".into(), "-".into()), |m| (hours(m.p50), hours(m.p99)));
        let (p, ci) = job.deadline.as_ref().map_or(("-".into(), "-".into()), |d| {
            (format!("{:.3}", d.probability), format!("{:.3}–{:.3}", d.interval_95[0], d.interval_95[1]))
        });
        let _ = write!(
            out,
            "<tr><td class=text>{}</td><td>{}</td><td>{p50}</td><td>{p99}</td><td>{p}</td><td>{ci}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.2}</td><td class=text>{}</td></tr>",
            escape(&job.name),
            escape(&job.start),
            job.cost.usd_per_run,
            job.cost.usd_per_run_all_on_demand,
            job.records.unwritten_max,
            job.records.duplicates_discarded,
            job.attempts.failed,
            job.attempts.preemptions,
            escape(&job.bottleneck)
        );
    }
    out.push_str("</table>");
    if jobs.iter().any(|j| j.shared.is_some()) {
        out.push_str("<h3>On the online replicas' idle time</h3><table><tr><th class=text>job</th><th class=text>region</th><th>starts (s)</th><th>makespan</th><th>records scored</th><th>instance-hours</th><th>online p99 without (ms)</th><th>with (ms)</th><th class=text>SLO without → with</th><th>saves USD/run</th></tr>");
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let met = |v: Option<bool>| v.map_or("-", |m| if m { "met" } else { "missed" });
        for job in jobs {
            let Some(s) = &job.shared else { continue };
            let _ = write!(
                out,
                "<tr><td class=text>{}</td><td class=text>{}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td class=text>{} → {}</td><td>{:.2}</td></tr>",
                escape(&job.name),
                escape(&s.region),
                s.started_s,
                s.makespan_s.map_or("unfinished".to_string(), |m| format!("{m:.1} s")),
                s.records_scored,
                s.instance_hours,
                ms(s.online_p99_ms_without),
                ms(s.online_p99_ms_with),
                met(s.slo_met_without),
                met(s.slo_met_with),
                s.saves_usd_per_run
            );
        }
        out.push_str("</table><p class=note>The job's batches run on idle model instances between online batches (online first, never preempted once started); \
                      its feature reads and sink writes are taken to run off the replicas. From the first online run, against the same run without the job.</p>");
    }
    out.push_str("<p class=note>Makespan and P(deadline) over the simulated nights; the timeline shows the first night. \
                  Records are written with idempotent upserts: rewrites after lost attempts or by speculative copies are discarded and counted.</p><div class=grid>");
    for (name, rows) in series {
        let deadline =
            jobs.iter().find(|j| &j.name == name).and_then(|j| j.deadline.as_ref()).map(|d| d.after_start_s / 3600.0);
        let at = |f: &dyn Fn(&JobSeriesRow) -> f64| rows.iter().map(|r| (r.time_s / 3600.0, f(r))).collect::<Vec<_>>();
        let mut written = vec![Series { name: "records written".into(), points: at(&|r| r.records_written as f64) }];
        // The deadline as a vertical line, so the axis reaches it however early the run ends.
        if let (Some(d), Some(last)) = (deadline, rows.last()) {
            written.push(Series { name: "deadline".into(), points: vec![(d, 0.0), (d, last.records_written as f64)] });
        }
        let shade: Vec<(f64, f64)> = deadline
            .and_then(|d| rows.last().map(|r| (d, r.time_s / 3600.0)))
            .filter(|(d, end)| end > d)
            .into_iter()
            .collect();
        let _ = write!(
            out,
            "<div>{}</div>",
            charts::lines(
                &format!("{name}: records written, and the deadline"),
                "hours after the start",
                "records",
                &written,
                &shade,
                true
            )
        );
        let tasks = [
            Series { name: "tasks running".into(), points: at(&|r| f64::from(r.tasks_running)) },
            Series { name: "workers up".into(), points: at(&|r| f64::from(r.workers_up)) },
            Series { name: "failed attempts (cumulative)".into(), points: at(&|r| r.failed_attempts as f64) },
            Series { name: "preemptions (cumulative)".into(), points: at(&|r| r.preemptions as f64) },
        ];
        let _ = write!(
            out,
            "<div>{}</div>",
            charts::lines(&format!("{name}: tasks and workers"), "hours after the start", "count", &tasks, &[], true)
        );
        let rate = [Series { name: "records/s".into(), points: at(&|r| r.records_per_s) }];
        let _ = write!(
            out,
            "<div>{}</div>",
            charts::lines(
                &format!("{name}: throughput"),
                "hours after the start",
                "records per second",
                &rate,
                &[],
                true
            )
        );
    }
    out.push_str("</div>");
}
