#!/usr/bin/env python3
"""Validates the configs `servesim plan` writes under DIR/deploy/ against real schemas.

- Deployment, Service, HorizontalPodAutoscaler: kubernetes-validate (pinned in .ci/run), strict.
- config.pbtxt: Triton's ModelConfig protobuf from tritonclient[grpc] (pinned), text format.
- KEDA ScaledObject, KServe InferenceService: their CRD schemas are not vendored (see README);
  checked here for the fields servesim relies on.

Usage: validate_deploy.py DEPLOY_DIR. Exit status 1 with one line per problem on failure.
"""
import pathlib
import sys

import kubernetes_validate
import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

# The oldest Kubernetes the generated objects run on as planned (an Indexed Job's
# backoffLimitPerIndex is on by default from 1.29) and the newest the pinned validator knows.
KUBERNETES_VERSIONS = ["1.29.0", "1.37.0"]
CORE = ["deployment.yaml", "service.yaml", "hpa.yaml"]


def kubernetes_problems(path: pathlib.Path, document):
    """The core kinds against Kubernetes' own schema, strict, at the oldest and newest versions."""
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            yield f"{path} (Kubernetes {version}): {error.message} at {'.'.join(str(p) for p in error.path)}"
        except Exception as error:  # schema lookup and other failures are failures too
            yield f"{path} (Kubernetes {version}): {error}"


def llm_problems_in(region: pathlib.Path):
    """An LLM deployment: vLLM Deployments (one, or prefill and decode), a Service, an optional
    HPA; the InferenceService checked for the fields servesim relies on."""
    names = sorted(p.name for p in region.glob("deployment*.yaml")) + ["service.yaml"]
    if (region / "hpa.yaml").exists():
        names.append("hpa.yaml")
    for name in names:
        document = yaml.safe_load((region / name).read_text())
        yield from kubernetes_problems(region / name, document)
        if name.startswith("deployment"):
            container = document["spec"]["template"]["spec"]["containers"][0]
            yield from server_problems(region / name, container)
    kserve = yaml.safe_load((region / "kserve-inferenceservice.yaml").read_text())
    predictor = kserve.get("spec", {}).get("predictor", {})
    if kserve.get("apiVersion") != "serving.kserve.io/v1beta1" or not isinstance(predictor.get("minReplicas"), int):
        yield f"{region}/kserve-inferenceservice.yaml: not a v1beta1 InferenceService with integer minReplicas"
    if "model" in predictor:
        if "--backend=vllm" not in predictor["model"].get("args", []):
            yield f"{region}/kserve-inferenceservice.yaml: the runtime is not told to use vLLM"
    else:
        containers = predictor.get("containers") or [{}]
        yield from server_problems(region / "kserve-inferenceservice.yaml", containers[0])


# Each LLM server's command and the flags that carry the simulated engine's settings.
SERVERS = {
    ("vllm", "serve"): ["--tensor-parallel-size=", "--max-num-seqs=", "--max-num-batched-tokens=",
                        "--gpu-memory-utilization=", "--block-size="],
    ("trtllm-serve",): ["--tp_size=", "--max_batch_size=", "--max_num_tokens=", "--kv_cache_free_gpu_memory_fraction="],
    ("llama-server",): ["--parallel=", "--ctx-size=", "--batch-size=", "--n-gpu-layers="],
}


def server_problems(path, container):
    command = [str(c) for c in container.get("command", [])]
    for prefix, wanted in SERVERS.items():
        if tuple(command[: len(prefix)]) == prefix:
            for flag in wanted:
                if not any(str(arg).startswith(flag) for arg in container.get("args", [])):
                    yield f"{path}: {' '.join(prefix)} lacks {flag}"
            return
    yield f"{path}: the container runs none of vllm serve, trtllm-serve, llama-server ({command})"

