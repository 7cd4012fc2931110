//! Serving stacks: the software that runs a model on a GPU, which decides how close to the
//! device's roofline it gets.
//!
//! Each catalog device is calibrated on NVIDIA's TensorRT BERT demo (`device_fit`), among the
//! fastest encoder engines published: hand-fused plugins, timed with inputs already on the device.
//! A stack is a model of how much slower another stack runs the same graph on the same device:
//!
//! ```text
//! t = per_call + Σ_op ( factor(kind) · work_op + launch_device + per_operator )
//! ```
//!
//! where `work_op` is the device's calibrated roofline time of the operator (compute or memory
//! bound), `factor` is a multiplier per operator class (GEMMs, attention, memory-bound
//! elementwise and normalisation work: a stack that does not fuse them moves their bytes more
//! than once), `per_operator` the launch and host cost an unfused or eager stack pays per
//! operator (dominant at batch 1), and `per_call` a fixed cost per forward pass (the framework's
//! entry). The demo stack is the identity. What a publisher timed adds its harness's cost per
//! call: a server request's handling and copies, or a Python framework call's dispatch and host
//! copies (`published::Timed`); an estimate of a server's compute time leaves them out.
//!
//! Each stack's five numbers are fitted on published measurements of that stack
//! (`catalog/stack-published.csv`), by least squares on log latency with a weak pull towards a
//! neutral prior (factors 1, 2 µs per operator, 50 µs per call) so that what the data cannot see
//! stays put.

use crate::device_fit::{nelder_mead, Band, Point};
use crate::published::Timed;
use crate::roofline::{Calibration, Device, WorkKind};

/// What a stack serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Whole-graph engines and frameworks: encoders, recommenders, MLPs.
    Graph,
    /// LLM engines scheduling iterations.
    Llm,
    /// Both (PyTorch's compiler runs encoders and decoders alike).
    Both,
}

/// Where a stack's numbers come from when it has no published measurements of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackInfo {
    pub name: &'static str,
    pub family: Family,
    pub description: &'static str,
    /// For graph models: the stack whose fitted model this one uses when it has no published
    /// graph measurements (it then says so and takes the widest band).
    pub graph_stand_in: Option<&'static str>,
    /// For LLMs: likewise for decode measurements.
    pub llm_stand_in: Option<&'static str>,
}

/// The stack a graph model's estimate assumes when a scenario names none: a generic runtime
/// rather than the hand-fused demo (which under-provisions a fleet by up to 2.5× for users who
/// deploy something else), and the one servesim's Triton config deploys (`backend: "onnxruntime"`).
pub const DEFAULT_GRAPH_STACK: &str = "onnxruntime-cuda";
/// The stack an LLM's iterations assume when a scenario names none: the engine servesim models
/// (vLLM's scheduler) and deploys (`vllm serve`).
pub const DEFAULT_LLM_STACK: &str = "vllm";
/// The stack the device calibrations are fitted on.
pub const REFERENCE_STACK: &str = "tensorrt-demo";

pub const STACKS: &[StackInfo] = &[
    StackInfo {
        name: "tensorrt-demo",
        family: Family::Graph,
        description: "NVIDIA's TensorRT BERT demo: hand-fused plugin engines, the engine timed alone",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "tensorrt",
        family: Family::Graph,
        description: "a generic ONNX → TensorRT engine (trtexec, Triton's TensorRT backend)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "onnxruntime-tensorrt",
        family: Family::Graph,
        description: "ONNX Runtime with the TensorRT execution provider",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "onnxruntime-cuda",
        family: Family::Graph,
        description: "ONNX Runtime's CUDA execution provider (fp16, its transformer fusions)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "fastertransformer",
        family: Family::Graph,
        description: "NVIDIA FasterTransformer's fused encoder (C++ op under TensorFlow or PyTorch)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "pytorch",
        family: Family::Graph,
        description: "PyTorch eager (a Hugging Face model called from Python)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "torchscript",
        family: Family::Graph,
        description: "PyTorch TorchScript (traced or scripted, Triton's PyTorch backend)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "torch-compile",
        family: Family::Both,
        description: "PyTorch 2 torch.compile (Inductor, CUDA graphs)",
        graph_stand_in: Some("torchscript"),
        llm_stand_in: None,
    },
    StackInfo {
        name: "tensorflow",
        family: Family::Graph,
        description: "TensorFlow (XLA or automatic mixed precision)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "vllm",
        family: Family::Llm,
        description: "vLLM (CUDA graphs, paged attention)",
        graph_stand_in: None,
        llm_stand_in: None,
    },
    StackInfo {
        name: "tensorrt-llm",
        family: Family::Llm,
        description: "NVIDIA TensorRT-LLM",
        graph_stand_in: None,
        llm_stand_in: Some("vllm"),
    },
    StackInfo {
        name: "llama.cpp",
        family: Family::Llm,
        description: "llama.cpp's CUDA backend (fp16 GGUF)",
        graph_stand_in: None,
        llm_stand_in: Some("vllm"),
    },
];

