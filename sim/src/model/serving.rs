//! A `[serving]` section → [`ServingModel`]: batching, queue, overheads, service time, and the
//! per-deployment operational models.

use super::checks::{
    check_cv, check_positive, check_seqs, sampler, valid_latency, MAX_BATCH, MAX_CPU_WORKERS, MAX_INSTANCES,
};
use super::error::{fail, ScenarioError};
use super::inputs::{model_key, model_seqs, Inputs};
use super::operations::{build_breaker, build_cache, build_fallback, build_feature_store, build_health, build_startup};
use super::{MemoryNeed, ProxyModel, ReplicaKind, ServingModel, StallModel, VariantModel};
use crate::dist::Sampler;
use crate::policy::batching::{BatchRule, DynamicBatching};
use crate::scenario::{self, Dist, KeyPath};
use crate::service::{BatchLatency, BucketedLatency, DistLatency, ScaledLatency, TableLatency};
use std::sync::Arc;

pub(super) fn batch_latency(
    path: &KeyPath,
    dist: &Dist,
    max_batch: u32,
    inputs: &Inputs,
) -> Result<Arc<dyn BatchLatency>, ScenarioError> {
    if let Dist::Model { model, device, seq, seq_buckets, stack } = dist {
        check_seqs(path, *seq, seq_buckets)?;
        let Some(table) = inputs.model_tables.get(&model_key(model, device, stack.as_deref())) else {
            return fail(path.join("model"), format!("no latency table was computed for {model} on {device}"));
        };
        let mut buckets = Vec::new();
        for wanted in model_seqs(*seq, seq_buckets) {
            let points = table.by_seq.get(&wanted).filter(|p| p.last().is_some_and(|&(size, _)| size >= max_batch));
            let Some(points) = points else {
                return fail(
                    path.join("model"),
                    format!("the computed table for {model} lacks seq {wanted} up to max_batch {max_batch}"),
                );
            };
            if let Some(&(batch, latency)) = points.iter().find(|&&(_, latency)| !valid_latency(latency)) {
                return fail(
                    path.join("device"),
                    format!(
                        "{model} on {device} gives {} ms at batch {batch}, seq {wanted}: a batch must take more than zero and at most a day (is the profile all zeros, or in the wrong unit?)",
                        latency / 1e6
                    ),
                );
            }
            buckets.push((wanted, TableLatency::new(points, max_batch, 0.0, String::new())));
        }
        let description = if seq_buckets.is_empty() {
            format!("{model} on {device}, seq {seq}: {}", table.describe())
        } else {
            let list: Vec<String> = seq_buckets.iter().map(u32::to_string).collect();
            format!("{model} on {device}, seq buckets {} (default {seq}): {}", list.join("/"), table.describe())
        };
        return Ok(Arc::new(BucketedLatency::new(buckets, *seq, seq_buckets.is_empty(), description)));
    }
    let Dist::Table { file, points, cv } = dist else {
        let sampler = sampler(path, dist)?;
        let description = format!("{} (scenario distribution)", describe_dist(dist));
        return Ok(Arc::new(DistLatency { sampler, description }));
    };
    check_cv(path.join("cv"), *cv)?;
    let (points, origin): (Vec<(u32, f64)>, String) = match (file, points) {
        (Some(_), Some(_)) => return fail(path.join("points"), "give either `file` or `points`, not both"),
        (None, None) => {
            return fail(path.clone(), "a table needs `file` (CSV batch_size,latency_ms) or inline `points`")
        }
        (None, Some(points)) => (points.iter().map(|(b, d)| (*b, d.nanos() as f64)).collect(), "inline points".into()),
        (Some(file), None) => match inputs.tables.get(file) {
            Some(points) => (points.clone(), format!("table {file}")),
            None => return fail(path.join("file"), format!("latency table {file:?} was not loaded")),
        },
    };
    let point_path = if file.is_some() { path.join("file") } else { path.join("points") };
    if points.is_empty() {
        return fail(point_path, "latency table has no rows");
    }
    for (i, window) in points.windows(2).enumerate() {
        if window[1].0 <= window[0].0 {
            return fail(
                point_path,
                format!("batch sizes must increase strictly: row {} has {} after {}", i + 2, window[1].0, window[0].0),
            );
        }
    }
    for &(size, latency) in &points {
        if size == 0 || !valid_latency(latency) {
            return fail(
                point_path,
                format!(
                    "row for batch size {size}: sizes must be positive and latencies more than zero and at most a day"
                ),
            );
        }
    }
    let largest = points[points.len() - 1].0;
    if largest < max_batch {
        return fail(
            point_path,
            format!("latency table stops at batch size {largest} but max_batch is {max_batch}: measure up to {max_batch} or lower max_batch"),
        );
    }
    Ok(Arc::new(TableLatency::new(&points, max_batch, *cv, origin)))
}

