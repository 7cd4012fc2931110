//! Finished results into files: `sweep.csv`, `pareto.csv` and `best.toml` from a complete set of
//! point results (one sweep's, or several shards' joined by `servesim merge`).

use super::journal::{read_journal, JournalHeader, JOURNAL};
use super::MergeArgs;
use crate::error::CliError;
use crate::output::write_atomic;
use planner::report::TableText;
use planner::resolved_values;
use planner::{judge, PointResult};
use sim::scenario::Sweep;
use std::path::{Path, PathBuf};

fn csv_bytes(table: &TableText) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&table.header).expect("writing to memory");
    for row in &table.rows {
        writer
            .write_record(row.iter().map(|cell| crate::output::csv_text(cell).into_owned()))
            .expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// What a finished sweep found.
pub(crate) struct Outcome {
    pub results: Vec<PointResult>,
    pub judged: Vec<planner::Judged>,
    /// The best point's index.
    pub best: Option<usize>,
    /// `best.toml` as written (file references absolute).
    pub best_text: Option<String>,
    /// The scenario document the points applied to (and its folder), and the sweep as run.
    pub base: toml::Table,
    pub base_dir: PathBuf,
    pub spec: Sweep,
}

/// Makes every path a scenario document carries absolute — `file` references (traces, rate series,
/// tables) and `device` values that name a measured profile — resolving relative ones from
/// `base_dir`, the scenario's folder, so the document runs from wherever it is written.
pub(crate) fn absolute_paths(document: &mut toml::Table, base_dir: &Path) {
    fn visit(value: &mut toml::Value, base_dir: &Path) {
        match value {
            toml::Value::Table(table) => {
                for (key, child) in table.iter_mut() {
                    match child {
                        toml::Value::String(path) if is_path(key, path) && Path::new(path.as_str()).is_relative() => {
                            let joined = base_dir.join(path.as_str());
                            *path = std::fs::canonicalize(&joined).unwrap_or(joined).to_string_lossy().into_owned();
                        }
                        _ => visit(child, base_dir),
                    }
                }
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|item| visit(item, base_dir)),
            _ => {}
        }
    }
    fn is_path(key: &str, value: &str) -> bool {
        key == "file" || (key == "device" && crate::latency::is_profile(value))
    }
    let mut root = toml::Value::Table(std::mem::take(document));
    visit(&mut root, base_dir);
    if let toml::Value::Table(table) = root {
        *document = table;
    }
}

/// A point's scenario as `best.toml` holds it: the base document with the point's values, file
/// and profile paths absolute, under a header of what was chosen and why.
pub(crate) fn point_text(
    base: &toml::Table,
    base_dir: &Path,
    spec: &Sweep,
    result: &PointResult,
    judged: &planner::Judged,
    points: usize,
) -> Result<String, CliError> {
    let mut document = base.clone();
    for (path, value) in &resolved_values(result, spec) {
        planner::apply::set(&mut document, path, value).map_err(|e| CliError::input(e.to_string()))?;
    }
    absolute_paths(&mut document, base_dir);
    Ok(planner::report::best_document(document, result, judged, points))
}

/// Writes sweep.csv, pareto.csv and best.toml for a complete set of results, and prints the top.
pub(super) fn finish(
    out: &Path,
    base: &toml::Table,
    base_dir: &Path,
    spec: &Sweep,
    mut results: Vec<PointResult>,
    quiet: bool,
) -> Result<Outcome, CliError> {
    results.sort_by_key(|r| r.index);
    results.dedup_by_key(|r| r.index);
    let judged = judge(&results, spec.strategy, spec.objective, spec.slo_confidence);
    write_atomic(out, "sweep.csv", &csv_bytes(&planner::report::sweep_table(&results, &judged)))?;
    write_atomic(out, "pareto.csv", &csv_bytes(&planner::report::pareto_table(&results, &judged)))?;
    let mut best_document = None;
    match planner::frontier::best(&judged) {
        Some(best) => {
            let position = results.iter().position(|r| r.index == best.index).expect("judged points come from results");
            let text = point_text(base, base_dir, spec, &results[position], best, results.len())?;
            write_atomic(out, "best.toml", text.as_bytes())?;
            best_document = Some((best.index, text));
        }
        None => {
            let _ = std::fs::remove_file(out.join("best.toml"));
        }
    }
    if !quiet {
        print_top(&results, &judged);
        match best_document {
            Some(_) => println!("wrote {}/{{sweep.csv,pareto.csv,best.toml}}", out.display()),
            None => println!("no configuration meets the SLO; wrote {}/{{sweep.csv,pareto.csv}}", out.display()),
        }
    }
    let (best, best_text) = best_document.unzip();
    Ok(Outcome {
        results,
        judged,
        best,
        best_text,
        base: base.clone(),
        base_dir: base_dir.to_path_buf(),
        spec: spec.clone(),
    })
}

fn print_top(results: &[PointResult], judged: &[planner::Judged]) {
    let mut ranked: Vec<(&PointResult, &planner::Judged)> =
        results.iter().zip(judged).filter(|(_, j)| j.rank.is_some()).collect();
    ranked.sort_by_key(|(_, j)| j.rank);
    let feasible = ranked.len();
    if ranked.first().is_some_and(|(_, j)| j.jobs_only) {
        println!("{feasible} of {} points meet every job's deadline target; the cheapest per run:", results.len());
        println!(
            "{:>4} {:>6} {:>10} {:>12} {:>14}  parameters",
            "rank", "point", "USD/run", "P(deadline)", "makespan p99"
        );
        for (result, j) in ranked.iter().take(10) {
            let parameters: Vec<String> = result.values.iter().map(|(p, v)| format!("{p}={v}")).collect();
            let [cost, probability, makespan] = j.job_cells();
            println!(
                "{:>4} {:>6} {cost:>10} {probability:>12} {makespan:>14}  {}",
                j.rank.unwrap_or(0),
                result.index,
                parameters.join(" ")
            );
        }
        return;
    }
    println!("{feasible} of {} points meet the SLO; the best:", results.len());
    println!(
        "{:>4} {:>6} {:>10} {:>10} {:>9} {:>12}  parameters",
        "rank", "point", "USD/h", "USD/M req", "p99 ms", "availability"
    );
    for (result, j) in ranked.iter().take(10) {
        let mut parameters: Vec<String> = result.values.iter().map(|(p, v)| format!("{p}={v}")).collect();
        if let Some(replicas) = result.replicas {
            parameters.push(format!("replicas={replicas}"));
        }
        if let Some(rps) = j.capacity_rps {
            parameters.push(format!("capacity={rps:.0}/s"));
        }
        println!(
            "{:>4} {:>6} {:>10.3} {:>10} {:>9} {:>12.5}  {}{}",
            j.rank.unwrap_or(0),
            result.index,
            j.usd_per_hour.unwrap_or(f64::NAN),
            j.usd_per_million.map_or("-".into(), |v| format!("{v:.3}")),
            j.p99_ms.map_or("-".into(), |v| format!("{v:.2}")),
            j.availability.unwrap_or(f64::NAN),
            parameters.join(" "),
            if j.on_frontier { "  (frontier)" } else { "" }
        );
    }
}

/// A point's batch-job cells: USD per run, P(deadline), p99 makespan (every table of a plan of jobs).
pub fn merge(args: &MergeArgs) -> Result<(), CliError> {
    let mut header: Option<JournalHeader> = None;
    let mut seen_shards = std::collections::BTreeSet::new();
    let mut results = Vec::new();
    for dir in &args.shards {
        let path = dir.join(JOURNAL);
        let (this, points) = read_journal(&path)?;
        if let Some(first) = &header {
            if first.servesim_sweep != this.servesim_sweep || first.shard.1 != this.shard.1 {
                return Err(CliError::input(format!(
                    "{}: belongs to a different sweep than the others",
                    path.display()
                )));
            }
        }
        if !seen_shards.insert(this.shard.0) {
            return Err(CliError::input(format!(
                "{}: shard {}/{} given twice",
                path.display(),
                this.shard.0,
                this.shard.1
            )));
        }
        results.extend(points);
        header = Some(this);
    }
    let header = header.expect("clap requires at least one shard");
    let missing: Vec<String> =
        (0..header.shard.1).filter(|i| !seen_shards.contains(i)).map(|i| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(CliError::input(format!("missing shards {} of {}", missing.join(", "), header.shard.1)));
    }
    results.sort_by_key(|r| r.index);
    results.dedup_by_key(|r| r.index);
    if results.len() != header.points {
        return Err(CliError::input(format!(
            "the shards hold {} of the sweep's {} points: rerun the unfinished shards (they resume)",
            results.len(),
            header.points
        )));
    }
    if let Some(error) = super::unmeasured(&results, "the merged sweep") {
        return Err(error);
    }
    let base: toml::Table =
        toml::from_str(&header.base).map_err(|e| CliError::input(format!("journal base scenario: {e}")))?;
    finish(&args.out, &base, &header.base_dir, &header.spec, results, args.quiet)?;
    Ok(())
}
