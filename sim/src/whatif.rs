//! What-if transformations of a scenario, and how far its estimated inputs may be off. Used by
//! the uncertainty bands of run and plan reports and by robust plans: pure functions from a
//! scenario (and the files it read) to another scenario or to bands; nothing here runs anything.

use crate::model::{model_key, Inputs};
use crate::scenario::operations::{Fault, FaultKind};
use crate::scenario::{Calibration, Dist, Scenario, Serving};
use crate::units::Duration;

/// Where an input's true value likely lies: factors on it (a 68% band), and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub low: f64,
    pub high: f64,
    pub basis: String,
}

/// Every serving section of the scenario: the top-level one, each region's own, and each
/// endpoint's and its regions'.
fn servings_mut(scenario: &mut Scenario) -> impl Iterator<Item = &mut Serving> {
    let endpoints = scenario
        .endpoints
        .values_mut()
        .flat_map(|e| e.serving.iter_mut().chain(e.regions.values_mut().filter_map(|r| r.serving.as_mut())));
    scenario.serving.iter_mut().chain(scenario.regions.values_mut().filter_map(|r| r.serving.as_mut())).chain(endpoints)
}

fn servings(scenario: &Scenario) -> impl Iterator<Item = &Serving> {
    let endpoints = scenario
        .endpoints
        .values()
        .flat_map(|e| e.serving.iter().chain(e.regions.values().filter_map(|r| r.serving.as_ref())));
    scenario.serving.iter().chain(scenario.regions.values().filter_map(|r| r.serving.as_ref())).chain(endpoints)
}

/// Every batch `factor` times longer, in every serving section (through `[serving.calibration]`,
/// which works for every form of service time).
pub fn scale_service_time(scenario: &mut Scenario, factor: f64) {
    for serving in servings_mut(scenario) {
        let calibration =
            serving.calibration.get_or_insert(Calibration { service_scale: 1.0, service_cv: 0.0, source: None });
        calibration.service_scale *= factor;
    }
}

/// Per-request pre- and post-processing `factor` times longer, in every serving section.
pub fn scale_overhead(scenario: &mut Scenario, factor: f64) {
    for serving in servings_mut(scenario) {
        for stage in [&mut serving.overhead.pre, &mut serving.overhead.post] {
            if let Some(scaled) = stage.as_ref().and_then(|d| d.scaled(factor)) {
                *stage = Some(scaled);
            }
        }
    }
}

/// Whether the scenario has per-request overhead to be uncertain about.
pub fn has_overhead(scenario: &Scenario) -> bool {
    servings(scenario).any(|s| s.overhead.pre.is_some() || s.overhead.post.is_some())
}

/// `count` replicas of `region` gone for the whole run: the capacity left after they failed and
/// the load balancer took them out (an autoscaler's ceiling drops by as many, since the lost
/// machines or zone cannot host replacements). Every endpoint deployed there loses as many: a
/// lost zone hosts some of each, and for one replica it is the pessimistic reading.
pub fn lose_replicas(scenario: &mut Scenario, region: &str, count: u32) {
    let endpoints = scenario.endpoints.values_mut().filter_map(|e| e.regions.get_mut(region));
    for r in scenario.regions.get_mut(region).into_iter().chain(endpoints) {
        lose_from(r, count);
    }
}

fn lose_from(r: &mut crate::scenario::Region, count: u32) {
    r.replicas = r.replicas.saturating_sub(count);
    if let Some(autoscaling) = &mut r.autoscaling {
        autoscaling.max_replicas = autoscaling.max_replicas.saturating_sub(count).max(1);
        autoscaling.min_replicas = autoscaling.min_replicas.min(autoscaling.max_replicas);
        r.replicas = r.replicas.clamp(autoscaling.min_replicas, autoscaling.max_replicas);
    }
}

/// One of `zones` zones of `region` gone for the whole run: each deployment there (every
/// endpoint's) loses its replicas in that zone, ⌈replicas / zones⌉.
pub fn lose_zone(scenario: &mut Scenario, region: &str, zones: u32) {
    let zones = zones.max(1);
    let endpoints = scenario.endpoints.values_mut().filter_map(|e| e.regions.get_mut(region));
    for r in scenario.regions.get_mut(region).into_iter().chain(endpoints) {
        let lost = r.replicas.div_ceil(zones);
        lose_from(r, lost);
    }
}

/// Replicas per region that has any, every endpoint's together, in name order.
pub fn replicas_by_region(scenario: &Scenario) -> Vec<(&String, u32)> {
    scenario
        .regions
        .iter()
        .map(|(name, r)| {
            let named: u32 = scenario.endpoints.values().filter_map(|e| e.regions.get(name)).map(|e| e.replicas).sum();
            (name, r.replicas + named)
        })
        .filter(|&(_, replicas)| replicas > 0)
        .collect()
}

/// `region` out (unreachable) for the whole run: its traffic fails over as routing says.
pub fn lose_region(scenario: &mut Scenario, region: &str) {
    scenario.faults.push(fault(FaultKind::RegionOutage, region, scenario.duration));
}

fn fault(kind: FaultKind, region: &str, duration: Duration) -> Fault {
    Fault {
        kind,
        region: region.to_string(),
        endpoint: None,
        at: Some(Duration(0)),
        // Past the end of arrivals and any drain, so nothing comes back during the run.
        duration: Some(Duration(duration.0.saturating_mul(4))),
        mtbf: None,
        mttr: None,
        replicas: None,
        factor: None,
        error_rate: None,
    }
}

