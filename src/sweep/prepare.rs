//! From `servesim sweep`'s arguments to a prepared sweep: the scenario loaded and checked once,
//! `--set` and flag overrides applied to its `[sweep]`, the points expanded, and each point turned
//! into a `Scenario` once (with the files it names read). A parameter that does not fit the
//! scenario format is bad input, pointed at where it was written: its key in `[sweep.parameters]`
//! or its `--set`.

use super::SweepArgs;
use crate::error::CliError;
use crate::load;
use crate::locate::{located, span_of};
use planner::{Grid, Plan, PlanError, Point};
use sim::scenario::{KeyPath, ParamSpec, ParamValue, Scenario, Strategy, Sweep};

/// The prepared sweep: the plan, its points and their scenarios, and its identity.
pub(super) struct Prepared {
    pub plan: Plan,
    pub points: Vec<Point>,
    /// `scenarios[k]` is `points[k]`'s.
    pub scenarios: Vec<Scenario>,
    pub hash: String,
    pub base_text: String,
}

/// Parses one `--set` value: an integer, a float, a boolean, or text.
fn parse_value(text: &str) -> ParamValue {
    let text = text.trim();
    if let Ok(v) = text.parse::<i64>() {
        ParamValue::Integer(v)
    } else if let Ok(v) = text.parse::<f64>() {
        ParamValue::Float(v)
    } else if let Ok(v) = text.parse::<bool>() {
        ParamValue::Bool(v)
    } else {
        ParamValue::Text(text.trim_matches('"').to_string())
    }
}

