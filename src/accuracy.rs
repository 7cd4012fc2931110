//! `servesim accuracy`: the catalog GPUs' latency estimates against the published measurements
//! they are calibrated on — per point, per device, out of sample — as the Markdown that
//! docs/accuracy.md carries.

use crate::error::CliError;
use crate::latency::{calibrated, devices, published, LatencyError};
use crate::stacks;
use kernels::device_fit::Band;
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

/// One serving stack's figures: MAPEs are fractions.
pub struct StackAccuracy {
    pub name: &'static str,
    pub points: usize,
    pub sources: usize,
    pub model: kernels::stack::StackModel,
    /// None for a stack with no published rows of its own.
    pub in_sample_mape: Option<f64>,
    /// Every leave-one-source-out prediction pooled (two sources or more).
    pub loso_mape: Option<f64>,
    /// Held-out predictions inside their out-of-sample band, and how many there were.
    pub coverage: Option<(usize, usize)>,
    /// How the stack's estimates are made and banded.
    pub basis: String,
    /// The stack's own band (the reference stack has none beyond the device's).
    pub band: Option<Band>,
}

/// Every graph stack's fit, leave-one-source-out error and held-out band coverage.
pub fn stack_accuracy() -> Result<Vec<StackAccuracy>, LatencyError> {
    let rows = stacks::all_rows();
    let pairs = |predictions: &[(usize, f64)]| -> Vec<(f64, f64)> {
        predictions.iter().map(|&(i, p)| (p, rows[i].seconds)).collect()
    };
    let mut out = Vec::new();
    for info in kernels::stack::STACKS.iter().filter(|s| s.serves_graphs()) {
        let evaluation = stacks::evaluate(info.name)?;
        let fitted = stacks::graph_stack(info.name)?;
        let held = stacks::held_out(info.name)?;
        out.push(StackAccuracy {
            name: info.name,
            points: evaluation.rows.len(),
            sources: evaluation.sources.len(),
            model: evaluation.model,
            in_sample_mape: (!evaluation.in_sample.is_empty()).then(|| mape(&pairs(&evaluation.in_sample))),
            loso_mape: (!evaluation.leave_one_source_out.is_empty())
                .then(|| mape(&pairs(&evaluation.leave_one_source_out))),
            coverage: (!held.is_empty()).then(|| (held.iter().filter(|h| h.covered()).count(), held.len())),
            basis: fitted.basis.clone(),
            band: fitted.band.clone(),
        });
    }
    Ok(out)
}

/// The stacks' Markdown: per stack, then the held-out coverage over every stack.
pub fn stacks_markdown(stacks: &[StackAccuracy]) -> String {
    let mut text = String::new();
    let pct = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{:.1}%", 100.0 * x));
    let _ = writeln!(
        text,
        "| stack | published points | sources | GEMM / attention / memory ×, µs per operator, µs per call | \
         in-sample MAPE | leave-one-source-out MAPE | stack band | held-out coverage |"
    );
    let _ = writeln!(text, "|---|---:|---:|---|---:|---:|---|---:|");
    let (mut covered, mut total) = (0, 0);
    for s in stacks {
        let m = &s.model;
        let band = s.band.as_ref().map_or("device band".to_string(), |b| format!("×{:.2}–×{:.2}", b.low, b.high));
        let coverage = s.coverage.map_or("–".to_string(), |(c, n)| {
            covered += c;
            total += n;
            format!("{:.0}% of {n}", 100.0 * c as f64 / n as f64)
        });
        let model = if s.points == 0 {
            "(stand-in)".to_string()
        } else {
            format!(
                "{:.2} / {:.2} / {:.2}, {:.1} µs, {:.0} µs",
                m.matrix,
                m.attention,
                m.memory,
                m.per_operator_s * 1e6,
                m.per_call_s * 1e6
            )
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {model} | {} | {} | {band} | {coverage} |",
            s.name,
            s.points,
            s.sources,
            pct(s.in_sample_mape),
            pct(s.loso_mape)
        );
    }
    if total > 0 {
        let _ = writeln!(
            text,
            "\n**Held-out 68% band coverage over every stack: {:.1}%** ({covered} of {total} predictions of a \
             source left out, each with the band judged without it, combined with the device's).",
            100.0 * covered as f64 / total as f64
        );
    }
    let _ = writeln!(text, "\n### How each stack's estimates are made\n");
    for s in stacks {
        let _ = writeln!(text, "- **{}**: {}.", s.name, s.basis);
    }
    text
}