pub fn find(name: &str) -> Option<&'static StackInfo> {
    STACKS.iter().find(|s| s.name == name)
}

impl StackInfo {
    pub fn serves_graphs(&self) -> bool {
        matches!(self.family, Family::Graph | Family::Both)
    }
    pub fn serves_llms(&self) -> bool {
        matches!(self.family, Family::Llm | Family::Both)
    }
}

/// The stacks of a family, for messages.
pub fn names(llm: bool) -> Vec<&'static str> {
    STACKS.iter().filter(|s| if llm { s.serves_llms() } else { s.serves_graphs() }).map(|s| s.name).collect()
}

/// How much slower a stack runs a graph than the device's reference calibration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StackModel {
    /// Time multiplier on matrix products' roofline time.
    pub matrix: f64,
    /// On attention's.
    pub attention: f64,
    /// On memory-bound operators' (unfused elementwise work moves its bytes more than once).
    pub memory: f64,
    /// Added per operator: launch and host dispatch beyond the device's own, seconds.
    pub per_operator_s: f64,
    /// Added once per forward pass, seconds.
    pub per_call_s: f64,
    /// Added per call when a server request is timed (request handling, input and output
    /// copies), seconds: part of what the harness timed, not of the engine's service time.
    pub server_s: f64,
    /// Added per call when a framework call from Python is timed (session or interpreter
    /// dispatch, host copies), seconds.
    pub framework_s: f64,
}

impl StackModel {
    /// The reference stack: the device calibration unchanged.
    pub const IDENTITY: StackModel = StackModel {
        matrix: 1.0,
        attention: 1.0,
        memory: 1.0,
        per_operator_s: 0.0,
        per_call_s: 0.0,
        server_s: 0.0,
        framework_s: 0.0,
    };

    /// Where a fit starts and what it is weakly held to: neutral factors, 2 µs per operator,
    /// 50 µs per call, and 100 µs for a server request's or a framework call's own handling.
    const PRIOR: StackModel = StackModel {
        matrix: 1.0,
        attention: 1.0,
        memory: 1.0,
        per_operator_s: 2e-6,
        per_call_s: 50e-6,
        server_s: 100e-6,
        framework_s: 100e-6,
    };

    /// The engine's time for a graph (what a server's compute takes).
    pub fn predict(&self, point: &Point, device: &Device, calibration: &Calibration) -> f64 {
        point.predict_with(device, calibration, self)
    }

    /// What a harness timing `timed` measures: the engine's time plus the harness's own cost.
    pub fn predict_timed(&self, point: &Point, device: &Device, calibration: &Calibration, timed: Timed) -> f64 {
        self.predict(point, device, calibration) + self.harness_s(timed)
    }

    /// The harness's cost per call beside the engine's.
    pub fn harness_s(&self, timed: Timed) -> f64 {
        match timed {
            Timed::Engine | Timed::Encoder => 0.0,
            Timed::Server => self.server_s,
            Timed::Framework => self.framework_s,
        }
    }

    /// The time multiplier on an operator of this kind.
    pub fn factor(&self, kind: WorkKind) -> f64 {
        match kind {
            WorkKind::Matrix => self.matrix,
            WorkKind::Attention => self.attention,
            WorkKind::Memory => self.memory,
        }
    }

