//! Deployable output for a batch job: a Kubernetes `CronJob` running an Indexed `Job` (one index per
//! partition), and Prometheus alerting rules on kube-state-metrics' job metrics for the job's
//! duration, its failure rate and "not finished by the deadline minus a margin".

use crate::kubernetes::{dns_name, document, int, list, map, map_of, text};
use sim::job::JobSummary;
use sim::model::jobs::{format_clock, JobModel};
use yaml_rust2::Yaml;

/// What the job's configs are made from.
pub struct JobDeployInput<'a> {
    pub scenario: &'a str,
    pub job: &'a JobModel,
    pub summary: &'a JobSummary,
    /// The scorer's image, whose entrypoint scores a partition; None: [`PLACEHOLDER_IMAGE`]
    /// running [`PLACEHOLDER_SCORER`].
    pub image: Option<&'a str>,
}

/// The image of the placeholder scorer.
pub const PLACEHOLDER_IMAGE: &str = "python:3.12-slim";

/// A scorer that runs and succeeds without scoring: it works out its partition's records the way
/// the plan split them (the remainder to the first partitions) and prints them. Yours must read
/// those records, score them in batches of `SERVESIM_BATCH_RECORDS`, upsert the scores keyed by
/// record (a retried or preempted pod writes some twice), resume from its last checkpoint every
/// `SERVESIM_CHECKPOINT_RECORDS`, and exit non-zero on a failure so the partition is retried.
pub const PLACEHOLDER_SCORER: &str = "import os\n\
records, partitions = int(os.environ['SERVESIM_RECORDS']), int(os.environ['SERVESIM_PARTITIONS'])\n\
index = int(os.environ['JOB_COMPLETION_INDEX'])\n\
base, extra = divmod(records, partitions)\n\
start = index * base + min(index, extra)\n\
end = start + base + (index < extra)\n\
print(f'partition {index}: records [{start}, {end}) in batches of {os.environ[\"SERVESIM_BATCH_RECORDS\"]}; replace this placeholder with your scorer', flush=True)\n";

/// How late the CronJob may start a run: a tenth of the deadline window, between 10 s (the
/// controller's resolution) and 5 min. The run's `activeDeadlineSeconds` is the window less this,
/// so a run started late still stops by the deadline's clock time.
pub fn starting_deadline_s(window_s: u64) -> u64 {
    (window_s / 10).clamp(10, 300)
}

/// The CronJob's name: also the prefix of the Jobs it creates, which the alert rules match.
pub fn cronjob_name(scenario: &str, job: &str) -> String {
    // CronJob names leave room for the 11-character suffix of the Jobs they create.
    let name = dns_name(&format!("{scenario}-{job}"));
    name.chars().take(40).collect::<String>().trim_end_matches('-').to_string()
}

/// Warning before the deadline that a run still going gets: half an hour, at most half the window.
pub fn deadline_margin_s(window_s: u64) -> u64 {
    (30 * 60).min(window_s / 2)
}

/// `(file name, text)` for `deploy/jobs/<job>/`.
pub fn render(input: &JobDeployInput) -> Vec<(String, String)> {
    let name = cronjob_name(input.scenario, &input.job.name);
    vec![
        ("cronjob.yaml".to_string(), cronjob(input)),
        ("prometheus-rules.yaml".to_string(), rules(input)),
        ("dag.py".to_string(), crate::airflow::dag(input.scenario, input.job, input.image)),
        ("spark-submit.conf".to_string(), crate::spark::submit_conf(input.scenario, &name, input.job)),
        ("spark-application.yaml".to_string(), crate::spark::application(input.scenario, &name, input.job)),
    ]
}

fn labels(input: &JobDeployInput) -> Yaml {
    map_of([
        ("app.kubernetes.io/name".to_string(), text(cronjob_name(input.scenario, &input.job.name))),
        ("app.kubernetes.io/managed-by".to_string(), text("servesim")),
    ])
}

