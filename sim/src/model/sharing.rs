//! `[gpu_sharing]`: model endpoints whose models share GPUs. A group's member endpoints take their
//! deployments from the group (one replica = one GPU holding every member's model), their
//! memory must fit in the GPU's, and the engine slows models executing at once by the group's
//! [`Interference`].

use super::build::{build_primary, check_instances, unknown_region};
use super::checks::MAX_REPLICAS;
use super::error::{fail, ScenarioError};
use super::inputs::Inputs;
use super::price::price_of;
use super::{DeploymentModel, EndpointModel, GpuGroupModel, Interference, MemoryBudget, RegionModel};
use crate::path;
use crate::scenario::{self, GpuSharing, KeyPath, Scenario, SharingMode};
use crate::units::GIB;
use std::sync::Arc;

/// What the server and CUDA context keep on each GPU unless the group says otherwise.
const DEFAULT_RESERVED: f64 = GIB;

/// The group `endpoint` shares GPUs in, if any.
pub(super) fn group_of<'s>(scenario: &'s Scenario, endpoint: &str) -> Option<(&'s str, &'s GpuSharing)> {
    scenario
        .gpu_sharing
        .iter()
        .find(|(_, group)| group.endpoints.iter().any(|e| e == endpoint))
        .map(|(name, group)| (name.as_str(), group))
}

/// A member endpoint's deployment in each region: the group's replicas, instance and pricing,
/// its price split evenly among the members (the GPU is paid once).
pub(super) fn member_sites(
    scenario: &Scenario,
    inputs: &Inputs,
    at: &KeyPath,
    endpoint: &scenario::Endpoint,
    (group_name, group): (&str, &GpuSharing),
    regions: &[RegionModel],
    serving: &Option<Arc<super::ServingModel>>,
) -> Result<Vec<DeploymentModel>, ScenarioError> {
    if !endpoint.regions.is_empty() {
        return fail(
            at.join("regions"),
            format!(
                "this endpoint shares GPUs in [gpu_sharing.{group_name}]: its replicas are the group's \
                 (gpu_sharing.{group_name}.regions); remove its own regions"
            ),
        );
    }
    if serving.is_none() {
        return fail(at.clone(), "an endpoint sharing GPUs needs its [serving] in the endpoint");
    }
    let group_path = path!["gpu_sharing", group_name];
    for region in group.regions.keys() {
        if !regions.iter().any(|r| &r.name == region) {
            return Err(unknown_region(group_path.join("regions").join(region.as_str()), region, regions));
        }
    }
    let members = group.endpoints.len() as f64;
    let mut sites = Vec::with_capacity(regions.len());
    for region in regions {
        let Some(given) = group.regions.get(&region.name) else {
            sites.push(DeploymentModel::none());
            continue;
        };
        let region_path = group_path.join("regions").join(region.name.as_str());
        if given.replicas == 0 || given.replicas > MAX_REPLICAS {
            return fail(region_path.join("replicas"), format!("replicas must be between 1 and {MAX_REPLICAS}"));
        }
        let as_region = scenario::Region {
            replicas: given.replicas,
            instance: given.instance.clone(),
            serving: None,
            pricing: given.pricing,
            autoscaling: None,
        };
        let mut primary = build_primary(scenario, inputs, &region_path, &as_region, serving)?;
        primary.usd_per_hour /= members;
        check_instances(&primary, region_path.join("replicas"))?;
        sites.push(primary);
    }
    Ok(sites)
}

