//! `build`: a whole scenario → [`Model`]. Regions, prices, the network, traffic, routing, SLO,
//! faults and retries, each checked where it is read.

use super::arrivals::process;
use super::checks::{
    check_positive, MAX_DEPLOYMENT_INSTANCES, MAX_EXPECTED_REQUESTS, MAX_INTERVALS, MAX_REGIONS, MAX_REPLICAS,
};
use super::error::{fail, ScenarioError};
use super::inputs::Inputs;
use super::operations::{build_autoscaling, build_fault, build_health, build_retries};
use super::price::{price_of, Price};
use super::serving::serving_model;
use super::{
    DeploymentModel, EndpointModel, LatencyTargetModel, Model, RegionModel, Role, RoutingModel, ServingModel, SloModel,
    SourceModel,
};
use crate::path;
use crate::policy::routing::RoutingPolicy;
use crate::scenario::{self, KeyPath, PathSegment, Scenario};
use crate::traffic::Process;
use crate::units::Nanos;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Check a scenario and resolve it into a runnable model: each section by its own builder, in the
/// order their errors are reported.
pub fn build(scenario: &Scenario, inputs: &Inputs) -> Result<Model, ScenarioError> {
    let mut jobs = super::jobs::build_jobs(scenario, inputs)?;
    if scenario.traffic.is_empty() && !jobs.is_empty() {
        return jobs_alone(scenario, jobs);
    }
    let duration = check_clock(scenario)?;
    let regions = build_regions(scenario, inputs)?;
    let endpoints = super::endpoints::build_endpoints(scenario, inputs, &regions)?;
    if regions.iter().chain(endpoints.iter().flat_map(|e| &e.regions)).all(|r| !r.serves()) {
        return fail(path!["regions"], "no region has replicas: nothing would serve the traffic");
    }
    let links = build_links(scenario, &regions)?;
    let sources = build_sources(scenario, inputs, &regions, &endpoints, duration)?;
    let rtt = resolve_rtt(&links, &sources, &regions, &endpoints)?;
    let (policy, weights, spillover_queue) = build_routing(scenario, &regions, &endpoints, &sources)?;
    let slo = build_slo(&path!["slo"], scenario.slo.as_ref())?;
    let faults = build_faults(scenario, &regions, &endpoints, duration)?;
    let retries = scenario.retries.as_ref().map(|r| build_retries(&path!["retries"], r)).transpose()?;
    super::jobs::resolve_shared(scenario, &mut jobs, &regions, duration)?;
    let health = build_health(&path!["routing", "health_check"], &scenario.routing.health_check)?;
    let gpu_groups = super::sharing::build_gpu_groups(scenario, inputs, &regions, &endpoints)?;
    let monitoring =
        super::monitoring::build_monitoring(scenario.monitoring.as_ref(), duration, (&regions, &slo), &endpoints)?;

    Ok(Model {
        name: scenario.name.clone(),
        seed: scenario.seed,
        duration,
        warmup: scenario.warmup.nanos(),
        interval: scenario.interval.nanos(),
        regions,
        rtt,
        sources,
        routing: RoutingModel { policy, weights, spillover_queue, health },
        slo,
        monitoring,
        faults,
        retries,
        jobs,
        endpoints,
        gpu_groups,
    })
}

/// `duration`, `warmup` and `interval`; returns the duration.
fn check_clock(scenario: &Scenario) -> Result<Nanos, ScenarioError> {
    let duration = scenario.duration.nanos();
    check_positive(path!["duration"], "duration", duration)?;
    if scenario.warmup.nanos() >= duration {
        return fail(
            path!["warmup"],
            format!("warmup ({}) must be shorter than duration ({})", scenario.warmup, scenario.duration),
        );
    }
    check_positive(path!["interval"], "interval", scenario.interval.nanos())?;
    let intervals = duration.div_ceil(scenario.interval.nanos());
    if intervals > MAX_INTERVALS {
        return fail(
            path!["interval"],
            format!(
                "interval {} would give {intervals} time-series rows per region; use at most {MAX_INTERVALS}",
                scenario.interval
            ),
        );
    }
    Ok(duration)
}

