//! `servesim plan` (sweep → choose → full run → report) and `servesim check` (a CI gate).

use crate::error::CliError;
use crate::sweep::{point_text, run_sweep, SweepArgs};
use crate::{load, output};
use planner::resolved_values;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// Scenario file (TOML) with an [slo] and a [sweep] or a [fleet] section.
    scenario: PathBuf,
    /// Output folder (default: servesim-out/<scenario file name>-plan).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Worker threads for the sweep (default: all cores). Results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=crate::run::MAX_THREADS))]
    pub(crate) threads: Option<u32>,
    /// Price file replacing the bundled catalog.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Container image for the generated Kubernetes manifests (a Triton server image).
    #[arg(long, default_value = "nvcr.io/nvidia/tritonserver:24.08-py3")]
    pub(crate) image: String,
    /// Container image of batch jobs' scorers, whose own entrypoint scores a partition (default: a
    /// Python image running a placeholder that prints its partition's records).
    #[arg(long)]
    pub(crate) job_image: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Scenario file (TOML), typically a plan's best.toml.
    scenario: PathBuf,
    /// Fail when the configuration costs more than this per hour (a price: finite, zero or more).
    #[arg(long, value_parser = price)]
    max_usd_per_hour: Option<f64>,
    /// Fail when a batch job costs more than this per run on average (USD).
    #[arg(long, value_parser = price)]
    max_usd_per_run: Option<f64>,
    /// Seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Price file replacing the bundled catalog.
    #[arg(long)]
    prices: Option<PathBuf>,
}

fn price(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a price in USD per hour (a finite number, zero or more)")),
    }
}

