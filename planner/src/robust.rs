//! Robust plans: a configuration judged under what can go wrong — traffic above the forecast,
//! service times at the high end of their source's band, a replica, a zone or the largest region
//! lost — and how far it is from its first SLO breach. Runs like sweep points (same replications
//! and seeds), so a stressed run differs from the nominal one only by the stress.

use crate::evaluate::{bisect, Plan, Runs};
use rayon::prelude::*;
use sim::scenario::{PlanRisks, Scenario, Survive};
use sim::whatif;

/// Which risk a stress is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Risk {
    Traffic,
    ServiceTime,
    Survive(Survive),
}

/// A configuration under one stress.
#[derive(Clone, Debug, PartialEq)]
pub struct Stressed {
    pub kind: Risk,
    /// "+20% traffic", "one replica down in us-east", ...
    pub risk: String,
    pub holds: bool,
    /// Why not, when it does not hold.
    pub reason: String,
    /// The worst latency target's observed value over its target (above 1 misses; infinite when
    /// too many requests went unanswered), the measure of which risk binds.
    pub pressure: f64,
}

/// How much more of something a configuration takes before its first SLO breach.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Headroom {
    /// It misses the SLO already, unstressed.
    None,
    /// It meets the SLO up to this factor and not at the next step.
    Breaks(f64),
    /// It still meets the SLO at the largest factor tried.
    Beyond(f64),
}

/// The largest stress factor tried by the headroom searches, and their resolution.
const HEADROOM_LIMIT: f64 = 2.0;
const HEADROOM_STEP: f64 = 0.02;

impl Plan {
    /// A stressed scenario that cannot run (no replica left to serve) does not hold.
    fn stressed(&self, kind: Risk, risk: String, scenario: &Scenario) -> Stressed {
        match self.run_all(scenario) {
            Ok(runs) => {
                let reason = self.shortfall(&runs.0, &runs.1).unwrap_or_default();
                Stressed { kind, risk, holds: reason.is_empty(), reason, pressure: pressure(&runs) }
            }
            Err(reason) => Stressed { kind, risk, holds: false, reason, pressure: f64::INFINITY },
        }
    }

    /// The configuration `scenario` under each risk `risks` names (`service_high`: the top of the
    /// service-time band), in the order traffic, service time, survival.
    pub fn stress(&self, scenario: &Scenario, risks: &PlanRisks, service_high: f64) -> Vec<Stressed> {
        // Each risk is its own runs: judged side by side, then listed in a fixed order.
        let traffic = || {
            (risks.traffic_margin > 0.0).then(|| {
                let mut s = scenario.clone();
                sim::scenario::scale_traffic(&mut s, 1.0 + risks.traffic_margin);
                self.stressed(Risk::Traffic, format!("+{:.0}% traffic", risks.traffic_margin * 100.0), &s)
            })
        };
        let service = || {
            (risks.service_time_band && service_high > 1.0).then(|| {
                let mut s = scenario.clone();
                whatif::scale_service_time(&mut s, service_high);
                let what = format!("service time ×{service_high:.2} (top of its band)");
                self.stressed(Risk::ServiceTime, what, &s)
            })
        };
        let survival = || -> Vec<Stressed> {
            risks.survive.par_iter().map(|&survive| self.survival(scenario, survive, risks.zones)).collect()
        };
        let (traffic, (service, survival)) = rayon::join(traffic, || rayon::join(service, survival));
        traffic.into_iter().chain(service).chain(survival).collect()
    }

    /// The configuration with `survive`'s failure: for a replica or a zone, in every region that
    /// has replicas (it must hold in each); for a region, the one with the most replicas.
    pub fn survival(&self, scenario: &Scenario, survive: Survive, zones: u32) -> Stressed {
        let serving = whatif::replicas_by_region(scenario);
        let mut cases = Vec::new();
        match survive {
            Survive::Replica | Survive::Zone => {
                for &(name, replicas) in &serving {
                    let lost = if survive == Survive::Replica { 1 } else { replicas.div_ceil(zones.max(1)) };
                    let mut s = scenario.clone();
                    if survive == Survive::Replica {
                        whatif::lose_replicas(&mut s, name, 1);
                    } else {
                        whatif::lose_zone(&mut s, name, zones);
                    }
                    let what = if survive == Survive::Replica { "one replica" } else { "one zone" };
                    cases.push((format!("{what} down in {name} ({lost} of {replicas})"), s));
                }
            }
            Survive::Region => {
                // Most replicas first, then name order (regions are sorted by name).
                if let Some(&(name, _)) = serving.iter().rev().max_by_key(|(_, replicas)| *replicas) {
                    let mut s = scenario.clone();
                    whatif::lose_region(&mut s, name);
                    cases.push((format!("region {name} down"), s));
                }
            }
        }
        let label = match survive {
            Survive::Replica => "one replica down",
            Survive::Zone => "one zone down",
            Survive::Region => "the largest region down",
        };
        let kind = Risk::Survive(survive);
        let mut worst = Stressed { kind, risk: label.into(), holds: true, reason: String::new(), pressure: 0.0 };
        let outcomes: Vec<Stressed> = cases.into_par_iter().map(|(what, s)| self.stressed(kind, what, &s)).collect();
        for got in outcomes {
            if !got.holds && worst.holds {
                worst.holds = false;
                worst.reason = format!("{}: {}", got.risk, got.reason);
            }
            worst.pressure = worst.pressure.max(got.pressure);
        }
        worst
    }

    /// The largest factor (to 2% resolution, up to 2×) on traffic (`traffic`) or on every service
    /// time (otherwise) at which `scenario` still meets the SLO.
    pub fn headroom(&self, scenario: &Scenario, traffic: bool) -> Result<Headroom, String> {
        let at = |factor: f64| -> Result<(bool, Runs), String> {
            let mut s = scenario.clone();
            if traffic {
                sim::scenario::scale_traffic(&mut s, factor);
            } else {
                whatif::scale_service_time(&mut s, factor);
            }
            let runs = self.run_all(&s)?;
            Ok((self.meets(&runs), runs))
        };
        // The forecast and the limit side by side; read in that order, as if run in turn.
        let (forecast, limit) = rayon::join(|| at(1.0), || at(HEADROOM_LIMIT));
        let (ok, runs) = forecast?;
        if !ok {
            return Ok(Headroom::None);
        }
        if limit?.0 {
            return Ok(Headroom::Beyond(HEADROOM_LIMIT));
        }
        let split = |good: f64, bad: f64| (bad - good > HEADROOM_STEP).then(|| (good + bad) / 2.0);
        let (factor, _) = bisect((1.0, runs), HEADROOM_LIMIT, split, at)?;
        Ok(Headroom::Breaks(factor))
    }
}

/// The worst latency target's judged value over its target (pooled when there are several runs).
fn pressure((runs, pooled): &Runs) -> f64 {
    let Some(first) = pooled.as_ref().or(runs.first()) else {
        return f64::INFINITY;
    };
    first
        .latency_targets
        .iter()
        .map(|&(_, target, observed)| observed.map_or(f64::INFINITY, |v| v / target))
        .fold(0.0, f64::max)
}
