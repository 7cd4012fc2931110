//! Fitting what a load test shows and an in-process benchmark cannot: the per-request overhead
//! (mean and spread), the threads that do it, whether it shares the model's cores, a scale and
//! spread of the batch service time, and the mechanism behind the server's tail (none, a slow path
//! for a share of requests, jitter before the server, server-wide stalls, a proxy hop). Simulation-based: each candidate runs
//! the scenario at every fitted load point with the same seed (common random numbers, so
//! candidates differ by their parameters, not their luck), scored by the squared log-ratio of
//! simulated to measured p50, p90, p99 (and mean where measured). Among tail mechanisms, the one
//! that predicts a fitted point best when fitted without it is chosen (cross-validation), not the
//! one whose fit is closest: a richer structure always fits at least as well.

use super::loadtest::LoadPoint;
use rayon::prelude::*;
use serde::Serialize;
use sim::scenario::{Arrivals, Calibration, Dist, MixturePart, Overhead, Proxy, Scenario, Stalls};
use sim::units::{Duration, Rate};
use sim::{Inputs, RunOptions};

/// What gives the server its tail beyond the overhead's lognormal spread and queueing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "mechanism", rename_all = "snake_case")]
pub enum Tail {
    None,
    /// A `share` of requests takes a slow path: `slow_ms` more pre-processing (spread cv 1).
    SlowPath {
        share: f64,
        slow_ms: f64,
    },
    /// A `share` of requests is delayed `slow_ms` (spread cv 1) before reaching the server,
    /// outside its threads: a tail that does not queue anything behind it.
    Jitter {
        share: f64,
        slow_ms: f64,
    },
    /// The whole server pauses `per_s` times a second for `pause_ms` on average (exponential).
    Stalls {
        per_s: f64,
        pause_ms: f64,
    },
    /// A one-thread proxy in front, `pass_ms` per pass (in and out), sharing the host's cores.
    Proxy {
        pass_ms: f64,
    },
}

