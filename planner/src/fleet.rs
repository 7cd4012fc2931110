//! Fleet plans (`[fleet]`): an instance type and a replica count for each of many endpoints at
//! once, at the least total cost that meets every SLO. A full grid over every endpoint's options
//! grows as options^endpoints; endpoints interact only through pipelines (and regions' outages), so
//! each endpoint is first sized **alone** on each instance type — its own traffic plus what the
//! pipelines send it, judged on its own SLO, with right-sizing's bisection — and the cheapest
//! choices are then run **together** and repaired: an endpoint missing its SLO gets more replicas,
//! a pipeline missing its own gets them for the endpoints its slowest stage calls (by share of the
//! pipeline's p99), until everything holds. Runner-up fleets change one endpoint to its
//! next-cheapest type. Every fleet is a sweep point (parameter paths and values), so the robust
//! choice and the reports treat fleets like any other point.

use crate::evaluate::{EndpointMetrics, Plan, PointResult, RunMetrics};
use crate::frontier::{judge, Judged};
use crate::space::Point;
use rayon::prelude::*;
use sim::scenario::{Dist, Objective, ParamValue, RightSize, Scenario, Strategy, Sweep};
use toml::{Table, Value};

/// Rounds of joint repair before a fleet is given up.
const MAX_REPAIRS: usize = 24;

/// One endpoint the fleet plan chooses for, with the parameter paths its choice sets.
#[derive(Clone, Debug)]
pub struct FleetEndpoint {
    pub name: String,
    /// Regions it is deployed in.
    pub regions: Vec<String>,
    /// Paths of its `kind = "model"` service times' `device`.
    pub device_paths: Vec<String>,
    /// Paths of its other service times' `calibration.service_scale`, with the scale written now.
    pub scale_paths: Vec<(String, f64)>,
}

/// Endpoint `e` on option `o`, sized alone.
#[derive(Clone, Debug)]
pub struct Sizing {
    pub endpoint: usize,
    pub option: usize,
    /// The fewest replicas per region meeting its SLO alone (None: not even `max_replicas`).
    pub replicas: Option<u32>,
    pub usd_per_hour: Option<f64>,
    /// Why not, when it fits nowhere.
    pub reason: String,
}

/// A fleet: per endpoint (in `Search::endpoints`' order), its option and replicas per region.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fleet(pub Vec<(usize, u32)>);

/// The search's inputs: the full scenario's plan (its document, inputs, seed and replications),
/// the endpoints, the options.
pub struct Search<'a> {
    pub plan: &'a Plan,
    pub scenario: &'a Scenario,
    pub endpoints: Vec<FleetEndpoint>,
    pub options: &'a [sim::scenario::FleetInstance],
    pub max_replicas: u32,
    pub runner_ups: usize,
    /// Sizing alone holds at this much traffic and this much slower a model (the `[plan]` risks'
    /// traffic margin and service-time band, 1 without), so that the fleets run together are
    /// candidates the robust choice can keep.
    pub traffic_factor: f64,
    pub service_factor: f64,
}

/// What the search found: each endpoint alone on each option, and the fleets evaluated together
/// (the cheapest repaired one first, then the runner-ups), as points with their judgements.
pub struct Outcome {
    pub sizing: Vec<Sizing>,
    pub fleets: Vec<Fleet>,
    pub results: Vec<PointResult>,
    pub judged: Vec<Judged>,
}