/// Every region with its deployments, each within the instance limit; at least one serves.
fn build_regions(scenario: &Scenario, inputs: &Inputs) -> Result<Vec<RegionModel>, ScenarioError> {
    if scenario.regions.is_empty() {
        return fail(path!["regions"], "at least one region is needed");
    }
    if scenario.regions.len() > MAX_REGIONS {
        return fail(path!["regions"], format!("at most {MAX_REGIONS} regions, got {}", scenario.regions.len()));
    }
    let shared_serving = match &scenario.serving {
        Some(serving) => Some(Arc::new(serving_model(&path!["serving"], serving, inputs)?)),
        None => None,
    };
    let mut regions = Vec::with_capacity(scenario.regions.len());
    for (name, region) in &scenario.regions {
        regions.push(build_region(scenario, inputs, name, region, &shared_serving)?);
    }
    for region in &regions {
        for (role, deployment) in region.deployments() {
            let at = match role {
                Role::Primary => path!["regions", region.name.as_str(), "replicas"],
                Role::Variant => path!["ab", "replicas"],
                Role::Shadow => path!["shadow", "replicas"],
            };
            check_instances(deployment, at)?;
        }
    }
    for (name, instance) in &scenario.instance_types {
        if !instance.usd_per_hour.is_finite() || instance.usd_per_hour < 0.0 {
            return fail(path!["instance_types", name, "usd_per_hour"], "price must be zero or positive");
        }
    }
    Ok(regions)
}

/// One region: its primary deployment from the region's own keys, and the scenario's `[ab]`
/// variant and `[shadow]` beside it where the region serves.
fn build_region(
    scenario: &Scenario,
    inputs: &Inputs,
    name: &str,
    region: &scenario::Region,
    shared_serving: &Option<Arc<ServingModel>>,
) -> Result<RegionModel, ScenarioError> {
    let primary = build_primary(scenario, inputs, &path!["regions", name], region, shared_serving)?;
    let beside = |key: &str, given: &Option<scenario::Deployment>| match (given, &primary.serving) {
        (Some(d), Some(serving)) => build_beside(scenario, inputs, region, key, d, serving).map(Some),
        _ => Ok(None),
    };
    let variant = beside("ab", &scenario.ab)?;
    let shadow = beside("shadow", &scenario.shadow)?;
    Ok(RegionModel { name: name.to_string(), primary, variant, shadow, runs_pipeline: false })
}

/// A region's primary deployment of an endpoint, from the region's keys at `region_path` (its own
/// `serving`, else `shared_serving`).
pub(super) fn build_primary(
    scenario: &Scenario,
    inputs: &Inputs,
    region_path: &KeyPath,
    region: &scenario::Region,
    shared_serving: &Option<Arc<ServingModel>>,
) -> Result<DeploymentModel, ScenarioError> {
    if region.replicas > MAX_REPLICAS {
        return fail(region_path.join("replicas"), format!("replicas must be at most {MAX_REPLICAS}"));
    }
    let serving = match &region.serving {
        Some(own) => Some(Arc::new(serving_model(&region_path.join("serving"), own, inputs)?)),
        None => shared_serving.clone(),
    };
    if region.replicas > 0 && serving.is_none() {
        let message = match region_path.0.first() {
            Some(PathSegment::Key(key)) if key == "endpoints" => {
                "region has replicas but its endpoint has no serving (in the endpoint or in the region)"
            }
            _ => "region has replicas but there is no [serving] section (top level or in the region)",
        };
        return fail(region_path.clone(), message);
    }
    let price = match &region.instance {
        None => Price { usd_per_hour: 0.0, source: None, gpus: None, gpu: None, preemptions_per_hour: None },
        Some(instance) => price_of(instance, region.pricing, scenario, inputs)
            .map_err(|message| ScenarioError { path: region_path.join("instance"), message })?,
    };
    let autoscaling = match &region.autoscaling {
        Some(a) if serving.is_some() => Some(build_autoscaling(&region_path.join("autoscaling"), a, region.replicas)?),
        Some(_) => return fail(region_path.join("autoscaling"), "autoscaling needs a [serving] section"),
        None => None,
    };
    let serves = region.replicas > 0 || autoscaling.is_some();
    Ok(DeploymentModel {
        fraction: 1.0,
        replicas: region.replicas,
        serving: if serves { serving } else { None },
        autoscaling,
        instance: region.instance.clone(),
        usd_per_hour: price.usd_per_hour,
        price_source: price.source,
        gpus: price.gpus,
    })
}

