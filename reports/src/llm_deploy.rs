//! An LLM deployment's manifests: a Deployment running the serving stack's server (`vllm serve`,
//! `trtllm-serve` or llama.cpp's `llama-server`) with the engine settings servesim simulated, its
//! Service, and a KServe InferenceService (the Hugging Face runtime's vLLM backend, or the
//! stack's server as a custom predictor). A disaggregated deployment gets a prefill and a decode Deployment, joined by
//! vLLM's NIXL KV connector. Replicas are the simulated counts; the model repository is a
//! labelled placeholder where the scenario's model is not a catalog one.

use crate::deploy::{app_name, gpu_resources, labels, port, probe, DeployInput};
use crate::kubernetes::{document, int, list, map, text};
use sim::model::LlmModel;
use yaml_rust2::Yaml;

/// The vLLM image the manifests name (OpenAI-compatible server).
pub const VLLM_IMAGE: &str = "vllm/vllm-openai:v0.10.1";

/// A catalog model's Hugging Face repository.
fn repository(model: Option<&str>) -> &'static str {
    match model {
        Some("llama-3-8b") => "meta-llama/Meta-Llama-3-8B-Instruct",
        Some("qwen2.5-7b") => "Qwen/Qwen2.5-7B-Instruct",
        Some("mistral-7b") => "mistralai/Mistral-7B-Instruct-v0.1",
        _ => "YOUR-ORG/YOUR-MODEL",
    }
}

/// `vllm serve`'s arguments for the simulated engine.
pub fn engine_args(engine: &LlmModel) -> Vec<String> {
    let mut args = vec![
        format!("--tensor-parallel-size={}", engine.tensor_parallel),
        format!("--max-num-seqs={}", engine.max_num_seqs),
        format!("--max-num-batched-tokens={}", engine.max_num_batched_tokens),
        if engine.chunked_prefill { "--enable-chunked-prefill".into() } else { "--no-enable-chunked-prefill".into() },
        if engine.prefix_caching { "--enable-prefix-caching".into() } else { "--no-enable-prefix-caching".into() },
        format!("--gpu-memory-utilization={}", engine.gpu_memory_utilization),
        format!("--block-size={}", engine.block_size),
    ];
    if engine.max_model_len != u32::MAX {
        args.push(format!("--max-model-len={}", engine.max_model_len));
    }
    args
}

/// TensorRT-LLM's OpenAI-compatible server image.
pub const TRTLLM_IMAGE: &str = "nvcr.io/nvidia/tensorrt-llm/release:1.0.0rc6";
/// llama.cpp's CUDA server image.
pub const LLAMA_CPP_IMAGE: &str = "ghcr.io/ggml-org/llama.cpp:server-cuda";

/// The server process that runs a stack's engine.
struct Server {
    container: &'static str,
    image: &'static str,
    command: Vec<String>,
    /// Arguments beside the port.
    args: Vec<String>,
    /// What the manifests' header says about it.
    note: &'static str,
}