impl Search<'_> {
    /// The endpoints a `[fleet]` section chooses for, with the paths their choice sets; an error
    /// names what cannot be chosen for.
    pub fn endpoints_of(scenario: &Scenario) -> Result<Vec<FleetEndpoint>, (sim::scenario::KeyPath, String)> {
        let fleet = scenario.fleet.as_ref().expect("a fleet plan has [fleet]");
        let shared = |name: &str| scenario.gpu_sharing.values().any(|g| g.endpoints.iter().any(|e| e == name));
        let names: Vec<String> = if fleet.endpoints.is_empty() {
            (scenario.endpoints.iter())
                .filter(|(name, e)| e.pipeline.is_none() && !e.regions.is_empty() && !shared(name))
                .map(|(name, _)| name.clone())
                .collect()
        } else {
            fleet.endpoints.clone()
        };
        if names.is_empty() {
            return Err((sim::path!["fleet"], "no named model endpoint with regions of its own to choose for".into()));
        }
        let mut out = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let at = sim::path!["fleet", "endpoints", i];
            let Some(endpoint) = scenario.endpoints.get(name) else {
                return Err((at, format!("unknown endpoint {name:?}")));
            };
            if endpoint.pipeline.is_some() || shared(name) || endpoint.regions.is_empty() {
                return Err((
                    at,
                    format!("{name:?} is a pipeline, shares GPUs or has no regions: a fleet chooses for model endpoints with replicas of their own"),
                ));
            }
            if names[..i].contains(name) {
                return Err((at, format!("{name:?} is listed twice")));
            }
            if endpoint.regions.values().any(|r| r.autoscaling.is_some()) {
                return Err((
                    at,
                    format!("{name:?} autoscales: a fleet plan sizes fixed replicas; drop its autoscaling"),
                ));
            }
            let mut device_paths = Vec::new();
            let mut scale_paths = Vec::new();
            let mut servings = Vec::new();
            if let Some(serving) = &endpoint.serving {
                servings.push((format!("endpoints.{name}.serving"), serving));
            }
            for (region, given) in &endpoint.regions {
                if let Some(serving) = &given.serving {
                    servings.push((format!("endpoints.{name}.regions.{region}.serving"), serving));
                }
            }
            for (at, serving) in servings {
                let scale = serving.calibration.as_ref().map_or(1.0, |c| c.service_scale);
                let mut model = |dist: &Dist, path: String| {
                    if let Dist::Model { .. } = dist {
                        device_paths.push(format!("{path}.device"));
                    }
                };
                if let Some(dist) = &serving.service_time {
                    model(dist, format!("{at}.service_time"));
                }
                for (k, variant) in serving.variants.iter().enumerate() {
                    model(&variant.service_time, format!("{at}.variants[{k}].service_time"));
                }
                // An LLM engine's iteration time is estimated on its `device` too.
                if serving.llm.as_ref().is_some_and(|llm| llm.model.is_some()) {
                    device_paths.push(format!("{at}.llm.device"));
                }
                scale_paths.push((format!("{at}.calibration.service_scale"), scale));
            }
            out.push(FleetEndpoint {
                name: name.clone(),
                regions: endpoint.regions.keys().cloned().collect(),
                device_paths,
                scale_paths,
            });
        }
        Ok(out)
    }

    /// The parameter values that put endpoint `e` on option `o` (replicas set apart).
    fn option_values(&self, e: usize, o: usize) -> Vec<(String, ParamValue)> {
        self.option_values_at(e, o, 1.0)
    }

    /// [`Self::option_values`] with every service time `service_factor` times longer.
    fn option_values_at(&self, e: usize, o: usize, service_factor: f64) -> Vec<(String, ParamValue)> {
        let endpoint = &self.endpoints[e];
        let option = &self.options[o];
        let mut values = Vec::new();
        for region in &endpoint.regions {
            values.push((
                format!("endpoints.{}.regions.{region}.instance", endpoint.name),
                ParamValue::Text(option.instance.clone()),
            ));
        }
        if let Some(device) = &option.device {
            values.extend(endpoint.device_paths.iter().map(|p| (p.clone(), ParamValue::Text(device.clone()))));
        }
        let factor = option.service_scale * service_factor;
        if factor != 1.0 {
            values.extend(endpoint.scale_paths.iter().map(|(p, s)| (p.clone(), ParamValue::Float(s * factor))));
        }
        values
    }

    fn replica_paths(&self, e: usize) -> Vec<String> {
        let endpoint = &self.endpoints[e];
        endpoint.regions.iter().map(|r| format!("endpoints.{}.regions.{r}.replicas", endpoint.name)).collect()
    }

    /// A whole fleet as one point's values.
    pub fn fleet_values(&self, fleet: &Fleet) -> Vec<(String, ParamValue)> {
        let mut values = Vec::new();
        for (e, &(o, replicas)) in fleet.0.iter().enumerate() {
            values.extend(self.option_values(e, o));
            values.extend(self.replica_paths(e).into_iter().map(|p| (p, ParamValue::Integer(i64::from(replicas)))));
        }
        values
    }

    /// Runs the whole search on the caller's rayon pool.
    pub fn run(&self) -> Result<Outcome, String> {
        let pairs: Vec<(usize, usize)> =
            (0..self.endpoints.len()).flat_map(|e| (0..self.options.len()).map(move |o| (e, o))).collect();
        let sizing: Vec<Sizing> = pairs.par_iter().map(|&(e, o)| self.size_alone(e, o)).collect::<Result<_, _>>()?;
        // Per endpoint, its options that fit, cheapest first (ties: the option listed first).
        let mut ranked: Vec<Vec<&Sizing>> = vec![Vec::new(); self.endpoints.len()];
        for s in sizing.iter().filter(|s| s.replicas.is_some()) {
            ranked[s.endpoint].push(s);
        }
        for (e, options) in ranked.iter_mut().enumerate() {
            options.sort_by(|a, b| {
                a.usd_per_hour
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.usd_per_hour.unwrap_or(f64::INFINITY))
                    .then(a.option.cmp(&b.option))
            });
            if options.is_empty() {
                let reasons: Vec<String> = sizing
                    .iter()
                    .filter(|s| s.endpoint == e)
                    .map(|s| format!("{}: {}", self.options[s.option].instance, s.reason))
                    .collect();
                return Err(format!(
                    "endpoint {:?} meets its SLO alone on none of the fleet's instance types with up to {} replicas ({})",
                    self.endpoints[e].name,
                    self.max_replicas,
                    reasons.join("; ")
                ));
            }
        }
        let cheapest = Fleet(ranked.iter().map(|o| (o[0].option, o[0].replicas.expect("fits"))).collect());
        let mut fleets = vec![cheapest.clone()];
        // Runner-ups: one endpoint on its next-cheapest option, by the least extra cost alone.
        let mut swaps: Vec<(f64, usize, &Sizing)> = ranked
            .iter()
            .enumerate()
            .filter_map(|(e, o)| {
                let next = o.get(1)?;
                Some((next.usd_per_hour.unwrap_or(f64::INFINITY) - o[0].usd_per_hour.unwrap_or(0.0), e, *next))
            })
            .collect();
        swaps.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, e, next) in swaps.into_iter().take(self.runner_ups) {
            let mut fleet = cheapest.clone();
            fleet.0[e] = (next.option, next.replicas.expect("fits"));
            fleets.push(fleet);
        }
        let repaired: Vec<(Fleet, PointResult)> =
            fleets.par_iter().enumerate().map(|(k, fleet)| self.repair(k, fleet.clone())).collect();
        let (fleets, results): (Vec<Fleet>, Vec<PointResult>) = repaired.into_iter().unzip();
        let spec = &self.plan.spec;
        let judged = judge(&results, Strategy::Grid, Objective::CostPerHour, spec.slo_confidence);
        Ok(Outcome { sizing, fleets, results, judged })
    }

    /// Endpoint `e` alone on option `o`: the fewest replicas meeting its SLO.
    fn size_alone(&self, e: usize, o: usize) -> Result<Sizing, String> {
        let document = alone_document(&self.plan.base, self.scenario, &self.endpoints[e].name, self.traffic_factor);
        let spec = Sweep {
            strategy: Strategy::RightSize,
            right_size: Some(RightSize { paths: self.replica_paths(e), min: 1, max: self.max_replicas }),
            ..self.plan.spec.clone()
        };
        let plan = Plan { base: document, inputs: self.plan.inputs.clone(), spec, seed: self.plan.seed };
        let point =
            Point { index: e * self.options.len() + o, values: self.option_values_at(e, o, self.service_factor) };
        let scenario = plan.scenario(&point).map_err(|e| e.to_string())?;
        let result = plan.evaluate(&point, &scenario);
        let usd = result.runs.iter().map(|r| r.usd_per_hour).sum::<f64>() / result.runs.len().max(1) as f64;
        Ok(Sizing {
            endpoint: e,
            option: o,
            replicas: result.replicas.filter(|_| result.error.is_none()),
            usd_per_hour: result.replicas.filter(|_| result.error.is_none()).map(|_| usd),
            reason: result.error.unwrap_or_default(),
        })
    }

    /// Runs `fleet` together, adding replicas where an SLO misses, until every one holds (or an
    /// endpoint reaches `max_replicas`, or the rounds run out): the last fleet and its runs.
    fn repair(&self, index: usize, mut fleet: Fleet) -> (Fleet, PointResult) {
        let mut rounds = 0;
        loop {
            let point = Point { index, values: self.fleet_values(&fleet) };
            let result = match self.plan.scenario(&point) {
                Ok(scenario) => self.plan.evaluate(&point, &scenario),
                Err(error) => PointResult::failed(&point, error.to_string()),
            };
            if result.error.is_some() || result.runs.is_empty() {
                return (fleet, result);
            }
            let bumps = self.short_of(&result);
            rounds += 1;
            if bumps.is_empty() || rounds > MAX_REPAIRS {
                return (fleet, result);
            }
            let mut grown = false;
            for e in bumps {
                let (_, replicas) = &mut fleet.0[e];
                if *replicas < self.max_replicas {
                    // A tenth more (at least one): few rounds for large endpoints, one replica for small.
                    *replicas = (*replicas + (*replicas).div_ceil(10)).min(self.max_replicas);
                    grown = true;
                }
            }
            if !grown {
                return (fleet, result);
            }
        }
    }

    /// The endpoints (by position in `self.endpoints`) to give more replicas after a joint run:
    /// those missing their own SLO; for a pipeline missing its SLO, those its stage with the
    /// largest share of the pipeline's p99 calls (every fleet endpoint it calls when it has none);
    /// for the top-level SLO, every endpoint.
    fn short_of(&self, result: &PointResult) -> Vec<usize> {
        let metrics: &RunMetrics = result.pooled.as_ref().unwrap_or(&result.runs[0]);
        let position = |name: &str| self.endpoints.iter().position(|e| e.name == name);
        let mut bumps = Vec::new();
        for endpoint in metrics.endpoints.iter().filter(|e| e.misses()) {
            if let Some(e) = position(&endpoint.name) {
                bumps.push(e);
                continue;
            }
            let Some(pipeline) = self.scenario.endpoints.get(&endpoint.name).and_then(|e| e.pipeline.as_ref()) else {
                continue;
            };
            let slowest = largest_share(endpoint);
            for stage in pipeline.stages.iter().filter(|s| slowest.is_none_or(|name| s.name == name)) {
                for call in &stage.call {
                    bumps.extend(self.reached(call).into_iter().filter_map(|name| position(&name)));
                }
            }
        }
        if top_level_misses(metrics) {
            bumps.extend(0..self.endpoints.len());
        }
        bumps.sort_unstable();
        bumps.dedup();
        bumps
    }

    /// The model endpoints a call to `name` reaches (through nested pipelines).
    fn reached(&self, name: &str) -> Vec<String> {
        match self.scenario.endpoints.get(name).and_then(|e| e.pipeline.as_ref()) {
            None => vec![name.to_string()],
            Some(pipeline) => pipeline.stages.iter().flat_map(|s| &s.call).flat_map(|c| self.reached(c)).collect(),
        }
    }
}

