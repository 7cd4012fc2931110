//! Deployable configs for a chosen configuration, per region: Kubernetes Deployment, Service and
//! HorizontalPodAutoscaler (`autoscaling/v2`), a KEDA ScaledObject, a KServe InferenceService, and
//! Triton's `config.pbtxt`. Written as text (YAML and protobuf text format) from a checked model:
//! what `sim::model::build` checked is not checked again here.
//!
//! servesim does not simulate autoscaling yet, so the autoscalers start at the simulated replica
//! count and may grow to twice it, with Kubernetes' documented default behaviour made explicit.

use crate::kubernetes::{dns_name, document, int, list, map, map_of, text};
use sim::model::{RegionModel, ServingModel};
use sim::policy::autoscale::{AutoscalingModel, PolicyKind, RulesModel, ScaleMetric, Select};
use sim::policy::batching::DynamicBatching;
use yaml_rust2::Yaml;

/// Autoscaler bounds and behaviour written into the HPA, KEDA and KServe manifests.
#[derive(Clone, Debug, PartialEq)]
pub struct Autoscaling {
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// The per-pod metric the HPA reads (through a Prometheus adapter rule) and its target
    /// `averageValue`.
    pub metric: String,
    pub target: String,
    /// The PromQL sum over the deployment's pods that KEDA divides by `target`.
    pub keda_query: String,
    pub polling_s: u32,
    /// KEDA's cooldownPeriod and activationThreshold (scale to zero when `min_replicas` is 0).
    pub cooldown_s: u32,
    pub activation: f64,
    pub scale_up_window_s: u32,
    pub scale_down_window_s: u32,
    pub scale_up_select: String,
    pub scale_down_select: String,
    /// `(type, value, period_s)` with type `Pods` or `Percent`.
    pub scale_up_policies: Vec<(String, u32, u32)>,
    pub scale_down_policies: Vec<(String, u32, u32)>,
}

fn seconds(nanos: u64) -> u32 {
    (nanos / 1_000_000_000) as u32
}

impl Autoscaling {
    /// Bounds around the simulated replica count, Kubernetes' default behaviour, scaling on
    /// Triton's queue depth (a full batch waiting per replica).
    pub fn around(replicas: u32, serving: &ServingModel) -> Self {
        Autoscaling {
            min_replicas: replicas.max(1),
            max_replicas: (2 * replicas).max(1),
            metric: "nv_inference_pending_request_count".into(),
            target: serving.kind.max_batch().to_string(),
            keda_query: "sum(nv_inference_pending_request_count{pod=~\"APP-.*\"})".into(),
            polling_s: 15,
            cooldown_s: 300,
            activation: 0.0,
            scale_up_window_s: 0,
            scale_down_window_s: 300,
            scale_up_select: "Max".into(),
            scale_down_select: "Max".into(),
            scale_up_policies: vec![("Pods".into(), 4, 15), ("Percent".into(), 100, 15)],
            scale_down_policies: vec![("Percent".into(), 100, 15)],
        }
    }

    /// Exactly the autoscaler the scenario simulated.
    pub fn simulated(model: &AutoscalingModel) -> Self {
        let (metric, target, query) = match model.metric {
            ScaleMetric::Utilization => (
                "DCGM_FI_DEV_GPU_UTIL",
                format!("{}", (model.target * 100.0).round()),
                "sum(DCGM_FI_DEV_GPU_UTIL{pod=~\"APP-.*\"})",
            ),
            ScaleMetric::RequestsPerSecond => (
                "nv_inference_requests_per_second",
                format!("{}", model.target),
                "sum(rate(nv_inference_request_success{pod=~\"APP-.*\"}[1m]))",
            ),
            ScaleMetric::KvCacheUsage => (
                "vllm_kv_cache_usage_perc",
                format!("{}", model.target),
                "sum(vllm:kv_cache_usage_perc{pod=~\"APP-.*\"})",
            ),
            ScaleMetric::OutputTokensPerSecond => (
                "vllm_generation_tokens_per_second",
                format!("{}", model.target),
                "sum(rate(vllm:generation_tokens_total{pod=~\"APP-.*\"}[1m]))",
            ),
            ScaleMetric::QueueDepth | ScaleMetric::Concurrency => (
                "nv_inference_pending_request_count",
                format!("{}", model.target),
                "sum(nv_inference_pending_request_count{pod=~\"APP-.*\"})",
            ),
        };
        let policies = |rules: &RulesModel| -> Vec<(String, u32, u32)> {
            rules
                .policies
                .iter()
                .map(|p| {
                    let kind = match p.kind {
                        PolicyKind::Pods => "Pods",
                        PolicyKind::Percent => "Percent",
                    };
                    (kind.to_string(), p.value, seconds(p.period))
                })
                .collect()
        };
        let select = |rules: &RulesModel| {
            match rules.select {
                Select::Max => "Max",
                Select::Min => "Min",
                Select::Disabled => "Disabled",
            }
            .to_string()
        };
        Autoscaling {
            min_replicas: model.min_replicas,
            max_replicas: model.max_replicas,
            metric: metric.into(),
            target,
            keda_query: query.into(),
            polling_s: seconds(model.interval).max(1),
            cooldown_s: model.cooldown.map_or(300, seconds),
            activation: model.activation,
            scale_up_window_s: seconds(model.up.stabilization),
            scale_down_window_s: seconds(model.down.stabilization),
            scale_up_select: select(&model.up),
            scale_down_select: select(&model.down),
            scale_up_policies: policies(&model.up),
            scale_down_policies: policies(&model.down),
        }
    }
}