/// The stack's server with the simulated engine's settings, in its own flags.
fn server(stack: Option<&str>, model: &str, engine: &LlmModel) -> Server {
    match stack {
        Some("tensorrt-llm") => {
            let mut args = vec![
                "--host=0.0.0.0".to_string(),
                format!("--tp_size={}", engine.tensor_parallel),
                format!("--max_batch_size={}", engine.max_num_seqs),
                format!("--max_num_tokens={}", engine.max_num_batched_tokens),
                format!("--kv_cache_free_gpu_memory_fraction={}", engine.gpu_memory_utilization),
            ];
            if engine.max_model_len != u32::MAX {
                args.push(format!("--max_seq_len={}", engine.max_model_len));
            }
            Server {
                container: "trtllm",
                image: TRTLLM_IMAGE,
                command: vec!["trtllm-serve".into(), model.into()],
                args,
                note: "TensorRT-LLM's trtllm-serve with the engine settings simulated (max_batch_size = sequences, \
                       max_num_tokens = the token budget, the KV cache's share of free memory)",
            }
        }
        Some("llama.cpp") => {
            // llama.cpp splits one context among its parallel slots.
            let per_slot = if engine.max_model_len == u32::MAX { 4096 } else { engine.max_model_len };
            Server {
                container: "llama-server",
                image: LLAMA_CPP_IMAGE,
                command: vec!["llama-server".into()],
                args: vec![
                    "--host=0.0.0.0".into(),
                    "--model=/models/model-f16.gguf".into(),
                    format!("--parallel={}", engine.max_num_seqs),
                    format!("--ctx-size={}", u64::from(per_slot) * u64::from(engine.max_num_seqs)),
                    format!("--batch-size={}", engine.max_num_batched_tokens),
                    "--n-gpu-layers=999".into(),
                ],
                note: "llama.cpp's llama-server (fp16 GGUF under /models) with the engine settings simulated \
                       (parallel slots = sequences, their contexts, the batch = the token budget)",
            }
        }
        _ => Server {
            container: "vllm",
            image: VLLM_IMAGE,
            command: vec!["vllm".into(), "serve".into()],
            args: std::iter::once(format!("--model={model}")).chain(engine_args(engine)).collect(),
            note: "vLLM with the engine arguments simulated",
        },
    }
}

struct Engine<'a> {
    app: String,
    region: &'a str,
    endpoint: Option<&'a str>,
    replicas: u32,
    server: &'a Server,
    args: Vec<String>,
    gpus: u32,
    grace_s: u64,
}

