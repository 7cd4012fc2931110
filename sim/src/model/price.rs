//! A replica's price: from the scenario's own `[instance_types]` or the price catalog.

use super::inputs::{CatalogEntry, Inputs};
use crate::scenario::{self, Scenario};

pub(super) struct Price {
    pub usd_per_hour: f64,
    pub source: Option<String>,
    /// GPUs per instance, where known.
    pub gpus: Option<u32>,
    /// The catalog name of its GPU, where known.
    pub gpu: Option<String>,
    /// Spot preemptions per instance-hour, where known.
    pub preemptions_per_hour: Option<f64>,
}

/// A region's `instance`: a key of `[instance_types]`, or a catalog entry written
/// `instance@cloud-region` or `cloud:instance@cloud-region` (e.g. `aws:g5.xlarge@us-east-1`).
pub(super) fn price_of(
    instance: &str,
    pricing: scenario::Pricing,
    scenario: &Scenario,
    inputs: &Inputs,
) -> Result<Price, String> {
    if let Some(own) = scenario.instance_types.get(instance) {
        let usd_per_hour = match (pricing, own.spot_usd_per_hour) {
            (scenario::Pricing::OnDemand, _) => own.usd_per_hour,
            (scenario::Pricing::Spot, Some(spot)) if spot.is_finite() && spot >= 0.0 => spot,
            (scenario::Pricing::Spot, Some(spot)) => {
                return Err(format!("spot_usd_per_hour of {instance:?} must be zero or positive, got {spot}"))
            }
            (scenario::Pricing::Spot, None) => {
                return Err(format!(
                    "spot pricing needs a catalog instance or spot_usd_per_hour; {instance:?} is defined in [instance_types] without one"
                ))
            }
        };
        return Ok(Price {
            usd_per_hour,
            source: own.source.clone(),
            gpus: own.gpus,
            gpu: own.gpu.clone(),
            preemptions_per_hour: own.preemptions_per_hour,
        });
    }
    let unknown = || {
        let known: Vec<&str> = scenario.instance_types.keys().map(String::as_str).collect();
        format!(
            "unknown instance type {instance:?}: not in [instance_types] (which defines: {}) nor in the price catalog \
             (write catalog instances as instance@region, e.g. \"g5.xlarge@us-east-1\")",
            list_or_none(&known)
        )
    };
    let (cloud, rest) = match instance.split_once(':') {
        Some((cloud, rest)) => (Some(cloud), rest),
        None => (None, instance),
    };
    let (name, region) = rest.split_once('@').ok_or_else(unknown)?;
    let matches: Vec<&CatalogEntry> = inputs
        .catalog
        .iter()
        .filter(|e| e.instance == name && e.region == region && cloud.is_none_or(|c| c == e.cloud))
        .collect();
    let entry = match matches.as_slice() {
        [] => return Err(unknown()),
        [entry] => *entry,
        several => {
            let clouds: Vec<&str> = several.iter().map(|e| e.cloud.as_str()).collect();
            return Err(format!(
                "{instance:?} is in the catalog for several clouds ({}): prefix one, e.g. \"{}:{rest}\"",
                clouds.join(", "),
                clouds[0]
            ));
        }
    };
    match pricing {
        scenario::Pricing::OnDemand => Ok(Price {
            gpus: Some(entry.gpus),
            gpu: Some(entry.gpu.clone()),
            preemptions_per_hour: entry.preemptions_per_hour,
            usd_per_hour: entry.usd_per_hour,
            source: Some(format!("{} on-demand {}: {}", entry.cloud, entry.region, entry.source)),
        }),
        scenario::Pricing::Spot => match entry.spot_usd_per_hour {
            Some(spot) => Ok(Price {
                gpus: Some(entry.gpus),
                gpu: Some(entry.gpu.clone()),
                preemptions_per_hour: entry.preemptions_per_hour,
                usd_per_hour: spot,
                source: Some(format!("{} spot {}: {}", entry.cloud, entry.region, entry.source)),
            }),
            None => Err(format!("the catalog has no spot price for {instance:?}; add one in your own price file")),
        },
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}