pub struct DeployInput<'a> {
    pub scenario: &'a str,
    /// A named endpoint's name (none for the main endpoint).
    pub endpoint: Option<&'a str>,
    /// The endpoint's deployments in the region.
    pub region: &'a RegionModel,
    pub serving: &'a ServingModel,
    pub autoscaling: &'a Autoscaling,
    /// Container image serving the model (Triton).
    pub image: &'a str,
}

pub(crate) fn labels(app: &str, region: &str, endpoint: Option<&str>) -> Yaml {
    let mut entries = vec![
        ("app.kubernetes.io/name".to_string(), text(app)),
        ("app.kubernetes.io/part-of".to_string(), text("servesim-plan")),
        ("servesim.dev/region".to_string(), text(dns_name(region))),
    ];
    if let Some(endpoint) = endpoint {
        entries.push(("servesim.dev/endpoint".to_string(), text(dns_name(endpoint))));
    }
    map_of(entries)
}

/// The Kubernetes name of an endpoint's deployment in a region: `SCENARIO-REGION` for the main
/// endpoint, `SCENARIO-ENDPOINT-REGION` for a named one.
pub fn app_name(scenario: &str, endpoint: Option<&str>, region: &str) -> String {
    match endpoint {
        None => dns_name(&format!("{scenario}-{region}")),
        Some(endpoint) => dns_name(&format!("{scenario}-{endpoint}-{region}")),
    }
}

/// HPA v2 `behavior` (also KEDA's `horizontalPodAutoscalerConfig.behavior`).
fn behavior(a: &Autoscaling) -> Yaml {
    let policies = |given: &[(String, u32, u32)]| {
        list(given.iter().map(|(kind, value, period)| {
            map([("type", text(kind.as_str())), ("value", int(*value)), ("periodSeconds", int(*period))])
        }))
    };
    let direction = |window: u32, select: &str, given: &[(String, u32, u32)]| {
        map([
            ("stabilizationWindowSeconds", int(window)),
            ("selectPolicy", text(select)),
            ("policies", policies(given)),
        ])
    };
    map([
        ("scaleUp", direction(a.scale_up_window_s, &a.scale_up_select, &a.scale_up_policies)),
        ("scaleDown", direction(a.scale_down_window_s, &a.scale_down_select, &a.scale_down_policies)),
    ])
}

pub(crate) fn port(name: &str, number: u16) -> Yaml {
    map([("name", text(name)), ("containerPort", int(number))])
}

pub(crate) fn probe(path: &str, period_s: u32, failures: u32) -> Yaml {
    map([
        ("httpGet", map([("path", text(path)), ("port", text("http"))])),
        ("periodSeconds", int(period_s)),
        ("failureThreshold", int(failures)),
    ])
}