pub(super) fn parse_shard(text: &str) -> Result<(u32, u32), CliError> {
    let bad = || CliError::input(format!("--shard {text:?}: expected I/N with 0 ≤ I < N, e.g. 0/4"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn sweep_hash(base: &str, spec: &Sweep, seed: u64, points: &[Point], catalog: &str) -> String {
    let spec = serde_json::to_string(spec).expect("a sweep spec serialises");
    let indices: Vec<String> = points.iter().map(|p| p.index.to_string()).collect();
    let text = format!("{base}\n{spec}\n{seed}\n{}\n{catalog}", indices.join(","));
    format!("{:016x}", sim::rng::fnv1a(text.as_bytes()))
}

pub(super) fn prepare(args: &SweepArgs) -> Result<Prepared, CliError> {
    let path = &args.scenario;
    let mut loaded = load::load(path, args.prices.as_deref())?;
    // The model must build before anything is swept: the scenario itself has to be valid.
    loaded.build()?;
    loaded.warn();
    let base: toml::Table =
        toml::from_str(&loaded.text).map_err(|e| located(path, &loaded.text, e.span(), e.message()))?;
    let mut spec = loaded.scenario.sweep.clone().unwrap_or_default();
    let mut from_command_line = Vec::new();
    for setting in &args.set {
        let (key, values) = setting
            .split_once('=')
            .ok_or_else(|| CliError::input(format!("--set {setting:?}: expected PATH=V1,V2,...")))?;
        let values: Vec<ParamValue> = values.split(',').map(parse_value).collect();
        spec.parameters.insert(key.trim().to_string(), ParamSpec::List(values));
        from_command_line.push(key.trim().to_string());
    }
    if let Some(strategy) = &args.strategy {
        spec.strategy = match strategy.as_str() {
            "random" => Strategy::Random,
            "capacity" => Strategy::Capacity,
            "right_size" => Strategy::RightSize,
            _ => Strategy::Grid,
        };
    }
    if let Some(samples) = args.samples {
        spec.samples = Some(samples);
    }
    if let Some(replications) = args.replications {
        spec.replications = replications;
    }
    let text = &loaded.text;
    let at = |key: &[&str], message: String| {
        let mut key_path = sim::path!["sweep"];
        for k in key {
            key_path = key_path.join(*k);
        }
        located(path, text, span_of(text, &key_path), &message)
    };
    // A parameter's error, at its key in [sweep.parameters] or at its --set.
    let parameter_error = |error: PlanError, point: Option<usize>| {
        let within = point.map_or(String::new(), |k| format!("sweep point {k}: "));
        match error.parameter() {
            Some(parameter) if from_command_line.iter().any(|p| p == parameter) => {
                CliError::input(format!("--set {parameter}: {within}{error}"))
            }
            Some(parameter) => {
                let key_path: KeyPath = sim::path!["sweep", "parameters", parameter];
                located(path, text, span_of(text, &key_path), &format!("{within}{error}"))
            }
            None => located(path, text, span_of(text, &sim::path!["sweep", "parameters"]), &format!("{within}{error}")),
        }
    };
    // A point's scenario that does not build: at the parameter that sets the key the model
    // refused (or that key's parent), else at [sweep.parameters].
    let built_error = |error: &sim::ScenarioError, point: &Point| {
        let refused = error.path.to_string();
        let parameter = point.values.iter().map(|(p, _)| p).find(|p| {
            planner::apply::canonical(p).is_ok_and(|key| {
                refused == key || refused.starts_with(&format!("{key}.")) || key.starts_with(&format!("{refused}."))
            })
        });
        let values: Vec<String> = point.values.iter().map(|(p, v)| format!("{p}={v}")).collect();
        let message = format!("sweep point {} ({}): {error}", point.index, values.join(", "));
        match parameter {
            Some(parameter) if from_command_line.iter().any(|p| p == parameter) => {
                CliError::input(format!("--set {parameter}: {message}"))
            }
            Some(parameter) => {
                let key_path: KeyPath = sim::path!["sweep", "parameters", parameter];
                located(path, text, span_of(text, &key_path), &message)
            }
            None => located(path, text, span_of(text, &sim::path!["sweep", "parameters"]), &message),
        }
    };
    if !(1..=10_000).contains(&spec.replications) {
        return Err(at(
            &["replications"],
            format!("replications must be between 1 and 10000, got {}", spec.replications),
        ));
    }
    if let Some(level) = spec.slo_confidence {
        if !(level > 0.5 && level < 1.0) {
            return Err(at(&["slo_confidence"], format!("slo_confidence must be above 0.5 and below 1, got {level}")));
        }
        // Jobs bring their own replications (`[[jobs]] replications`): a scenario of jobs alone
        // needs no online ones for a bound on P(deadline).
        if spec.replications < 2 && !loaded.scenario.traffic.is_empty() {
            return Err(at(
                &["slo_confidence"],
                "slo_confidence needs at least 2 replications (an interval needs their spread)".into(),
            ));
        }
    }
    if spec.strategy == Strategy::Random && spec.samples.unwrap_or(0) == 0 {
        return Err(at(&["strategy"], "the random strategy needs samples (in [sweep] or --samples)".into()));
    }
    if spec.strategy == Strategy::RightSize {
        match &spec.right_size {
            Some(r) if !r.paths.is_empty() => {
                if r.min == 0 || r.min > r.max {
                    return Err(at(
                        &["right_size"],
                        format!("right_size needs 1 ≤ min ≤ max, got {}..{}", r.min, r.max),
                    ));
                }
                for right_path in &r.paths {
                    KeyPath::parse(right_path).map_err(|e| at(&["right_size", "paths"], e.to_string()))?;
                }
            }
            _ => {
                return Err(at(
                    &["strategy"],
                    "the right_size strategy needs [sweep.right_size] paths = [\"regions.NAME.replicas\"]".into(),
                ))
            }
        }
    }
    let capacity = &spec.capacity;
    if !(capacity.min_scale > 0.0 && capacity.max_scale > capacity.min_scale && capacity.tolerance > 0.0) {
        return Err(at(
            &["capacity"],
            "capacity search needs 0 < min_scale < max_scale and a positive tolerance".into(),
        ));
    }
    let mut axes = Vec::new();
    let mut keys: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for (parameter, values) in &spec.parameters {
        KeyPath::parse(parameter.strip_prefix("slo.latency_p").map_or(parameter, |_| "slo"))
            .map_err(|e| parameter_error(e.into(), None))?;
        let key = planner::apply::canonical(parameter).map_err(|e| parameter_error(e, None))?;
        if let Some(other) = keys.insert(key.clone(), parameter) {
            let message = format!("parameters {other:?} and {parameter:?} both set {key}: keep one");
            return Err(parameter_error(PlanError::Values { parameter: parameter.clone(), message }, None));
        }
        let values = planner::expand(parameter, values).map_err(|e| parameter_error(e, None))?;
        axes.push(planner::Axis { path: parameter.clone(), values });
    }
    let grid = Grid { axes };
    let too_many = |count: String| {
        at(
            &["parameters"],
            format!(
                "the sweep has {count} points; at most {} (sample with strategy = \"random\")",
                planner::MAX_POINTS
            ),
        )
    };
    match (spec.strategy, grid.checked_len()) {
        (_, None) => return Err(too_many("more than 2^64".into())),
        (Strategy::Random, Some(_)) if spec.samples.unwrap_or(0) as usize > planner::MAX_POINTS => {
            return Err(at(&["samples"], format!("samples must be at most {}", planner::MAX_POINTS)));
        }
        (Strategy::Random, Some(_)) => {}
        (_, Some(count)) if count > planner::MAX_POINTS => return Err(too_many(count.to_string())),
        _ => {}
    }
    let points = match spec.strategy {
        Strategy::Random => grid.sample(spec.samples.unwrap_or(0) as usize, loaded.scenario.seed),
        _ => grid.all(),
    };
    let catalog_text = format!("{:?}", loaded.inputs.catalog);
    let base_text = toml::to_string(&base).expect("a scenario document serialises");
    let hash = sweep_hash(&base_text, &spec, loaded.scenario.seed, &points, &catalog_text);
    let mut plan = Plan { base, inputs: std::mem::take(&mut loaded.inputs), spec, seed: loaded.scenario.seed };

    // Every point must be a well-formed scenario; a parameter path or value that does not fit the
    // format is bad input, not an infeasible point. Files that points name are read now.
    let mut scenarios = Vec::with_capacity(points.len());
    for point in &points {
        let scenario = plan.scenario(point).map_err(|e| parameter_error(e, Some(point.index)))?;
        // The base scenario's warnings are printed once, below; a point's are the same.
        let _ = load::load_files(path, &scenario, &mut plan.inputs, &|key_path, message| {
            CliError::input(format!("{}: sweep point {} ({key_path}): {message}", path.display(), point.index))
        })?;
        // A point the model refuses (a replica count past the limit, a table too short for a swept
        // max_batch) is bad input too, found before any point runs rather than as an infeasible row.
        sim::build(&scenario, &plan.inputs).map_err(|e| built_error(&e, point))?;
        scenarios.push(scenario);
    }
    if let (Strategy::RightSize, Some(right_size), Some(point)) =
        (plan.spec.strategy, plan.spec.right_size.clone(), points.first())
    {
        // The searched counts' ends must make valid scenarios: a max past the replica limit or a
        // path naming no region would otherwise fail every point, reported only in sweep.csv.
        for replicas in [right_size.min, right_size.max] {
            let mut sized = point.clone();
            for right_path in &right_size.paths {
                sized.values.push((right_path.clone(), ParamValue::Integer(i64::from(replicas))));
            }
            let within = |message: String| at(&["right_size"], format!("right_size at {replicas} replicas: {message}"));
            let scenario = plan.scenario(&sized).map_err(|e| within(e.to_string()))?;
            load::load_files(path, &scenario, &mut plan.inputs, &|_, message| within(message))?;
            sim::build(&scenario, &plan.inputs).map_err(|e| within(e.to_string()))?;
        }
    }
    Ok(Prepared { plan, points, scenarios, hash, base_text })
}