fn largest_share(endpoint: &EndpointMetrics) -> Option<&str> {
    endpoint
        .stage_p99_shares
        .iter()
        .filter_map(|(name, share)| Some((name, (*share)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name.as_str())
}

fn top_level_misses(metrics: &RunMetrics) -> bool {
    let latency = metrics.latency_targets.iter().any(|&(_, target, observed)| observed.is_none_or(|v| v > target));
    latency || metrics.availability_target.is_some_and(|t| metrics.availability < t)
}

/// The scenario document with endpoint `name` alone: its own traffic, plus every source whose
/// pipeline reaches it (once per call, at the source's rate), judged on its own SLO (availability
/// 0.999 when it has none); no other endpoint, main deployment, fault, A/B, shadow, job or plan.
/// Every source's rate is `traffic_factor` times the written one.
fn alone_document(base: &Table, scenario: &Scenario, name: &str, traffic_factor: f64) -> Table {
    let mut document = base.clone();
    for key in ["sweep", "plan", "fleet", "slo", "faults", "ab", "shadow", "jobs", "gpu_sharing", "serving", "compare"]
    {
        document.remove(key);
    }
    if let Some(Value::Table(regions)) = document.get_mut("regions") {
        for (_, region) in regions.iter_mut() {
            let Some(region) = region.as_table_mut() else { continue };
            region.insert("replicas".into(), Value::Integer(0));
            region.remove("autoscaling");
            region.remove("serving");
        }
    }
    if let Some(Value::Table(endpoints)) = document.get_mut("endpoints") {
        endpoints.retain(|key, _| key == name);
        if let Some(Value::Table(endpoint)) = endpoints.get_mut(name) {
            if !endpoint.contains_key("slo") {
                let mut slo = Table::new();
                slo.insert("availability".into(), Value::Float(0.999));
                endpoint.insert("slo".into(), Value::Table(slo));
            }
        }
    }
    let calls = |endpoint: Option<&str>| -> u32 { endpoint.map_or(0, |e| count_calls(scenario, e, name)) };
    let mut traffic = Vec::new();
    for (given, source) in
        scenario.traffic.iter().zip(base.get("traffic").and_then(Value::as_array).into_iter().flatten())
    {
        let times = calls(given.endpoint.as_deref());
        if times == 0 {
            continue;
        }
        let mut copy = given.clone();
        copy.endpoint = Some(name.to_string());
        let factor = f64::from(times) * traffic_factor;
        if factor != 1.0 {
            sim::scenario::scale_arrivals(&mut copy.arrivals, factor);
        }
        // Through the serde form, so that every arrival key is written as the format reads it.
        let mut value = Value::try_from(&copy).unwrap_or_else(|_| source.clone());
        if let (Some(table), Some(original)) = (value.as_table_mut(), source.as_table()) {
            // Keys the scenario leaves to defaults stay absent, as written.
            table.retain(|key, _| original.contains_key(key) || key == "endpoint");
        }
        traffic.push(value);
    }
    document.insert("traffic".into(), Value::Array(traffic));
    document
}

/// How many calls one request to `endpoint` makes to `target` (itself: 1; a pipeline: the sum over
/// its stages' calls).
fn count_calls(scenario: &Scenario, endpoint: &str, target: &str) -> u32 {
    if endpoint == target {
        return 1;
    }
    match scenario.endpoints.get(endpoint).and_then(|e| e.pipeline.as_ref()) {
        None => 0,
        Some(pipeline) => pipeline.stages.iter().flat_map(|s| &s.call).map(|c| count_calls(scenario, c, target)).sum(),
    }
}