/// `(file name, contents)` for one region.
pub fn render(input: &DeployInput) -> Vec<(String, String)> {
    if let Some(engine) = input.serving.kind.llm() {
        return crate::llm_deploy::render(input, engine);
    }
    let region = &input.region.name;
    let app = app_name(input.scenario, input.endpoint, region);
    let metadata =
        |app: &str, region: &str| map([("name", text(app)), ("labels", labels(app, region, input.endpoint))]);
    let a = input.autoscaling;
    let s = input.serving;
    let gpus = input.region.primary.gpus.unwrap_or(1).max(1);
    // Draining: a pod removed from the Service finishes what it holds. At most a full queue plus
    // running batches is in it, and the client gives up after its timeout anyway.
    let grace_s = s.timeout.map_or(30, |t| (t as f64 / 1e9).ceil() as u64 + 10);
    let queue_timeout_us = s.timeout.map(|t| t / 1000);
    let header = match input.endpoint {
        None => format!(
            "servesim plan for {:?}, region {:?}: generated, edit the image and model repository before use.",
            input.scenario, region
        ),
        Some(endpoint) => format!(
            "servesim plan for {:?}, endpoint {endpoint:?}, region {:?}: generated, edit the image and model repository before use.",
            input.scenario, region
        ),
    };
    let gpu_resources = gpu_resources(gpus);
    let (deployment, service) = server(&Server {
        app: &app,
        region,
        endpoint: input.endpoint,
        replicas: input.region.primary.replicas,
        gpus,
        grace_s,
        extra_args: Vec::new(),
        image: input.image,
    });

    let hpa = hpa(&app, region, input.endpoint, a);
    let keda = keda(&app, region, input.endpoint, a);

    let kserve = map([
        ("apiVersion", text("serving.kserve.io/v1beta1")),
        ("kind", text("InferenceService")),
        ("metadata", metadata(&app, region)),
        (
            "spec",
            map([(
                "predictor",
                map([
                    ("minReplicas", int(a.min_replicas)),
                    ("maxReplicas", int(a.max_replicas)),
                    ("scaleMetric", text("concurrency")),
                    ("scaleTarget", int(s.kind.max_batch() * s.kind.instances())),
                    (
                        "model",
                        map([
                            (
                                "modelFormat",
                                map([("name", text(crate::runtime::triton_runtime(s.stack.as_deref()).kserve_format))]),
                            ),
                            ("runtime", text("kserve-tritonserver")),
                            ("storageUri", text("s3://YOUR-BUCKET/model-repository")),
                            ("resources", gpu_resources),
                        ]),
                    ),
                ]),
            )]),
        ),
    ]);

    let hpa_note = "The per-pod metric comes from a Prometheus adapter rule (DCGM exporter for GPU utilisation,\n\
                    Triton's /metrics otherwise). An HPA cannot go below one replica: scale to zero is KEDA's.";
    let deployment = document(&header, &deployment);
    let service = document(&header, &service);
    let hpa = document(&format!("{header}\n{hpa_note}"), &hpa);
    let keda = document(
        &format!("{header}\nKEDA alternative to the HPA (apply one or the other): the same metric from Prometheus."),
        &keda,
    );
    let kserve = document(&format!("{header}\nKServe alternative to Deployment + Service + HPA."), &kserve);
    let mut files: Vec<(String, String)> = vec![
        ("deployment.yaml".into(), deployment),
        ("service.yaml".into(), service),
        ("hpa.yaml".into(), hpa),
        ("keda-scaledobject.yaml".into(), keda),
        ("kserve-inferenceservice.yaml".into(), kserve),
    ];
    if let Some(batching) = s.kind.dynamic_batching() {
        let name = triton_model_name(input.endpoint);
        files
            .push(("config.pbtxt".into(), triton_config(input.scenario, region, &name, s, batching, queue_timeout_us)));
    }
    files
}

/// The HPA of the autoscaler simulated (`a`), on its per-pod metric.
pub(crate) fn hpa(app: &str, region: &str, endpoint: Option<&str>, a: &Autoscaling) -> Yaml {
    let metadata = |app: &str, region: &str| map([("name", text(app)), ("labels", labels(app, region, endpoint))]);
    map([
        ("apiVersion", text("autoscaling/v2")),
        ("kind", text("HorizontalPodAutoscaler")),
        ("metadata", metadata(app, region)),
        (
            "spec",
            map([
                (
                    "scaleTargetRef",
                    map([("apiVersion", text("apps/v1")), ("kind", text("Deployment")), ("name", text(app))]),
                ),
                ("minReplicas", int(a.min_replicas.max(1))),
                ("maxReplicas", int(a.max_replicas)),
                (
                    "metrics",
                    list([map([
                        ("type", text("Pods")),
                        (
                            "pods",
                            map([
                                ("metric", map([("name", text(a.metric.as_str()))])),
                                (
                                    "target",
                                    map([("type", text("AverageValue")), ("averageValue", text(a.target.as_str()))]),
                                ),
                            ]),
                        ),
                    ])]),
                ),
                ("behavior", behavior(a)),
            ]),
        ),
    ])
}