/// Every group checked ([`check_members`]), its
/// interference model is in range, and in every region its models fit in one GPU's memory.
pub(super) fn build_gpu_groups(
    scenario: &Scenario,
    inputs: &Inputs,
    regions: &[RegionModel],
    endpoints: &[EndpointModel],
) -> Result<Vec<GpuGroupModel>, ScenarioError> {
    let mut groups = Vec::with_capacity(scenario.gpu_sharing.len());
    for ((name, group), members) in scenario.gpu_sharing.iter().zip(check_members(scenario)?) {
        let at = path!["gpu_sharing", name.as_str()];
        if group.regions.is_empty() {
            return fail(at.join("regions"), "a GPU-sharing group needs at least one region with replicas");
        }
        let interference = interference(&at, group)?;
        let mut memory = Vec::with_capacity(regions.len());
        for (r, region) in regions.iter().enumerate() {
            let Some(given) = group.regions.get(&region.name) else {
                memory.push(None);
                continue;
            };
            let region_path = at.join("regions").join(region.name.as_str());
            memory.push(Some(memory_budget(
                scenario,
                inputs,
                &at,
                &region_path,
                group,
                given,
                &members,
                endpoints,
                r,
            )?));
        }
        groups.push(GpuGroupModel { name: name.clone(), members, interference, memory });
    }
    Ok(groups)
}

/// Every group's members, checked before any endpoint is built (a misspelt member would otherwise
/// surface as its endpoint lacking regions): distinct named model endpoints in no other group, in
/// the engine's numbering (endpoints are numbered in name order from 1).
pub(super) fn check_members(scenario: &Scenario) -> Result<Vec<Vec<usize>>, ScenarioError> {
    let mut all = Vec::with_capacity(scenario.gpu_sharing.len());
    for (name, group) in &scenario.gpu_sharing {
        let at = path!["gpu_sharing", name.as_str()];
        if scenario.endpoints.contains_key(name) || name == crate::summary::MAIN_ENDPOINT {
            // Its Kubernetes objects are named like an endpoint's: the two would collide.
            return fail(at, format!("a GPU-sharing group cannot be named like an endpoint ({name:?})"));
        }
        if group.endpoints.is_empty() {
            return fail(at.join("endpoints"), "list the endpoints whose models share the GPUs");
        }
        let mut members = Vec::with_capacity(group.endpoints.len());
        for (i, member) in group.endpoints.iter().enumerate() {
            let member_path = at.join("endpoints").join(i);
            let Some(k) = scenario.endpoints.keys().position(|e| e == member) else {
                let known: Vec<&str> =
                    scenario.endpoints.iter().filter(|(_, e)| e.pipeline.is_none()).map(|(n, _)| n.as_str()).collect();
                return fail(
                    member_path,
                    format!(
                        "{member:?} is not a named model endpoint (the main one cannot share: name it under \
                         [endpoints]); model endpoints are: {}",
                        if known.is_empty() { "none".to_string() } else { known.join(", ") }
                    ),
                );
            };
            if scenario.endpoints[member].pipeline.is_some() {
                return fail(
                    member_path,
                    format!("{member:?} is a pipeline: it runs no model of its own to share a GPU"),
                );
            }
            if group.endpoints[..i].contains(member) {
                return fail(member_path, format!("{member:?} is listed twice"));
            }
            let other = scenario.gpu_sharing.iter().find(|(n, g)| n.as_str() != name && g.endpoints.contains(member));
            if let Some((other, _)) = other {
                return fail(member_path, format!("{member:?} already shares GPUs in [gpu_sharing.{other}]"));
            }
            members.push(k + 1);
        }
        all.push(members);
    }
    Ok(all)
}

fn interference(at: &KeyPath, group: &GpuSharing) -> Result<Interference, ScenarioError> {
    match group.mode {
        SharingMode::TimeSliced => {
            if group.mps_interference.is_some() {
                return fail(at.join("mps_interference"), "mps_interference applies to mode = \"mps\" only");
            }
            if !(group.switch_overhead.is_finite() && (0.0..0.9).contains(&group.switch_overhead)) {
                return fail(at.join("switch_overhead"), "switch_overhead must be at least 0 and below 0.9");
            }
            Ok(Interference::TimeSliced { switch_overhead: group.switch_overhead })
        }
        SharingMode::Mps => {
            if group.switch_overhead != 0.0 {
                return fail(at.join("switch_overhead"), "switch_overhead applies to mode = \"time_sliced\" only");
            }
            let Some(interference) = group.mps_interference else {
                return fail(
                    at.join("mps_interference"),
                    "mode = \"mps\" needs mps_interference: how much slower each of two models runs together \
                     (0 none, 1 as time-slicing), from a measurement of them side by side",
                );
            };
            if !(interference.is_finite() && (0.0..=1.0).contains(&interference)) {
                return fail(at.join("mps_interference"), "mps_interference must be between 0 and 1");
            }
            Ok(Interference::Mps { interference })
        }
    }
}