/// An `[ab]` variant or a `[shadow]` (`key`) in a serving region: its own serving settings,
/// instance and autoscaler, or the primary's serving model and the region's instance.
fn build_beside(
    scenario: &Scenario,
    inputs: &Inputs,
    region: &scenario::Region,
    key: &str,
    given: &scenario::Deployment,
    primary_serving: &Arc<ServingModel>,
) -> Result<DeploymentModel, ScenarioError> {
    let at = path![key];
    if !(given.fraction > 0.0 && given.fraction <= 1.0) {
        return fail(at.join("fraction"), format!("fraction must be in (0, 1], got {}", given.fraction));
    }
    if given.replicas == 0 || given.replicas > MAX_REPLICAS {
        return fail(at.join("replicas"), format!("replicas must be between 1 and {MAX_REPLICAS}"));
    }
    let serving = match &given.serving {
        Some(own) => Arc::new(serving_model(&at.join("serving"), own, inputs)?),
        None => primary_serving.clone(),
    };
    let instance = given.instance.clone().or_else(|| region.instance.clone());
    let price = match &instance {
        None => Price { usd_per_hour: 0.0, source: None, gpus: None, gpu: None, preemptions_per_hour: None },
        Some(instance) => price_of(instance, region.pricing, scenario, inputs)
            .map_err(|message| ScenarioError { path: at.join("instance"), message })?,
    };
    let autoscaling = given
        .autoscaling
        .as_ref()
        .map(|a| build_autoscaling(&at.join("autoscaling"), a, given.replicas))
        .transpose()?;
    Ok(DeploymentModel {
        fraction: given.fraction,
        replicas: given.replicas,
        serving: Some(serving),
        autoscaling,
        instance,
        usd_per_hour: price.usd_per_hour,
        price_source: price.source,
        gpus: price.gpus,
    })
}

/// Model instances a deployment allocates at start (its slots × instances per replica), bounded.
pub(super) fn check_instances(deployment: &DeploymentModel, at: KeyPath) -> Result<(), ScenarioError> {
    let Some(serving) = &deployment.serving else { return Ok(()) };
    let slots = u64::from(deployment.slots());
    let instances = slots * u64::from(serving.kind.instances());
    if instances > MAX_DEPLOYMENT_INSTANCES {
        return fail(
            at,
            format!(
                "{slots} replica slots × {} instances = {instances} model instances in one deployment; \
                 at most {MAX_DEPLOYMENT_INSTANCES}",
                serving.kind.instances()
            ),
        );
    }
    let llm_metric = deployment.autoscaling.as_ref().is_some_and(|a| {
        matches!(
            a.metric,
            crate::policy::autoscale::ScaleMetric::KvCacheUsage
                | crate::policy::autoscale::ScaleMetric::OutputTokensPerSecond
        )
    });
    if llm_metric && serving.kind.llm().is_none() {
        let mut metric = at.clone();
        metric.0.pop();
        return fail(
            metric.join("autoscaling").join("metric"),
            "kv_cache_usage and output_tokens_per_second are an LLM engine's metrics: this deployment has no [serving.llm]",
        );
    }
    if let Some(split) = serving.kind.llm().and_then(|engine| engine.disaggregation.as_ref()) {
        if deployment.autoscaling.is_some() {
            return fail(at, "disaggregated prefill and decode keep fixed replica counts: leave autoscaling out");
        }
        if deployment.replicas > 0 && deployment.replicas <= split.prefill_replicas {
            return fail(
                at,
                format!(
                    "{} replicas with prefill_replicas = {} leaves none to decode: give more replicas than prefill_replicas",
                    deployment.replicas, split.prefill_replicas
                ),
            );
        }
    }
    Ok(())
}