/// KEDA's ScaledObject for the same autoscaler, its metric read from Prometheus.
pub(crate) fn keda(app: &str, region: &str, endpoint: Option<&str>, a: &Autoscaling) -> Yaml {
    let metadata = |app: &str, region: &str| map([("name", text(app)), ("labels", labels(app, region, endpoint))]);
    map([
        ("apiVersion", text("keda.sh/v1alpha1")),
        ("kind", text("ScaledObject")),
        ("metadata", metadata(app, region)),
        (
            "spec",
            map([
                ("scaleTargetRef", map([("name", text(app))])),
                ("minReplicaCount", int(a.min_replicas)),
                ("maxReplicaCount", int(a.max_replicas)),
                ("pollingInterval", int(a.polling_s)),
                ("cooldownPeriod", int(a.cooldown_s)),
                ("advanced", map([("horizontalPodAutoscalerConfig", map([("behavior", behavior(a))]))])),
                (
                    "triggers",
                    list([map([
                        ("type", text("prometheus")),
                        (
                            "metadata",
                            map([
                                ("serverAddress", text("http://prometheus-operated.monitoring.svc:9090")),
                                ("query", text(a.keda_query.replace("APP", app))),
                                ("threshold", text(a.target.as_str())),
                                ("activationThreshold", text(format!("{}", a.activation))),
                            ]),
                        ),
                    ])]),
                ),
            ]),
        ),
    ])
}

pub(crate) fn gpu_resources(gpus: u32) -> Yaml {
    map([("limits", map([("nvidia.com/gpu", int(gpus))])), ("requests", map([("nvidia.com/gpu", int(gpus))]))])
}

/// One Triton server's Deployment and Service.
struct Server<'a> {
    app: &'a str,
    region: &'a str,
    endpoint: Option<&'a str>,
    replicas: u32,
    gpus: u32,
    grace_s: u64,
    /// Arguments after the model repository's (which models to load).
    extra_args: Vec<Yaml>,
    image: &'a str,
}

