//! Latency distributions, ready to sample. Parameters are checked by [`crate::model::build`]; the
//! constructors here assume valid input.

use crate::rng::Rng;
use crate::units::Nanos;
use rand::Rng as _;
use rand_distr::{Distribution, Exp, Gamma, LogNormal};

/// A draw from any shape but a mixture. Not recursive, so it inlines into the engine's hot paths
/// (a mixture's parts are simple: checked at build).
#[inline(always)]
fn sample_simple(shape: &Shape, rng: &mut Rng) -> Nanos {
    match shape {
        Shape::Constant(value) => *value,
        Shape::Exponential(d) => d.sample(rng).min(MAX_SAMPLE_NANOS) as Nanos,
        Shape::Lognormal(d) => d.sample(rng).min(MAX_SAMPLE_NANOS) as Nanos,
        Shape::Gamma(d) => d.sample(rng).min(MAX_SAMPLE_NANOS) as Nanos,
        Shape::Uniform { min, max } => rng.random_range(*min..=*max),
        Shape::Empirical(samples) => samples[rng.random_range(0..samples.len())],
        Shape::Mixture(_) => unreachable!("a mixture's parts are simple distributions (checked at build)"),
    }
}

#[cold]
#[inline(never)]
fn sample_mixture(parts: &[(f64, Sampler)], rng: &mut Rng) -> Nanos {
    let u: f64 = rng.random();
    let part = parts.iter().find(|(cumulative, _)| u < *cumulative).unwrap_or(&parts[parts.len() - 1]);
    sample_simple(&part.1.shape, rng)
}

/// Draws are capped at about 11.6 simulated days: heavy-tailed distributions with large cv can
/// produce values (even infinities) that would otherwise overflow the clock.
const MAX_SAMPLE_NANOS: f64 = 1e15;

#[derive(Clone, Debug)]
enum Shape {
    Constant(Nanos),
    Exponential(Exp<f64>),
    Lognormal(LogNormal<f64>),
    Gamma(Gamma<f64>),
    Uniform {
        min: Nanos,
        max: Nanos,
    },
    Empirical(Vec<Nanos>),
    /// Parts with their cumulative weights (the last is 1): a draw picks a part, then samples it.
    Mixture(Box<[(f64, Sampler)]>),
}

#[derive(Clone, Debug)]
pub struct Sampler {
    shape: Shape,
    /// Kept beside the shape because rand_distr's types do not expose their parameters.
    mean: f64,
}

impl Sampler {
    pub fn constant(value: Nanos) -> Self {
        Sampler { shape: Shape::Constant(value), mean: value as f64 }
    }

    pub fn exponential(mean: f64) -> Self {
        Sampler { shape: Shape::Exponential(Exp::new(1.0 / mean).expect("validated: mean > 0")), mean }
    }

    /// Lognormal with the given mean and coefficient of variation: σ² = ln(1 + cv²), μ = ln(mean) − σ²/2.
    pub fn lognormal(mean: f64, cv: f64) -> Self {
        if cv == 0.0 {
            return Sampler::constant(mean.round() as Nanos);
        }
        let sigma2 = (1.0 + cv * cv).ln();
        let dist = LogNormal::new(mean.ln() - sigma2 / 2.0, sigma2.sqrt()).expect("validated: mean, cv > 0");
        Sampler { shape: Shape::Lognormal(dist), mean }
    }

    /// Gamma with the given mean and coefficient of variation: shape k = 1/cv², scale = mean / k.
    pub fn gamma(mean: f64, cv: f64) -> Self {
        if cv == 0.0 {
            return Sampler::constant(mean.round() as Nanos);
        }
        let k = 1.0 / (cv * cv);
        Sampler { shape: Shape::Gamma(Gamma::new(k, mean / k).expect("validated: mean, cv > 0")), mean }
    }

    pub fn uniform(min: Nanos, max: Nanos) -> Self {
        Sampler { shape: Shape::Uniform { min, max }, mean: (min as f64 + max as f64) / 2.0 }
    }

    pub fn empirical(samples: Vec<Nanos>) -> Self {
        let mean = samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len() as f64;
        Sampler { shape: Shape::Empirical(samples), mean }
    }

    /// A mixture of `parts` with (positive) `weights`, normalised here.
    pub fn mixture(parts: Vec<(f64, Sampler)>) -> Self {
        let total: f64 = parts.iter().map(|(w, _)| w).sum();
        let mean = parts.iter().map(|(w, s)| w / total * s.mean).sum();
        let mut cumulative = 0.0;
        let count = parts.len();
        let parts = parts
            .into_iter()
            .enumerate()
            .map(|(i, (w, s))| {
                cumulative += w / total;
                // The last part closes the range whatever the rounding.
                (if i + 1 == count { 1.0 } else { cumulative }, s)
            })
            .collect();
        Sampler { shape: Shape::Mixture(parts), mean }
    }

    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> Nanos {
        match &self.shape {
            Shape::Mixture(parts) => sample_mixture(parts, rng),
            simple => sample_simple(simple, rng),
        }
    }

    /// The distribution's mean, in nanoseconds.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// True for a constant: every draw is the same value (and draws nothing from the stream).
    pub fn is_constant(&self) -> bool {
        matches!(self.shape, Shape::Constant(_))
    }

    /// True for the zero constant, so callers can skip a stage that takes no time.
    pub fn is_zero(&self) -> bool {
        matches!(self.shape, Shape::Constant(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn moments(sampler: &Sampler, n: usize) -> (f64, f64) {
        let mut rng = stream(3, "dist-test");
        let xs: Vec<f64> = (0..n).map(|_| sampler.sample(&mut rng) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var.sqrt() / mean)
    }

    #[test]
    fn mean_and_cv_parameterisations_hold() {
        // 200k draws: the sample mean's relative standard error is cv / sqrt(n) < 0.3%.
        let n = 200_000;
        for (sampler, cv) in
            [(Sampler::exponential(5e6), 1.0), (Sampler::lognormal(5e6, 0.5), 0.5), (Sampler::gamma(5e6, 0.3), 0.3)]
        {
            let (mean, sample_cv) = moments(&sampler, n);
            assert!((mean / 5e6 - 1.0).abs() < 0.01, "mean {mean}");
            assert!((sample_cv - cv).abs() < 0.03, "cv {sample_cv} vs {cv}");
            assert_eq!(sampler.mean(), 5e6);
        }
        let (mean, _) = moments(&Sampler::uniform(1_000, 3_000), n);
        assert!((mean / 2_000.0 - 1.0).abs() < 0.01);
        assert_eq!(Sampler::empirical(vec![1, 2, 6]).mean(), 3.0);
    }
}