/// The LLM stacks' decode fits: per stack, then every published decode speed.
pub fn llm_markdown() -> Result<String, LatencyError> {
    use crate::stacks::llm;
    let rows = llm::decode_rows();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "| stack | decode points | sources | bandwidth sustained, ms per iteration | in-sample MAPE | \
         leave-one-source-out MAPE | decode band |"
    );
    let _ = writeln!(text, "|---|---:|---:|---|---:|---:|---|");
    let mut every = Vec::new();
    for info in kernels::stack::STACKS.iter().filter(|s| s.serves_llms()) {
        let e = llm::evaluate(info.name)?;
        let fitted = llm::llm_stack(info.name)?;
        let pairs = |p: &[(usize, f64)]| -> Vec<(f64, f64)> { p.iter().map(|&(i, x)| (x, rows[i].seconds)).collect() };
        let pct = |p: &[(usize, f64)]| {
            if p.is_empty() {
                "–".to_string()
            } else {
                format!("{:.1}%", 100.0 * mape(&pairs(p)))
            }
        };
        let model = if e.rows.is_empty() {
            format!("(stand-in: {})", info.llm_stand_in.unwrap_or("none"))
        } else {
            format!("{:.0}%, {:.2} ms", 100.0 / e.model.bandwidth, e.model.iteration_overhead_s * 1e3)
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {model} | {} | {} | ×{:.2}–×{:.2} |",
            info.name,
            e.rows.len(),
            e.sources.len(),
            pct(&e.in_sample),
            pct(&e.leave_one_source_out),
            fitted.band.low,
            fitted.band.high
        );
        let held: std::collections::BTreeMap<usize, f64> = e.leave_one_source_out.iter().copied().collect();
        for &(i, p) in &e.in_sample {
            every.push((i, p, held.get(&i).copied()));
        }
    }
    let _ = writeln!(
        text,
        "\n| stack | GPU | TP | batch | context | published ms/token | fitted | error | held out | error |"
    );
    let _ = writeln!(text, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, fitted, held) in every {
        let r = &rows[i];
        let error = |p: f64| format!("{:+.1}%", 100.0 * (p / r.seconds - 1.0));
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} | {} |",
            r.stack,
            r.gpu,
            r.tensor_parallel,
            r.batch,
            r.context,
            r.seconds * 1e3,
            fitted * 1e3,
            error(fitted),
            held.map_or("–".to_string(), |p| format!("{:.2}", p * 1e3)),
            held.map_or("–".to_string(), error)
        );
    }
    Ok(text)
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
    println!("\n## Per serving stack\n");
    print!("{}", stacks_markdown(&stack_accuracy()?));
    println!("\n## LLM decode per serving stack\n");
    print!("{}", llm_markdown()?);
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

    /// Each stack's leave-one-source-out MAPE as docs/accuracy.md states it, rounded up: a change
    /// to the stack model, the device calibrations or the published tables that makes a stack
    /// worse out of sample fails here.
    const STACK_BARS: [(&str, f64); 6] = [
        ("tensorrt-demo", 0.09),
        ("tensorrt", 0.10),
        ("onnxruntime-cuda", 0.28),
        ("fastertransformer", 0.23),
        ("torchscript", 0.42),
        ("tensorflow", 0.49),
    ];

    fn stacks() -> &'static [StackAccuracy] {
        static STACKS: std::sync::OnceLock<Vec<StackAccuracy>> = std::sync::OnceLock::new();
        STACKS.get_or_init(|| stack_accuracy().unwrap())
    }

    #[test]
    fn stacks_hold_their_stated_errors_out_of_sample() {
        for (name, bar) in STACK_BARS {
            let s = stacks().iter().find(|s| s.name == name).unwrap();
            let loso = s.loso_mape.unwrap();
            assert!(loso <= bar, "{name}: leave-one-source-out MAPE {loso:.3} > {bar}");
            assert!(s.sources >= 2, "{name}");
            // Out of sample is never better than in sample by more than noise.
            assert!(s.in_sample_mape.unwrap() <= loso + 0.02, "{name}");
        }
    }

    #[test]
    fn held_out_bands_cover_between_55_and_80_percent() {
        // Each held-out source is predicted by a stack refitted without it, inside a band judged
        // without it (nested) combined with the device's: the 55–80% for a 68% band.
        let (covered, total) =
            stacks().iter().filter_map(|s| s.coverage).fold((0, 0), |(c, n), (dc, dn)| (c + dc, n + dn));
        let share = covered as f64 / total as f64;
        assert!(total >= 250, "{total}");
        assert!((0.55..=0.80).contains(&share), "{share:.3} of {total}");
    }

    #[test]
    fn the_wrong_stack_misses_a_stacks_measurements() {
        // The bar can fail: ONNX Runtime's published latencies predicted as if they were the
        // TensorRT demo's (the device calibration alone) miss by far more than the stack's own fit.
        let rows = stacks::all_rows();
        let ort = stacks::evaluate("onnxruntime-cuda").unwrap();
        let as_demo: Vec<(f64, f64)> = ort
            .rows
            .iter()
            .map(|&i| {
                let point = device_fit::point(&rows[i], &kernels::catalog()).unwrap();
                (stacks::predict_point(&point, &rows[i].gpu, "tensorrt-demo").unwrap(), rows[i].seconds)
            })
            .collect();
        // Off by about 55%: ONNX Runtime runs these 1.2–2.8× slower than the demo's engines.
        assert!(mape(&as_demo) > 0.4, "{}", mape(&as_demo));
        let own = stacks().iter().find(|s| s.name == "onnxruntime-cuda").unwrap();
        assert!(mape(&as_demo) > 4.0 * own.in_sample_mape.unwrap(), "{}", mape(&as_demo));
    }

    #[test]
    fn onnxruntime_cuda_runs_bert_large_at_least_1_8x_the_demo_on_an_a100() {
        let spec = crate::latency::model("bert-large-uncased").unwrap();
        let time = |stack: &str| {
            let target =
                crate::latency::Target::resolve("a100-40g-sxm", Some(stack), std::path::Path::new(".")).unwrap();
            target.predict(&spec, 8, 384, kernels::Pass::Prefill).unwrap().seconds
        };
        let ratio = time("onnxruntime-cuda") / time("tensorrt-demo");
        assert!(ratio >= 1.8, "{ratio:.2}");
        // And the default stack is that generic one, not the demo.
        let default = crate::latency::Target::resolve("a100-40g-sxm", None, std::path::Path::new(".")).unwrap();
        assert!(
            (default.predict(&spec, 8, 384, kernels::Pass::Prefill).unwrap().seconds / time("onnxruntime-cuda") - 1.0)
                .abs()
                < 1e-12
        );
        assert!(default.name().ends_with("under onnxruntime-cuda"));
    }

    #[test]
    fn eager_pytorch_at_batch_1_pays_a_launch_cost_per_operator() {
        // At batch 1 eager PyTorch is bound by dispatching operators from Python, not by the GPU:
        // the launch and host cost per graph operator (each stands for several kernels and the
        // Python between them) times the operator count is most of the estimate.
        let spec = crate::latency::model("bert-base-uncased").unwrap();
        let target =
            crate::latency::Target::resolve("a100-40g-sxm", Some("pytorch"), std::path::Path::new(".")).unwrap();
        let crate::latency::Target::Catalog { calibrated, stack } = &target else { unreachable!() };
        let prediction = target.predict(&spec, 1, 128, kernels::Pass::Prefill).unwrap();
        let operators = prediction.ops.len() as f64;
        let per_operator = calibrated.calibration.launch_overhead_s + stack.model.per_operator_s;
        let launch = operators * per_operator;
        assert!((2e-6..=100e-6).contains(&per_operator), "{per_operator:e}");
        assert!(launch / prediction.seconds > 0.5, "{launch} of {}", prediction.seconds);
        // The demo engine on the same shape spends a small share launching.
        let demo =
            crate::latency::Target::resolve("a100-40g-sxm", Some("tensorrt-demo"), std::path::Path::new(".")).unwrap();
        let demo_time = demo.predict(&spec, 1, 128, kernels::Pass::Prefill).unwrap().seconds;
        assert!(prediction.seconds > 3.0 * demo_time, "{} vs {demo_time}", prediction.seconds);
    }

    #[test]
    fn a_stack_without_published_data_says_so_with_the_widest_band() {
        let widest = stacks::widest_band(None).unwrap();
        let compile = stacks::graph_stack("torch-compile").unwrap();
        assert!(compile.basis.starts_with("no published measurements of torch-compile"), "{}", compile.basis);
        let band = compile.band.as_ref().unwrap();
        assert!(band.low <= widest.low && band.high >= widest.high);
        // A one-source stack is never narrower than the widest spread measured between sources.
        let pytorch = stacks::graph_stack("pytorch").unwrap();
        let b = pytorch.band.as_ref().unwrap();
        assert!(b.low <= widest.low && b.high >= widest.high, "{b:?} vs {widest:?}");
        for llm in ["tensorrt-llm", "llama.cpp"] {
            let s = stacks::llm::llm_stack(llm).unwrap();
            assert!(s.basis.starts_with(&format!("no published decode measurements of {llm}")), "{}", s.basis);
            let vllm = stacks::llm::llm_stack("vllm").unwrap();
            assert!(s.band.low <= vllm.band.low && s.band.high >= vllm.band.high);
        }
    }

    #[test]
    fn llm_decode_has_its_own_band_from_decode_measurements() {
        // vLLM's two sources predict each other within 5% (bandwidth-bound decode), and its band
        // comes from those decode predictions, not from the encoder tables.
        let vllm = stacks::llm::evaluate("vllm").unwrap();
        let rows = stacks::llm::decode_rows();
        let pairs: Vec<(f64, f64)> = vllm.leave_one_source_out.iter().map(|&(i, p)| (p, rows[i].seconds)).collect();
        assert_eq!(pairs.len(), 3);
        assert!(mape(&pairs) < 0.05, "{}", mape(&pairs));
        let band = &stacks::llm::llm_stack("vllm").unwrap().band;
        // Three predictions: widened to the ±10% floor.
        assert!((band.high - 1.10).abs() < 1e-9 && (band.low - 1.0 / 1.10).abs() < 1e-9, "{band:?}");
        // gpt-fast's compiled decoder at batch 1 on an A100 at 1, 2, 4 and 8 GPUs is fitted within
        // 3% (the prior, the roofline at the H200's efficiencies with 1 ms per iteration, is 8% fast
        // at one GPU and misses the tensor-parallel points by more).
        let compile = stacks::llm::evaluate("torch-compile").unwrap();
        for &(i, p) in &compile.in_sample {
            assert!((p / rows[i].seconds - 1.0).abs() < 0.03, "{}", rows[i].tensor_parallel);
        }
    }
}