pub(crate) fn display(value: Option<toml::Value>) -> String {
    match value {
        None => "(not set)".into(),
        Some(toml::Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// Per set of model variants the sweep tried: the cheapest point meeting every SLO with them, its
/// cost, p99 and whether the variants reach the minimum quality — the trade-off made explicit.
/// Header first; sets are ordered by their lowest quality, best first.
fn quality_tradeoff(outcome: &crate::sweep::Outcome, chosen: usize) -> Vec<Vec<String>> {
    let mut best: std::collections::BTreeMap<String, &planner::Judged> = std::collections::BTreeMap::new();
    for judged in outcome.judged.iter().filter(|j| !j.quality.is_empty()) {
        let key = planner::QualityMetrics::words(&judged.quality);
        let cheaper = |held: &&planner::Judged| {
            judged.meets_slo
                && (!held.meets_slo
                    || judged.usd_per_hour.unwrap_or(f64::INFINITY) < held.usd_per_hour.unwrap_or(f64::INFINITY))
        };
        match best.get(&key) {
            Some(held) if !cheaper(held) => {}
            _ => {
                best.insert(key, judged);
            }
        }
    }
    let lowest = |j: &planner::Judged| j.quality.iter().map(|q| q.quality).fold(f64::INFINITY, f64::min);
    let mut rows: Vec<&planner::Judged> = best.into_values().collect();
    rows.sort_by(|a, b| lowest(b).total_cmp(&lowest(a)).then(a.index.cmp(&b.index)));
    let mut table =
        vec![["variants (quality)", "min quality", "point", "USD/h", "p99 ms", "verdict"].map(String::from).to_vec()];
    for judged in rows {
        let minimum = judged.quality.iter().all(|q| q.shortfall().is_none());
        let verdict = match (judged.meets_slo, judged.index == chosen) {
            (_, true) => "chosen".to_string(),
            (true, false) if minimum => "meets the SLO; costs more".to_string(),
            (true, false) => "meets the SLO; below min_quality".to_string(),
            (false, _) => format!("no point meets the SLO ({})", judged.reason),
        };
        table.push(vec![
            planner::QualityMetrics::words(&judged.quality),
            if minimum { "met".into() } else { "NOT met".into() },
            judged.index.to_string(),
            judged.usd_per_hour.map_or("–".into(), |v| format!("{v:.3}")),
            judged.p99_ms.map_or("–".into(), |v| format!("{v:.2}")),
            verdict,
        ]);
    }
    table
}

pub fn plan(args: &PlanArgs) -> Result<(), CliError> {
    crate::sweep::check_image("--image", &args.image)?;
    if let Some(image) = &args.job_image {
        crate::sweep::check_image("--job-image", image)?;
    }
    let out = args.out.clone().unwrap_or_else(|| crate::run::default_out(&args.scenario, "-plan"));
    // Names that would collide in deploy/, and a risk no configuration can hold under, are refused
    // before the sweep spends its time.
    let loaded = load::load(&args.scenario, args.prices.as_deref())?;
    deploy_names_distinct(&loaded.build()?)?;
    check_risks(&loaded)?;
    if loaded.scenario.fleet.is_some() {
        return crate::fleet::plan(args, loaded, &out);
    }
    let sweep_args =
        SweepArgs::for_plan(&args.scenario, out.join("sweep"), args.threads, args.prices.clone(), args.quiet);
    let finished = run_sweep(&sweep_args)?.expect("a plan's sweep is neither sharded nor a manifest");
    let mut set = output::OutputSet::begin(&out)?;
    set.own_folder("sweep");
    set.own_folder("deploy");
    let outcome = &finished.outcome;
    let (Some(_), Some(_)) = (outcome.best, &finished.chosen) else {
        let reasons: Vec<String> =
            outcome.judged.iter().take(3).map(|j| format!("point {}: {}", j.index, j.reason)).collect();
        return Err(CliError {
            message: format!("no configuration in the sweep meets the SLO ({})", reasons.join("; ")),
            code: 1,
        });
    };
    let (choice, text) = choose(&finished, args.threads)?;
    let best_index = choice.index;
    set.write("best.toml", text.as_bytes())?;

    let position = outcome.results.iter().position(|r| r.index == best_index).expect("the chosen point is a result");
    let best = &outcome.results[position];
    let (base, spec) = (&outcome.base, &outcome.spec);
    let changes = resolved_values(best, spec)
        .iter()
        .map(|(path, value)| (path.clone(), display(planner::apply::get(base, path)), value.to_string()))
        .collect();
    let dots = outcome
        .results
        .iter()
        .zip(&outcome.judged)
        .filter_map(|(_, j)| {
            let kind = if j.index == best_index {
                "chosen"
            } else if j.on_frontier {
                "frontier"
            } else if j.feasible {
                "feasible"
            } else {
                "infeasible"
            };
            if j.jobs_only {
                return Some((j.usd_per_run?, j.makespan_p99_s? / 3600.0, kind.to_string()));
            }
            Some((j.usd_per_hour?, j.p99_ms?, kind.to_string()))
        })
        .collect();
    let jobs_only = outcome.judged.iter().any(|j| j.jobs_only);
    let mut ranked: Vec<(&planner::PointResult, &planner::Judged)> =
        outcome.results.iter().zip(&outcome.judged).filter(|(_, j)| j.rank.is_some()).collect();
    ranked.sort_by_key(|(_, j)| j.rank);
    let header = if jobs_only {
        ["rank", "point", "verdict", "parameters", "USD/run", "P(deadline)", "makespan p99"]
    } else {
        ["rank", "point", "verdict", "parameters", "USD/h", "p99 ms", "availability"]
    };
    // With model variants, every row says which ones it runs and their quality.
    let with_quality = outcome.judged.iter().any(|j| !j.quality.is_empty());
    let mut header: Vec<String> = header.map(String::from).to_vec();
    if with_quality {
        header.push("variants (quality)".into());
    }
    let mut alternatives = vec![header];
    // Every point cheaper than the chosen one (each ruled out by a risk) and a few after it.
    let shown = ranked.iter().position(|(r, _)| r.index == best_index).map_or(6, |k| (k + 3).max(6));
    for (result, judged) in ranked.iter().take(shown) {
        let parameters: Vec<String> = resolved_values(result, spec).iter().map(|(p, v)| format!("{p}={v}")).collect();
        let verdict = if result.index == best_index {
            "chosen".to_string()
        } else if let Some((_, risk)) = choice.ruled_out.iter().find(|(k, _)| *k == result.index) {
            format!("ruled out: breaks with {risk}")
        } else if Some(result.index) == choice.runner_up {
            "runner-up".to_string()
        } else {
            "meets the target; costs more".to_string()
        };
        let fixed = [judged.rank.unwrap_or(0).to_string(), result.index.to_string(), verdict, parameters.join(", ")];
        let quality = with_quality.then(|| planner::QualityMetrics::words(&judged.quality));
        if jobs_only {
            alternatives.push(fixed.into_iter().chain(judged.job_cells()).chain(quality).collect());
            continue;
        }
        alternatives.push(
            fixed
                .into_iter()
                .chain([
                    judged.usd_per_hour.map_or("–".into(), |v| format!("{v:.3}")),
                    match judged.p99_ms {
                        Some(v) if judged.p99_ci95 > 0.0 => format!("{v:.2} ± {:.2}", judged.p99_ci95),
                        Some(v) => format!("{v:.2}"),
                        None => "–".into(),
                    },
                    judged.availability.map_or("–".into(), |v| format!("{v:.5}")),
                ])
                .chain(quality)
                .collect(),
        );
    }
    let quality_tradeoff = if with_quality { quality_tradeoff(outcome, best_index) } else { Vec::new() };
    if !args.quiet && !quality_tradeoff.is_empty() {
        println!("quality against cost (the cheapest point meeting the SLO with each set of variants):");
        for row in &quality_tradeoff {
            println!("  {}", row.join(" | "));
        }
    }
    if !args.quiet {
        println!("risks: {}", choice.risks);
        for row in &choice.table {
            println!("  {}", row.join(" | "));
        }
    }
    let plan = reports::PlanSection {
        points: outcome.results.len(),
        feasible: outcome.judged.iter().filter(|j| j.feasible).count(),
        dots,
        changes,
        alternatives,
        risks: choice.risks.clone(),
        robustness: choice.table.clone(),
        jobs_only,
        chosen_point: Some(best_index),
        ruled_out: choice.ruled_out.clone(),
        configuration: configuration_words(&choice.scenario),
        risk_details: choice.details.clone(),
        quality_tradeoff,
        fleet: Vec::new(),
        fleet_sizing: Vec::new(),
    };
    let sweep_chosen = finished.chosen.as_ref().expect("a feasible point was chosen");
    let loaded = load::Loaded {
        path: out.join("best.toml"),
        text,
        scenario: choice.scenario.clone(),
        inputs: sweep_chosen.inputs.clone(),
        warnings: Vec::new(),
    };
    let model = loaded.build()?;
    let options = crate::run::Simulation {
        seed: None,
        out: &mut set,
        replications: spec.replications.max(1),
        threads: args.threads,
        plan: Some(plan),
        uncertainty: true,
        breakdown: true,
        trace_sample: None,
        quiet: args.quiet,
    };
    let summary = crate::run::simulate(&loaded, &model, options)?;
    write_deploy(&model, &summary.jobs, &mut set, &args.image, args.job_image.as_deref())?;
    set.finish()?;
    if !args.quiet {
        println!(
            "plan: {}/report.html, {}/best.toml (sweep details in {}/sweep/)",
            out.display(),
            out.display(),
            out.display()
        );
    }
    Ok(())
}

/// `[plan] survive = ["region"]` needs a second region to fail over to: with one, every
/// configuration would be ruled out, for a reason that is the scenario's, not the configuration's.
pub(crate) fn check_risks(loaded: &load::Loaded) -> Result<(), CliError> {
    let Some(risks) = &loaded.scenario.plan else { return Ok(()) };
    let serving = loaded.scenario.regions.values().filter(|r| r.replicas > 0).count();
    match risks.survive.iter().position(|s| *s == sim::scenario::Survive::Region) {
        Some(k) if serving < 2 => Err(loaded.error_at(
            &sim::path!["plan", "survive", k],
            &format!(
                "surviving the loss of a region needs another region that serves; this scenario has {serving}: \
                 add one, or drop \"region\""
            ),
        )),
        _ => Ok(()),
    }
}

/// The chosen fleet in a few words: "3 × g5.xlarge in us-east, 2 × g5.xlarge in eu-west"; the
/// replica bounds where a region autoscales.
fn configuration_words(scenario: &sim::scenario::Scenario) -> String {
    let parts: Vec<String> = scenario
        .regions
        .iter()
        .filter(|(_, r)| r.replicas > 0 || r.autoscaling.is_some())
        .map(|(name, r)| {
            let count = match &r.autoscaling {
                Some(a) => format!("{}–{}", a.min_replicas, a.max_replicas),
                None => r.replicas.to_string(),
            };
            match &r.instance {
                Some(instance) => format!("{count} × {instance} in {name}"),
                None => format!("{count} replicas in {name}"),
            }
        })
        .collect();
    parts.join(", ")
}

/// Region names become folder and Kubernetes names, job names CronJob names: two must not become
/// one. Checked on the scenario before its sweep runs, and on the chosen one before writing.
/// A pipeline's ensemble steps (the Triton model names it calls, in order) and the batch size they
/// all take; or why it cannot be an ensemble.
fn ensemble_steps(model: &sim::Model, pipeline: &sim::model::PipelineModel) -> Result<(Vec<String>, u32), String> {
    let mut steps = Vec::new();
    let mut max_batch = u32::MAX;
    for stage in &pipeline.stages {
        if stage.calls.len() != 1 {
            return Err(format!(
                "stage {:?} calls {} endpoints in parallel (an ensemble step calls one model)",
                stage.name,
                stage.calls.len()
            ));
        }
        if stage.optional || stage.timeout.is_some() {
            return Err(format!("stage {:?} is optional or has its own timeout (an ensemble has neither)", stage.name));
        }
        let callee = stage.calls[0];
        if model.pipeline(callee).is_some() {
            return Err(format!("stage {:?} calls another pipeline", stage.name));
        }
        let batching = (0..model.regions.len())
            .filter_map(|r| model.site(callee, r).primary.serving.as_ref())
            .find_map(|s| s.kind.dynamic_batching().map(|b| b.max_batch));
        let Some(batch) = batching else {
            return Err(format!("stage {:?} calls a model without Triton's dynamic batcher", stage.name));
        };
        max_batch = max_batch.min(batch);
        steps.push(reports::deploy::triton_model_name(model.endpoint_name(callee)));
    }
    Ok((steps, max_batch))
}

/// Where an endpoint's configs for a region go under `deploy/`: the region's folder for the
/// main endpoint, `endpoints/ENDPOINT/REGION` for a named one.
fn deploy_folder(endpoint: Option<&str>, region: &str) -> String {
    let region = reports::kubernetes::dns_name(region);
    match endpoint {
        None => region,
        Some(endpoint) => format!("endpoints/{}/{region}", reports::kubernetes::dns_name(endpoint)),
    }
}

pub(crate) fn deploy_names_distinct(model: &sim::Model) -> Result<(), CliError> {
    let mut seen: std::collections::BTreeMap<(String, String), String> = std::collections::BTreeMap::new();
    // Folders servesim writes beside the regions'.
    for reserved in ["monitoring", "endpoints", "jobs", "gpu-sharing"] {
        seen.insert(("folder".to_string(), reserved.to_string()), format!("servesim's own deploy/{reserved}/"));
    }
    for endpoint in 0..model.endpoint_count() {
        let name = model.endpoint_name(endpoint);
        for region in (0..model.regions.len()).map(|r| model.site(endpoint, r)).filter(|r| r.serves()) {
            let folder = deploy_folder(name, &region.name);
            let app = reports::deploy::app_name(&model.name, name, &region.name);
            let what = match name {
                None => format!("region {:?}", region.name),
                Some(endpoint) => format!("endpoint {endpoint:?} in region {:?}", region.name),
            };
            for key in [("folder", folder), ("Kubernetes name", app)] {
                if let Some(other) = seen.insert((key.0.to_string(), key.1.clone()), what.clone()) {
                    return Err(CliError::input(format!(
                        "{other} and {what} both become the {} {:?} in deploy/: rename one",
                        key.0, key.1
                    )));
                }
            }
        }
    }
    for job in &model.jobs {
        let name = reports::job_deploy::cronjob_name(&model.name, &job.name);
        if let Some(other) = seen.insert(("job".to_string(), name.clone()), job.name.clone()) {
            return Err(CliError::input(format!(
                "jobs {other:?} and {:?} both become the CronJob {name:?} in deploy/jobs/: rename one",
                job.name
            )));
        }
    }
    Ok(())
}

/// Deployable configs for every serving region of the chosen scenario, under `deploy/<region>/`.
pub(crate) fn write_deploy(
    model: &sim::Model,
    jobs: &[sim::job::JobSummary],
    set: &mut output::OutputSet,
    image: &str,
    job_image: Option<&str>,
) -> Result<(), CliError> {
    deploy_names_distinct(model)?;
    // deploy/ is wholly generated: a previous plan's regions must not linger beside this one's.
    let deploy = set.dir().join("deploy");
    if std::fs::symlink_metadata(&deploy).is_ok_and(|m| m.is_dir()) {
        std::fs::remove_dir_all(&deploy)
            .map_err(|e| CliError::input(format!("{}: cannot clear: {e}", deploy.display())))?;
    }
    for endpoint in 0..model.endpoint_count() {
        let name = model.endpoint_name(endpoint);
        for r in 0..model.regions.len() {
            let region = model.site(endpoint, r);
            let Some(serving) = &region.primary.serving else { continue };
            if model.gpu_groups.iter().any(|g| g.members.contains(&endpoint)) {
                continue; // written with its group, below
            }
            // The autoscaler the scenario simulated, or bounds around the replicas the plan chose.
            let autoscaling = match &region.primary.autoscaling {
                Some(simulated) => reports::deploy::Autoscaling::simulated(simulated),
                None => reports::deploy::Autoscaling::around(region.primary.replicas, serving),
            };
            let files = reports::deploy::render(&reports::deploy::DeployInput {
                scenario: &model.name,
                endpoint: name,
                region,
                serving,
                autoscaling: &autoscaling,
                image,
            });
            let folder = deploy_folder(name, &region.name);
            for (file, text) in files {
                set.write(&format!("deploy/{folder}/{file}"), text.as_bytes())?;
            }
        }
    }
    for group in &model.gpu_groups {
        for (r, region) in model.regions.iter().enumerate() {
            let primary = &model.site(group.members[0], r).primary;
            if group.memory[r].is_none() {
                continue;
            }
            let models = group
                .members
                .iter()
                .filter_map(|&e| Some((model.endpoint_name(e)?, model.site(e, r).primary.serving.as_deref()?)))
                .collect();
            let files = reports::deploy::render_shared(&reports::deploy::SharedDeployInput {
                scenario: &model.name,
                group: &group.name,
                region: &region.name,
                replicas: primary.replicas,
                gpus: primary.gpus.unwrap_or(1).max(1),
                models,
                image,
            });
            let folder = format!(
                "deploy/gpu-sharing/{}/{}",
                reports::kubernetes::dns_name(&group.name),
                reports::kubernetes::dns_name(&region.name)
            );
            for (file, text) in files {
                set.write(&format!("{folder}/{file}"), text.as_bytes())?;
            }
        }
    }
    for endpoint in 1..model.endpoint_count() {
        let Some(pipeline) = model.pipeline(endpoint) else { continue };
        let name = model.endpoint_name(endpoint).expect("a named endpoint");
        let folder = format!("deploy/endpoints/{}", reports::kubernetes::dns_name(name));
        match ensemble_steps(model, pipeline) {
            Ok((steps, max_batch)) => {
                let text = reports::deploy::ensemble_config(&model.name, name, &steps, max_batch);
                set.write(&format!("{folder}/ensemble/config.pbtxt"), text.as_bytes())?;
            }
            Err(why) => {
                let text = format!(
                    "Pipeline {name:?} is not written as a Triton ensemble: {why}. Run its stages from an orchestrator \
                     (a Triton BLS model or a service) that calls the endpoints deployed beside this folder.\n"
                );
                set.write(&format!("{folder}/NO-ENSEMBLE.txt"), text.as_bytes())?;
            }
        }
    }
    if let Some(rules) = reports::slo_rules::render(model) {
        set.write("deploy/monitoring/slo-rules.yaml", rules.as_bytes())?;
    }
    if let Some(dashboard) = reports::dashboard::render(model) {
        set.write("deploy/monitoring/grafana-dashboard.json", dashboard.as_bytes())?;
    }
    for (job, summary) in model.jobs.iter().zip(jobs) {
        let files = reports::job_deploy::render(&reports::job_deploy::JobDeployInput {
            scenario: &model.name,
            job,
            summary,
            image: job_image,
        });
        let folder = reports::job_deploy::cronjob_name(&model.name, &job.name);
        for (name, text) in files {
            set.write(&format!("deploy/jobs/{folder}/{name}"), text.as_bytes())?;
        }
    }
    Ok(())
}

pub fn check(args: &CheckArgs) -> Result<(), CliError> {
    let loaded = load::load(&args.scenario, args.prices.as_deref())?;
    let model = loaded.build()?;
    loaded.warn();
    // A gate that cannot apply is refused before anything runs, rather than passed unchecked.
    let name = args.scenario.display();
    if args.max_usd_per_run.is_some() && model.jobs.is_empty() {
        return Err(CliError::input(format!(
            "--max-usd-per-run: {name} has no [[jobs]], and the ceiling is per job run (use --max-usd-per-hour for online serving)"
        )));
    }
    if args.max_usd_per_hour.is_some() && !model.has_online() {
        return Err(CliError::input(format!(
            "--max-usd-per-hour: {name} has no online traffic, and the ceiling is on online serving's hourly cost (use --max-usd-per-run for its jobs)"
        )));
    }
    let seed = args.seed.unwrap_or(model.seed);
    let summary = sim::run(&model, &sim::RunOptions::seeded(seed)).summary;
    if let Some(reason) = summary.unmeasured(&model) {
        return Err(CliError::input(format!("{name}: {reason}")));
    }
    let mut failures = Vec::new();
    let (_, pool) = crate::run::thread_pool(None)?;
    let jobs: Vec<sim::job::JobSummary> =
        crate::jobs::simulate(&model.jobs, seed, &pool, false).into_iter().map(|j| j.summary).collect();
    let mut passed_jobs = Vec::new();
    for job in &jobs {
        if let Some(d) = job.deadline.as_ref() {
            if d.meets_target {
                passed_jobs.push(format!("job {}: P(deadline {}) {:.3}", job.name, d.at, d.probability));
            } else {
                failures.push(format!(
                    "job {}: P(deadline {}) is {:.3} (95% CI {:.3}–{:.3}), under the {} target",
                    job.name, d.at, d.probability, d.interval_95[0], d.interval_95[1], d.target_probability
                ));
            }
        }
        if job.records.lost > 0 || !job.records.exactly_once {
            failures
                .push(format!("job {}: {} records missing from a finished run's output", job.name, job.records.lost));
        }
        if let Some(ceiling) = args.max_usd_per_run {
            if job.cost.usd_per_run > ceiling {
                failures.push(format!(
                    "job {}: {:.2} USD per run, over the {ceiling} USD ceiling",
                    job.name, job.cost.usd_per_run
                ));
            }
        }
        passed_jobs.push(format!("job {}: {:.2} USD per run", job.name, job.cost.usd_per_run));
    }
    match &summary.slo {
        None if !model.has_online() => {}
        None => failures.push("the scenario has no [slo] to check".to_string()),
        Some(slo) => {
            for target in slo.latency.iter().filter(|t| !t.met) {
                failures.push(match target.observed_ms {
                    Some(observed) => {
                        format!("p{} is {observed:.2} ms, over the {} ms target", target.percentile, target.target_ms)
                    }
                    None => format!(
                        "p{}: too many requests unanswered to reach the {} ms target",
                        target.percentile, target.target_ms
                    ),
                });
            }
            if let Some(a) = slo.availability.as_ref().filter(|a| !a.met) {
                failures.push(format!("availability is {:.5}, under the {} target", a.observed, a.target));
            }
        }
    }
    let cost = summary.overall.cost.usd_per_hour;
    if let Some(ceiling) = args.max_usd_per_hour {
        if cost > ceiling {
            failures.push(format!("cost is {cost:.3} USD/h, over the {ceiling} USD/h ceiling"));
        }
    }
    if failures.is_empty() && !model.has_online() {
        println!("check passed: {name}: {}", passed_jobs.join(", "));
        Ok(())
    } else if failures.is_empty() {
        println!(
            "check passed: {name}: p99 {} ms, availability {:.5}, {cost:.3} USD/h",
            summary.overall.latency_ms.p99.map_or("–".into(), |v| format!("{v:.2}")),
            summary.overall.throughput.completed_rps / summary.overall.throughput.offered_rps.max(1e-12),
        );
        Ok(())
    } else {
        Err(CliError { message: format!("check failed: {name}: {}", failures.join("; ")), code: 1 })
    }
}

/// The robust choice (`planner::choose`) on the sweep's ranking, and `best.toml`'s text for it.
fn choose(finished: &crate::sweep::Finished, threads: Option<u32>) -> Result<(planner::Choice, String), CliError> {
    let outcome = &finished.outcome;
    let best = finished.chosen.as_ref().expect("plan checked a point meets the SLO");
    let mut ranked: Vec<(&planner::PointResult, &planner::Judged)> =
        outcome.results.iter().zip(&outcome.judged).filter(|(_, j)| j.rank.is_some()).collect();
    ranked.sort_by_key(|(_, j)| j.rank);
    let ranking = planner::Ranking {
        plan: &finished.plan,
        ranked: &ranked,
        best: &best.scenario,
        service_high: sim::whatif::service_time_band(&best.scenario, &best.inputs).high,
    };
    let (_, pool) = crate::run::thread_pool(threads)?;
    let choice = pool.install(|| planner::choose(&ranking)).map_err(|e| match e {
        planner::ChoiceError::Input(message) => CliError::input(message),
        planner::ChoiceError::NothingHolds(message) => CliError { message, code: 1 },
    })?;
    let text = if Some(choice.index) == outcome.best {
        best.text.clone()
    } else {
        let position = outcome.results.iter().position(|r| r.index == choice.index).expect("a ranked point");
        let judged = &outcome.judged[position];
        point_text(
            &outcome.base,
            &outcome.base_dir,
            &outcome.spec,
            &outcome.results[position],
            judged,
            outcome.results.len(),
        )?
    };
    Ok((choice, text))
}