fn cronjob(input: &JobDeployInput) -> String {
    let job = input.job;
    let name = cronjob_name(input.scenario, &job.name);
    let start = job.start_clock_s;
    let parallelism = u64::from(job.workers.count) * u64::from(job.workers.slots);
    let mut job_spec = vec![
        ("completionMode", text("Indexed")),
        ("completions", int(i64::from(job.task_records.len() as u32))),
        ("parallelism", int(parallelism.min(i64::MAX as u64) as i64)),
        ("backoffLimitPerIndex", int(i64::from(job.max_attempts - 1))),
        // One index out of attempts fails the run, as the simulation (and Spark) abort it.
        ("maxFailedIndexes", int(0)),
    ];
    let window_s = job.deadline.map(|d| d.after_start / 1_000_000_000);
    if let Some(window) = window_s {
        let active = window.saturating_sub(starting_deadline_s(window)).max(1);
        job_spec.push(("activeDeadlineSeconds", int(active as i64)));
    }
    // Preemptions and evictions do not use up a partition's attempts (nor do they in the simulation).
    job_spec.push((
        "podFailurePolicy",
        map([(
            "rules",
            list([map([
                ("action", text("Ignore")),
                ("onPodConditions", list([map([("type", text("DisruptionTarget")), ("status", text("True"))])])),
            ])]),
        )]),
    ));
    let env = |key: &str, value: String| map([("name", text(key)), ("value", text(value))]);
    let mut environment = vec![
        env("SERVESIM_RECORDS", job.records.to_string()),
        env("SERVESIM_PARTITIONS", job.task_records.len().to_string()),
        env("SERVESIM_BATCH_RECORDS", job.batch_records.to_string()),
    ];
    if let Some(every) = job.checkpoint_records {
        environment.push(env("SERVESIM_CHECKPOINT_RECORDS", every.to_string()));
    }
    let mut container = vec![("name", text("scorer")), ("image", text(input.image.unwrap_or(PLACEHOLDER_IMAGE)))];
    if input.image.is_none() {
        container.push(("command", list([text("python3"), text("-c"), text(PLACEHOLDER_SCORER)])));
    }
    container.push(("env", list(environment)));
    // A pod per task: requesting a slot's share of the worker keeps `slots` pods on a node, no more.
    let (cpu, memory) = match job.workers.task_share {
        Some(share) => (format!("{}m", share.cpu_millis), format!("{}Mi", share.memory_mib)),
        None => (format!("{}m", 1000 / job.workers.slots.max(1)), "1Gi".to_string()),
    };
    container.push((
        "resources",
        map([
            ("requests", map([("cpu", text(cpu)), ("memory", text(memory.clone()))])),
            ("limits", map([("memory", text(memory))])),
        ]),
    ));
    let container = map_of(container.into_iter().map(|(k, v)| (k.to_string(), v)));
    let pod_spec = map([
        ("restartPolicy", text("Never")),
        ("terminationGracePeriodSeconds", int((job.workers.preemption_notice / 1_000_000_000) as i64)),
        ("containers", list([container])),
    ]);
    let job_template = map([
        ("metadata", map([("labels", labels(input))])),
        ("spec", {
            let mut spec = job_spec;
            spec.push(("template", map([("metadata", map([("labels", labels(input))])), ("spec", pod_spec)])));
            let mut hash = yaml_rust2::yaml::Hash::new();
            for (k, v) in spec {
                hash.insert(text(k), v);
            }
            Yaml::Hash(hash)
        }),
    ]);
    let object = map([
        ("apiVersion", text("batch/v1")),
        ("kind", text("CronJob")),
        ("metadata", map([("name", text(name.clone())), ("labels", labels(input))])),
        (
            "spec",
            map([
                ("schedule", text(format!("{} {} * * *", start % 3600 / 60, start / 3600))),
                ("timeZone", text("Etc/UTC")),
                ("concurrencyPolicy", text("Forbid")),
                ("startingDeadlineSeconds", int(window_s.map_or(600, starting_deadline_s) as i64)),
                ("successfulJobsHistoryLimit", int(3)),
                ("failedJobsHistoryLimit", int(3)),
                ("jobTemplate", job_template),
            ]),
        ),
    ]);
    let s = input.summary;
    let mut comments = format!(
        "servesim plan for job {:?} of scenario {:?}: {} partitions, {} tasks at once ({} workers × {} slots), \
         starting {} UTC.\nSimulated over {} nights: makespan p99 {}; cost {:.2} USD per run.\n",
        job.name,
        input.scenario,
        job.task_records.len(),
        parallelism,
        job.workers.count,
        job.workers.slots,
        format_clock(start),
        s.replications,
        s.makespan_s.as_ref().map_or("none finished".to_string(), |m| format!("{:.0} s", m.p99)),
        s.cost.usd_per_run
    );
    if job.workers.spot > 0 {
        comments.push_str(&format!(
            "{} of {} workers on spot: schedule the pods onto your spot node pool (node selector or affinity not set here).\n",
            job.workers.spot, job.workers.count
        ));
    }
    if let Some(window) = window_s {
        let late = starting_deadline_s(window);
        comments.push_str(&format!(
            "A run starts at most {late} s late (startingDeadlineSeconds) and stops {} s after it starts (activeDeadlineSeconds): by the deadline's clock time either way.\n",
            window.saturating_sub(late).max(1)
        ));
    }
    match job.workers.task_share {
        Some(_) => comments.push_str(&format!(
            "Each pod requests 1/{} of a worker (what is left after 0.5 vCPU and 1 GiB + 5% of memory for the node): {} pods per node, as planned.\n",
            job.workers.slots, job.workers.slots
        )),
        None => comments.push_str(
            "The requests are placeholders and do not hold pods to the planned slots per node: give the instance type vcpus and memory_gib.\n",
        ),
    }
    comments.push_str(if input.image.is_none() {
        "The scorer is a placeholder that prints its partition's records and succeeds: replace the image and command with yours. It must read records [start, end) of partition JOB_COMPLETION_INDEX (SERVESIM_RECORDS split over SERVESIM_PARTITIONS, the remainder to the first), score them in batches of SERVESIM_BATCH_RECORDS, upsert the scores keyed by record (a retried or preempted pod rewrites some), resume from its last checkpoint (every SERVESIM_CHECKPOINT_RECORDS), and exit non-zero on a failure so the partition is retried."
    } else {
        "The image's entrypoint scores partition JOB_COMPLETION_INDEX: SERVESIM_RECORDS split over SERVESIM_PARTITIONS (the remainder to the first), in batches of SERVESIM_BATCH_RECORDS, upserting scores keyed by record."
    });
    document(&comments, &object)
}