    fn to_parameters(self) -> [f64; 7] {
        [
            self.matrix.ln(),
            self.attention.ln(),
            self.memory.ln(),
            self.per_operator_s.ln(),
            self.per_call_s.ln(),
            self.server_s.ln(),
            self.framework_s.ln(),
        ]
    }

    fn from_parameters(x: &[f64]) -> StackModel {
        StackModel {
            matrix: x[0].exp(),
            attention: x[1].exp(),
            memory: x[2].exp(),
            per_operator_s: x[3].exp(),
            per_call_s: x[4].exp(),
            server_s: x[5].exp(),
            framework_s: x[6].exp(),
        }
    }
}

/// One published measurement of a stack, with the device it ran on and that device's
/// calibration.
#[derive(Clone, Debug)]
pub struct Sample {
    pub point: Point,
    pub timed: Timed,
    pub device: Device,
    pub calibration: Calibration,
}

impl Sample {
    /// What the sample's harness would have timed under `model`.
    pub fn predict(&self, model: &StackModel) -> f64 {
        model.predict_timed(&self.point, &self.device, &self.calibration, self.timed)
    }
}

/// A log-parameter's prior: e^2 ≈ 7× either way at one standard deviation, against measurements
/// the model misses by about 10%.
const PRIOR_SCALE: f64 = 2.0;
const MEASUREMENT_SCALE: f64 = 0.1;

/// Fits a stack's model to its samples (least squares on log latency, weakly held to the prior;
/// a fixed number of Nelder–Mead iterations, so the same everywhere).
pub fn fit(samples: &[&Sample]) -> StackModel {
    assert!(!samples.is_empty(), "a fit needs samples");
    let start = StackModel::PRIOR.to_parameters();
    let n = samples.len() as f64;
    let objective = |x: &[f64]| {
        let model = StackModel::from_parameters(x);
        let misfit: f64 = samples.iter().map(|s| (s.predict(&model) / s.point.seconds).ln().powi(2)).sum::<f64>() / n;
        let pull: f64 = x.iter().zip(&start).map(|(a, b)| ((a - b) / PRIOR_SCALE).powi(2)).sum::<f64>()
            * MEASUREMENT_SCALE.powi(2)
            / n;
        misfit + pull
    };
    let mut best = start.to_vec();
    for step in [1.0, 0.5, 0.25, 1.0, 0.5, 0.25] {
        best = nelder_mead(&objective, &best, step, 400);
    }
    StackModel::from_parameters(&best)
}

/// Two independent 68% bands combined: their log-centres add and their log half-widths add in
/// quadrature (the device's error and the stack's error are independent).
pub fn combine(a: &Band, b: &Band) -> Band {
    let centre = |band: &Band| (band.low.ln() + band.high.ln()) / 2.0;
    let half = |band: &Band| (band.high.ln() - band.low.ln()) / 2.0;
    let c = centre(a) + centre(b);
    let h = (half(a).powi(2) + half(b).powi(2)).sqrt();
    Band { low: (c - h).exp(), high: (c + h).exp(), points: a.points + b.points }
}

