//! The configs `servesim plan` writes, validated against real schemas by tests/validate_deploy.py
//! (kubernetes-validate for the core kinds, Triton's ModelConfig protobuf), in the venv that
//! .ci/run installs; and a broken config must be caught.

mod common;

use common::*;

use std::path::Path;
use std::process::{Command, Output};

fn validate(python: &Path, deploy: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/validate_deploy.py");
    Command::new(python).arg(script).arg(deploy).output().expect("python runs")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn generated_configs_pass_real_schemas_and_broken_ones_do_not() {
    let Some(python) = venv_python() else { return };
    let dir = std::env::temp_dir().join(format!("servesim-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("plan");
    // The bundled day shortened to two hours: what is deployed comes from the configuration, not
    // from how long it was simulated (tests/cli.rs and tests/digests.rs run the whole day).
    std::fs::create_dir_all(&dir).unwrap();
    let day = std::fs::read_to_string(repo("scenarios/three-region.toml")).unwrap();
    let hours = "duration = \"24h\"\nwarmup = \"10min\"\ninterval = \"15min\"\n";
    assert!(day.contains(hours));
    let scenario = write(
        &dir,
        "three-region.toml",
        &day.replace(hours, "duration = \"2h\"\nwarmup = \"10min\"\ninterval = \"15min\"\n"),
    );
    let plan = servesim(&["plan", &scenario, "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let deploy = out.join("deploy");
    for region in ["us-east", "eu-west", "ap-northeast"] {
        for file in [
            "deployment.yaml",
            "service.yaml",
            "hpa.yaml",
            "keda-scaledobject.yaml",
            "kserve-inferenceservice.yaml",
            "config.pbtxt",
        ] {
            assert!(deploy.join(region).join(file).is_file(), "{region}/{file} missing");
        }
    }
    let valid = validate(&python, &deploy);
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stderr));

    // The Triton config carries the batching the plan chose.
    let pbtxt = std::fs::read_to_string(deploy.join("us-east/config.pbtxt")).unwrap();
    assert!(pbtxt.contains("max_batch_size: 16") && pbtxt.contains("preferred_batch_size: [ 16 ]"), "{pbtxt}");
    assert!(pbtxt.contains("max_queue_delay_microseconds: 5000"));
    let hpa = std::fs::read_to_string(deploy.join("us-east/hpa.yaml")).unwrap();
    assert!(hpa.contains("minReplicas: 2") && hpa.contains("maxReplicas: 4"));

    // Break one field in each validated kind: every break must be reported.
    let broken = dir.join("broken");
    copy_dir(&deploy, &broken);
    let edit = |file: &str, from: &str, to: &str| {
        let path = broken.join("us-east").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("deployment.yaml", "replicas: 2", "replicas: two");
    edit("service.yaml", "port: 8000", "port: eight-thousand");
    edit("hpa.yaml", "minReplicas: 2", "minReplica: 2");
    edit("config.pbtxt", "max_batch_size: 16", "max_batch_size: sixteen");
    let caught = validate(&python, &broken);
    assert!(!caught.status.success());
    let report = String::from_utf8_lossy(&caught.stderr);
    for file in ["deployment.yaml", "service.yaml", "hpa.yaml", "config.pbtxt"] {
        assert!(report.contains(&format!("us-east/{file}")), "{file} break not caught:\n{report}");
    }

    // A region with a simulated autoscaler deploys that autoscaler: metric, target, bounds and
    // behavior, for the HPA and for KEDA (which alone may scale to zero).
    let text = std::fs::read_to_string(&scenario).unwrap().replace(
        "[regions.eu-west]\nreplicas = 2\n",
        "[regions.eu-west]\nreplicas = 2\nautoscaling = { metric = \"utilization\", target = 0.6, min_replicas = 0, \
         max_replicas = 6, cooldown = \"10min\", activation = 2, evaluation_interval = \"30s\", \
         scale_down = { stabilization = \"10min\", policies = [{ type = \"pods\", value = 1, period = \"1min\" }], select = \"min\" } }\n",
    );
    assert!(text.contains("autoscaling = {"));
    let scaled = dir.join("scaled.toml");
    std::fs::write(&scaled, text).unwrap();
    let out = dir.join("scaled-plan");
    let plan = servesim(&["plan", scaled.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let deploy = out.join("deploy");
    let valid = validate(&python, &deploy);
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stderr));
    let hpa = std::fs::read_to_string(deploy.join("eu-west/hpa.yaml")).unwrap();
    for expected in [
        "name: DCGM_FI_DEV_GPU_UTIL",
        "averageValue: \"60\"",
        "minReplicas: 1",
        "maxReplicas: 6",
        "stabilizationWindowSeconds: 600",
        "selectPolicy: Min",
        "type: Pods\n          value: 1\n          periodSeconds: 60",
    ] {
        assert!(hpa.contains(expected), "hpa lacks {expected:?}:\n{hpa}");
    }
    let keda = std::fs::read_to_string(deploy.join("eu-west/keda-scaledobject.yaml")).unwrap();
    for expected in ["minReplicaCount: 0", "pollingInterval: 30", "cooldownPeriod: 600", "activationThreshold: \"2\""] {
        assert!(keda.contains(expected), "keda lacks {expected:?}:\n{keda}");
    }
}

/// Names written to break out of YAML, protobuf text and comments: the configs still pass the real
/// schemas (strict: an extra key fails), every YAML file has exactly the keys servesim writes, and
/// Triton's parser reads one instance group with the instances that were simulated.
#[test]
fn hostile_names_cannot_add_keys_to_deployable_configs() {
    let Some(python) = venv_python() else { return };
    let dir = scratch("deploy-hostile");
    let text = r#"name = "demo\ninjected_key: pwned\ninstance_group: [ { count: 64 kind: KIND_CPU } ]\n#"
description = "x\"\n---\nkind: Secret"
duration = "5s"
[regions."us\neast: {a: 1}\n#"]
replicas = 2
[[traffic]]
origin = "us\neast: {a: 1}\n#"
arrivals = { process = "poisson", rate = "100/s" }
[serving]
service_time = { kind = "exponential", mean = "5ms" }
batching = { max_batch = 4, instances = 3 }
[slo]
latency = [{ percentile = 99, max = "200ms" }]
"#;
    let scenario = write(&dir, "hostile.toml", text);
    let out = dir.join("plan");
    ok(servesim(&["plan", &scenario, "--out", out.to_str().unwrap(), "--quiet"]));
    let deploy = out.join("deploy");
    // The region's folder, beside monitoring/ (the rules and the dashboard).
    let regions: Vec<_> = std::fs::read_dir(&deploy)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n != "monitoring"))
        .collect();
    assert_eq!(regions.len(), 1, "{regions:?}");
    let valid = validate(&python, &deploy);
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stderr));
    let check = r#"
import json, pathlib, sys, yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2
region = pathlib.Path(sys.argv[1])
keys = {p.name: sorted(yaml.safe_load(p.read_text())) for p in sorted(region.glob("*.yaml"))}
config = text_format.Parse((region / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
groups = [[g.count, model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)] for g in config.instance_group]
print(json.dumps({"keys": keys, "groups": groups, "max_batch_size": config.max_batch_size}))
"#;
    let parsed = Command::new(&python).args(["-c", check]).arg(&regions[0]).output().unwrap();
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    let value: serde_json::Value = serde_json::from_slice(&parsed.stdout).unwrap();
    for (file, keys) in value["keys"].as_object().unwrap() {
        assert_eq!(keys, &serde_json::json!(["apiVersion", "kind", "metadata", "spec"]), "{file}");
    }
    assert_eq!(value["keys"].as_object().unwrap().len(), 5);
    // One group with the three instances simulated, not the injected 64 on CPU.
    assert_eq!(value["groups"], serde_json::json!([[3, "KIND_GPU"]]));
    assert_eq!(value["max_batch_size"], 4);
}

/// A scenario with named endpoints deploys each endpoint in each region it serves: its own
/// Deployment, Service, autoscalers and Triton model-repository entry (named after the endpoint),
/// under deploy/endpoints/ENDPOINT/REGION/, and all of it passes the same real schemas.
#[test]
fn every_endpoint_gets_its_own_deployable_configs() {
    let Some(python) = venv_python() else { return };
    let dir = std::env::temp_dir().join(format!("servesim-deploy-endpoints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("endpoints.toml");
    std::fs::write(
        &scenario,
        r#"
name = "fleet"
duration = "20s"
[regions.us-east]
replicas = 2
[regions.eu-west]
replicas = 0
[network]
links = [{ from = "us-east", to = "eu-west", rtt = "70ms" }]
[serving]
service_time = { kind = "constant", value = "4ms" }
batching = { max_batch = 8, max_queue_delay = "2ms" }
[endpoints.embed]
serving = { service_time = { kind = "constant", value = "6ms" }, batching = { max_batch = 32, max_queue_delay = "3ms", instances = 2 } }
regions.us-east = { replicas = 3 }
regions.eu-west = { replicas = 1, autoscaling = { metric = "requests_per_second", target = 50, min_replicas = 1, max_replicas = 5 } }
[endpoints.rank]
serving = { service_time = { kind = "constant", value = "3ms" }, batching = { max_batch = 16, max_queue_delay = "1ms" } }
regions.us-east = { replicas = 1 }
[endpoints.recommend.pipeline]
stages = [{ name = "embed", call = ["embed"] }, { name = "rank", call = ["rank"] }]
[endpoints.fanout.pipeline]
stages = [{ name = "both", call = ["embed", "rank"] }]
[[traffic]]
origin = "us-east"
arrivals = { process = "poisson", rate = "100/s" }
[[traffic]]
origin = "eu-west"
endpoint = "embed"
arrivals = { process = "poisson", rate = "40/s" }
[[traffic]]
origin = "us-east"
endpoint = "recommend"
arrivals = { process = "poisson", rate = "20/s" }
"#,
    )
    .unwrap();
    let out = dir.join("plan");
    let plan = servesim(&["plan", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let deploy = out.join("deploy");
    for folder in ["us-east", "endpoints/embed/us-east", "endpoints/embed/eu-west", "endpoints/rank/us-east"] {
        for file in ["deployment.yaml", "service.yaml", "hpa.yaml", "keda-scaledobject.yaml", "config.pbtxt"] {
            assert!(deploy.join(folder).join(file).is_file(), "{folder}/{file} missing");
        }
    }
    // The main endpoint serves nothing in eu-west: no folder for it.
    assert!(!deploy.join("eu-west").exists());
    let valid = validate(&python, &deploy);
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stderr));
    let stdout = String::from_utf8_lossy(&valid.stdout);
    assert!(stdout.contains("4 regions valid, 1 ensembles valid"), "{stdout}");
    // The chain of single calls is a Triton ensemble of the two endpoints' model entries, at the
    // smaller of their batch sizes; the fan-out is not, and says why.
    let ensemble = std::fs::read_to_string(deploy.join("endpoints/recommend/ensemble/config.pbtxt")).unwrap();
    for line in ["platform: \"ensemble\"", "max_batch_size: 16", "model_name: \"embed\"", "model_name: \"rank\""] {
        assert!(ensemble.contains(line), "ensemble lacks {line:?}:\n{ensemble}");
    }
    assert!(ensemble.find("\"embed\"").unwrap() < ensemble.find("\"rank\"").unwrap(), "steps in stage order");
    let why = std::fs::read_to_string(deploy.join("endpoints/fanout/NO-ENSEMBLE.txt")).unwrap();
    assert!(why.contains("calls 2 endpoints in parallel"), "{why}");
    // A broken step name is caught by the validator.
    let broken = dir.join("broken");
    copy_dir(&deploy, &broken);
    let path = broken.join("endpoints/recommend/ensemble/config.pbtxt");
    std::fs::write(&path, ensemble.replace("model_name: \"rank\"", "model_name: \"rnak\"")).unwrap();
    let caught = validate(&python, &broken);
    assert!(!caught.status.success());
    assert!(String::from_utf8_lossy(&caught.stderr).contains("'rnak'"), "{}", String::from_utf8_lossy(&caught.stderr));

    let read = |path: &str| std::fs::read_to_string(deploy.join(path)).unwrap();
    let pbtxt = read("endpoints/embed/us-east/config.pbtxt");
    for line in ["name: \"embed\"", "max_batch_size: 32", "count: 2", "max_queue_delay_microseconds: 3000"] {
        assert!(pbtxt.contains(line), "embed's config lacks {line:?}:\n{pbtxt}");
    }
    assert!(read("us-east/config.pbtxt").contains("name: \"model\"\n"));
    let deployment = read("endpoints/embed/us-east/deployment.yaml");
    for line in ["name: fleet-embed-us-east", "replicas: 3", "servesim.dev/endpoint: embed"] {
        assert!(deployment.contains(line), "embed's Deployment lacks {line:?}:\n{deployment}");
    }
    // The simulated autoscaler is what eu-west deploys for embed.
    let hpa = read("endpoints/embed/eu-west/hpa.yaml");
    assert!(hpa.contains("minReplicas: 1") && hpa.contains("maxReplicas: 5"), "{hpa}");
    assert!(read("us-east/deployment.yaml").contains("name: fleet-us-east"));
}

#[test]
fn a_gpu_sharing_group_deploys_one_server_per_gpu_with_every_model() {
    let Some(python) = venv_python() else { return };
    let dir = std::env::temp_dir().join(format!("servesim-deploy-sharing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("plan");
    // Without its [fleet] section the plan runs the scenario as written (the fleet search is
    // tests/fleet.rs's).
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo("scenarios/shared-fleet.toml")).unwrap();
    let scenario = write(&dir, "shared-fleet.toml", text.split("\n[fleet]").next().unwrap());
    let plan = servesim(&["plan", &scenario, "--out", out.to_str().unwrap(), "--quiet"]);
    assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
    let deploy = out.join("deploy");
    let group = deploy.join("gpu-sharing/a10g-pool/us-east");
    for file in ["deployment.yaml", "service.yaml", "models/sentiment/config.pbtxt", "models/embedding/config.pbtxt"] {
        assert!(group.join(file).is_file(), "{file} missing");
    }
    // The members have no Deployment of their own; the recommender, on its own GPUs, has.
    assert!(!deploy.join("endpoints/sentiment").exists() && !deploy.join("endpoints/embedding").exists());
    assert!(deploy.join("endpoints/recommender/us-east/deployment.yaml").is_file());
    let deployment = std::fs::read_to_string(group.join("deployment.yaml")).unwrap();
    for line in [
        "name: shared-fleet-a10g-pool-us-east",
        "replicas: 3",
        "--model-control-mode=explicit",
        "--load-model=sentiment",
        "--load-model=embedding",
        "nvidia.com/gpu: 1",
    ] {
        assert!(deployment.contains(line), "the shared Deployment lacks {line:?}:\n{deployment}");
    }
    let valid = validate(&python, &deploy);
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stderr));
    assert!(
        String::from_utf8_lossy(&valid.stdout).contains("2 regions valid"),
        "{}",
        String::from_utf8_lossy(&valid.stdout)
    );
    // A model the server does not load is caught.
    let broken = dir.join("broken");
    copy_dir(&deploy, &broken);
    let path = broken.join("gpu-sharing/a10g-pool/us-east/deployment.yaml");
    std::fs::write(&path, deployment.replace("--load-model=embedding", "--load-model=embeddings")).unwrap();
    let caught = validate(&python, &broken);
    assert!(!caught.status.success());
    assert!(
        String::from_utf8_lossy(&caught.stderr).contains("is not loaded"),
        "{}",
        String::from_utf8_lossy(&caught.stderr)
    );
}

/// An LLM deployment's manifests run `vllm serve` with the engine arguments the plan chose, pass
/// the real Kubernetes schemas, and a disaggregated one gets a prefill and a decode Deployment.
#[test]
fn llm_plans_deploy_vllm_with_the_simulated_engine_arguments() {
    let Some(python) = venv_python() else { return };
    let dir = std::env::temp_dir().join(format!("servesim-deploy-llm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text = |split: &str| {
        format!(
            "name = \"chat\"\nduration = \"60s\"\nwarmup = \"10s\"\n[regions.us-east]\nreplicas = 2\n\
             instance = \"p5.4xlarge@us-east-1\"\n[serving]\ntimeout = \"60s\"\n[serving.llm]\n\
             model = \"llama-3-8b\"\ndevice = \"h100-sxm\"\nmax_num_seqs = 128\n{split}\n\
             [[traffic]]\norigin = \"us-east\"\narrivals = {{ process = \"poisson\", rate = \"4/s\" }}\n\
             tokens = {{ prompt = {{ kind = \"constant\", value = 800 }}, output = {{ kind = \"constant\", value = 100 }} }}\n\
             [slo]\nttft = [{{ percentile = 99, max = \"1s\" }}]\n\
             [sweep]\nstrategy = \"grid\"\n[sweep.parameters]\n\"serving.llm.max_num_batched_tokens\" = [2048, 8192]\n"
        )
    };
    for (name, split) in
        [("aggregated", ""), ("split", "disaggregation = { prefill_replicas = 1, kv_transfer_gbps = 50 }")]
    {
        let scenario = dir.join(format!("{name}.toml"));
        std::fs::write(&scenario, text(split)).unwrap();
        let out = dir.join(name);
        let plan = servesim(&["plan", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(plan.status.success(), "{}", String::from_utf8_lossy(&plan.stderr));
        let deploy = out.join("deploy");
        let valid = validate(&python, &deploy);
        assert!(valid.status.success(), "{name}: {}", String::from_utf8_lossy(&valid.stderr));
        let region = deploy.join("us-east");
        let deployment = if split.is_empty() { "deployment.yaml" } else { "deployment-decode.yaml" };
        let yaml = std::fs::read_to_string(region.join(deployment)).unwrap();
        assert!(yaml.contains("- vllm") && yaml.contains("--model=meta-llama/Meta-Llama-3-8B-Instruct"), "{yaml}");
        assert!(yaml.contains("--max-num-seqs=128") && yaml.contains("--block-size=16"), "{yaml}");
        assert!(yaml.contains("--max-num-batched-tokens="), "{yaml}");
        if !split.is_empty() {
            assert!(region.join("deployment-prefill.yaml").is_file());
            assert!(yaml.contains("NixlConnector") && yaml.contains("replicas: 1"), "{yaml}");
        }
        let kserve = std::fs::read_to_string(region.join("kserve-inferenceservice.yaml")).unwrap();
        assert!(kserve.contains("--backend=vllm") && kserve.contains("huggingface"), "{kserve}");
    }
    // The server follows the LLM stack: TensorRT-LLM's and llama.cpp's own servers with the
    // simulated settings in their flags, in the Deployment and as KServe's custom predictor.
    for (stack, command, flags) in [
        ("tensorrt-llm", "- trtllm-serve", ["--max_batch_size=128", "--tp_size=1", "--max_num_tokens="]),
        ("llama.cpp", "- llama-server", ["--parallel=128", "--n-gpu-layers=999", "--batch-size="]),
    ] {
        let scenario = dir.join(format!("{stack}.toml"));
        std::fs::write(&scenario, text(&format!("stack = \"{stack}\""))).unwrap();
        let out = dir.join(stack);
        let plan = servesim(&["plan", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(plan.status.success(), "{stack}: {}", String::from_utf8_lossy(&plan.stderr));
        let deploy = out.join("deploy");
        let valid = validate(&python, &deploy);
        assert!(valid.status.success(), "{stack}: {}", String::from_utf8_lossy(&valid.stderr));
        for file in ["deployment.yaml", "kserve-inferenceservice.yaml"] {
            let yaml = std::fs::read_to_string(deploy.join("us-east").join(file)).unwrap();
            assert!(yaml.contains(command) && !yaml.contains("vllm"), "{stack} {file}: {yaml}");
            for flag in flags {
                assert!(yaml.contains(flag), "{stack} {file} lacks {flag}: {yaml}");
            }
        }
    }
    // A broken one is caught: the engine's arguments gone.
    let broken = dir.join("broken");
    copy_dir(&dir.join("aggregated/deploy"), &broken);
    let path = broken.join("us-east/deployment.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap().replace("--max-num-seqs=128", "--verbose");
    std::fs::write(&path, yaml).unwrap();
    let invalid = validate(&python, &broken);
    assert!(!invalid.status.success() && String::from_utf8_lossy(&invalid.stderr).contains("--max-num-seqs"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The deployed runtime follows the stack the estimate assumed: Triton's TensorRT platform for a
/// TensorRT engine, ONNX Runtime with its TensorRT accelerator, LibTorch for TorchScript; the
/// KServe predictor names the matching model format. Every variant passes Triton's own parser.
#[test]
fn the_triton_runtime_follows_the_serving_stack() {
    let Some(python) = venv_python() else { return };
    let dir = std::env::temp_dir().join(format!("servesim-deploy-stack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let original = std::fs::read_to_string(repo("scenarios/quickstart.toml")).unwrap();
    let written = "device = \"a10g\", seq = 128 }";
    assert!(original.contains(written));
    for (stack, line, format) in [
        ("tensorrt", "platform: \"tensorrt_plan\"", "name: tensorrt"),
        ("onnxruntime-tensorrt", "name: \"tensorrt\"", "name: onnx"),
        ("torchscript", "platform: \"pytorch_libtorch\"", "name: pytorch"),
        ("tensorflow", "platform: \"tensorflow_savedmodel\"", "name: tensorflow"),
        ("pytorch", "backend: \"python\"", "name: triton"),
    ] {
        // A minute of the quickstart's five: the runtime follows the stack, whatever the length.
        let text = original
            .replace(written, &format!("device = \"a10g\", seq = 128, stack = \"{stack}\" }}"))
            .replace("duration = \"5min\"\nwarmup = \"30s\"", "duration = \"1min\"\nwarmup = \"10s\"")
            .replace("[sweep]", "[ignored]")
            .replace("[sweep.parameters]", "[ignored.parameters]");
        // The sweep tables are renamed away; a plan needs one, so keep a one-point sweep.
        let text = text.split("[ignored]").next().unwrap().to_string()
            + "[sweep]\nstrategy = \"grid\"\nobjective = \"cost_per_hour\"\n[sweep.parameters]\n\"regions.us-east.replicas\" = [16]\n";
        let scenario = dir.join(format!("{stack}.toml"));
        std::fs::write(&scenario, text.replace("../", &format!("{}/", repo(".")))).unwrap();
        let out = dir.join(stack);
        let plan = servesim(&["plan", scenario.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(plan.status.success(), "{stack}: {}", String::from_utf8_lossy(&plan.stderr));
        let deploy = out.join("deploy");
        let pbtxt = std::fs::read_to_string(deploy.join("us-east/config.pbtxt")).unwrap();
        assert!(pbtxt.contains(line), "{stack}: {pbtxt}");
        assert!(pbtxt.contains(&format!("the {stack} stack the estimate assumed")), "{pbtxt}");
        let kserve = std::fs::read_to_string(deploy.join("us-east/kserve-inferenceservice.yaml")).unwrap();
        assert!(kserve.contains(format) && kserve.contains("runtime: kserve-tritonserver"), "{stack}: {kserve}");
        let valid = validate(&python, &deploy);
        assert!(valid.status.success(), "{stack}: {}", String::from_utf8_lossy(&valid.stderr));
    }
}
