//! `[endpoints]`: named endpoints beside the main one. A model endpoint is deployed per region like
//! the main one; a pipeline endpoint calls others, stage after stage, and runs in every region
//! where everything it calls is deployed.

use super::build::{build_primary, build_slo, check_instances, unknown_region};
use super::checks::{check_positive, MAX_ENDPOINTS, MAX_REPLICAS};
use super::error::{fail, ScenarioError};
use super::inputs::Inputs;
use super::operations::{build_cache, build_fallback};
use super::serving::serving_model;
use super::{DeploymentModel, EndpointModel, PipelineModel, RegionModel, StageModel};
use crate::path;
use crate::scenario::{self, KeyPath, Scenario};
use crate::summary::MAIN_ENDPOINT;
use std::sync::Arc;

/// Stages in one pipeline, and calls in one stage: bounds on per-request fan-out.
const MAX_STAGES: usize = 32;
const MAX_CALLS: usize = 64;

/// Every named endpoint, in name order: model endpoints with their deployment in every region (none
/// where not listed), pipelines with their stages resolved and the regions they run in.
pub(super) fn build_endpoints(
    scenario: &Scenario,
    inputs: &Inputs,
    regions: &[RegionModel],
) -> Result<Vec<EndpointModel>, ScenarioError> {
    if scenario.endpoints.len() > MAX_ENDPOINTS {
        return fail(
            path!["endpoints"],
            format!("at most {MAX_ENDPOINTS} endpoints, got {}", scenario.endpoints.len()),
        );
    }
    super::sharing::check_members(scenario)?;
    let mut endpoints = Vec::with_capacity(scenario.endpoints.len());
    for (name, endpoint) in &scenario.endpoints {
        let at = path!["endpoints", name.as_str()];
        check_endpoint_name(&at, name)?;
        let built = match &endpoint.pipeline {
            Some(_) => pipeline_placeholder(&at, endpoint, regions)?,
            None => model_endpoint(scenario, inputs, &at, name, endpoint, regions)?,
        };
        let slo = build_slo(&at.join("slo"), endpoint.slo.as_ref())?;
        endpoints.push(EndpointModel { name: name.clone(), regions: built, slo, pipeline: None });
    }
    resolve_pipelines(scenario, regions, &mut endpoints)?;
    Ok(endpoints)
}

fn model_endpoint(
    scenario: &Scenario,
    inputs: &Inputs,
    at: &KeyPath,
    name: &str,
    endpoint: &scenario::Endpoint,
    regions: &[RegionModel],
) -> Result<Vec<RegionModel>, ScenarioError> {
    let shared = match &endpoint.serving {
        Some(serving) => Some(Arc::new(serving_model(&at.join("serving"), serving, inputs)?)),
        None => None,
    };
    if let Some(group) = super::sharing::group_of(scenario, name) {
        let deployments = super::sharing::member_sites(scenario, inputs, at, endpoint, group, regions, &shared)?;
        return Ok(regions.iter().zip(deployments).map(|(r, primary)| site(&r.name, primary, false)).collect());
    }
    for region in endpoint.regions.keys() {
        if !regions.iter().any(|r| &r.name == region) {
            return Err(unknown_region(at.join("regions").join(region.as_str()), region, regions));
        }
    }
    let mut sites = Vec::with_capacity(regions.len());
    for region in regions {
        let primary = match endpoint.regions.get(&region.name) {
            Some(given) => {
                let region_path = at.join("regions").join(region.name.as_str());
                if given.replicas > MAX_REPLICAS {
                    return fail(region_path.join("replicas"), format!("replicas must be at most {MAX_REPLICAS}"));
                }
                let primary = build_primary(scenario, inputs, &region_path, given, &shared)?;
                check_instances(&primary, region_path.join("replicas"))?;
                primary
            }
            None => DeploymentModel::none(),
        };
        sites.push(site(&region.name, primary, false));
    }
    if sites.iter().all(|r| !r.serves()) {
        return fail(at.join("regions"), format!("endpoint {name:?} has no region with replicas"));
    }
    Ok(sites)
}