/// `[network]`: the RTT between each pair of regions given (same-region on the diagonal).
fn build_links(scenario: &Scenario, regions: &[RegionModel]) -> Result<Vec<Vec<Option<Nanos>>>, ScenarioError> {
    let n = regions.len();
    let mut rtt: Vec<Vec<Option<Nanos>>> = vec![vec![None; n]; n];
    for (i, row) in rtt.iter_mut().enumerate() {
        row[i] = Some(scenario.network.same_region_rtt.nanos());
    }
    for (i, link) in scenario.network.links.iter().enumerate() {
        let link_path = path!["network", "links", i];
        let from = regions.iter().position(|r| r.name == link.from);
        let to = regions.iter().position(|r| r.name == link.to);
        let from = from.ok_or_else(|| unknown_region(link_path.join("from"), &link.from, regions))?;
        let to = to.ok_or_else(|| unknown_region(link_path.join("to"), &link.to, regions))?;
        rtt[from][to] = Some(link.rtt.nanos());
        rtt[to][from] = Some(link.rtt.nanos());
    }
    Ok(rtt)
}

/// `[[traffic]]`: each source's origin, arrival process and stream, and the admission bound on the
/// requests they would send.
fn build_sources(
    scenario: &Scenario,
    inputs: &Inputs,
    regions: &[RegionModel],
    endpoints: &[EndpointModel],
    duration: Nanos,
) -> Result<Vec<SourceModel>, ScenarioError> {
    if scenario.traffic.is_empty() {
        return fail(path!["traffic"], "at least one [[traffic]] source (or a [[jobs]] entry) is needed");
    }
    let mut sources = Vec::with_capacity(scenario.traffic.len());
    let mut per_origin: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (i, traffic) in scenario.traffic.iter().enumerate() {
        let traffic_path = path!["traffic", i];
        let origin = regions
            .iter()
            .position(|r| r.name == traffic.origin)
            .ok_or_else(|| unknown_region(traffic_path.join("origin"), &traffic.origin, regions))?;
        let endpoint = match &traffic.endpoint {
            None => {
                if !regions.iter().any(RegionModel::serves) {
                    return fail(
                        traffic_path,
                        "this traffic calls the main endpoint, which no region serves: name one of [endpoints] in `endpoint`",
                    );
                }
                0
            }
            Some(name) => {
                let known = endpoints.iter().position(|e| &e.name == name);
                let k = known.ok_or_else(|| {
                    let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
                    let message = if names.is_empty() {
                        format!("unknown endpoint {name:?}: the scenario has no [endpoints]")
                    } else {
                        format!("unknown endpoint {name:?}; endpoints are: {}", names.join(", "))
                    };
                    ScenarioError { path: traffic_path.join("endpoint"), message }
                })?;
                k + 1
            }
        };
        // The k-th source of an origin keeps its stream when sources of other origins come and go.
        let k = per_origin.entry((endpoint, origin)).or_insert(0);
        let stream = match &traffic.endpoint {
            None => format!("traffic/{}/{}", traffic.origin, k),
            Some(name) => format!("traffic/{name}/{}/{}", traffic.origin, k),
        };
        *k += 1;
        let process =
            process(&traffic_path.join("arrivals"), &traffic.arrivals, inputs, duration, scenario.warmup.nanos())?;
        let tokens = traffic.tokens.as_ref().map(|t| build_tokens(&traffic_path.join("tokens"), t)).transpose()?;
        sources.push(SourceModel { origin, endpoint, process, stream, tokens });
    }

    let expected: f64 = sources
        .iter()
        .map(|s| match &s.process {
            Process::Trace(trace) => trace.offsets.len() as f64,
            Process::Schedule { points } => points.iter().map(|p| p.1).fold(0.0, f64::max) * duration as f64,
            process => process.mean_rate_per_sec().unwrap_or(0.0) * duration as f64 / 1e9,
        })
        .sum();
    if expected > MAX_EXPECTED_REQUESTS {
        return fail(
            path!["duration"],
            format!("the traffic would send about {expected:.2e} requests; shorten duration or lower the rates (at most {MAX_EXPECTED_REQUESTS:.0e})"),
        );
    }
    Ok(sources)
}