/// Most stalls per second: a pause every millisecond is no longer a pause.
const MAX_STALL_RATE: f64 = 1000.0;

fn build_stalls(path: &KeyPath, stalls: &scenario::Stalls) -> Result<StallModel, ScenarioError> {
    let rate = stalls.rate.per_sec();
    if !(rate.is_finite() && rate > 0.0 && rate <= MAX_STALL_RATE) {
        return fail(path.join("rate"), format!("rate must be above 0 and at most {MAX_STALL_RATE}/s, got {rate}/s"));
    }
    let duration = sampler(&path.join("duration"), &stalls.duration)?;
    // Stalled at least half the time, the replica is mostly stopped: a typo, not a server.
    let share = rate * duration.mean() / 1e9;
    if share >= 0.5 {
        return fail(
            path.join("duration"),
            format!("stalls would take {:.0}% of the time (rate × mean duration): at most 50%", share * 100.0),
        );
    }
    Ok(StallModel { gap: Sampler::exponential(1e9 / rate), duration })
}

fn describe_dist(dist: &Dist) -> String {
    match dist {
        Dist::Constant { value } => format!("constant {value}"),
        Dist::Exponential { mean } => format!("exponential mean {mean}"),
        Dist::Lognormal { mean, cv } => format!("lognormal mean {mean} cv {cv}"),
        Dist::Gamma { mean, cv } => format!("gamma mean {mean} cv {cv}"),
        Dist::Uniform { min, max } => format!("uniform {min}..{max}"),
        Dist::Empirical { samples } => format!("empirical ({} samples)", samples.len()),
        Dist::Mixture { parts } => {
            let total: f64 = parts.iter().map(|p| p.weight).sum();
            let parts: Vec<String> =
                parts.iter().map(|p| format!("{:.3} × {}", p.weight / total, describe_dist(&p.dist))).collect();
            format!("mixture of {}", parts.join(" + "))
        }
        Dist::Table { .. } => "table".into(),
        Dist::Model { model, device, seq, stack, .. } => match stack {
            Some(stack) => format!("{model} on {device} under {stack}, seq {seq}"),
            None => format!("{model} on {device}, seq {seq}"),
        },
    }
}

