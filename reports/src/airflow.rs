//! A batch job as an Airflow 3 DAG (`dag.py`): scheduled at the job's start (UTC), a deadline
//! alert at the deadline's clock time (counted from the run's logical date, so a late start does not
//! move it), and the scoring step as the scenario's engine runs it — a Kubernetes pod per
//! partition (dynamic task mapping, with the simulated attempts, backoff and parallelism) or one
//! Spark application (`spark-submit.conf` beside the DAG: Spark retries each task).

use crate::job_deploy::{cronjob_name, deadline_margin_s, PLACEHOLDER_IMAGE, PLACEHOLDER_SCORER};
use sim::model::jobs::JobModel;
use sim::scenario::jobs::JobEngine;

/// `dag.py` for `job` of `scenario`; `image` is the scorer's (pods only).
pub fn dag(scenario: &str, job: &JobModel, image: Option<&str>) -> String {
    let name = cronjob_name(scenario, &job.name);
    let start = job.start_clock_s;
    let window_s = job.deadline.map(|d| d.after_start / 1_000_000_000);
    let partitions = job.task_records.len();
    let parallelism = u64::from(job.workers.count) * u64::from(job.workers.slots);
    let about = format!(
        "servesim plan for job {:?} of scenario {:?} as an Airflow 3 DAG.\n\n\
         Scheduled at {} UTC; {partitions} partitions, {parallelism} at once. The constants below are\n\
         what servesim simulated; the image, application and alert callback are placeholders.\n",
        job.name,
        scenario,
        sim::model::jobs::format_clock(start),
    );
    let mut text = format!(
        "{}\n\n\
         from datetime import timedelta\n\
         from pathlib import Path\n\n\
         import pendulum\n\
         from airflow.sdk import DAG\n\
         from airflow.sdk.definitions.deadline import AsyncCallback, DeadlineAlert, DeadlineReference\n\n",
        python_string(&about)
    );
    let constant = |text: &mut String, name: &str, value: String, why: &str| {
        text.push_str(&format!("{name} = {value}  # {why}\n"));
    };
    constant(
        &mut text,
        "SCHEDULE",
        format!("{:?}", format!("{} {} * * *", start % 3600 / 60, start / 3600)),
        "the job's start, UTC",
    );
    constant(&mut text, "PARTITIONS", partitions.to_string(), "tasks");
    constant(&mut text, "PARALLELISM", parallelism.to_string(), "workers x slots");
    constant(&mut text, "RETRIES", (job.max_attempts - 1).to_string(), "max_attempts - 1, per partition");
    constant(&mut text, "RETRY_DELAY", timedelta(job.backoff), "backoff, doubling per attempt");
    constant(&mut text, "MAX_RETRY_DELAY", timedelta(job.max_backoff), "max_backoff");
    match window_s {
        Some(window) => {
            constant(&mut text, "DEADLINE", format!("timedelta(seconds={window})"), "after the scheduled start");
            constant(
                &mut text,
                "DEADLINE_WARNING",
                format!("timedelta(seconds={})", window - deadline_margin_s(window)),
                "the alert, before the deadline",
            );
            constant(&mut text, "EXECUTION_TIMEOUT", "DEADLINE".into(), "no attempt runs past the deadline window");
        }
        None => constant(&mut text, "EXECUTION_TIMEOUT", "None".into(), "the job has no deadline"),
    }
    text.push_str(&format!("DAG_ID = {}\n\n", python_string(&name)));
    if window_s.is_some() {
        text.push_str(
            "# Replace the callback with your notifier (e.g. a Slack or PagerDuty one): an async callable\n\
             # importable on the triggerer.\n\
             DEADLINE_ALERT = DeadlineAlert(\n    \
                 reference=DeadlineReference.DAGRUN_LOGICAL_DATE,\n    \
                 interval=DEADLINE_WARNING,\n    \
                 callback=AsyncCallback(\"servesim_alerts.deadline_near\", kwargs={\"dag_id\": DAG_ID}),\n\
             )\n\n",
        );
    }
    text.push_str(&format!(
        "with DAG(\n    \
             dag_id=DAG_ID,\n    \
             schedule=SCHEDULE,\n    \
             start_date=pendulum.datetime(2026, 1, 1, tz=\"UTC\"),\n    \
             catchup=False,\n    \
             max_active_runs=1,\n    \
             {deadline}\
             tags=[\"servesim\"],\n\
         ) as dag:\n",
        deadline = if window_s.is_some() { "deadline=DEADLINE_ALERT,\n    " } else { "" }
    ));
    match job.engine {
        JobEngine::Kubernetes => text.push_str(&pods(job, image)),
        JobEngine::Spark => text.push_str(SPARK_STEP),
    }
    text
}

