//! `servesim accuracy`: the catalog GPUs' latency estimates against the published measurements
//! they are calibrated on — per point, per device, out of sample — as the Markdown that
//! docs/accuracy.md carries.

use crate::error::CliError;
use crate::latency::{calibrated, devices, published};
use kernels::device_fit::{self, mape, DeviceFit};
use kernels::published::Published;
use std::fmt::Write;

/// One device's figures: MAPEs are fractions.
pub struct DeviceAccuracy {
    pub device: String,
    pub fit: DeviceFit,
    pub in_sample_mape: f64,
    /// Every out-of-sample prediction pooled.
    pub holdout_mape: f64,
    /// (split name, MAPE) per hold-out test.
    pub holdouts: Vec<(String, f64)>,
    /// The H200 calibration transferred (what every device used before per-device calibration).
    pub transferred_mape: f64,
}

pub struct Accuracy {
    pub rows: Vec<Published>,
    pub devices: Vec<DeviceAccuracy>,
    /// The H200 calibration's predictions of every row.
    pub transferred: Vec<(usize, f64)>,
}

fn pairs(rows: &[Published], predictions: &[(usize, f64)]) -> Vec<(f64, f64)> {
    predictions.iter().map(|&(i, predicted)| (predicted, rows[i].seconds)).collect()
}

pub fn accuracy() -> Result<Accuracy, kernels::KernelError> {
    let rows = published();
    let models = kernels::catalog();
    let catalog = devices();
    let (transferred, _) = device_fit::fallback(&catalog, &rows, &models)?;
    let mut names: Vec<&str> = rows.iter().map(|r| r.gpu.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let device = catalog
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| kernels::KernelError::Catalog(format!("unknown device {name:?}")))?;
        let fit = device_fit::calibrate_device(device, &rows, &models)?.expect("the device has rows");
        let pooled: Vec<(usize, f64)> = fit.holdouts.iter().flat_map(|t| t.predictions.iter().copied()).collect();
        let own: Vec<(usize, f64)> = transferred.iter().copied().filter(|&(i, _)| rows[i].gpu == name).collect();
        out.push(DeviceAccuracy {
            device: name.to_string(),
            in_sample_mape: mape(&pairs(&rows, &fit.in_sample)),
            holdout_mape: mape(&pairs(&rows, &pooled)),
            holdouts: fit.holdouts.iter().map(|t| (t.name.clone(), mape(&pairs(&rows, &t.predictions)))).collect(),
            transferred_mape: mape(&pairs(&rows, &own)),
            fit,
        });
    }
    Ok(Accuracy { rows, devices: out, transferred })
}