pub(super) fn serving_model(
    path: &KeyPath,
    serving: &scenario::Serving,
    inputs: &Inputs,
) -> Result<ServingModel, ScenarioError> {
    let batching = &serving.batching;
    let batching_path = path.join("batching");
    if batching.max_batch == 0 || batching.max_batch > MAX_BATCH {
        return fail(batching_path.join("max_batch"), format!("max_batch must be between 1 and {MAX_BATCH}"));
    }
    if batching.instances == 0 || batching.instances > MAX_INSTANCES {
        return fail(batching_path.join("instances"), format!("instances must be between 1 and {MAX_INSTANCES}"));
    }
    let mut preferred = batching.preferred_batch_sizes.clone();
    for (i, &size) in preferred.iter().enumerate() {
        if size == 0 || size > batching.max_batch {
            return fail(
                batching_path.join("preferred_batch_sizes").join(i),
                format!("preferred batch size {size} must be between 1 and max_batch ({})", batching.max_batch),
            );
        }
    }
    if batching.rule != BatchRule::Triton && !preferred.is_empty() {
        return fail(
            batching_path.join("preferred_batch_sizes"),
            "preferred batch sizes are Triton's: the window rules have none",
        );
    }
    preferred.sort_unstable_by(|a, b| b.cmp(a));
    preferred.dedup();
    if serving.queue_capacity == 0 {
        return fail(path.join("queue_capacity"), "queue_capacity must be at least 1");
    }
    if let Some(timeout) = serving.timeout {
        check_positive(path.join("timeout"), "timeout", timeout.nanos())?;
    }
    let overhead_path = path.join("overhead");
    if serving.overhead.cpu_workers.is_some_and(|w| w == 0 || w > MAX_CPU_WORKERS) {
        return fail(overhead_path.join("cpu_workers"), format!("cpu_workers must be between 1 and {MAX_CPU_WORKERS}"));
    }
    if let Some(cores) = serving.overhead.host_cores {
        if cores == 0 || cores > MAX_CPU_WORKERS {
            return fail(
                overhead_path.join("host_cores"),
                format!("host_cores must be between 1 and {MAX_CPU_WORKERS}"),
            );
        }
        if serving.overhead.cpu_workers.is_none() {
            return fail(
                overhead_path.join("host_cores"),
                "host_cores needs cpu_workers: the threads that do the per-request work on those cores",
            );
        }
    }
    let proxy = serving
        .overhead
        .proxy
        .as_ref()
        .map(|proxy| {
            let at = overhead_path.join("proxy");
            if proxy.threads == 0 || proxy.threads > MAX_CPU_WORKERS {
                return fail(at.join("threads"), format!("threads must be between 1 and {MAX_CPU_WORKERS}"));
            }
            Ok(ProxyModel { time: sampler(&at.join("time"), &proxy.time)?, threads: proxy.threads })
        })
        .transpose()?;
    let jitter = serving.overhead.jitter.as_ref().map(|d| sampler(&overhead_path.join("jitter"), d)).transpose()?;
    let stalls = serving
        .overhead
        .stalls
        .as_ref()
        .map(|stalls| build_stalls(&overhead_path.join("stalls"), stalls))
        .transpose()?;
    let stage = |key: &str, dist: &Option<Dist>| -> Result<Option<Sampler>, ScenarioError> {
        dist.as_ref().map(|d| sampler(&overhead_path.join(key), d)).transpose()
    };
    let pre = stage("pre", &serving.overhead.pre)?.filter(|s| !s.is_zero() || serving.overhead.cpu_workers.is_some());
    let post =
        stage("post", &serving.overhead.post)?.filter(|s| !s.is_zero() || serving.overhead.cpu_workers.is_some());
    let (kind, mut service, variant) = match &serving.llm {
        Some(llm) => {
            let (kind, service) = super::llm::llm_serving(path, serving, llm, inputs)?;
            (kind, service, None)
        }
        None => {
            if serving.balancer == crate::policy::balance::Balancer::EndpointPicker {
                return fail(
                    path.join("balancer"),
                    "endpoint_picker scores LLM engines: this serving has no [serving.llm]",
                );
            }
            let (service_path, service_time, variant) = running_variant(path, serving)?;
            let service = batch_latency(&service_path, service_time, batching.max_batch, inputs)?;
            let kind = ReplicaKind::DynamicBatcher(DynamicBatching {
                rule: batching.rule,
                max_batch: batching.max_batch,
                max_queue_delay: batching.max_queue_delay.nanos(),
                preferred_batch_sizes: preferred,
                instances: batching.instances,
            });
            (kind, service, variant)
        }
    };
    if let Some(calibration) = &serving.calibration {
        let at = path.join("calibration");
        if !(calibration.service_scale.is_finite()
            && calibration.service_scale > 0.0
            && calibration.service_scale <= 1e6)
        {
            return fail(at.join("service_scale"), "service_scale must be above 0 and at most 1e6");
        }
        if !(calibration.service_cv.is_finite() && (0.0..=100.0).contains(&calibration.service_cv)) {
            return fail(at.join("service_cv"), "service_cv must be between 0 and 100");
        }
        if calibration.service_scale != 1.0 || calibration.service_cv > 0.0 {
            service = Arc::new(ScaledLatency::new(service, calibration.service_scale, calibration.service_cv));
        }
    }
    Ok(ServingModel {
        queue_capacity: serving.queue_capacity,
        timeout: serving.timeout.map(|t| t.nanos()),
        balancer: serving.balancer,
        kind,
        service,
        pre,
        post,
        cpu_workers: serving.overhead.cpu_workers,
        host_cores: serving.overhead.host_cores,
        jitter,
        proxy,
        stalls,
        startup: build_startup(&path.join("startup"), &serving.startup)?,
        health: build_health(&path.join("health_check"), &serving.health_check)?,
        cache: serving.cache.as_ref().map(|c| build_cache(&path.join("cache"), c)).transpose()?,
        feature_store: serving
            .feature_store
            .as_ref()
            .map(|f| build_feature_store(&path.join("feature_store"), f))
            .transpose()?,
        breaker: serving
            .circuit_breaker
            .as_ref()
            .map(|b| build_breaker(&path.join("circuit_breaker"), b))
            .transpose()?,
        fallback: serving.fallback.as_ref().map(|f| build_fallback(&path.join("fallback"), f)).transpose()?,
        memory: if serving.llm.is_some() { None } else { memory_need(path, serving, inputs)? },
        variant,
        stack: running_stack(serving, inputs),
    })
}

/// The stack behind the running service time's model table, or the LLM engine's.
fn running_stack(serving: &scenario::Serving, inputs: &Inputs) -> Option<String> {
    if let Some(llm) = &serving.llm {
        let profile = llm.model.as_ref().zip(llm.device.as_ref()).and_then(|(model, device)| {
            inputs.llm_profiles.get(&super::inputs::llm_key(model, device, llm.stack.as_deref()))
        });
        return profile.and_then(|p| p.stack.clone());
    }
    match serving.running_service_time()? {
        Dist::Model { model, device, stack, .. } => {
            inputs.model_tables.get(&model_key(model, device, stack.as_deref()))?.stack.clone()
        }
        _ => None,
    }
}

