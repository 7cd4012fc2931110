//! Confidence intervals across independent replications.

/// The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95% intervals).
pub fn t_975(df: u64) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    t_quantile(0.975, df)
}

/// Mean and the half-width of its 95% confidence interval (0 for a single sample).
pub fn mean_ci95(samples: &[f64]) -> (f64, f64) {
    let n = samples.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = samples.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n as u64 - 1) * (variance / n as f64).sqrt())
}

/// `P(T ≤ t)` for Student's t with `df` degrees of freedom: the exact finite series for integer
/// `df` (Abramowitz & Stegun 26.7.3–26.7.4).
pub fn t_cdf(t: f64, df: u64) -> f64 {
    assert!(df > 0, "Student's t needs at least one degree of freedom");
    let theta = (t.abs() / (df as f64).sqrt()).atan();
    let (sin, cos2) = (theta.sin(), theta.cos().powi(2));
    // P(|T| ≤ |t|).
    let within = if df % 2 == 1 {
        let mut term = theta.cos();
        let mut series = if df > 1 { term } else { 0.0 };
        for k in (3..df).step_by(2) {
            term *= (k - 1) as f64 / k as f64 * cos2;
            series += term;
        }
        2.0 / std::f64::consts::PI * (theta + sin * series)
    } else {
        let mut term = 1.0;
        let mut series = 1.0;
        for k in (2..df).step_by(2).map(|k| k + 1) {
            term *= (k - 2) as f64 / (k - 1) as f64 * cos2;
            series += term;
        }
        sin * series
    };
    if t >= 0.0 {
        0.5 + within / 2.0
    } else {
        0.5 - within / 2.0
    }
}

/// The `p` quantile of Student's t (`0.5 ≤ p < 1`), by bisection on [`t_cdf`].
pub fn t_quantile(p: f64, df: u64) -> f64 {
    assert!((0.5..1.0).contains(&p), "a one-sided upper quantile");
    let (mut low, mut high) = (0.0, 1e7);
    // 64 halvings of [0, 1e7] leave an interval far below any printed digit.
    for _ in 0..64 {
        let mid = 0.5 * (low + high);
        if t_cdf(mid, df) < p {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// An interval for a quantile estimated from `per_replication.len()` independent replications:
/// centred on `pooled`, the estimate from all replications' observations together, with the
/// standard error of the per-replication estimates' mean ("sectioning", Asmussen & Glynn,
/// *Stochastic Simulation*, III.5a). Pooling removes most of the bias a short replication's tail
/// quantile has; the spread still measures the noise. Returns the half-width for a two-sided
/// interval at `confidence` (0 for one replication).
pub fn sectioning_half_width(pooled: f64, per_replication: &[f64], confidence: f64) -> f64 {
    let n = per_replication.len();
    if n < 2 {
        return 0.0;
    }
    // Spread around the pooled value, which is the better centre (Nakayama's variant).
    let spread = per_replication.iter().map(|x| (x - pooled).powi(2)).sum::<f64>() / (n - 1) as f64;
    t_quantile(0.5 + confidence / 2.0, n as u64 - 1) * (spread / n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_cdf_and_quantile_match_published_tables() {
        // One-sided upper quantiles from standard tables.
        for (p, df, published) in [
            (0.975, 1, 12.706),
            (0.975, 2, 4.303),
            (0.975, 10, 2.228),
            (0.95, 3, 2.353),
            (0.95, 19, 1.729),
            (0.99, 4, 3.747),
            (0.99, 29, 2.462),
            (0.9, 7, 1.415),
            (0.995, 120, 2.617),
        ] {
            let t = t_quantile(p, df);
            assert!((t - published).abs() < 5e-4, "t({p}, {df}) = {t}, published {published}");
            assert!((t_cdf(t, df) - p).abs() < 1e-9);
            assert!((t_cdf(-t, df) - (1.0 - p)).abs() < 1e-9);
        }
    }

    #[test]
    fn sectioning_centres_on_the_pooled_value() {
        // Per-replication values 9, 10, 11 around a pooled 10.5: spread Σ(x − 10.5)² / 2 = 2.75 / 2.
        let half = sectioning_half_width(10.5, &[9.0, 10.0, 11.0], 0.95);
        assert!((half - 4.303 * (1.375_f64 / 3.0).sqrt()).abs() < 1e-3, "{half}");
        assert_eq!(sectioning_half_width(10.0, &[10.0], 0.95), 0.0);
    }

    #[test]
    fn t_quantiles_match_published_tables() {
        // Published two-sided 95% critical values.
        assert!((t_975(1) - 12.706).abs() < 5e-4);
        assert!((t_975(10) - 2.228).abs() < 5e-4);
        assert!((t_975(40) - 2.021).abs() < 5e-4);
        assert!((t_975(60) - 2.000).abs() < 5e-4);
        assert!((t_975(120) - 1.980).abs() < 5e-4);
        assert!((t_975(100_000) - 1.960).abs() < 5e-4);
    }

    #[test]
    fn interval_of_known_samples() {
        // Mean 3, sample sd sqrt(2.5), n = 5: half-width 2.776 × sqrt(2.5 / 5).
        let (mean, half) = mean_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(mean, 3.0);
        // t(0.975, 4) = 2.7764 (published to four places).
        assert!((half - 2.7764 * 0.5f64.sqrt()).abs() < 1e-4);
        assert_eq!(mean_ci95(&[7.0]), (7.0, 0.0));
    }
}