/// Every origin must reach every serving region: spillover and failover may use any of them.
fn resolve_rtt(
    links: &[Vec<Option<Nanos>>],
    sources: &[SourceModel],
    regions: &[RegionModel],
    endpoints: &[EndpointModel],
) -> Result<Vec<Vec<Nanos>>, ScenarioError> {
    let n = regions.len();
    let mut rtt_resolved = vec![vec![0; n]; n];
    for source in sources {
        let sites = match source.endpoint {
            0 => regions,
            k => &endpoints[k - 1].regions[..],
        };
        for (r, region) in sites.iter().enumerate() {
            if !region.serves() {
                continue;
            }
            match links[source.origin][r] {
                Some(value) => rtt_resolved[source.origin][r] = value,
                None => {
                    return fail(
                        path!["network", "links"],
                        format!(
                            "no RTT between {} and {}: add a [[network.links]] entry with from, to and rtt",
                            regions[source.origin].name, regions[r].name
                        ),
                    )
                }
            }
        }
    }
    Ok(rtt_resolved)
}

/// `[routing]`: the policy, a weight per region and the spillover bound.
fn build_routing(
    scenario: &Scenario,
    regions: &[RegionModel],
    endpoints: &[EndpointModel],
    sources: &[SourceModel],
) -> Result<(RoutingPolicy, Vec<f64>, Option<u32>), ScenarioError> {
    let serves_any = |r: usize| regions[r].serves() || endpoints.iter().any(|e| e.regions[r].serves());
    let routing = &scenario.routing;
    let mut weights = vec![0.0; regions.len()];
    for (name, &weight) in &routing.weights {
        let weight_path = path!["routing", "weights", name];
        let r = regions
            .iter()
            .position(|r| &r.name == name)
            .ok_or_else(|| unknown_region(weight_path.clone(), name, regions))?;
        if !weight.is_finite() || weight < 0.0 {
            return fail(weight_path, format!("weight must be zero or positive, got {weight}"));
        }
        if !serves_any(r) && weight > 0.0 {
            return fail(weight_path, format!("region {name:?} has no replicas to take traffic"));
        }
        weights[r] = weight;
    }
    let weighted = routing.policy == RoutingPolicy::Weighted;
    if weighted && weights.iter().sum::<f64>() <= 0.0 {
        return fail(path!["routing", "weights"], "weighted routing needs weights that sum to a positive number");
    }
    if weighted {
        // Each endpoint's clients are weighted over the regions that serve it.
        for endpoint in endpoints {
            let called = sources.iter().any(|s| s.endpoint > 0 && endpoints[s.endpoint - 1].name == endpoint.name);
            let weight: f64 = (0..regions.len()).filter(|&r| endpoint.regions[r].serves()).map(|r| weights[r]).sum();
            if called && weight <= 0.0 {
                return fail(
                    path!["routing", "weights"],
                    format!("weighted routing gives no weight to a region serving endpoint {:?}", endpoint.name),
                );
            }
        }
    }
    if !weighted && !routing.weights.is_empty() {
        return fail(path!["routing", "weights"], "weights apply only to policy = \"weighted\"");
    }
    if routing.spillover_queue == Some(0) {
        return fail(path!["routing", "spillover_queue"], "spillover_queue must be at least 1");
    }
    Ok((routing.policy, weights, routing.spillover_queue))
}