fn deployment(e: &Engine) -> Yaml {
    let selector = map([("app.kubernetes.io/name", text(e.app.as_str()))]);
    let mut args: Vec<Yaml> = vec![text("--port=8000")];
    args.extend(e.args.iter().map(|a| text(a.as_str())));
    let container = map([
        ("name", text(e.server.container)),
        ("image", text(e.server.image)),
        ("command", list(e.server.command.iter().map(|c| text(c.as_str())))),
        ("args", list(args)),
        ("ports", list([port("http", 8000)])),
        ("resources", gpu_resources(e.gpus)),
        ("readinessProbe", probe("/health", 5, 3)),
        ("livenessProbe", probe("/health", 10, 3)),
        ("startupProbe", probe("/health", 10, 90)),
    ]);
    map([
        ("apiVersion", text("apps/v1")),
        ("kind", text("Deployment")),
        ("metadata", map([("name", text(e.app.as_str())), ("labels", labels(&e.app, e.region, e.endpoint))])),
        (
            "spec",
            map([
                ("replicas", int(e.replicas)),
                ("selector", map([("matchLabels", selector)])),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", labels(&e.app, e.region, e.endpoint))])),
                        (
                            "spec",
                            map([
                                ("terminationGracePeriodSeconds", int(e.grace_s as i64)),
                                ("containers", list([container])),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ])
}

fn service(app: &str, region: &str, endpoint: Option<&str>) -> Yaml {
    map([
        ("apiVersion", text("v1")),
        ("kind", text("Service")),
        ("metadata", map([("name", text(app)), ("labels", labels(app, region, endpoint))])),
        (
            "spec",
            map([
                ("selector", map([("app.kubernetes.io/name", text(app))])),
                ("ports", list([map([("name", text("http")), ("port", int(8000)), ("targetPort", text("http"))])])),
            ]),
        ),
    ])
}

pub fn render(input: &DeployInput, engine: &LlmModel) -> Vec<(String, String)> {
    let region = &input.region.name;
    let app = app_name(input.scenario, input.endpoint, region);
    let s = input.serving;
    let grace_s = s.timeout.map_or(30, |t| (t as f64 / 1e9).ceil() as u64 + 10);
    let model = repository(engine.model.as_deref());
    let server = server(s.stack.as_deref(), model, engine);
    let header = format!(
        "servesim plan for {:?}{}, region {:?}: {}; generated, check the model before use.",
        input.scenario,
        input.endpoint.map_or(String::new(), |e| format!(", endpoint {e:?}")),
        region,
        server.note
    );
    let args = server.args.clone();
    let replicas = input.region.primary.replicas;
    let gpus = engine.tensor_parallel;
    let mut files = Vec::new();
    match &engine.disaggregation {
        None => {
            let one = Engine {
                app: app.clone(),
                region,
                endpoint: input.endpoint,
                replicas,
                server: &server,
                args: args.clone(),
                gpus,
                grace_s,
            };
            files.push(("deployment.yaml".to_string(), document(&header, &deployment(&one))));
        }
        Some(split) => {
            // Two Deployments behind one Service: llm-d's or Dynamo's router sends each prompt to
            // a prefill pod and its decode to a decode pod; vLLM's NIXL connector moves the KV.
            for (role, count) in [("prefill", split.prefill_replicas), ("decode", replicas - split.prefill_replicas)] {
                let mut role_args = args.clone();
                if server.container == "vllm" {
                    role_args
                        .push(r#"--kv-transfer-config={"kv_connector":"NixlConnector","kv_role":"kv_both"}"#.into());
                }
                let part = Engine {
                    app: format!("{app}-{role}"),
                    region,
                    endpoint: input.endpoint,
                    replicas: count,
                    server: &server,
                    args: role_args,
                    gpus,
                    grace_s,
                };
                let transfer = if server.container == "vllm" {
                    ""
                } else {
                    " The KV transfer between prefill and decode pods is this stack's own configuration, not written here."
                };
                let note = format!(
                    "{header}\n{role} pods of a disaggregated deployment (P:D {}:{}).{transfer}",
                    split.prefill_replicas,
                    replicas - split.prefill_replicas
                );
                files.push((format!("deployment-{role}.yaml"), document(&note, &deployment(&part))));
            }
        }
    }
    files.push(("service.yaml".to_string(), document(&header, &service(&app, region, input.endpoint))));
    if input.region.primary.autoscaling.is_some() && engine.disaggregation.is_none() {
        let a = input.autoscaling;
        let note = "The per-pod metric comes from a Prometheus adapter rule over vLLM's /metrics (or DCGM for GPU utilisation).";
        files.push((
            "hpa.yaml".to_string(),
            document(&format!("{header}\n{note}"), &crate::deploy::hpa(&app, region, input.endpoint, a)),
        ));
        files.push((
            "keda-scaledobject.yaml".to_string(),
            document(
                &format!("{header}\nKEDA alternative to the HPA (apply one or the other)."),
                &crate::deploy::keda(&app, region, input.endpoint, a),
            ),
        ));
    }
    let predictor_model = if server.container == "vllm" {
        let mut runtime_args: Vec<Yaml> = vec![text(format!("--model_id={model}")), text("--backend=vllm")];
        runtime_args.extend(engine_args(engine).into_iter().map(text));
        (
            "model",
            map([
                ("modelFormat", map([("name", text("huggingface"))])),
                ("args", list(runtime_args)),
                ("resources", gpu_resources(gpus)),
            ]),
        )
    } else {
        // A custom predictor: the stack's own server, as the Deployment runs it.
        let mut args: Vec<Yaml> = vec![text("--port=8080")];
        args.extend(server.args.iter().map(|a| text(a.as_str())));
        (
            "containers",
            list([map([
                ("name", text("kserve-container")),
                ("image", text(server.image)),
                ("command", list(server.command.iter().map(|c| text(c.as_str())))),
                ("args", list(args)),
                ("resources", gpu_resources(gpus)),
            ])]),
        )
    };
    let runtime_note = if server.container == "vllm" {
        "KServe alternative: the Hugging Face runtime with its vLLM backend."
    } else {
        "KServe alternative: the same server as a custom predictor container."
    };
    let kserve = map([
        ("apiVersion", text("serving.kserve.io/v1beta1")),
        ("kind", text("InferenceService")),
        ("metadata", map([("name", text(app.as_str())), ("labels", labels(&app, region, input.endpoint))])),
        (
            "spec",
            map([(
                "predictor",
                map([("minReplicas", int(replicas)), ("maxReplicas", int(replicas)), predictor_model]),
            )]),
        ),
    ]);
    files.push(("kserve-inferenceservice.yaml".to_string(), document(&format!("{header}\n{runtime_note}"), &kserve)));
    files
}