/// The service time that runs and where it is written: `service_time`, or the chosen variant's
/// with its quality against `min_quality`.
fn running_variant<'s>(
    path: &KeyPath,
    serving: &'s scenario::Serving,
) -> Result<(KeyPath, &'s Dist, Option<VariantModel>), ScenarioError> {
    if let Some(min) = serving.min_quality {
        if !min.is_finite() {
            return fail(path.join("min_quality"), "min_quality must be a finite number");
        }
    }
    if serving.variants.is_empty() {
        for (key, given) in [
            ("variant", serving.variant.is_some()),
            ("min_quality", serving.min_quality.is_some()),
            ("quality_metric", serving.quality_metric.is_some()),
        ] {
            if given {
                return fail(path.join(key), format!("{key} needs variants = [...] to choose among"));
            }
        }
        return match &serving.service_time {
            Some(dist) => Ok((path.join("service_time"), dist, None)),
            None => fail(path.clone(), "serving needs service_time (or variants, each with its own)"),
        };
    }
    if serving.service_time.is_some() {
        return fail(
            path.join("service_time"),
            "give service_time or variants, not both: each variant has its own service_time",
        );
    }
    for (k, variant) in serving.variants.iter().enumerate() {
        let at = path.join("variants").join(k);
        if variant.name.is_empty() || variant.name.len() > 40 {
            return fail(at.join("name"), "a variant's name must be 1 to 40 characters");
        }
        if serving.variants[..k].iter().any(|v| v.name == variant.name) {
            return fail(at.join("name"), format!("variant {:?} is listed twice", variant.name));
        }
        if !variant.quality.is_finite() {
            return fail(at.join("quality"), "quality must be a finite number");
        }
    }
    let k = match &serving.variant {
        None => 0,
        Some(chosen) => serving.variants.iter().position(|v| &v.name == chosen).ok_or_else(|| {
            let names: Vec<&str> = serving.variants.iter().map(|v| v.name.as_str()).collect();
            ScenarioError {
                path: path.join("variant"),
                message: format!("unknown variant {chosen:?}; variants are: {}", names.join(", ")),
            }
        })?,
    };
    let variant = &serving.variants[k];
    let model = VariantModel {
        name: variant.name.clone(),
        quality: variant.quality,
        min_quality: serving.min_quality,
        metric: serving.quality_metric.clone(),
    };
    Ok((path.join("variants").join(k).join("service_time"), &variant.service_time, Some(model)))
}

/// The model's GPU memory: as given, or from the model graph behind a `kind = "model"` service
/// time (weights once; per instance, `max_batch` requests' activations at the longest sequence).
fn memory_need(
    path: &KeyPath,
    serving: &scenario::Serving,
    inputs: &Inputs,
) -> Result<Option<MemoryNeed>, ScenarioError> {
    let chosen = serving.variants.iter().position(|v| serving.variant.as_ref().is_none_or(|c| &v.name == c));
    let (given, at) = match chosen.and_then(|k| serving.variants[k].memory.as_ref().map(|m| (m, k))) {
        Some((memory, k)) => (Some(memory), path.join("variants").join(k).join("memory")),
        None => (serving.memory.as_ref(), path.join("memory")),
    };
    if let Some(given) = given {
        if given.weights.bytes() <= 0.0 {
            return fail(at.join("weights"), "weights must be more than zero");
        }
        return Ok(Some(MemoryNeed {
            weights: given.weights.bytes(),
            per_instance: given.per_instance.bytes(),
            source: "given".into(),
        }));
    }
    let Some(Dist::Model { model, device, seq, seq_buckets, stack }) = serving.running_service_time() else {
        return Ok(None);
    };
    let Some(table) = inputs.model_tables.get(&model_key(model, device, stack.as_deref())) else {
        return Ok(None);
    };
    let longest = model_seqs(*seq, seq_buckets).into_iter().max().unwrap_or(*seq);
    let (Some(&per_request), true) = (table.activation_bytes_per_request.get(&longest), table.weights_bytes > 0.0)
    else {
        return Ok(None);
    };
    Ok(Some(MemoryNeed {
        weights: table.weights_bytes,
        per_instance: per_request * f64::from(serving.batching.max_batch),
        source: format!("{model}'s graph at batch {} and seq {longest}", serving.batching.max_batch),
    }))
}