def problems_in(region: pathlib.Path):
    if not (region / "config.pbtxt").exists() and not (region / "models").is_dir():
        yield from llm_problems_in(region)
        return
    if (region / "models").is_dir():
        # A GPU-sharing group (deploy/gpu-sharing/GROUP/REGION/): one Triton server per GPU with
        # every member's model, fixed replicas (no autoscaler).
        yield from shared_problems_in(region)
        return
    for name in CORE:
        document = yaml.safe_load((region / name).read_text())
        yield from kubernetes_problems(region / name, document)
    try:
        config = text_format.Parse((region / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        batching = config.dynamic_batching
        if any(size > config.max_batch_size for size in batching.preferred_batch_size):
            yield f"{region / 'config.pbtxt'}: a preferred batch size exceeds max_batch_size"
    except text_format.ParseError as error:
        yield f"{region / 'config.pbtxt'}: {error}"
    keda = yaml.safe_load((region / "keda-scaledobject.yaml").read_text())
    if keda.get("apiVersion") != "keda.sh/v1alpha1" or keda.get("kind") != "ScaledObject":
        yield f"{region}/keda-scaledobject.yaml: not a keda.sh/v1alpha1 ScaledObject"
    spec = keda.get("spec", {})
    if not isinstance(spec.get("minReplicaCount"), int) or not spec.get("triggers"):
        yield f"{region}/keda-scaledobject.yaml: needs integer minReplicaCount and triggers"
    kserve = yaml.safe_load((region / "kserve-inferenceservice.yaml").read_text())
    predictor = kserve.get("spec", {}).get("predictor", {})
    if kserve.get("apiVersion") != "serving.kserve.io/v1beta1" or not isinstance(predictor.get("minReplicas"), int):
        yield f"{region}/kserve-inferenceservice.yaml: not a v1beta1 InferenceService with integer minReplicas"


def shared_problems_in(region: pathlib.Path):
    for name in ["deployment.yaml", "service.yaml"]:
        document = yaml.safe_load((region / name).read_text())
        yield from kubernetes_problems(region / name, document)
    deployment = yaml.safe_load((region / "deployment.yaml").read_text())
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    loaded = {a.split("=", 1)[1] for a in args if a.startswith("--load-model=")}
    configs = sorted((region / "models").glob("*/config.pbtxt"))
    if not configs:
        yield f"{region}/models: no model configurations"
    for path in configs:
        try:
            config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
        except text_format.ParseError as error:
            yield f"{path}: {error}"
            continue
        if config.name != path.parent.name:
            yield f"{path}: names {config.name!r} but sits in {path.parent.name!r}"
        if config.name not in loaded:
            yield f"{path}: {config.name!r} is not loaded by the server (--load-model)"


def main():
    deploy = pathlib.Path(sys.argv[1])
    # A region folder holds a deployment.yaml: deploy/REGION/ for the main endpoint,
    # deploy/endpoints/ENDPOINT/REGION/ for a named one.
    # (an LLM's disaggregated deployment: deployment-prefill.yaml and deployment-decode.yaml).
    regions = sorted({p.parent for p in deploy.rglob("deployment*.yaml")})
    if not regions:
        print(f"{deploy}: no region folders", file=sys.stderr)
        return 1
    problems = [problem for region in regions for problem in problems_in(region)]
    # Ensembles (deploy/endpoints/PIPELINE/ensemble/config.pbtxt): Triton's protobuf, platform
    # "ensemble", and every step naming a model whose config is in the plan.
    models = set()
    for path in deploy.rglob("config.pbtxt"):
        try:
            models.add(text_format.Parse(path.read_text(), model_config_pb2.ModelConfig()).name)
        except text_format.ParseError:
            pass
    ensembles = sorted(deploy.rglob("ensemble/config.pbtxt"))
    for path in ensembles:
        try:
            config = text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())
        except text_format.ParseError as error:
            problems.append(f"{path}: {error}")
            continue
        if config.platform != "ensemble" or not config.ensemble_scheduling.step:
            problems.append(f"{path}: not an ensemble with steps")
        for step in config.ensemble_scheduling.step:
            if step.model_name not in models:
                problems.append(f"{path}: step calls {step.model_name!r}, which no config in the plan names")
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{len(regions)} regions valid, {len(ensembles)} ensembles valid")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