fn site(region: &str, primary: DeploymentModel, runs_pipeline: bool) -> RegionModel {
    RegionModel { name: region.to_string(), primary, variant: None, shadow: None, runs_pipeline }
}

/// A pipeline's sites before its calls are resolved: it serves nowhere yet.
fn pipeline_placeholder(
    at: &KeyPath,
    endpoint: &scenario::Endpoint,
    regions: &[RegionModel],
) -> Result<Vec<RegionModel>, ScenarioError> {
    if endpoint.serving.is_some() || !endpoint.regions.is_empty() {
        return fail(
            at.join("pipeline"),
            "a pipeline has no serving or regions of its own: it runs where every endpoint it calls is deployed",
        );
    }
    Ok(regions.iter().map(|r| site(&r.name, DeploymentModel::none(), false)).collect())
}

/// Resolves every pipeline's calls (by name; `main` is the main endpoint), refuses cycles, and
/// marks the regions each runs in: those where every endpoint it calls serves, pipelines included.
fn resolve_pipelines(
    scenario: &Scenario,
    regions: &[RegionModel],
    endpoints: &mut [EndpointModel],
) -> Result<(), ScenarioError> {
    let index_of = |name: &str| -> Option<usize> {
        if name == MAIN_ENDPOINT {
            return regions.iter().any(RegionModel::serves).then_some(0);
        }
        scenario.endpoints.keys().position(|n| n == name).map(|k| k + 1)
    };
    let mut pipelines: Vec<Option<PipelineModel>> = Vec::with_capacity(endpoints.len());
    for (name, endpoint) in &scenario.endpoints {
        let Some(given) = &endpoint.pipeline else {
            pipelines.push(None);
            continue;
        };
        let at = path!["endpoints", name.as_str(), "pipeline"];
        pipelines.push(Some(build_pipeline(&at, given, &index_of)?));
    }
    // Cycles: depth-first over calls, in name order (the first cycle found is reported).
    let names: Vec<&String> = scenario.endpoints.keys().collect();
    let calls_of = |k: usize| -> Vec<usize> {
        pipelines[k].as_ref().map_or(Vec::new(), |p| p.stages.iter().flat_map(|s| s.calls.clone()).collect())
    };
    let mut state = vec![0u8; endpoints.len()]; // 0 unseen, 1 on the path, 2 done
    let mut order = Vec::new();
    for start in 0..endpoints.len() {
        visit(start, &calls_of, &mut state, &mut Vec::new(), &mut order).map_err(|cycle| {
            let words: Vec<&str> = cycle.iter().map(|&k| names[k].as_str()).collect();
            ScenarioError {
                path: path!["endpoints", names[cycle[0]].as_str(), "pipeline"],
                message: format!("pipelines call each other in a cycle: {}", words.join(" → ")),
            }
        })?;
    }
    // Callees before callers: a pipeline runs in a region when all it calls serve there.
    for &k in &order {
        let Some(pipeline) = &pipelines[k] else { continue };
        for (r, main) in regions.iter().enumerate() {
            let serves = |callee: usize| match callee {
                0 => main.serves(),
                c => endpoints[c - 1].regions[r].serves(),
            };
            let runs = pipeline.stages.iter().all(|s| s.calls.iter().all(|&c| serves(c)));
            endpoints[k].regions[r].runs_pipeline = runs;
        }
        if endpoints[k].regions.iter().all(|r| !r.serves()) {
            return fail(
                path!["endpoints", names[k].as_str(), "pipeline"],
                format!(
                    "pipeline {:?} runs nowhere: no region has every endpoint it calls (calls stay in the region)",
                    names[k]
                ),
            );
        }
    }
    for (endpoint, pipeline) in endpoints.iter_mut().zip(pipelines) {
        endpoint.pipeline = pipeline;
    }
    Ok(())
}

