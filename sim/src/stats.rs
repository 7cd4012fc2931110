//! Confidence intervals across independent replications.

/// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t_975(df: u64) -> f64 {
    // Exact table for small df; beyond it the Cornish–Fisher expansion around the normal quantile
    // is accurate to better than 1e-4.
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df as usize - 1],
        _ => {
            let z: f64 = 1.959_963_984_540_054;
            let v = df as f64;
            z + (z.powi(3) + z) / (4.0 * v)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / (384.0 * v.powi(3))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_tables() {
        // Published two-sided 95% critical values.
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(10), 2.228);
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
        assert!((half - 2.776 * 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(mean_ci95(&[7.0]), (7.0, 0.0));
    }
}
