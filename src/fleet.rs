//! `servesim plan` on a scenario with `[fleet]`: an instance type and replicas per endpoint for
//! the whole fleet (`planner::fleet`), the robust choice among the fleets found, the full run of the
//! chosen one with its report, `fleet.csv`, `fleet-sizing.csv` and `deploy/`.

use crate::error::CliError;
use crate::load::Loaded;
use crate::output::{self, OutputSet};
use crate::plan::PlanArgs;
use planner::fleet::{Fleet, Outcome, Search};
use planner::{Judged, PointResult};
use sim::scenario::{KeyPath, Sweep};

pub(crate) fn plan(args: &PlanArgs, loaded: Loaded, out: &std::path::Path) -> Result<(), CliError> {
    let scenario = &loaded.scenario;
    let fleet = scenario.fleet.as_ref().expect("a fleet plan has [fleet]");
    let endpoints = Search::endpoints_of(scenario).map_err(|(path, message)| loaded.error_at(&path, &message))?;
    check_options(&loaded, &endpoints)?;
    let document: toml::Table = toml::from_str(&loaded.text).map_err(|e| CliError::input(e.to_string()))?;
    let sweep = scenario.sweep.clone().unwrap_or_default();
    let spec = Sweep { replications: fleet.replications.max(1), ..sweep };
    let plan = planner::Plan { base: document, inputs: loaded.inputs.clone(), spec, seed: scenario.seed };
    let search = Search {
        plan: &plan,
        scenario,
        endpoints,
        options: &fleet.instances,
        max_replicas: fleet.max_replicas.max(1),
        runner_ups: fleet.runner_ups as usize,
        traffic_factor: 1.0 + scenario.plan.as_ref().map_or(0.0, |p| p.traffic_margin),
        service_factor: match &scenario.plan {
            Some(risks) if risks.service_time_band => sim::whatif::service_time_band(scenario, &loaded.inputs).high,
            _ => 1.0,
        },
    };
    let (_, pool) = crate::run::thread_pool(args.threads)?;
    let started = std::time::Instant::now();
    let outcome = pool.install(|| search.run()).map_err(|message| CliError { message, code: 1 })?;
    let mut ranked: Vec<(&PointResult, &Judged)> =
        outcome.results.iter().zip(&outcome.judged).filter(|(_, j)| j.rank.is_some()).collect();
    ranked.sort_by_key(|(_, j)| j.rank);
    let Some(&(best, _)) = ranked.first() else {
        let reasons: Vec<String> =
            outcome.judged.iter().take(3).map(|j| format!("fleet {}: {}", j.index, j.reason)).collect();
        return Err(CliError {
            message: format!("no fleet meets the SLO after repair ({})", reasons.join("; ")),
            code: 1,
        });
    };
    let best_point = planner::Point { index: best.index, values: best.values.clone() };
    let best_scenario = plan.scenario(&best_point).map_err(|e| CliError::input(e.to_string()))?;
    let ranking = planner::Ranking {
        plan: &plan,
        ranked: &ranked,
        best: &best_scenario,
        service_high: sim::whatif::service_time_band(&best_scenario, &loaded.inputs).high,
    };
    let choice = pool.install(|| planner::choose(&ranking)).map_err(|e| match e {
        planner::ChoiceError::Input(message) => CliError::input(message),
        planner::ChoiceError::NothingHolds(message) => CliError { message, code: 1 },
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let chosen = outcome.results.iter().position(|r| r.index == choice.index).expect("the choice is a fleet");
    let chosen_point = planner::Point { index: choice.index, values: outcome.results[chosen].values.clone() };
    let mut chosen_document = plan.document(&chosen_point).map_err(|e| CliError::input(e.to_string()))?;
    crate::sweep::absolute_paths(&mut chosen_document, loaded.path.parent().unwrap_or(std::path::Path::new(".")));
    let text = format!(
        "# servesim fleet plan for {:?}: fleet {} of {} evaluated together, chosen under the [plan] risks.\n{}",
        scenario.name,
        choice.index,
        outcome.results.len(),
        toml::to_string(&chosen_document).map_err(|e| CliError::input(e.to_string()))?
    );

    let mut set = OutputSet::begin(out)?;
    set.own_folder("deploy");
    set.write("best.toml", text.as_bytes())?;
    let chosen_loaded = Loaded {
        path: out.join("best.toml"),
        text,
        scenario: choice.scenario.clone(),
        inputs: loaded.inputs.clone(),
        warnings: Vec::new(),
    };
    let model = chosen_loaded.build()?;
    let fleet_table = fleet_table(&search, &outcome.fleets[chosen], &model);
    let sizing_table = sizing_table(&search, &outcome);
    set.write("fleet.csv", &output::table_csv(&fleet_table))?;
    set.write("fleet-sizing.csv", &output::table_csv(&sizing_table))?;
    let alternatives = alternatives(&search, &outcome, &ranked, &choice);
    if !args.quiet {
        println!(
            "fleet plan: {} endpoints × {} instance types sized alone, {} fleets run together, in {seconds:.1} s",
            search.endpoints.len(),
            search.options.len(),
            outcome.results.len()
        );
        for row in &fleet_table {
            println!("  {}", row.join(" | "));
        }
        println!("risks: {}", choice.risks);
        for row in &alternatives {
            println!("  {}", row.join(" | "));
        }
    }
    let dots = outcome
        .judged
        .iter()
        .filter_map(|j| {
            let kind = if j.index == choice.index {
                "chosen"
            } else if j.feasible {
                "feasible"
            } else {
                "infeasible"
            };
            Some((j.usd_per_hour?, j.p99_ms?, kind.to_string()))
        })
        .collect();
    let base = &plan.base;
    let changes = chosen_point
        .values
        .iter()
        .filter(|(path, _)| path.ends_with(".instance") || path.ends_with(".replicas"))
        .map(|(path, value)| (path.clone(), crate::plan::display(planner::apply::get(base, path)), value.to_string()))
        .collect();
    let section = reports::PlanSection {
        points: outcome.results.len(),
        feasible: outcome.judged.iter().filter(|j| j.feasible).count(),
        dots,
        changes,
        alternatives,
        risks: choice.risks.clone(),
        robustness: choice.table.clone(),
        jobs_only: false,
        chosen_point: Some(choice.index),
        ruled_out: choice.ruled_out.clone(),
        configuration: fleet_words(&fleet_table),
        risk_details: choice.details.clone(),
        quality_tradeoff: Vec::new(),
        fleet: fleet_table,
        fleet_sizing: sizing_table,
    };
    let options = crate::run::Simulation {
        seed: None,
        out: &mut set,
        replications: plan.spec.replications.max(1),
        threads: args.threads,
        plan: Some(section),
        uncertainty: true,
        breakdown: true,
        trace_sample: None,
        quiet: args.quiet,
    };
    let summary = crate::run::simulate(&chosen_loaded, &model, options)?;
    crate::plan::write_deploy(&model, &summary.jobs, &mut set, &args.image, args.job_image.as_deref())?;
    set.finish()?;
    if !args.quiet {
        println!("plan: {}/report.html, {}/best.toml, {}/fleet.csv", out.display(), out.display(), out.display());
    }
    Ok(())
}

/// What a fleet plan would refuse before running anything (for `validate`).
pub(crate) fn check(loaded: &Loaded) -> Result<(), CliError> {
    let endpoints =
        Search::endpoints_of(&loaded.scenario).map_err(|(path, message)| loaded.error_at(&path, &message))?;
    check_options(loaded, &endpoints)
}

/// Each option prices, has a device where an endpoint's service time needs one, and a sane scale:
/// refused at its key before any run.
fn check_options(loaded: &Loaded, endpoints: &[planner::fleet::FleetEndpoint]) -> Result<(), CliError> {
    let fleet = loaded.scenario.fleet.as_ref().expect("a fleet plan has [fleet]");
    if fleet.instances.is_empty() {
        return Err(loaded.error_at(&sim::path!["fleet", "instances"], "list the instance types to choose among"));
    }
    for (k, option) in fleet.instances.iter().enumerate() {
        let at = |key: &str| -> KeyPath { sim::path!["fleet", "instances", k, key] };
        if !(option.service_scale.is_finite() && option.service_scale > 0.0 && option.service_scale <= 1e3) {
            return Err(loaded.error_at(&at("service_scale"), "service_scale must be above 0 and at most 1000"));
        }
        if option.device.is_none() {
            if let Some(e) = endpoints.iter().find(|e| !e.device_paths.is_empty()) {
                return Err(loaded.error_at(
                    &at("instance"),
                    &format!(
                        "{:?} has a kind = \"model\" service time: give this instance's device (e.g. device = \"a10g\")",
                        e.name
                    ),
                ));
            }
        }
        // The instance must price: try it on the scenario's first region of the first endpoint.
        let mut scenario = loaded.scenario.clone();
        let first = &endpoints[0];
        if let Some(region) = scenario.endpoints.get_mut(&first.name).and_then(|e| e.regions.values_mut().next()) {
            region.instance = Some(option.instance.clone());
        }
        if let Some(device) = &option.device {
            set_devices(&mut scenario, &first.name, device);
        }
        if let Err(error) = sim::build(&scenario, &loaded.inputs) {
            if error.path.to_string().ends_with(".instance") {
                return Err(loaded.error_at(&at("instance"), &error.message));
            }
            if error.path.to_string().contains("service_time") {
                return Err(loaded.error_at(&at("device"), &error.message));
            }
        }
    }
    Ok(())
}

/// Every `kind = "model"` service time of endpoint `name` on `device`.
fn set_devices(scenario: &mut sim::scenario::Scenario, name: &str, device: &str) {
    let Some(endpoint) = scenario.endpoints.get_mut(name) else { return };
    let servings = endpoint.serving.iter_mut().chain(endpoint.regions.values_mut().filter_map(|r| r.serving.as_mut()));
    for serving in servings {
        let dists = serving.service_time.iter_mut().chain(serving.variants.iter_mut().map(|v| &mut v.service_time));
        for dist in dists {
            if let sim::scenario::Dist::Model { device: d, .. } = dist {
                *d = device.to_string();
            }
        }
        if let Some(llm) = serving.llm.as_mut().filter(|llm| llm.model.is_some()) {
            llm.device = Some(device.to_string());
        }
    }
}

/// The chosen fleet: endpoint × instance type × replicas × USD/h (header first).
fn fleet_table(search: &Search, fleet: &Fleet, model: &sim::Model) -> Vec<Vec<String>> {
    let mut table =
        vec![["endpoint", "instance", "device", "regions", "replicas per region", "USD/h"].map(String::from).to_vec()];
    let mut total = 0.0;
    for (e, &(o, replicas)) in fleet.0.iter().enumerate() {
        let endpoint = &search.endpoints[e];
        let option = &search.options[o];
        let k = model.endpoints.iter().position(|m| m.name == endpoint.name).expect("a fleet endpoint") + 1;
        let usd: f64 = (0..model.regions.len())
            .map(|r| {
                let d = &model.site(k, r).primary;
                d.usd_per_hour * f64::from(d.replicas)
            })
            .sum();
        total += usd;
        table.push(vec![
            endpoint.name.clone(),
            option.instance.clone(),
            match (&option.device, option.service_scale) {
                (Some(device), _) => device.clone(),
                (None, scale) if scale != 1.0 => format!("service time ×{scale}"),
                (None, _) => "–".into(),
            },
            endpoint.regions.join(" "),
            replicas.to_string(),
            format!("{usd:.3}"),
        ]);
    }
    table.push(vec!["total".into(), String::new(), String::new(), String::new(), String::new(), format!("{total:.3}")]);
    table
}

/// Each endpoint alone on each option: the fewest replicas per region meeting its SLO, and their
/// cost (header first).
fn sizing_table(search: &Search, outcome: &Outcome) -> Vec<Vec<String>> {
    let mut table =
        vec![["endpoint", "instance", "replicas alone", "USD/h alone", "why not"].map(String::from).to_vec()];
    for s in &outcome.sizing {
        table.push(vec![
            search.endpoints[s.endpoint].name.clone(),
            search.options[s.option].instance.clone(),
            s.replicas.map_or("–".into(), |r| r.to_string()),
            s.usd_per_hour.map_or("–".into(), |u| format!("{u:.3}")),
            s.reason.clone(),
        ]);
    }
    table
}

/// The fleets run together, ranked: what each changes from the cheapest, its cost, p99 and verdict.
fn alternatives(
    search: &Search,
    outcome: &Outcome,
    ranked: &[(&PointResult, &Judged)],
    choice: &planner::Choice,
) -> Vec<Vec<String>> {
    let mut table = vec![[
        "rank",
        "fleet",
        "verdict",
        "endpoints (the chosen fleet's in full; others where they differ)",
        "USD/h",
        "p99 ms",
        "availability",
    ]
    .map(String::from)
    .to_vec()];
    let chosen = outcome.results.iter().position(|r| r.index == choice.index).expect("the choice is a fleet");
    let chosen = &outcome.fleets[chosen];
    let unranked = outcome.results.iter().zip(&outcome.judged).filter(|(_, j)| j.rank.is_none());
    for (result, judged) in ranked.iter().copied().chain(unranked) {
        let position = outcome.results.iter().position(|r| r.index == result.index).expect("a fleet");
        let fleet = &outcome.fleets[position];
        let words: Vec<String> = fleet
            .0
            .iter()
            .enumerate()
            .filter(|&(e, choice)| fleet == chosen || chosen.0[e] != *choice)
            .map(|(e, &(o, n))| format!("{} {n}×{}", search.endpoints[e].name, search.options[o].instance))
            .collect();
        let verdict = if result.index == choice.index {
            "chosen".to_string()
        } else if let Some((_, risk)) = choice.ruled_out.iter().find(|(k, _)| *k == result.index) {
            format!("ruled out: breaks with {risk}")
        } else if Some(result.index) == choice.runner_up {
            "runner-up".to_string()
        } else if judged.feasible {
            "meets the target; costs more".to_string()
        } else {
            format!("misses: {}", judged.reason)
        };
        table.push(vec![
            judged.rank.map_or("–".into(), |r| r.to_string()),
            result.index.to_string(),
            verdict,
            words.join(", "),
            judged.usd_per_hour.map_or("–".into(), |v| format!("{v:.3}")),
            judged.p99_ms.map_or("–".into(), |v| format!("{v:.2}")),
            judged.availability.map_or("–".into(), |v| format!("{v:.5}")),
        ]);
    }
    table
}

fn fleet_words(table: &[Vec<String>]) -> String {
    let parts: Vec<String> = table[1..table.len() - 1]
        .iter()
        .map(|row| format!("{} {} × {} in {}", row[0], row[4], row[1], row[3]))
        .collect();
    parts.join("; ")
}