fn server(input: &Server) -> (Yaml, Yaml) {
    let Server { app, region, endpoint, .. } = *input;
    let metadata = |app: &str, region: &str| map([("name", text(app)), ("labels", labels(app, region, endpoint))]);
    let selector = map([("app.kubernetes.io/name", text(app))]);
    let mut args = vec![
        text("tritonserver"),
        text("--model-repository=/models"),
        text(format!("--exit-timeout-secs={}", input.grace_s)),
    ];
    args.extend(input.extra_args.iter().cloned());
    let container = map([
        ("name", text("triton")),
        ("image", text(input.image)),
        ("args", list(args)),
        ("ports", list([port("http", 8000), port("grpc", 8001), port("metrics", 8002)])),
        ("resources", gpu_resources(input.gpus)),
        ("readinessProbe", probe("/v2/health/ready", 5, 3)),
        ("livenessProbe", probe("/v2/health/live", 10, 3)),
        ("startupProbe", probe("/v2/health/ready", 10, 60)),
        ("lifecycle", map([("preStop", map([("exec", map([("command", list([text("sleep"), text("5")]))]))]))])),
    ]);
    let deployment = map([
        ("apiVersion", text("apps/v1")),
        ("kind", text("Deployment")),
        ("metadata", metadata(app, region)),
        (
            "spec",
            map([
                ("replicas", int(input.replicas)),
                ("selector", map([("matchLabels", selector.clone())])),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", labels(app, region, endpoint))])),
                        (
                            "spec",
                            map([
                                ("terminationGracePeriodSeconds", int(input.grace_s as i64)),
                                ("containers", list([container])),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    let service_port =
        |name: &str, number: u16| map([("name", text(name)), ("port", int(number)), ("targetPort", text(name))]);
    let service = map([
        ("apiVersion", text("v1")),
        ("kind", text("Service")),
        ("metadata", metadata(app, region)),
        (
            "spec",
            map([
                ("selector", selector),
                (
                    "ports",
                    list([service_port("http", 8000), service_port("grpc", 8001), service_port("metrics", 8002)]),
                ),
            ]),
        ),
    ]);
    (deployment, service)
}

/// Models sharing GPUs in one region: one Triton server per GPU with every member's model loaded
/// (explicit model control), a Service in front, and each model's configuration in the
/// repository's layout (`models/NAME/config.pbtxt`). Replicas are fixed, as simulated: no
/// autoscaler is written.
pub struct SharedDeployInput<'a> {
    pub scenario: &'a str,
    pub group: &'a str,
    pub region: &'a str,
    pub replicas: u32,
    pub gpus: u32,
    /// Each member: its endpoint name and serving model.
    pub models: Vec<(&'a str, &'a ServingModel)>,
    pub image: &'a str,
}

/// `(file name, contents)` for a GPU-sharing group in one region.
pub fn render_shared(input: &SharedDeployInput) -> Vec<(String, String)> {
    let app = dns_name(&format!("{}-{}-{}", input.scenario, input.group, input.region));
    let grace_s = input
        .models
        .iter()
        .map(|(_, s)| s.timeout.map_or(30, |t| (t as f64 / 1e9).ceil() as u64 + 10))
        .max()
        .unwrap_or(30);
    let mut extra_args = vec![text("--model-control-mode=explicit")];
    extra_args
        .extend(input.models.iter().map(|(name, _)| text(format!("--load-model={}", triton_model_name(Some(name))))));
    let (deployment, service) = server(&Server {
        app: &app,
        region: input.region,
        endpoint: None,
        replicas: input.replicas,
        gpus: input.gpus,
        grace_s,
        extra_args,
        image: input.image,
    });
    let names: Vec<&str> = input.models.iter().map(|(name, _)| *name).collect();
    let header = format!(
        "servesim plan for {:?}, GPU-sharing group {:?} ({}), region {:?}: one Triton server per GPU holding every \n\
         model; generated, edit the image and model repository before use. Replicas are fixed, as simulated.",
        input.scenario,
        input.group,
        names.join(", "),
        input.region
    );
    let mut files = vec![
        ("deployment.yaml".to_string(), document(&header, &deployment)),
        ("service.yaml".into(), document(&header, &service)),
    ];
    for (name, serving) in &input.models {
        let Some(batching) = serving.kind.dynamic_batching() else { continue };
        let model_name = triton_model_name(Some(name));
        let text = triton_config(
            input.scenario,
            input.region,
            &model_name,
            serving,
            batching,
            serving.timeout.map(|t| t / 1000),
        );
        files.push((format!("models/{model_name}/config.pbtxt"), text));
    }
    files
}

/// A pipeline as a Triton ensemble: one step per stage, each stage's output the next one's input,
/// `steps` naming the model-repository entries called (as their own configs name them). Only a
/// chain of single required calls without per-stage timeouts is an ensemble: fan-out joins,
/// optional stages and stage timeouts need an orchestrator (BLS or a service), so the caller
/// writes none for them.
pub fn ensemble_config(scenario: &str, pipeline: &str, steps: &[String], max_batch: u32) -> String {
    let mut text = format!(
        "# servesim plan for {scenario:?}, pipeline {pipeline:?}: a Triton ensemble of its stages. Fill in the tensors.\n\
         name: {:?}\nplatform: \"ensemble\"\nmax_batch_size: {max_batch}\n\
         input: [\n  {{\n    name: \"INPUT__0\"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }}\n]\n\
         output: [\n  {{\n    name: \"OUTPUT__0\"\n    data_type: TYPE_FP32\n    dims: [ -1 ]\n  }}\n]\n\
         ensemble_scheduling {{\n  step: [\n",
        dns_name(pipeline)
    );
    for (k, model) in steps.iter().enumerate() {
        let input = if k == 0 { "INPUT__0".to_string() } else { format!("stage_{}_output", k - 1) };
        let output = if k + 1 == steps.len() { "OUTPUT__0".to_string() } else { format!("stage_{k}_output") };
        text.push_str(&format!(
            "    {{\n      model_name: {model:?}\n      model_version: -1\n      input_map {{\n        key: \"INPUT__0\"\n        value: {input:?}\n      }}\n      output_map {{\n        key: \"OUTPUT__0\"\n        value: {output:?}\n      }}\n    }}{}\n",
            if k + 1 == steps.len() { "" } else { "," }
        ));
    }
    text.push_str("  ]\n}\n");
    text
}

/// Triton's model name of an endpoint's model-repository entry: the main endpoint's is `model`.
pub fn triton_model_name(endpoint: Option<&str>) -> String {
    endpoint.map_or("model".to_string(), dns_name)
}

/// Triton's model configuration for a dynamic-batching deployment.
fn triton_config(
    scenario: &str,
    region: &str,
    model_name: &str,
    s: &ServingModel,
    batching: &DynamicBatching,
    queue_timeout_us: Option<u64>,
) -> String {
    // A named endpoint is its own entry in the model repository: the directory Triton reads it
    // from must carry the same name.
    let runtime = crate::runtime::triton_runtime(s.stack.as_deref());
    let stack_note = match &s.stack {
        Some(stack) => format!("the {stack} stack the estimate assumed, serving {}", runtime.artifact),
        None => format!("the service time names no stack: {}", runtime.artifact),
    };
    let mut triton = format!(
        "# servesim plan for {:?}, region {:?}: batching that won the sweep; runtime of {stack_note}. Fill in the tensors.\nname: {model_name:?}\n{}\nmax_batch_size: {}\ninput: [\n  {{\n    name: \"INPUT__0\"\n    data_type: TYPE_INT64\n    dims: [ -1 ]\n  }}\n]\noutput: [\n  {{\n    name: \"OUTPUT__0\"\n    data_type: TYPE_FP32\n    dims: [ -1 ]\n  }}\n]\ninstance_group: [\n  {{\n    count: {}\n    kind: KIND_GPU\n  }}\n]\ndynamic_batching {{\n",
        // Debug form (`{:?}`): quoted, newlines and control characters escaped, so it stays in
        // the comment.
        scenario,
        region,
        runtime.config_line,
        batching.max_batch,
        batching.instances,
    );

    if !batching.preferred_batch_sizes.is_empty() {
        let mut sizes = batching.preferred_batch_sizes.clone();
        sizes.sort_unstable();
        let sizes: Vec<String> = sizes.iter().map(u32::to_string).collect();
        triton.push_str(&format!("  preferred_batch_size: [ {} ]\n", sizes.join(", ")));
    }
    triton.push_str(&format!("  max_queue_delay_microseconds: {}\n", batching.max_queue_delay / 1000));
    triton.push_str(&format!("  default_queue_policy {{\n    max_queue_size: {}\n", s.queue_capacity));
    if let Some(us) = queue_timeout_us {
        triton.push_str(&format!("    timeout_action: REJECT\n    default_timeout_microseconds: {us}\n"));
    }
    triton.push_str("  }\n}\n");
    if let Some(optimization) = runtime.optimization {
        triton.push_str(optimization);
    }
    triton
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(text: &str) -> std::sync::Arc<ServingModel> {
        let scenario: sim::scenario::Scenario = toml::from_str(text).unwrap();
        let model = sim::build(&scenario, &sim::Inputs::default()).unwrap();
        model.regions[0].primary.serving.clone().unwrap()
    }

    const SCENARIO: &str = r#"
name = "d"
duration = "1s"
[regions.a]
replicas = 3
[[traffic]]
origin = "a"
arrivals = { process = "poisson", rate = "10/s" }
[serving]
timeout = "2s"
service_time = { kind = "constant", value = "1ms" }
batching = { max_batch = 16, max_queue_delay = "2ms", preferred_batch_sizes = [8, 16], instances = 2 }
"#;

    #[test]
    fn triton_config_carries_the_batching_that_won() {
        let s = serving(SCENARIO);
        let scenario: sim::scenario::Scenario = toml::from_str(SCENARIO).unwrap();
        let model = sim::build(&scenario, &sim::Inputs::default()).unwrap();
        let files = render(&DeployInput {
            scenario: "d",
            endpoint: None,
            region: &model.regions[0],
            serving: &s,
            autoscaling: &Autoscaling::around(3, &s),
            image: "nvcr.io/nvidia/tritonserver:24.08-py3",
        });
        let pbtxt = &files.iter().find(|(name, _)| name == "config.pbtxt").unwrap().1;
        for line in [
            "max_batch_size: 16",
            "preferred_batch_size: [ 8, 16 ]",
            "max_queue_delay_microseconds: 2000",
            "count: 2",
            "default_timeout_microseconds: 2000000",
            "max_queue_size: 1024",
        ] {
            assert!(pbtxt.contains(line), "{line} missing:\n{pbtxt}");
        }
        let deployment = &files[0].1;
        assert!(deployment.contains("replicas: 3"));
        assert!(deployment.contains("terminationGracePeriodSeconds: 12"));
    }

    #[test]
    fn names_follow_dns_rules() {
        assert_eq!(dns_name("Quick Start/US-East"), "quick-start-us-east");
        assert_eq!(dns_name("<script>"), "script");
        assert_eq!(dns_name("!!!"), "servesim");
    }
}