/// The smallest band holding both (for a stack judged on too little: at least as wide as the
/// widest measured spread).
pub fn union(a: &Band, b: &Band) -> Band {
    Band { low: a.low.min(b.low), high: a.high.max(b.high), points: a.points + b.points }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{find as model, Pass};
    use crate::ops::DType;

    fn device() -> Device {
        Device { name: "test".into(), peak_flops: 100e12, bandwidth: 1000e9, memory_bytes: 16e9, source: "test".into() }
    }

    #[test]
    fn the_identity_reproduces_the_device_calibration_exactly() {
        let graph = model("bert-base-uncased").unwrap().graph(8, 128, Pass::Prefill, DType::F16);
        let point = Point::new(&graph, 1.0);
        let calibration = Calibration::h200_measured();
        let plain = point.predict(&device(), &calibration);
        assert_eq!(StackModel::IDENTITY.predict(&point, &device(), &calibration), plain);
    }

    #[test]
    fn per_operator_and_per_call_costs_add_by_hand() {
        // 2 µs per operator and 100 µs per call on top of the identity: the graph's operator count
        // times 2 µs, plus 100 µs.
        let graph = model("bert-base-uncased").unwrap().graph(1, 128, Pass::Prefill, DType::F16);
        let point = Point::new(&graph, 1.0);
        let calibration = Calibration::h200_measured();
        let slow = StackModel { per_operator_s: 2e-6, per_call_s: 100e-6, ..StackModel::IDENTITY };
        let added = slow.predict(&point, &device(), &calibration) - point.predict(&device(), &calibration);
        let expected = graph.ops.len() as f64 * 2e-6 + 100e-6;
        assert!((added - expected).abs() < 1e-12, "{added} vs {expected}");
    }

    #[test]
    fn a_fit_recovers_a_known_stack() {
        // Latencies made by a known stack (GEMMs 1.5× slower, memory work 2×, 8 µs per operator,
        // 300 µs per call) over batches and sequences are fitted back within 2%, and so is the
        // fixed cost per call.
        let truth = StackModel {
            matrix: 1.5,
            attention: 1.2,
            memory: 2.0,
            per_operator_s: 8e-6,
            per_call_s: 300e-6,
            ..StackModel::IDENTITY
        };
        let calibration = Calibration::h200_measured();
        let spec = model("bert-base-uncased").unwrap();
        let samples: Vec<Sample> = [1, 4, 16, 64]
            .iter()
            .flat_map(|&b| [32, 128, 384].map(|s| (b, s)))
            .map(|(b, s)| {
                let graph = spec.graph(b, s, Pass::Prefill, DType::F16);
                let seconds = truth.predict(&Point::new(&graph, 0.0), &device(), &calibration);
                Sample {
                    point: Point::new(&graph, seconds),
                    timed: Timed::Engine,
                    device: device(),
                    calibration: calibration.clone(),
                }
            })
            .collect();
        let refs: Vec<&Sample> = samples.iter().collect();
        let fitted = fit(&refs);
        for s in &samples {
            let error = s.predict(&fitted) / s.point.seconds - 1.0;
            assert!(error.abs() < 0.02, "{error} {fitted:?}");
        }
        // One model's operator count never changes, so only the fixed part per call is seen:
        // 300 µs + 127 operators × 8 µs.
        let operators = spec.graph(1, 32, Pass::Prefill, DType::F16).ops.len() as f64;
        let fixed = |m: &StackModel| m.per_call_s + operators * m.per_operator_s;
        assert!((fixed(&fitted) / fixed(&truth) - 1.0).abs() < 0.05, "{fitted:?}");
    }

    #[test]
    fn bands_combine_in_quadrature_around_summed_centres() {
        let a = Band { low: (-0.3f64).exp(), high: 0.1f64.exp(), points: 3 };
        let b = Band { low: 0.0f64.exp(), high: 0.4f64.exp(), points: 4 };
        // Centres −0.1 and 0.2 → 0.1; half-widths 0.2 and 0.2 → 0.2·√2.
        let c = combine(&a, &b);
        let h = 0.2 * 2f64.sqrt();
        assert!((c.low.ln() - (0.1 - h)).abs() < 1e-12 && (c.high.ln() - (0.1 + h)).abs() < 1e-12);
        assert_eq!(c.points, 7);
        let u = union(&a, &b);
        assert_eq!((u.low, u.high), (a.low, b.high));
    }

    #[test]
    fn every_stand_in_is_a_stack_that_serves_the_family() {
        for stack in STACKS {
            if let Some(other) = stack.graph_stand_in {
                let other = find(other).unwrap();
                assert!(other.serves_graphs() && other.graph_stand_in.is_none(), "{}", stack.name);
            }
            if let Some(other) = stack.llm_stand_in {
                let other = find(other).unwrap();
                assert!(other.serves_llms() && other.llm_stand_in.is_none(), "{}", stack.name);
            }
        }
        assert!(find(DEFAULT_GRAPH_STACK).unwrap().serves_graphs());
        assert!(find(DEFAULT_LLM_STACK).unwrap().serves_llms());
    }
}