/// `[slo]` (or an endpoint's, at `at`): latency targets and availability.
pub(super) fn build_slo(at: &KeyPath, given: Option<&scenario::Slo>) -> Result<SloModel, ScenarioError> {
    let mut slo = SloModel::default();
    let Some(given) = given else { return Ok(slo) };
    for (i, target) in given.latency.iter().enumerate() {
        let target_path = at.join("latency").join(i);
        if !(target.percentile > 0.0 && target.percentile < 100.0) {
            return fail(target_path.join("percentile"), "percentile must be between 0 and 100, e.g. 99 or 99.9");
        }
        check_positive(target_path.join("max"), "max", target.max.nanos())?;
        slo.latency.push(LatencyTargetModel { percentile: target.percentile, max: target.max.nanos() });
    }
    for (key, targets) in [("ttft", &given.ttft), ("tpot", &given.tpot)] {
        for (i, target) in targets.iter().enumerate() {
            let target_path = at.join(key).join(i);
            if !(target.percentile > 0.0 && target.percentile < 100.0) {
                return fail(target_path.join("percentile"), "percentile must be between 0 and 100, e.g. 99 or 99.9");
            }
            check_positive(target_path.join("max"), "max", target.max.nanos())?;
            let model = LatencyTargetModel { percentile: target.percentile, max: target.max.nanos() };
            if key == "ttft" {
                slo.ttft.push(model)
            } else {
                slo.tpot.push(model)
            }
        }
    }
    if let Some(a) = given.availability {
        if !(a > 0.0 && a <= 1.0) {
            return fail(at.join("availability"), format!("availability is a fraction in (0, 1], e.g. 0.999; got {a}"));
        }
    }
    slo.availability = given.availability;
    Ok(slo)
}

/// A token count's distribution as a sampler of whole tokens.
fn build_tokens(at: &KeyPath, tokens: &crate::scenario::llm::Tokens) -> Result<super::TokenModel, ScenarioError> {
    use crate::dist::Sampler;
    use crate::scenario::llm::TokenCount;
    let one = |key: &str, count: &TokenCount| -> Result<Sampler, ScenarioError> {
        let at = at.join(key);
        let positive = |value: f64, name: &str| {
            if (1.0..=1e7).contains(&value) {
                Ok(())
            } else {
                fail(at.join(name), format!("{name} must be between 1 and 10 000 000 tokens; got {value}"))
            }
        };
        Ok(match count {
            TokenCount::Constant { value } => {
                positive(f64::from(*value), "value")?;
                Sampler::constant(u64::from(*value))
            }
            TokenCount::Uniform { min, max } => {
                positive(f64::from(*min), "min")?;
                positive(f64::from(*max), "max")?;
                if max < min {
                    return fail(at.join("max"), "max must be at least min");
                }
                Sampler::uniform(u64::from(*min), u64::from(*max))
            }
            TokenCount::Exponential { mean } => {
                positive(*mean, "mean")?;
                Sampler::exponential(*mean)
            }
            TokenCount::Lognormal { mean, cv } => {
                positive(*mean, "mean")?;
                if !(cv.is_finite() && *cv > 0.0 && *cv <= 100.0) {
                    return fail(at.join("cv"), "cv must be above 0 and at most 100");
                }
                Sampler::lognormal(*mean, *cv)
            }
        })
    };
    let shared_prefix = match &tokens.shared_prefix {
        None => None,
        Some(shared) => {
            let at = at.join("shared_prefix");
            if shared.tokens == 0 {
                return fail(at.join("tokens"), "a shared prefix has at least 1 token");
            }
            if shared.groups == 0 || shared.groups > 1 << 20 {
                return fail(at.join("groups"), "groups must be between 1 and 1048576");
            }
            Some((shared.tokens, shared.groups))
        }
    };
    Ok(super::TokenModel {
        prompt: one("prompt", &tokens.prompt)?,
        output: one("output", &tokens.output)?,
        shared_prefix,
    })
}

