//! Fitting what a load test shows and an in-process benchmark cannot: the per-request overhead
//! (mean and spread), the threads that do it, whether it shares the model's cores, and a scale and
//! spread of the batch service time. Simulation-based: each candidate runs the scenario at every
//! fitted load point with the same seed (common random numbers, so candidates differ by their
//! parameters, not their luck), scored by the squared log-ratio of simulated to measured p50, p90,
//! p99 (and mean where measured).

use super::loadtest::LoadPoint;
use rayon::prelude::*;
use sim::scenario::{Arrivals, Calibration, Dist, Overhead, Scenario};
use sim::units::Duration;
use sim::{Inputs, RunOptions};

/// One setting of everything fitted.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Per-request work, pre- plus post-processing, in ms (split evenly between the two).
    pub overhead_ms: f64,
    pub overhead_cv: f64,
    /// Threads doing the per-request work; None: as many as needed (a pure delay).
    pub workers: Option<u32>,
    /// Cores the model's batches and those threads share; None: apart.
    pub host_cores: Option<u32>,
    pub service_scale: f64,
    pub service_cv: f64,
}

impl Candidate {
    /// The scenario's serving section with this candidate's overhead and calibration.
    pub fn apply(&self, scenario: &mut Scenario, source: &str) {
        let (overhead, calibration) = self.sections(source);
        let serving = scenario.serving.as_mut().expect("calibrate checked there is a [serving]");
        serving.overhead = overhead;
        serving.calibration = Some(calibration);
    }

    /// `[serving.overhead]` and `[serving.calibration]` as written.
    pub fn sections(&self, source: &str) -> (Overhead, Calibration) {
        let half = Duration::from_secs_f64(self.overhead_ms / 2e3);
        let stage = || Some(Dist::Lognormal { mean: half, cv: self.overhead_cv });
        let overhead = Overhead { pre: stage(), post: stage(), cpu_workers: self.workers, host_cores: self.host_cores };
        let calibration = Calibration {
            service_scale: self.service_scale,
            service_cv: self.service_cv,
            source: Some(source.to_string()),
        };
        (overhead, calibration)
    }

    /// The continuous parameters in the space the search steps in.
    fn coordinates(&self) -> [f64; 4] {
        [self.overhead_ms.ln(), self.overhead_cv, self.service_scale.ln(), self.service_cv]
    }

    fn with_coordinates(&self, x: [f64; 4]) -> Candidate {
        Candidate {
            overhead_ms: x[0].clamp(0.01_f64.ln(), 10_000_f64.ln()).exp(),
            overhead_cv: x[1].clamp(0.0, 3.0),
            service_scale: x[2].clamp(0.25_f64.ln(), 4_f64.ln()).exp(),
            service_cv: x[3].clamp(0.0, 2.0),
            ..self.clone()
        }
    }
}

/// What the simulation gives at one load point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Predicted {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

/// The total rate of the scenario's sources, which must be Poisson or constant (the load test's).
pub fn base_rate(scenario: &Scenario) -> Result<f64, (usize, String)> {
    let mut total = 0.0;
    for (i, traffic) in scenario.traffic.iter().enumerate() {
        match &traffic.arrivals {
            Arrivals::Poisson { rate } | Arrivals::Constant { rate } => total += rate.0,
            _ => {
                return Err((
                    i,
                    "calibrate replays a load test's rates: its traffic must be poisson or constant arrivals".into(),
                ))
            }
        }
    }
    if total <= 0.0 {
        return Err((0, "calibrate needs traffic with a positive rate".into()));
    }
    Ok(total)
}

/// Runs `scenario` (with `candidate` applied, if any) at `rate` for about `requests` requests.
pub fn predict(
    scenario: &Scenario,
    inputs: &Inputs,
    candidate: Option<&Candidate>,
    rate: f64,
    requests: f64,
) -> Result<Predicted, String> {
    let mut scenario = scenario.clone();
    if let Some(candidate) = candidate {
        candidate.apply(&mut scenario, "");
    }
    let base = base_rate(&scenario).map_err(|(_, e)| e)?;
    sim::scenario::scale_traffic(&mut scenario, rate / base);
    let seconds = (requests / rate).clamp(5.0, 36_000.0);
    scenario.warmup = Duration::from_secs_f64(seconds * 0.1);
    scenario.duration = Duration::from_secs_f64(seconds * 1.1);
    let model = sim::build(&scenario, inputs).map_err(|e| e.to_string())?;
    let latency = sim::run(&model, &RunOptions::seeded(model.seed)).summary.overall.latency_ms;
    let missing = || "no request was answered".to_string();
    Ok(Predicted {
        p50_ms: latency.p50.ok_or_else(missing)?,
        p90_ms: latency.p90.ok_or_else(missing)?,
        p99_ms: latency.p99.ok_or_else(missing)?,
        mean_ms: latency.mean.ok_or_else(missing)?,
    })
}

