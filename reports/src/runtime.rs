//! Which Triton backend and which KServe model format run a serving stack: the deployed runtime
//! is the one the estimate assumed.

/// What a Triton model configuration and a KServe predictor name for a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TritonRuntime {
    /// The `platform:` or `backend:` line of `config.pbtxt`.
    pub config_line: &'static str,
    /// An `optimization { … }` block, when the stack needs one.
    pub optimization: Option<&'static str>,
    /// The KServe predictor's `modelFormat` name on the Triton serving runtime.
    pub kserve_format: &'static str,
    /// What the model repository must hold.
    pub artifact: &'static str,
}

const ONNX_TENSORRT: &str =
    "optimization {\n  execution_accelerators {\n    gpu_execution_accelerator: [\n      {\n        \
     name: \"tensorrt\"\n        parameters { key: \"precision_mode\" value: \"FP16\" }\n      }\n    ]\n  }\n}\n";

/// The runtime for a stack (`None`: a service time not estimated under a stack, which keeps
/// the ONNX Runtime backend the deploy files have always named).
pub fn triton_runtime(stack: Option<&str>) -> TritonRuntime {
    let onnx = TritonRuntime {
        config_line: "backend: \"onnxruntime\"",
        optimization: None,
        kserve_format: "onnx",
        artifact: "model.onnx",
    };
    match stack {
        Some("tensorrt-demo") | Some("tensorrt") => TritonRuntime {
            config_line: "platform: \"tensorrt_plan\"",
            optimization: None,
            kserve_format: "tensorrt",
            artifact: "model.plan (a TensorRT engine built for this GPU)",
        },
        Some("onnxruntime-tensorrt") => TritonRuntime { optimization: Some(ONNX_TENSORRT), ..onnx },
        Some("torchscript") => TritonRuntime {
            config_line: "platform: \"pytorch_libtorch\"",
            optimization: None,
            kserve_format: "pytorch",
            artifact: "model.pt (TorchScript)",
        },
        Some("pytorch") | Some("torch-compile") => TritonRuntime {
            config_line: "backend: \"python\"",
            optimization: None,
            kserve_format: "triton",
            artifact: "model.py calling the PyTorch model (eager, or under torch.compile)",
        },
        Some("tensorflow") => TritonRuntime {
            config_line: "platform: \"tensorflow_savedmodel\"",
            optimization: None,
            kserve_format: "tensorflow",
            artifact: "model.savedmodel/",
        },
        Some("fastertransformer") => TritonRuntime {
            config_line: "backend: \"fastertransformer\"",
            optimization: None,
            kserve_format: "triton",
            artifact: "FasterTransformer weights (triton-inference-server/fastertransformer_backend)",
        },
        _ => onnx,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stack_names_its_own_backend() {
        assert_eq!(triton_runtime(Some("tensorrt")).config_line, "platform: \"tensorrt_plan\"");
        assert_eq!(triton_runtime(Some("onnxruntime-cuda")).config_line, "backend: \"onnxruntime\"");
        assert!(triton_runtime(Some("onnxruntime-cuda")).optimization.is_none());
        assert!(triton_runtime(Some("onnxruntime-tensorrt")).optimization.unwrap().contains("\"tensorrt\""));
        assert_eq!(triton_runtime(Some("torchscript")).kserve_format, "pytorch");
        assert_eq!(triton_runtime(Some("pytorch")).config_line, "backend: \"python\"");
        assert_eq!(triton_runtime(None), triton_runtime(Some("onnxruntime-cuda")));
    }
}