fn rules(input: &JobDeployInput) -> String {
    let job = input.job;
    let s = input.summary;
    let name = cronjob_name(input.scenario, &job.name);
    let alert = |suffix: &str| {
        let camel = sim::monitor::camel_case(&job.name);
        format!("{}{suffix}", if camel.is_empty() { "Servesim".to_string() } else { camel })
    };
    // Jobs a CronJob creates are named `<cronjob>-<minutes since the epoch>`.
    let selector = format!("job_name=~\"{name}-[0-9]+\"");
    let started = format!("max by (namespace, job_name) (kube_job_status_start_time{{{selector}}})");
    let active = format!("max by (namespace, job_name) (kube_job_status_active{{{selector}}}) > 0");
    let mut rules = Vec::new();
    let annotations =
        |summary: String, description: String| map([("summary", text(summary)), ("description", text(description))]);
    if let Some(m) = &s.makespan_s {
        let limit = m.p99.ceil() as i64;
        rules.push(map([
            ("alert", text(alert("JobRunningLong"))),
            ("expr", text(format!("(time() - {started}) > {limit} and on (namespace, job_name) {active}"))),
            ("for", text("5m")),
            ("labels", map([("severity", text("warning"))])),
            (
                "annotations",
                annotations(
                    format!("{} has run longer than servesim's p99 makespan ({limit} s)", job.name),
                    format!(
                        "Simulated over {} nights the job finished within {limit} s in 99% of them; a longer run suggests slower reads, writes or workers than planned.",
                        s.replications
                    ),
                ),
            ),
        ]));
    }
    if let Some(deadline) = job.deadline {
        let window = deadline.after_start / 1_000_000_000;
        let margin = deadline_margin_s(window);
        // The deadline is a clock time: counted from the run's scheduled start (the last start
        // clock at or before its actual start, in UTC), so a run that started late is not given
        // longer.
        let clock = job.start_clock_s;
        let scheduled = format!("({started} - ((({started} - {clock}) % 86400) + 86400) % 86400)");
        rules.push(map([
            ("alert", text(alert("NotFinishedByDeadline"))),
            (
                "expr",
                text(format!("(time() - {scheduled}) > {} and on (namespace, job_name) {active}", window - margin)),
            ),
            ("labels", map([("severity", text("critical"))])),
            (
                "annotations",
                annotations(
                    format!(
                        "{} is still running {} min before its {} deadline",
                        job.name,
                        margin / 60,
                        format_clock(deadline.clock)
                    ),
                    format!(
                        "Deadline {} UTC, {window} s after the start; this alert fires {margin} s before it.",
                        format_clock(deadline.clock)
                    ),
                ),
            ),
        ]));
    }
    let failed_share = if s.attempts.attempts > 0.0 { s.attempts.failed / s.attempts.attempts } else { 0.0 };
    let threshold = (3.0 * failed_share).clamp(0.05, 0.9);
    let threshold = (threshold * 1000.0).round() / 1000.0;
    rules.push(map([
        ("alert", text(alert("TaskFailureRateHigh"))),
        (
            "expr",
            text(format!(
                "max by (namespace, job_name) (kube_job_status_failed{{{selector}}}) / clamp_min(max by (namespace, job_name) (kube_job_status_failed{{{selector}}}) + max by (namespace, job_name) (kube_job_status_succeeded{{{selector}}}), 1) > {threshold}"
            )),
        ),
        ("for", text("10m")),
        ("labels", map([("severity", text("warning"))])),
        (
            "annotations",
            annotations(
                format!("{} pods are failing more than planned", job.name),
                format!(
                    "Over {:.1}% of pods failed; servesim planned for {:.1}% of attempts failing (alert at 3× that, at least 5%).",
                    threshold * 100.0,
                    failed_share * 100.0
                ),
            ),
        ),
    ]));
    rules.push(map([
        ("alert", text(alert("JobFailed"))),
        ("expr", text(format!("max by (namespace, job_name) (kube_job_failed{{{selector}, condition=\"true\"}}) > 0"))),
        ("labels", map([("severity", text("critical"))])),
        (
            "annotations",
            annotations(
                format!("{} failed", job.name),
                "A partition used up its attempts or the run passed its activeDeadlineSeconds: tonight's scores are incomplete.".to_string(),
            ),
        ),
    ]));
    let object = map([("groups", list([map([("name", text(format!("servesim-{name}"))), ("rules", list(rules))])]))]);
    document(
        &format!(
            "Prometheus alerting rules for job {:?} (kube-state-metrics job metrics), from servesim's plan.",
            job.name
        ),
        &object,
    )
}