/// Squared log-ratio error of a prediction against a measured point.
pub fn point_loss(measured: &LoadPoint, predicted: &Predicted) -> f64 {
    let term = |sim: f64, real: f64| (sim.max(1e-6) / real.max(1e-6)).ln().powi(2);
    let mut loss = term(predicted.p50_ms, measured.p50_ms)
        + term(predicted.p90_ms, measured.p90_ms)
        + term(predicted.p99_ms, measured.p99_ms);
    if let Some(mean) = measured.mean_ms {
        loss += term(predicted.mean_ms, mean);
    }
    loss
}

/// The fitting problem: a scenario, its inputs, and the points to fit.
pub struct Problem<'a> {
    pub scenario: &'a Scenario,
    pub inputs: &'a Inputs,
    pub points: Vec<&'a LoadPoint>,
}

/// Requests simulated per load point: coarse in the first stage, finer when refining.
const COARSE_REQUESTS: f64 = 8_000.0;
const FINE_REQUESTS: f64 = 30_000.0;

impl Problem<'_> {
    fn loss(&self, candidate: &Candidate, requests: f64) -> f64 {
        self.points
            .iter()
            .map(|point| match predict(self.scenario, self.inputs, Some(candidate), point.offered_rps, requests) {
                Ok(predicted) => point_loss(point, &predicted),
                Err(_) => 1e6,
            })
            .sum()
    }

    /// Nelder–Mead on the four continuous coordinates from `start` (initial simplex: one step
    /// along each), at most `evaluations` losses.
    fn refine(&self, start: Candidate, evaluations: usize, requests: f64) -> (Candidate, f64) {
        const STEPS: [f64; 4] = [0.5, 0.4, 0.15, 0.2];
        let loss = |x: &[f64; 4]| self.loss(&start.with_coordinates(*x), requests);
        let origin = start.coordinates();
        let mut simplex: Vec<([f64; 4], f64)> = vec![(origin, loss(&origin))];
        for (i, step) in STEPS.iter().enumerate() {
            let mut x = origin;
            x[i] += step;
            simplex.push((x, loss(&x)));
        }
        let mut used = simplex.len();
        let along =
            |a: &[f64; 4], b: &[f64; 4], t: f64| -> [f64; 4] { std::array::from_fn(|i| a[i] + t * (b[i] - a[i])) };
        while used < evaluations {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let worst = simplex[4];
            let centroid: [f64; 4] = std::array::from_fn(|i| simplex[..4].iter().map(|(x, _)| x[i]).sum::<f64>() / 4.0);
            let reflected = along(&centroid, &worst.0, -1.0);
            let reflected_loss = loss(&reflected);
            used += 1;
            if reflected_loss < simplex[0].1 {
                let expanded = along(&centroid, &worst.0, -2.0);
                let expanded_loss = loss(&expanded);
                used += 1;
                simplex[4] = if expanded_loss < reflected_loss {
                    (expanded, expanded_loss)
                } else {
                    (reflected, reflected_loss)
                };
            } else if reflected_loss < simplex[3].1 {
                simplex[4] = (reflected, reflected_loss);
            } else {
                let contracted = along(&centroid, &worst.0, 0.5);
                let contracted_loss = loss(&contracted);
                used += 1;
                if contracted_loss < worst.1 {
                    simplex[4] = (contracted, contracted_loss);
                } else {
                    // Shrink towards the best.
                    let best = simplex[0].0;
                    for vertex in simplex.iter_mut().skip(1) {
                        vertex.0 = along(&best, &vertex.0, 0.5);
                        vertex.1 = loss(&vertex.0);
                    }
                    used += 4;
                }
            }
        }
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        (start.with_coordinates(simplex[0].0), simplex[0].1)
    }

    /// The best candidate over every thread/core structure, and its loss.
    pub fn fit(&self, overhead_guess_ms: f64) -> (Candidate, f64) {
        let mut structures: Vec<(Option<u32>, Option<u32>)> = vec![(None, None)];
        for workers in [1, 2, 4, 8] {
            for cores in [None, Some(1), Some(2), Some(4)] {
                structures.push((Some(workers), cores));
            }
        }
        let start = |&(workers, host_cores): &(Option<u32>, Option<u32>)| Candidate {
            overhead_ms: overhead_guess_ms.max(0.1),
            overhead_cv: 0.5,
            workers,
            host_cores,
            service_scale: 1.0,
            service_cv: 0.1,
        };
        // Stage 1: a short coarse search for every structure. Stage 2: the four best refined.
        let coarse: Vec<(Candidate, f64)> =
            structures.par_iter().map(|s| self.refine(start(s), 30, COARSE_REQUESTS)).collect();
        let mut order: Vec<usize> = (0..coarse.len()).collect();
        order.sort_by(|&a, &b| coarse[a].1.total_cmp(&coarse[b].1).then(a.cmp(&b)));
        let refined: Vec<(Candidate, f64)> =
            order[..4].par_iter().map(|&i| self.refine(coarse[i].0.clone(), 60, FINE_REQUESTS)).collect();
        refined
            .into_iter()
            .enumerate()
            .min_by(|(a, x), (b, y)| x.1.total_cmp(&y.1).then(a.cmp(b)))
            .map(|(_, best)| best)
            .expect("at least one structure")
    }
}