impl Accuracy {
    pub fn markdown(&self) -> String {
        let mut text = String::new();
        let pct = |x: f64| format!("{:.1}%", 100.0 * x);
        let _ = writeln!(
            text,
            "| device | published points | compute / attention / memory efficiency, µs per operator | in-sample MAPE | \
             hold-out MAPE | 68% band | H200 calibration transferred (before) |"
        );
        let _ = writeln!(text, "|---|---:|---|---:|---:|---|---:|");
        for d in &self.devices {
            let c = &d.fit.calibration;
            let _ = writeln!(
                text,
                "| {} | {} | {:.0}% / {:.0}% / {:.0}%, {:.1} µs | {} | {} | ×{:.2}–×{:.2} | {} |",
                d.device,
                d.fit.in_sample.len(),
                100.0 * c.compute_efficiency,
                100.0 * c.compute_efficiency * c.attention_ratio,
                100.0 * c.memory_efficiency,
                c.launch_overhead_s * 1e6,
                pct(d.in_sample_mape),
                pct(d.holdout_mape),
                d.fit.band.low,
                d.fit.band.high,
                pct(d.transferred_mape)
            );
        }
        let _ = writeln!(text, "\n### Hold-out: fitted on one part, predicting the other\n");
        let _ = writeln!(text, "| device | fitted on → predicted | MAPE |");
        let _ = writeln!(text, "|---|---|---:|");
        for d in &self.devices {
            for (name, error) in &d.holdouts {
                let _ = writeln!(text, "| {} | {} | {} |", d.device, name.trim_start_matches("fit on "), pct(*error));
            }
        }
        let _ = writeln!(text, "\n### Every point\n");
        let _ = writeln!(
            text,
            "Published mean latency (ms) against the calibrated estimate, and the H200 calibration transferred \
             (before).\n"
        );
        let _ = writeln!(
            text,
            "| device | framework | model | seq | batch | published | estimate | error | before | error |"
        );
        let _ = writeln!(text, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
        for d in &self.devices {
            for &(i, predicted) in &d.fit.in_sample {
                let row = &self.rows[i];
                let before = self.transferred[i].1;
                let error = |p: f64| format!("{:+.1}%", 100.0 * (p / row.seconds - 1.0));
                let _ = writeln!(
                    text,
                    "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {:.2} | {} |",
                    d.device,
                    row.framework,
                    row.model,
                    row.seq,
                    row.batch,
                    row.seconds * 1e3,
                    predicted * 1e3,
                    error(predicted),
                    before * 1e3,
                    error(before)
                );
            }
        }
        text
    }
}

#[derive(clap::Args)]
pub struct AccuracyArgs {
    /// Also print what a catalog device without published figures would use (e.g. a10g).
    #[arg(long)]
    device: Option<String>,
}

pub fn run(args: &AccuracyArgs) -> Result<(), CliError> {
    let report = accuracy().map_err(|e| CliError::input(e.to_string()))?;
    print!("{}", report.markdown());
    if let Some(name) = &args.device {
        let device = crate::latency::device(name)?;
        let c = calibrated(&device)?;
        println!("\n{}: {}", device.name, c.calibration.source);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bars docs/accuracy.md states. Each is the measured figure rounded up, so a change to
    /// the calibration, the operator model or the published table that makes any device worse
    /// fails here.
    const HOLDOUT_BARS: [(&str, f64); 5] =
        [("a100-40g-sxm", 0.12), ("a30", 0.05), ("l4", 0.11), ("l40s", 0.18), ("t4", 0.05)];

    #[test]
    fn estimates_stay_within_their_stated_error_of_the_published_table() {
        let report = accuracy().unwrap();
        assert_eq!(report.devices.len(), HOLDOUT_BARS.len());
        for (d, (name, bar)) in report.devices.iter().zip(HOLDOUT_BARS) {
            assert_eq!(d.device, name);
            assert!(d.holdout_mape <= bar, "{name}: hold-out MAPE {:.3} > {bar}", d.holdout_mape);
            assert!(d.in_sample_mape <= d.holdout_mape + 0.01, "{name}: in sample {:.3}", d.in_sample_mape);
            // Per-device calibration beats the transferred H200 one on every device.
            assert!(d.in_sample_mape < d.transferred_mape, "{name}");
        }
    }

    #[test]
    fn the_t4_is_no_longer_twice_too_fast() {
        // The figures: published T4 BERT-base at seq 384, batch 128, 458.76 ms; the
        // transferred H200 calibration said 237 ms. Out of sample (fitted on seq 128 alone) the
        // estimate must land within 15%.
        let report = accuracy().unwrap();
        let t4 = report.devices.iter().find(|d| d.device == "t4").unwrap();
        let test = t4.fit.holdouts.iter().find(|t| t.name == "fit on seq 128 → seq 384").unwrap();
        let (i, predicted) = *test
            .predictions
            .iter()
            .find(|&&(i, _)| {
                let r = &report.rows[i];
                r.model == "bert-base-uncased" && r.batch == 128
            })
            .unwrap();
        assert!((report.rows[i].seconds - 0.45876).abs() < 1e-9);
        assert!((predicted / 0.45876 - 1.0).abs() < 0.15, "{predicted}");
        assert!(report.transferred[i].1 < 0.6 * 0.45876, "the old estimate was ~2x optimistic");
    }

    #[test]
    fn a100_stays_at_or_below_the_error_it_had() {
        // TensorRT 8.4.3's A100 table, BERT-base: MAPE 11.5% (seq 128) and 7.7% (seq 384) with
        // the transferred calibration; the per-device one must not be worse.
        let report = accuracy().unwrap();
        let a100 = report.devices.iter().find(|d| d.device == "a100-40g-sxm").unwrap();
        for (seq, before) in [(128, 0.115), (384, 0.077)] {
            let group: Vec<(f64, f64)> = a100
                .fit
                .in_sample
                .iter()
                .filter(|&&(i, _)| {
                    let r = &report.rows[i];
                    r.seq == seq && r.model == "bert-base-uncased" && r.framework.starts_with("TensorRT 8.4")
                })
                .map(|&(i, p)| (p, report.rows[i].seconds))
                .collect();
            assert_eq!(group.len(), 10);
            assert!(mape(&group) <= before, "seq {seq}: {}", mape(&group));
        }
    }

    #[test]
    fn a_wrong_calibration_fails_the_bar() {
        // The bar can fail: the T4's estimates with the calibration of the A100 (a part that
        // sustains twice the fraction of its peak) miss the published table far beyond it.
        let report = accuracy().unwrap();
        let t4 = report.devices.iter().find(|d| d.device == "t4").unwrap();
        let a100 = report.devices.iter().find(|d| d.device == "a100-40g-sxm").unwrap();
        let device = crate::latency::device("t4").unwrap();
        let models = kernels::catalog();
        let wrong: Vec<(f64, f64)> = t4
            .fit
            .in_sample
            .iter()
            .map(|&(i, _)| {
                let point = device_fit::point(&report.rows[i], &models).unwrap();
                (point.predict(&device, &a100.fit.calibration), report.rows[i].seconds)
            })
            .collect();
        assert!(mape(&wrong) > 0.05 * 3.0, "{}", mape(&wrong));
    }

    #[test]
    fn bands_cover_about_68_percent_of_out_of_sample_predictions() {
        // By construction on the pooled hold-out predictions (16th to 84th percentile), within
        // the granularity of 80–160 points.
        let report = accuracy().unwrap();
        for d in &report.devices {
            let pooled: Vec<(usize, f64)> = d.fit.holdouts.iter().flat_map(|t| t.predictions.iter().copied()).collect();
            let inside = pooled.iter().filter(|&&(i, p)| d.fit.band.contains(p, report.rows[i].seconds)).count();
            let share = inside as f64 / pooled.len() as f64;
            assert!((0.66..=0.70).contains(&share), "{}: {share}", d.device);
        }
    }
}