/// Depth-first: `order` gets each endpoint after everything it calls; a call back onto `path` is
/// a cycle, returned from the endpoint it comes back to (and ending with it).
fn visit(
    k: usize,
    calls_of: &dyn Fn(usize) -> Vec<usize>,
    state: &mut [u8],
    path: &mut Vec<usize>,
    order: &mut Vec<usize>,
) -> Result<(), Vec<usize>> {
    match state[k] {
        2 => return Ok(()),
        1 => {
            let from = path.iter().position(|&p| p == k).expect("on the path");
            let mut cycle = path[from..].to_vec();
            cycle.push(k);
            return Err(cycle);
        }
        _ => {}
    }
    state[k] = 1;
    path.push(k);
    for callee in calls_of(k) {
        // The main endpoint (0) calls nothing.
        if callee > 0 {
            visit(callee - 1, calls_of, state, path, order)?;
        }
    }
    path.pop();
    state[k] = 2;
    order.push(k);
    Ok(())
}

fn build_pipeline(
    at: &KeyPath,
    given: &scenario::Pipeline,
    index_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<PipelineModel, ScenarioError> {
    if given.stages.is_empty() || given.stages.len() > MAX_STAGES {
        return fail(at.join("stages"), format!("a pipeline has 1 to {MAX_STAGES} stages"));
    }
    let mut stages = Vec::with_capacity(given.stages.len());
    for (i, stage) in given.stages.iter().enumerate() {
        let stage_path = at.join("stages").join(i);
        if stage.name.is_empty() {
            return fail(stage_path.join("name"), "a stage needs a name");
        }
        if given.stages[..i].iter().any(|s| s.name == stage.name) {
            return fail(stage_path.join("name"), format!("two stages are named {:?}", stage.name));
        }
        if stage.call.is_empty() || stage.call.len() > MAX_CALLS {
            return fail(stage_path.join("call"), format!("a stage calls 1 to {MAX_CALLS} endpoints"));
        }
        let mut calls = Vec::with_capacity(stage.call.len());
        for (j, callee) in stage.call.iter().enumerate() {
            let index = index_of(callee).ok_or_else(|| ScenarioError {
                path: stage_path.join("call").join(j),
                message: format!("unknown endpoint {callee:?}: a stage calls an [endpoints] entry, or \"main\""),
            })?;
            calls.push(index);
        }
        let n = calls.len() as u32;
        let needed = match stage.first {
            None => n,
            Some(k) if (1..=n).contains(&k) => k,
            Some(k) => {
                return fail(stage_path.join("first"), format!("first must be between 1 and {n} (the calls), got {k}"))
            }
        };
        let timeout = stage.timeout.map(|t| t.nanos());
        if let Some(t) = timeout {
            check_positive(stage_path.join("timeout"), "timeout", t)?;
        }
        stages.push(StageModel { name: stage.name.clone(), calls, needed, timeout, optional: stage.optional });
    }
    if stages.iter().all(|s| s.optional) {
        return fail(at.join("stages"), "every stage is optional: a pipeline needs one stage that answers");
    }
    let timeout = given.timeout.map(|t| t.nanos());
    if let Some(t) = timeout {
        check_positive(at.join("timeout"), "timeout", t)?;
    }
    let fallback = given.fallback.as_ref().map(|f| build_fallback(&at.join("fallback"), f)).transpose()?;
    let cache = given.cache.as_ref().map(|c| build_cache(&at.join("cache"), c)).transpose()?;
    Ok(PipelineModel { stages, timeout, fallback, cache })
}

/// An endpoint's name becomes part of deployment names, random streams and Kubernetes objects;
/// `main` names the main endpoint.
fn check_endpoint_name(at: &KeyPath, name: &str) -> Result<(), ScenarioError> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty()
        || name.len() > 40
        || !name.chars().all(plain)
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return fail(
            at.clone(),
            format!("endpoint name {name:?}: use 1-40 letters, digits, '-' or '_', starting with a letter or digit"),
        );
    }
    if name == MAIN_ENDPOINT {
        return fail(at.clone(), "\"main\" names the main endpoint ([serving] on [regions]): choose another name");
    }
    Ok(())
}