impl Tail {
    pub fn name(&self) -> &'static str {
        match self {
            Tail::None => "none",
            Tail::SlowPath { .. } => "slow_path",
            Tail::Jitter { .. } => "jitter",
            Tail::Stalls { .. } => "stalls",
            Tail::Proxy { .. } => "proxy",
        }
    }

    /// In words, with the fitted values.
    pub fn describe(&self) -> String {
        match self {
            Tail::None => "no tail mechanism".into(),
            Tail::SlowPath { share, slow_ms } => {
                format!("a slow path: {:.1}% of requests take {slow_ms:.1} ms more", share * 100.0)
            }
            Tail::Jitter { share, slow_ms } => {
                format!("jitter before the server: {:.1}% of requests {slow_ms:.1} ms later", share * 100.0)
            }
            Tail::Stalls { per_s, pause_ms } => format!("server-wide stalls: {per_s:.2}/s of {pause_ms:.1} ms"),
            Tail::Proxy { pass_ms } => format!("a proxy hop: {pass_ms:.2} ms per pass on one thread"),
        }
    }

    /// Each mechanism's first guesses: rare or small, so a search from the tail-less fit starts
    /// next to it and can only do better; and sized to explain the lowest fitted point's tail
    /// alone (p99 − p50, the slowest requests' excess at light load), for a search from a plain
    /// base that has not stretched its overhead's spread to imitate that tail.
    fn starts(overhead_ms: f64, excess_ms: f64) -> [(Tail, Tail); 4] {
        let excess = excess_ms.clamp(1.0, 5_000.0);
        [
            (Tail::SlowPath { share: 0.003, slow_ms: excess }, Tail::SlowPath { share: 0.03, slow_ms: excess }),
            (Tail::Jitter { share: 0.003, slow_ms: excess }, Tail::Jitter { share: 0.03, slow_ms: excess }),
            (
                Tail::Stalls { per_s: (3.0 / excess).clamp(0.01, 100.0), pause_ms: excess },
                Tail::Stalls { per_s: (30.0 / excess).clamp(0.01, 100.0), pause_ms: excess },
            ),
            (
                Tail::Proxy { pass_ms: (overhead_ms / 20.0).max(0.02) },
                Tail::Proxy { pass_ms: (overhead_ms / 4.0).max(0.05) },
            ),
        ]
    }

    fn coordinates(&self) -> Vec<f64> {
        match *self {
            Tail::None => vec![],
            Tail::SlowPath { share, slow_ms } | Tail::Jitter { share, slow_ms } => vec![share.ln(), slow_ms.ln()],
            Tail::Stalls { per_s, pause_ms } => vec![per_s.ln(), pause_ms.ln()],
            Tail::Proxy { pass_ms } => vec![pass_ms.ln()],
        }
    }

    fn with_coordinates(&self, x: &[f64]) -> Tail {
        let bounded = |v: f64, low: f64, high: f64| v.clamp(low.ln(), high.ln()).exp();
        match self {
            Tail::None => Tail::None,
            Tail::SlowPath { .. } => {
                Tail::SlowPath { share: bounded(x[0], 1e-3, 0.3), slow_ms: bounded(x[1], 0.1, 10_000.0) }
            }
            Tail::Jitter { .. } => {
                Tail::Jitter { share: bounded(x[0], 1e-3, 0.3), slow_ms: bounded(x[1], 0.1, 10_000.0) }
            }
            Tail::Stalls { .. } => {
                let per_s = bounded(x[0], 0.01, 100.0);
                // Stalled under 40% of the time (the scenario refuses half).
                Tail::Stalls { per_s, pause_ms: bounded(x[1], 0.1, 5_000.0).min(400.0 / per_s) }
            }
            Tail::Proxy { .. } => Tail::Proxy { pass_ms: bounded(x[0], 0.01, 1_000.0) },
        }
    }
}

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
    pub tail: Tail,
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
        let ms = |value: f64| Duration::from_secs_f64(value / 1e3);
        let half = self.overhead_ms / 2.0;
        let stage = || Dist::Lognormal { mean: ms(half), cv: self.overhead_cv };
        let mut overhead = Overhead {
            pre: Some(stage()),
            post: Some(stage()),
            cpu_workers: self.workers,
            host_cores: self.host_cores,
            jitter: None,
            proxy: None,
            stalls: None,
        };
        match self.tail {
            Tail::None => {}
            Tail::SlowPath { share, slow_ms } => {
                overhead.pre = Some(Dist::Mixture {
                    parts: vec![
                        MixturePart { weight: 1.0 - share, dist: stage() },
                        MixturePart { weight: share, dist: Dist::Lognormal { mean: ms(half + slow_ms), cv: 1.0 } },
                    ],
                })
            }
            Tail::Jitter { share, slow_ms } => {
                overhead.jitter = Some(Dist::Mixture {
                    parts: vec![
                        MixturePart { weight: 1.0 - share, dist: Dist::Constant { value: ms(0.0) } },
                        MixturePart { weight: share, dist: Dist::Lognormal { mean: ms(slow_ms), cv: 1.0 } },
                    ],
                })
            }
            Tail::Stalls { per_s, pause_ms } => {
                overhead.stalls = Some(Stalls { rate: Rate(per_s), duration: Dist::Exponential { mean: ms(pause_ms) } })
            }
            Tail::Proxy { pass_ms } => {
                overhead.proxy =
                    Some(Proxy { time: Dist::Lognormal { mean: ms(pass_ms), cv: self.overhead_cv }, threads: 1 })
            }
        }
        let calibration = Calibration {
            service_scale: self.service_scale,
            service_cv: self.service_cv,
            source: Some(source.to_string()),
        };
        (overhead, calibration)
    }

    /// The continuous parameters in the space the search steps in: the four every structure has,
    /// then the tail's.
    fn coordinates(&self) -> Vec<f64> {
        let mut x = vec![self.overhead_ms.ln(), self.overhead_cv, self.service_scale.ln(), self.service_cv];
        x.extend(self.tail.coordinates());
        x
    }

    fn with_coordinates(&self, x: &[f64]) -> Candidate {
        Candidate {
            overhead_ms: x[0].clamp(0.01_f64.ln(), 10_000_f64.ln()).exp(),
            overhead_cv: x[1].clamp(0.0, 3.0),
            service_scale: x[2].clamp(0.25_f64.ln(), 4_f64.ln()).exp(),
            service_cv: x[3].clamp(0.0, 2.0),
            tail: self.tail.with_coordinates(&x[4..]),
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
    // One time-series row for the whole run: calibrate reads only the run's percentiles, and
    // rows every 10 s cost a third of a fit's time (docs/performance.md); the percentiles are the
    // same either way.
    scenario.interval = scenario.duration;
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

/// The thread/core structures searched: a pure delay, or 1–8 worker threads on their own cores
/// or sharing 1, 2 or 4 with the model.
fn thread_structures() -> Vec<(Option<u32>, Option<u32>)> {
    let mut structures: Vec<(Option<u32>, Option<u32>)> = vec![(None, None)];
    for workers in [1, 2, 4, 8] {
        for cores in [None, Some(1), Some(2), Some(4)] {
            structures.push((Some(workers), cores));
        }
    }
    structures
}

/// Where a search on a thread/core structure starts: the guessed overhead with a moderate spread,
/// the service time as given.
fn plain_start(overhead_guess_ms: f64, (workers, host_cores): (Option<u32>, Option<u32>), tail: Tail) -> Candidate {
    Candidate {
        overhead_ms: overhead_guess_ms.max(0.1),
        overhead_cv: 0.5,
        workers,
        host_cores,
        service_scale: 1.0,
        service_cv: 0.1,
        tail,
    }
}

/// How well one tail mechanism did: its best candidate, the fit's loss, and the loss of
/// predicting each fitted point from a fit without it (mean over the points).
#[derive(Clone, Debug)]
pub struct Structure {
    pub candidate: Candidate,
    pub fit_loss: f64,
    pub cross_validation_loss: Option<f64>,
}

/// The fit: every mechanism tried, which one was chosen, and the one cross-validation chose
/// (the same unless the caller declared one).
pub struct Fit {
    pub structures: Vec<Structure>,
    pub chosen: usize,
    pub by_cross_validation: usize,
}

impl Fit {
    pub fn best(&self) -> &Structure {
        &self.structures[self.chosen]
    }
}

/// A mechanism replaces none only if its cross-validation loss is this fraction of none's or
/// less: with two fitted points the losses carry the simulation's and the fit's noise, and on
/// the real servers of docs/validation.md smaller gains did not carry over to the hold-outs.
const REQUIRED_IMPROVEMENT: f64 = 0.75;

/// Evaluations of a refit without one point, from the full fit (cross-validation).
const CROSS_VALIDATION_EVALUATIONS: usize = 30;

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

    /// Nelder–Mead on the continuous coordinates from `start` (initial simplex: one step along
    /// each), at most `evaluations` losses.
    fn refine(&self, start: Candidate, evaluations: usize, requests: f64) -> (Candidate, f64) {
        let every: Vec<usize> = (0..start.coordinates().len()).collect();
        self.refine_some(start, &every, evaluations, requests)
    }

    /// [`Problem::refine`] moving only the coordinates numbered in `free`.
    fn refine_some(&self, start: Candidate, free: &[usize], evaluations: usize, requests: f64) -> (Candidate, f64) {
        const STEPS: [f64; 4] = [0.5, 0.4, 0.15, 0.2];
        const TAIL_STEP: f64 = 0.5;
        let full = start.coordinates();
        let embed = |x: &[f64]| -> Vec<f64> {
            let mut point = full.clone();
            for (&i, &v) in free.iter().zip(x) {
                point[i] = v;
            }
            point
        };
        let loss = |x: &[f64]| self.loss(&start.with_coordinates(&embed(x)), requests);
        let origin: Vec<f64> = free.iter().map(|&i| full[i]).collect();
        let dims = origin.len();
        let mut simplex: Vec<(Vec<f64>, f64)> = vec![(origin.clone(), loss(&origin))];
        for (k, &i) in free.iter().enumerate() {
            let mut x = origin.clone();
            x[k] += STEPS.get(i).copied().unwrap_or(TAIL_STEP);
            let value = loss(&x);
            simplex.push((x, value));
        }
        let mut used = simplex.len();
        let along =
            |a: &[f64], b: &[f64], t: f64| -> Vec<f64> { a.iter().zip(b).map(|(a, b)| a + t * (b - a)).collect() };
        while used < evaluations {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let worst = simplex[dims].clone();
            let centroid: Vec<f64> =
                (0..dims).map(|i| simplex[..dims].iter().map(|(x, _)| x[i]).sum::<f64>() / dims as f64).collect();
            let reflected = along(&centroid, &worst.0, -1.0);
            let reflected_loss = loss(&reflected);
            used += 1;
            if reflected_loss < simplex[0].1 {
                let expanded = along(&centroid, &worst.0, -2.0);
                let expanded_loss = loss(&expanded);
                used += 1;
                simplex[dims] = if expanded_loss < reflected_loss {
                    (expanded, expanded_loss)
                } else {
                    (reflected, reflected_loss)
                };
            } else if reflected_loss < simplex[dims - 1].1 {
                simplex[dims] = (reflected, reflected_loss);
            } else {
                let contracted = along(&centroid, &worst.0, 0.5);
                let contracted_loss = loss(&contracted);
                used += 1;
                if contracted_loss < worst.1 {
                    simplex[dims] = (contracted, contracted_loss);
                } else {
                    // Shrink towards the best.
                    let best = simplex[0].0.clone();
                    for vertex in simplex.iter_mut().skip(1) {
                        vertex.0 = along(&best, &vertex.0, 0.5);
                        vertex.1 = loss(&vertex.0);
                    }
                    used += dims;
                }
            }
        }
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        (start.with_coordinates(&embed(&simplex[0].0)), simplex[0].1)
    }

    /// The best candidates without a tail mechanism over every thread/core structure (the four
    /// best refined), best first.
    fn fit_without_tail(&self, overhead_guess_ms: f64) -> Vec<(Candidate, f64)> {
        // Stage 1: a short coarse search for every structure. Stage 2: the four best refined.
        let coarse: Vec<(Candidate, f64)> = thread_structures()
            .par_iter()
            .map(|&structure| self.refine(plain_start(overhead_guess_ms, structure, Tail::None), 30, COARSE_REQUESTS))
            .collect();
        let mut order: Vec<usize> = (0..coarse.len()).collect();
        order.sort_by(|&a, &b| coarse[a].1.total_cmp(&coarse[b].1).then(a.cmp(&b)));
        let mut refined: Vec<(usize, (Candidate, f64))> =
            order[..4].par_iter().map(|&i| self.refine(coarse[i].0.clone(), 60, FINE_REQUESTS)).enumerate().collect();
        refined.sort_by(|(a, x), (b, y)| x.1.total_cmp(&y.1).then(a.cmp(b)));
        refined.into_iter().map(|(_, fitted)| fitted).collect()
    }

    /// Every tail mechanism fitted, each judged by cross-validation over the fitted points when
    /// there are two or more, and the chosen one: `declared` (a mechanism's name) when given, else
    /// the lowest cross-validation loss, if it beats no mechanism by [`REQUIRED_IMPROVEMENT`].
    pub fn fit(&self, overhead_guess_ms: f64, excess_ms: f64, declared: Option<&str>) -> Fit {
        let plain = self.fit_without_tail(overhead_guess_ms);
        let mut fitted: Vec<(Candidate, f64)> = vec![plain[0].clone()];
        // Each mechanism from three starts: a small one on each of the two best thread/core
        // structures (a proxy's or a stall's effect depends on what shares the cores), and a sized
        // one from a plain base (the overhead guessed, its spread and the service time reset) on
        // the thread/core structure a short search with that tail finds best: the tail-less fit
        // may have chosen threads and cores only to imitate the tail.
        const STARTS: usize = 3;
        let best = &plain[0].0;
        let tails = Tail::starts(best.overhead_ms, excess_ms);
        let sized: Vec<Candidate> = tails
            .iter()
            .map(|&(_, tail)| {
                let coarse: Vec<(Candidate, f64)> = thread_structures()
                    .par_iter()
                    .map(|&structure| self.refine(plain_start(overhead_guess_ms, structure, tail), 10, COARSE_REQUESTS))
                    .collect();
                let best = coarse.iter().enumerate().min_by(|(a, x), (b, y)| x.1.total_cmp(&y.1).then(a.cmp(b)));
                best.expect("at least one structure").1 .0.clone()
            })
            .collect();
        let starts: Vec<Candidate> = tails
            .iter()
            .zip(sized)
            .flat_map(|(&(small, _), sized)| {
                let on = |c: &Candidate| Candidate { tail: small, ..c.clone() };
                [on(best), on(&plain[1.min(plain.len() - 1)].0), sized]
            })
            .collect();
        let refined: Vec<(Candidate, f64)> =
            starts.into_par_iter().map(|start| self.refine(start, 60, FINE_REQUESTS)).collect();
        for tries in refined.chunks(STARTS) {
            let best = tries.iter().enumerate().min_by(|(a, x), (b, y)| x.1.total_cmp(&y.1).then(a.cmp(b)));
            fitted.push(best.expect("three starts").1.clone());
        }
        let structures: Vec<Structure> = fitted
            .into_par_iter()
            .map(|(candidate, fit_loss)| {
                let cross_validation_loss = self.cross_validation_loss(&candidate);
                Structure { candidate, fit_loss, cross_validation_loss }
            })
            .collect();
        let by_cross_validation = match structures[0].cross_validation_loss {
            None => 0,
            Some(plain_cv) => {
                let (best, best_cv) = structures
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(i, s)| (i, s.cross_validation_loss.unwrap_or(f64::INFINITY)))
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
                    .expect("four mechanisms");
                if best_cv < REQUIRED_IMPROVEMENT * plain_cv {
                    best
                } else {
                    0
                }
            }
        };
        let chosen = declared.map_or(by_cross_validation, |name| {
            structures.iter().position(|s| s.candidate.tail.name() == name).expect("every mechanism is fitted")
        });
        Fit { structures, chosen, by_cross_validation }
    }

    /// Mean loss of predicting each fitted point from `candidate` refitted without it; None with
    /// fewer than two points.
    fn cross_validation_loss(&self, candidate: &Candidate) -> Option<f64> {
        if self.points.len() < 2 {
            return None;
        }
        let losses: Vec<f64> = (0..self.points.len())
            .into_par_iter()
            .map(|k| {
                let rest = Problem {
                    scenario: self.scenario,
                    inputs: self.inputs,
                    points: self.points.iter().enumerate().filter(|&(i, _)| i != k).map(|(_, p)| *p).collect(),
                };
                // What the left-out point's absence leaves unidentified stays at the full fit: the
                // model's side (service scale and spread, threads, cores). The per-request side
                // (overhead mean and spread) and the tail's own parameters are refitted.
                let free: Vec<usize> = [0, 1].into_iter().chain(4..candidate.coordinates().len()).collect();
                let (refitted, _) =
                    rest.refine_some(candidate.clone(), &free, CROSS_VALIDATION_EVALUATIONS, FINE_REQUESTS);
                let left_out = Problem { scenario: self.scenario, inputs: self.inputs, points: vec![self.points[k]] };
                left_out.loss(&refitted, FINE_REQUESTS)
            })
            .collect();
        Some(losses.iter().sum::<f64>() / losses.len() as f64)
    }
}
