//! Prediction-drift monitoring, sized before it is deployed: a share of the run's answered
//! requests log their prediction; every window the monitor tests the logged scores against the
//! reference distribution (PSI over the reference's quantile bins, or a one-sample
//! Kolmogorov–Smirnov test); from `at`, an injected drift shifts the scores. Repeated over fresh
//! draws of the logged scores, it says how soon the drift is caught and how often the monitor
//! alarms with no drift — for this traffic, sample share, window and threshold.
//!
//! Scores are standardised: the reference is N(0, 1), a drift of `shift` makes them N(shift, 1).
//! The window's logged count is Binomial(answers in the window, sample).

use crate::rng::Rng;
use crate::units::{nanos_to_secs, Nanos};
use rand::Rng as _;
use rand_distr::{Binomial, Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftTest {
    Psi { bins: u32 },
    Ks,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DriftModel {
    pub sample: f64,
    pub window: Nanos,
    pub test: DriftTest,
    pub threshold: f64,
    /// When the drift starts and by how many standard deviations it shifts the scores.
    pub inject: Option<(Nanos, f64)>,
    pub repetitions: u32,
}

/// `summary.json`'s `monitoring.drift`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DriftSummary {
    pub test: String,
    pub threshold: f64,
    pub sample: f64,
    pub window_s: f64,
    pub windows: usize,
    /// Predictions logged per window, mean over windows and repetitions.
    pub logged_per_window: f64,
    pub repetitions: u32,
    /// Alarms in windows that end before the drift (every window without one), per day of them.
    pub false_alarms_per_day: f64,
    /// Share of those windows that alarmed.
    pub false_alarm_rate: f64,
    /// With a drift injected: the share of repetitions that caught it, and how long after it
    /// started (the end of the first alarming window that holds drifted scores).
    pub detected: Option<f64>,
    pub detection_delay_s: Option<DelayStats>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DelayStats {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

/// Φ, the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Φ⁻¹ by bisection on Φ (only at set-up: bin edges).
fn normal_quantile(p: f64) -> f64 {
    let (mut low, mut high) = (-40.0, 40.0);
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if normal_cdf(mid) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// The Kolmogorov distribution's upper tail with Stephens' small-sample correction: the p-value
/// of a one-sample KS statistic `d` over `n` scores.
pub fn ks_p_value(d: f64, n: u64) -> f64 {
    let sqrt_n = (n as f64).sqrt();
    let lambda = (sqrt_n + 0.12 + 0.11 / sqrt_n) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let (mut sum, mut sign) = (0.0, 1.0);
    for k in 1..=100 {
        let k = f64::from(k);
        let term = 2.0 * sign * (-2.0 * k * k * lambda * lambda).exp();
        sum += term;
        sign = -sign;
        if term.abs() < 1e-12 {
            break;
        }
    }
    sum.clamp(0.0, 1.0)
}

/// Scores at or below which a sample is drawn score by score; larger windows are binned (4096
/// equal-probability bins of the reference: the KS statistic to ±1/4096, 1.3% of its 5% critical
/// value at 5 000 scores and less above).
const EXACT_UP_TO: u64 = 5_000;
const KS_BINS: usize = 4096;

struct Tester {
    test: DriftTest,
    /// Bin edges (upper, the last +∞) as reference quantiles.
    edges: Vec<f64>,
    scratch_scores: Vec<f64>,
    scratch_counts: Vec<u64>,
}

impl Tester {
    fn new(test: DriftTest) -> Self {
        let bins = match test {
            DriftTest::Psi { bins } => bins as usize,
            DriftTest::Ks => KS_BINS,
        };
        let edges = (1..=bins)
            .map(|i| if i == bins { f64::INFINITY } else { normal_quantile(i as f64 / bins as f64) })
            .collect();
        Tester { test, edges, scratch_scores: Vec::new(), scratch_counts: vec![0; bins] }
    }

    /// Bin counts of `n` scores, a share `drifted` of them shifted by `shift`: a multinomial draw
    /// by successive binomials.
    fn bin_counts(&mut self, n: u64, drifted: f64, shift: f64, rng: &mut Rng) {
        let mut left = n;
        let mut mass_left = 1.0;
        let mut below = 0.0;
        for (k, &edge) in self.edges.iter().enumerate() {
            let cdf = (1.0 - drifted) * normal_cdf(edge) + drifted * normal_cdf(edge - shift);
            let p = (cdf - below).max(0.0);
            below = cdf;
            let count = if left == 0 || mass_left <= 0.0 {
                0
            } else if k + 1 == self.edges.len() {
                left
            } else {
                Binomial::new(left, (p / mass_left).clamp(0.0, 1.0)).expect("a probability").sample(rng)
            };
            self.scratch_counts[k] = count;
            left -= count;
            mass_left -= p;
        }
    }

    /// Whether a window of `n` scores, a share `drifted` shifted by `shift`, alarms.
    fn alarms(&mut self, n: u64, drifted: f64, shift: f64, threshold: f64, rng: &mut Rng) -> bool {
        if n == 0 {
            return false;
        }
        match self.test {
            DriftTest::Psi { bins } => {
                self.bin_counts(n, drifted, shift, rng);
                let expected = 1.0 / f64::from(bins);
                // Additive smoothing (half a score per bin) keeps an empty bin finite.
                let total = n as f64 + 0.5 * f64::from(bins);
                let psi: f64 = self
                    .scratch_counts
                    .iter()
                    .map(|&c| {
                        let actual = (c as f64 + 0.5) / total;
                        (actual - expected) * (actual / expected).ln()
                    })
                    .sum();
                psi > threshold
            }
            DriftTest::Ks => {
                let d = if n <= EXACT_UP_TO {
                    self.scratch_scores.clear();
                    for _ in 0..n {
                        let z: f64 = rng.sample(StandardNormal);
                        let shifted = rng.random::<f64>() < drifted;
                        self.scratch_scores.push(if shifted { z + shift } else { z });
                    }
                    self.scratch_scores.sort_unstable_by(f64::total_cmp);
                    let n_f = n as f64;
                    self.scratch_scores.iter().enumerate().fold(0.0f64, |d, (i, &x)| {
                        let f = normal_cdf(x);
                        d.max((i as f64 + 1.0) / n_f - f).max(f - i as f64 / n_f)
                    })
                } else {
                    self.bin_counts(n, drifted, shift, rng);
                    let (mut seen, mut d) = (0u64, 0.0f64);
                    for (k, &c) in self.scratch_counts.iter().enumerate() {
                        seen += c;
                        d = d.max((seen as f64 / n as f64 - (k + 1) as f64 / KS_BINS as f64).abs());
                    }
                    d
                };
                ks_p_value(d, n) < threshold
            }
        }
    }
}

/// The monitor over a run whose answers per window are `answers` (windows of `model.window` from
/// time 0), repeated `model.repetitions` times.
pub fn evaluate(model: &DriftModel, answers: &[u64], rng: &mut Rng) -> DriftSummary {
    let mut tester = Tester::new(model.test);
    let window = model.window;
    let (at, shift) = model.inject.unwrap_or((Nanos::MAX, 0.0));
    let drifted_share = |k: usize| {
        let (start, end) = (k as Nanos * window, (k as Nanos + 1) * window);
        if at >= end {
            0.0
        } else {
            (end - at.max(start)) as f64 / window as f64
        }
    };
    let clean: Vec<usize> = (0..answers.len()).filter(|&k| drifted_share(k) == 0.0).collect();
    let (mut false_alarms, mut logged, mut delays, mut caught) = (0u64, 0u64, Vec::new(), 0u32);
    for _ in 0..model.repetitions {
        let mut detected = None;
        for (k, &answered) in answers.iter().enumerate() {
            let n = if answered == 0 || model.sample <= 0.0 {
                0
            } else {
                Binomial::new(answered, model.sample.min(1.0)).expect("a share").sample(rng)
            };
            logged += n;
            let share = drifted_share(k);
            let alarm = tester.alarms(n, share, shift, model.threshold, rng);
            if share == 0.0 {
                false_alarms += u64::from(alarm);
            } else if alarm && detected.is_none() {
                detected = Some((k as Nanos + 1) * window - at);
            }
        }
        if let Some(delay) = detected {
            caught += 1;
            delays.push(nanos_to_secs(delay));
        }
    }
    let reps = f64::from(model.repetitions.max(1));
    let clean_days = clean.len() as f64 * nanos_to_secs(window) / 86_400.0;
    delays.sort_by(f64::total_cmp);
    let at_rank = |q: f64| delays[((q * delays.len() as f64).ceil() as usize).clamp(1, delays.len()) - 1];
    DriftSummary {
        test: match model.test {
            DriftTest::Psi { .. } => "psi".into(),
            DriftTest::Ks => "ks".into(),
        },
        threshold: model.threshold,
        sample: model.sample,
        window_s: nanos_to_secs(window),
        windows: answers.len(),
        logged_per_window: logged as f64 / (reps * answers.len().max(1) as f64),
        repetitions: model.repetitions,
        false_alarms_per_day: if clean_days > 0.0 { false_alarms as f64 / reps / clean_days } else { 0.0 },
        false_alarm_rate: if clean.is_empty() { 0.0 } else { false_alarms as f64 / (reps * clean.len() as f64) },
        detected: model.inject.map(|_| f64::from(caught) / reps),
        detection_delay_s: (!delays.is_empty()).then(|| DelayStats {
            mean: delays.iter().sum::<f64>() / delays.len() as f64,
            p50: at_rank(0.5),
            p90: at_rank(0.9),
            max: *delays.last().expect("not empty"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_and_quantile_agree_with_tables() {
        assert!((normal_cdf(1.959_963_985) - 0.975).abs() < 1e-9);
        assert!((normal_quantile(0.9) - 1.281_551_566).abs() < 1e-8);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn ks_p_values_match_the_kolmogorov_table() {
        // √n·D = 1.358 is the 5% point of the Kolmogorov distribution (large n), 1.628 the 1%.
        let n = 1_000_000;
        assert!((ks_p_value(1.358 / (n as f64).sqrt(), n) - 0.05).abs() < 0.001);
        assert!((ks_p_value(1.628 / (n as f64).sqrt(), n) - 0.01).abs() < 0.0005);
    }
}
