//! A batch job as Spark runs it: `spark-submit.conf` (a properties file for `spark-submit
//! --properties-file`) and a `SparkApplication` for the Kubeflow Spark operator, both carrying
//! exactly the simulated settings — executors and their cores (= slots), dynamic allocation,
//! speculation, task attempts, the partition count and the scoring batch.

use crate::kubernetes::{document, int, map, map_of, text};
use sim::model::jobs::JobModel;
use yaml_rust2::Yaml;

/// The Spark release the manifests name (the operator's image must carry it).
pub const SPARK_VERSION: &str = "3.5.3";
/// The placeholder image: Apache's own Spark image with Python.
pub const SPARK_IMAGE: &str = "apache/spark:3.5.3-python3";
/// Where the scoring application is expected inside the image (a placeholder).
pub const APPLICATION: &str = "local:///opt/servesim/score.py";

/// Every `spark.*` property of the run, in the order the file lists them, with why.
pub fn properties(name: &str, job: &JobModel) -> Vec<(String, String, &'static str)> {
    let workers = &job.workers;
    let mut rows: Vec<(String, String, &'static str)> = Vec::new();
    let mut add = |key: &str, value: String, why: &'static str| rows.push((key.to_string(), value, why));
    add("spark.app.name", name.to_string(), "");
    add("spark.executor.cores", workers.slots.to_string(), "a worker runs `slots` tasks at once");
    add("spark.task.cpus", "1".into(), "one slot per task");
    match workers.autoscaling {
        Some((min, max, idle)) => {
            add("spark.dynamicAllocation.enabled", "true".into(), "workers asked for while tasks wait");
            add("spark.dynamicAllocation.initialExecutors", workers.count.to_string(), "the pool at the start");
            add("spark.dynamicAllocation.minExecutors", min.to_string(), "");
            add("spark.dynamicAllocation.maxExecutors", max.to_string(), "");
            add("spark.dynamicAllocation.executorIdleTimeout", seconds(idle), "released after this long idle");
            add("spark.dynamicAllocation.schedulerBacklogTimeout", "1s".into(), "ask as soon as tasks wait");
            add("spark.dynamicAllocation.shuffleTracking.enabled", "true".into(), "no external shuffle service");
        }
        None => {
            add("spark.dynamicAllocation.enabled", "false".into(), "a fixed pool");
            add("spark.executor.instances", workers.count.to_string(), "");
        }
    }
    if let (Some(share), Some(heap_mib)) = (workers.task_share, executor_memory_mib(job)) {
        add("spark.executor.memory", format!("{heap_mib}m"), "the pod's share less Spark's overhead");
        add("spark.kubernetes.executor.request.cores", format!("{}m", share.cpu_millis * u64::from(workers.slots)), "");
    }
    add("spark.task.maxFailures", job.max_attempts.to_string(), "attempts per task before the run aborts");
    match job.speculation {
        Some(s) => {
            add("spark.speculation", "true".into(), "");
            add("spark.speculation.quantile", number(s.quantile), "");
            add("spark.speculation.multiplier", number(s.multiplier), "");
            add("spark.speculation.interval", millis(s.interval), "");
        }
        None => add("spark.speculation", "false".into(), ""),
    }
    if workers.spot > 0 {
        add("spark.decommission.enabled", "true".into(), "a spot notice drains the executor");
    }
    let partitions = job.task_records.len().to_string();
    add("spark.default.parallelism", partitions.clone(), "one task per partition");
    add("spark.sql.shuffle.partitions", partitions.clone(), "");
    add("spark.sql.execution.arrow.maxRecordsPerBatch", job.batch_records.to_string(), "mapInPandas batches");
    add("spark.servesim.records", job.records.to_string(), "read by the scoring application");
    add("spark.servesim.partitions", partitions, "");
    add("spark.servesim.batchRecords", job.batch_records.to_string(), "");
    if let Some(every) = job.checkpoint_records {
        add("spark.servesim.checkpointRecords", every.to_string(), "");
    }
    rows
}

/// `spark-submit.conf`: `key value` lines with a comment header.
pub fn submit_conf(scenario: &str, name: &str, job: &JobModel) -> String {
    let mut text = format!(
        "# servesim plan for job {:?} of scenario {scenario:?}, for spark-submit --properties-file.\n\
         # The scoring application (a placeholder: {APPLICATION}) reads spark.servesim.*, repartitions\n\
         # the records into spark.servesim.partitions and scores them with mapInPandas.\n",
        job.name
    );
    for (key, value, why) in properties(name, job) {
        if why.is_empty() {
            text.push_str(&format!("{key} {value}\n"));
        } else {
            text.push_str(&format!("{key} {value}\n# ^ {why}\n"));
        }
    }
    text
}

/// A `sparkoperator.k8s.io/v1beta2` SparkApplication with the same settings.
pub fn application(scenario: &str, name: &str, job: &JobModel) -> String {
    let workers = &job.workers;
    let conf = map_of(properties(name, job).into_iter().map(|(key, value, _)| (key, text(value))));
    let mut executor = vec![("cores", int(i64::from(workers.slots))), ("instances", int(i64::from(workers.count)))];
    if let Some(heap_mib) = executor_memory_mib(job) {
        executor.push(("memory", text(format!("{heap_mib}m"))));
    }
    let mut spec = vec![
        ("type", text("Python")),
        ("pythonVersion", text("3")),
        ("mode", text("cluster")),
        ("image", text(SPARK_IMAGE)),
        ("mainApplicationFile", text(APPLICATION)),
        ("sparkVersion", text(SPARK_VERSION)),
        ("sparkConf", conf),
        // A task out of attempts aborts the night, as simulated: no rerun of the whole application.
        ("restartPolicy", map([("type", text("Never"))])),
        ("driver", map([("cores", int(1)), ("memory", text("1g")), ("serviceAccount", text("spark"))])),
        ("executor", map_of(executor.into_iter().map(|(k, v)| (k.to_string(), v)))),
    ];
    if let Some((min, max, _)) = workers.autoscaling {
        spec.push((
            "dynamicAllocation",
            map([
                ("enabled", Yaml::Boolean(true)),
                ("initialExecutors", int(i64::from(workers.count))),
                ("minExecutors", int(i64::from(min))),
                ("maxExecutors", int(i64::from(max))),
            ]),
        ));
    }
    let object = map([
        ("apiVersion", text("sparkoperator.k8s.io/v1beta2")),
        ("kind", text("SparkApplication")),
        ("metadata", map([("name", text(name))])),
        ("spec", map_of(spec.into_iter().map(|(k, v)| (k.to_string(), v)))),
    ]);
    document(
        &format!(
            "servesim plan for job {:?} of scenario {scenario:?}: a SparkApplication for the Kubeflow Spark operator, with spark-submit.conf's settings. The image and application are placeholders.",
            job.name
        ),
        &object,
    )
}

/// `spark.executor.memory` in MiB: the executor's pod asks for its slots' share of the node, and
/// Spark adds 10% (at least 384 MiB) of overhead to this, so that is left out (None without the
/// instance's shape).
fn executor_memory_mib(job: &JobModel) -> Option<u64> {
    let pod_mib = job.workers.task_share?.memory_mib * u64::from(job.workers.slots);
    Some((pod_mib * 10 / 11).min(pod_mib.saturating_sub(384)))
}

fn number(value: f64) -> String {
    format!("{value}")
}

fn seconds(nanos: u64) -> String {
    if nanos.is_multiple_of(1_000_000_000) {
        format!("{}s", nanos / 1_000_000_000)
    } else {
        millis(nanos)
    }
}

fn millis(nanos: u64) -> String {
    format!("{}ms", nanos.div_ceil(1_000_000))
}