/// `[[faults]]`, each in a region that serves (and has the feature store a dependency failure needs).
fn build_faults(
    scenario: &Scenario,
    regions: &[RegionModel],
    endpoints: &[EndpointModel],
    duration: Nanos,
) -> Result<Vec<super::FaultModel>, ScenarioError> {
    let mut faults = Vec::with_capacity(scenario.faults.len());
    for (i, fault) in scenario.faults.iter().enumerate() {
        let at = path!["faults", i];
        let r = regions
            .iter()
            .position(|r| r.name == fault.region)
            .ok_or_else(|| unknown_region(at.join("region"), &fault.region, regions))?;
        let serves_any = regions[r].serves() || endpoints.iter().any(|e| e.regions[r].serves());
        if !serves_any {
            return fail(at.join("region"), format!("region {:?} serves nothing to fail", fault.region));
        }
        let outage = fault.kind == scenario::operations::FaultKind::RegionOutage;
        let endpoint = match &fault.endpoint {
            None => 0,
            Some(_) if outage => {
                return fail(
                    at.join("endpoint"),
                    "a region outage takes every endpoint in the region down: leave endpoint out",
                )
            }
            Some(name) => endpoints.iter().position(|e| &e.name == name).map(|k| k + 1).ok_or_else(|| {
                let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
                ScenarioError {
                    path: at.join("endpoint"),
                    message: format!("unknown endpoint {name:?}; endpoints are: {}", names.join(", ")),
                }
            })?,
        };
        let site = match endpoint {
            0 => &regions[r],
            k => &endpoints[k - 1].regions[r],
        };
        // A region's outage takes down every endpoint there; other faults act on one endpoint's
        // replicas (or feature store).
        if !outage && site.primary.serving.is_none() {
            let message = match &fault.endpoint {
                None => format!(
                    "the main endpoint has no replicas in region {:?}: name the endpoint whose replicas fail with `endpoint`",
                    fault.region
                ),
                Some(name) => format!("endpoint {name:?} has no replicas of its own in region {:?} to fail", fault.region),
            };
            return fail(at.join("region"), message);
        }
        let mut model = build_fault(&at, i, fault, r, duration)?;
        model.endpoint = endpoint;
        if fault.kind == scenario::operations::FaultKind::DependencyFailure
            && site.primary.serving.as_ref().is_none_or(|s| s.feature_store.is_none())
        {
            return fail(at.join("kind"), format!("region {:?} has no feature_store to fail", fault.region));
        }
        faults.push(model);
    }
    Ok(faults)
}

/// A scenario of `[[jobs]]` and no traffic: nothing online to check or run.
fn jobs_alone(scenario: &Scenario, jobs: Vec<super::jobs::JobModel>) -> Result<Model, ScenarioError> {
    if let Some((name, _)) = scenario.regions.iter().find(|(_, r)| r.replicas > 0 || r.autoscaling.is_some()) {
        return fail(
            path!["regions", name, "replicas"],
            "this region serves online but the scenario has no [[traffic]]: add traffic, or drop the region for a scenario of jobs alone",
        );
    }
    for (key, given) in [
        ("endpoints", !scenario.endpoints.is_empty()),
        ("ab", scenario.ab.is_some()),
        ("shadow", scenario.shadow.is_some()),
        ("slo", scenario.slo.is_some()),
        ("retries", scenario.retries.is_some()),
    ] {
        if given {
            return fail(path![key], format!("[{key}] applies to online traffic, and this scenario has none"));
        }
    }
    if !scenario.faults.is_empty() {
        return fail(
            path!["faults"],
            "faults apply to online regions, and this scenario has none (job workers fail through jobs.workers)",
        );
    }
    if let Some(i) = scenario.jobs.iter().position(|j| j.shared.is_some()) {
        return fail(
            path!["jobs", i, "shared"],
            "shared capacity needs online replicas and [[traffic]], and this scenario has none",
        );
    }
    Ok(Model {
        name: scenario.name.clone(),
        seed: scenario.seed,
        duration: 0,
        warmup: 0,
        interval: scenario.interval.nanos(),
        regions: Vec::new(),
        rtt: Vec::new(),
        sources: Vec::new(),
        routing: RoutingModel {
            policy: scenario.routing.policy,
            weights: Vec::new(),
            spillover_queue: None,
            health: build_health(&path!["routing", "health_check"], &scenario.routing.health_check)?,
        },
        slo: SloModel::default(),
        monitoring: Default::default(),
        faults: Vec::new(),
        retries: None,
        jobs,
        endpoints: Vec::new(),
        gpu_groups: Vec::new(),
    })
}

pub(super) fn unknown_region(path: KeyPath, name: &str, regions: &[RegionModel]) -> ScenarioError {
    let known: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    ScenarioError { path, message: format!("unknown region {name:?}; regions are: {}", known.join(", ")) }
}