/// The service-time band of the scenario's first serving section: the user's override, else the
/// default for where its numbers come from.
pub fn service_time_band(scenario: &Scenario, inputs: &Inputs) -> Band {
    if let Some([low, high]) = scenario.uncertainty.as_ref().and_then(|u| u.service_time) {
        return Band { low, high, basis: "set in [uncertainty]".into() };
    }
    let Some(serving) = servings(scenario).next() else {
        return Band { low: 1.0, high: 1.0, basis: "no serving section".into() };
    };
    if serving.calibration.as_ref().is_some_and(|c| c.source.is_some()) {
        return Band { low: 0.95, high: 1.05, basis: "calibrated on a load test".into() };
    }
    let band = |low: f64, high: f64, basis: &str| Band { low, high, basis: basis.to_string() };
    if let Some(llm) = &serving.llm {
        // A datasheet roofline is a floor: the stacks users deploy run 1.1–2.7× slower than the
        // best hand-fused engines, so the band leans slow.
        let profile = llm.model.as_ref().zip(llm.device.as_ref()).and_then(|(model, device)| {
            inputs.llm_profiles.get(&crate::model::llm_key(model, device, llm.stack.as_deref()))
        });
        return match (&llm.model, profile.and_then(|p| p.band)) {
            (Some(model), Some((low, high))) => band(
                low,
                high,
                &format!(
                    "LLM iteration roofline for {model} under {}, band fitted on published decode speeds",
                    llm.stack.as_deref().unwrap_or("vllm")
                ),
            ),
            (Some(model), None) => band(0.9, 1.6, &format!("LLM iteration roofline for {model}, not calibrated")),
            (None, _) => band(0.9, 1.1, "iteration time written by hand"),
        };
    }
    match serving.running_service_time().unwrap_or(&Dist::Constant { value: Default::default() }) {
        Dist::Model { model, device, stack, .. } => {
            match inputs.model_tables.get(&model_key(model, device, stack.as_deref())) {
                Some(table) => match (table.band, table.worst_source.as_str()) {
                    (Some((low, high)), _) => {
                        band(low, high, &format!("roofline estimate for {device}, band fitted on published latencies"))
                    }
                    (None, "estimated") => band(0.7, 1.3, "profile with roofline-estimated operators"),
                    (None, "interpolated") => band(0.9, 1.1, "profile, interpolated between measured shapes"),
                    _ => band(0.95, 1.05, "measured profile"),
                },
                None => band(0.7, 1.3, "model estimate"),
            }
        }
        Dist::Table { .. } => band(0.95, 1.05, "measured batch table"),
        _ => band(0.9, 1.1, "distribution written by hand"),
    }
}

/// The per-request overhead's band: the override, else ×0.8–×1.25, or ×0.9–×1.1 once calibrated.
pub fn overhead_band(scenario: &Scenario) -> Band {
    if let Some([low, high]) = scenario.uncertainty.as_ref().and_then(|u| u.overhead) {
        return Band { low, high, basis: "set in [uncertainty]".into() };
    }
    let calibrated = servings(scenario).any(|s| s.calibration.as_ref().is_some_and(|c| c.source.is_some()));
    if calibrated {
        Band { low: 0.9, high: 1.1, basis: "calibrated on a load test".into() }
    } else {
        Band { low: 0.8, high: 1.25, basis: "assumed: not calibrated".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(serving: &str) -> Scenario {
        let text = format!(
            "name = \"w\"\nduration = \"10s\"\n[regions.a]\nreplicas = 2\n[[traffic]]\norigin = \"a\"\n\
             arrivals = {{ process = \"poisson\", rate = \"10/s\" }}\n[serving]\n{serving}\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn scaling_compounds_on_a_calibration_and_overheads_scale_their_times() {
        let mut s = scenario(
            "service_time = { kind = \"constant\", value = \"4ms\" }\n\
             overhead = { pre = { kind = \"lognormal\", mean = \"2ms\", cv = 0.5 } }",
        );
        scale_service_time(&mut s, 1.2);
        scale_service_time(&mut s, 1.5);
        let calibration = s.serving.as_ref().unwrap().calibration.as_ref().unwrap();
        assert!((calibration.service_scale - 1.8).abs() < 1e-12);
        scale_overhead(&mut s, 2.0);
        match s.serving.as_ref().unwrap().overhead.pre.as_ref().unwrap() {
            Dist::Lognormal { mean, cv } => assert_eq!((mean.0, *cv), (4_000_000, 0.5)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bands_follow_the_source_unless_overridden() {
        let inputs = Inputs::default();
        let table = scenario("service_time = { kind = \"table\", points = [[1, \"4ms\"], [8, \"9ms\"]] }");
        assert_eq!((service_time_band(&table, &inputs).low, service_time_band(&table, &inputs).high), (0.95, 1.05));
        let by_hand = scenario("service_time = { kind = \"constant\", value = \"4ms\" }");
        assert_eq!(service_time_band(&by_hand, &inputs).high, 1.1);
        assert_eq!(overhead_band(&by_hand).high, 1.25);
        let mut overridden = by_hand.clone();
        overridden.uncertainty =
            Some(crate::scenario::UncertaintyBands { service_time: Some([0.8, 1.4]), overhead: None });
        assert_eq!(service_time_band(&overridden, &inputs).high, 1.4);
    }

    #[test]
    fn lost_replicas_are_gone_and_a_lost_region_is_out_for_the_whole_run() {
        let mut s = scenario("service_time = { kind = \"constant\", value = \"4ms\" }");
        lose_replicas(&mut s, "a", 1);
        assert_eq!(s.regions["a"].replicas, 1);
        lose_region(&mut s, "a");
        assert_eq!(s.faults.len(), 1);
        assert!(s.faults.iter().all(|f| f.at == Some(Duration(0)) && f.duration.unwrap().0 >= s.duration.0));
    }
}