/// One pod per partition, mapped: Airflow retries each partition as the simulation does.
fn pods(job: &JobModel, image: Option<&str>) -> String {
    let mut env = format!(
        "{{\"SERVESIM_RECORDS\": \"{}\", \"SERVESIM_PARTITIONS\": str(PARTITIONS), \"SERVESIM_BATCH_RECORDS\": \"{}\"",
        job.records, job.batch_records
    );
    if let Some(every) = job.checkpoint_records {
        env.push_str(&format!(", \"SERVESIM_CHECKPOINT_RECORDS\": \"{every}\""));
    }
    env.push_str(", \"JOB_COMPLETION_INDEX\": str(index)}");
    let command = match image {
        Some(_) => String::new(),
        None => format!("        cmds=[\"python3\", \"-c\", {}],\n", python_string(PLACEHOLDER_SCORER)),
    };
    let resources = match job.workers.task_share {
        Some(share) => format!(
            "        container_resources=k8s.V1ResourceRequirements(\n            \
                 requests={{\"cpu\": \"{cpu}m\", \"memory\": \"{memory}Mi\"}}, limits={{\"memory\": \"{memory}Mi\"}}\n        \
             ),\n",
            cpu = share.cpu_millis,
            memory = share.memory_mib
        ),
        None => String::new(),
    };
    format!(
        "    # Airflow maps at most core.max_map_length (1024 by default) tasks: raise it for more partitions.\n    \
         from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n    \
         from kubernetes.client import models as k8s\n\n    \
         score = KubernetesPodOperator.partial(\n        \
             task_id=\"score\",\n        \
             image={image},\n\
         {command}\
         {resources}        \
             retries=RETRIES,\n        \
             retry_delay=RETRY_DELAY,\n        \
             retry_exponential_backoff=True,\n        \
             max_retry_delay=MAX_RETRY_DELAY,\n        \
             execution_timeout=EXECUTION_TIMEOUT,\n        \
             max_active_tis_per_dag=PARALLELISM,\n        \
             get_logs=True,\n    \
         ).expand(env_vars=[{env} for index in range(PARTITIONS)])\n",
        image = python_string(image.unwrap_or(PLACEHOLDER_IMAGE)),
    )
}

/// One Spark application: Spark retries each task (`spark.task.maxFailures` in the conf); a task
/// out of attempts aborts the night, as simulated, so Airflow does not rerun the application.
const SPARK_STEP: &str =
    "    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator\n\n    \
    score = SparkSubmitOperator(\n        \
        task_id=\"score\",\n        \
        application=\"/opt/servesim/score.py\",\n        \
        properties_file=str(Path(__file__).with_name(\"spark-submit.conf\")),\n        \
        conn_id=\"spark_default\",\n        \
        retries=0,  # Spark retries each task (spark.task.maxFailures = RETRIES + 1)\n        \
        execution_timeout=EXECUTION_TIMEOUT,\n    \
    )\n";

fn timedelta(nanos: u64) -> String {
    format!("timedelta(seconds={})", nanos as f64 / 1e9)
}

/// `text` as a Python string literal: double-quoted, with backslashes, quotes and control
/// characters escaped (a name can then never end the string or the line).
pub fn python_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\U{:08x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::python_string;

    #[test]
    fn python_strings_escape_what_would_end_them() {
        assert_eq!(python_string("a\"b\\c\nd\u{7}é"), "\"a\\\"b\\\\c\\nd\\U00000007é\"");
    }
}