/// One GPU's memory against the members' weights and instances in one region, refused with the
/// arithmetic when they do not fit.
#[allow(clippy::too_many_arguments)]
fn memory_budget(
    scenario: &Scenario,
    inputs: &Inputs,
    at: &KeyPath,
    region_path: &KeyPath,
    group: &GpuSharing,
    given: &scenario::SharedRegion,
    members: &[usize],
    endpoints: &[EndpointModel],
    region: usize,
) -> Result<MemoryBudget, ScenarioError> {
    let (gpu, gpu_name) = match (group.gpu_memory, &given.instance) {
        (Some(memory), _) => (memory.bytes(), "the GPU".to_string()),
        (None, Some(instance)) => {
            let price = price_of(instance, given.pricing, scenario, inputs)
                .map_err(|message| ScenarioError { path: region_path.join("instance"), message })?;
            let memory = price.gpu.as_ref().and_then(|g| inputs.gpu_memory.get(g).map(|&m| (m, g.clone())));
            match memory {
                Some((memory, name)) => (memory, name),
                None => {
                    return fail(
                        at.join("gpu_memory"),
                        format!(
                            "the GPU memory of {instance:?} ({}) is not in the GPU catalog: give gpu_memory",
                            price.gpu.as_deref().unwrap_or("no GPU named")
                        ),
                    )
                }
            }
        }
        (None, None) => {
            return fail(at.join("gpu_memory"), "give gpu_memory, or an instance whose GPU the catalog knows")
        }
    };
    let reserved = group.reserved_memory.map_or(DEFAULT_RESERVED, |r| r.bytes());
    let mut models = Vec::with_capacity(members.len());
    let mut terms = vec![format!("reserved {:.2}", reserved / GIB)];
    for &k in members {
        let endpoint = &endpoints[k - 1];
        let serving = endpoint.regions[region].primary.serving.as_ref().expect("a member serves where its group runs");
        if serving.kind.llm().is_some() {
            return fail(
                at.join("endpoints"),
                format!(
                    "{:?} is an LLM engine: it takes its GPUs' memory for its KV cache (gpu_memory_utilization), so it cannot share them with other models here; give it regions of its own",
                    endpoint.name
                ),
            );
        }
        let Some(need) = &serving.memory else {
            return fail(
                path!["endpoints", endpoint.name.as_str(), "serving", "memory"],
                format!(
                    "{:?} shares GPUs: give memory = {{ weights = \"…GB\", per_instance = \"…GB\" }}, or a \
                     kind = \"model\" service time whose graph gives them",
                    endpoint.name
                ),
            );
        };
        let instances = serving.kind.instances();
        models.push(need.weights + f64::from(instances) * need.per_instance);
        terms.push(format!(
            "{} {:.2} weights + {instances} × {:.2} per instance",
            endpoint.name,
            need.weights / GIB,
            need.per_instance / GIB
        ));
    }
    let budget = MemoryBudget { gpu, reserved, models };
    if budget.needed() > budget.gpu {
        return fail(
            region_path.clone(),
            format!(
                "the models do not fit in one GPU's memory: {} = {:.2} GiB > {:.2} GiB of {gpu_name}; give fewer \
                 instances, a smaller max_batch, fewer models per GPU or a GPU with more memory",
                terms.join(" + "),
                budget.needed() / GIB,
                gpu / GIB
            ),
        );
    }
    Ok(budget)
}
