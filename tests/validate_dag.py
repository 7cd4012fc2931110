#!/usr/bin/env python3
"""Loads a generated Airflow DAG (deploy/jobs/<job>/dag.py) with Airflow's own DagBag, in the
pinned Airflow venv (.ci/run), and prints what Airflow made of it as one JSON object: import
errors, the schedule, the deadline alert and the scoring task's retry settings. The Rust test
compares these with the scenario.

Usage: validate_dag.py DAG_FILE
"""
import json
import logging
import os
import sys
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="servesim-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")
logging.disable(logging.WARNING)

from airflow.models.dagbag import DagBag  # noqa: E402


def seconds(delta):
    return None if delta is None else delta.total_seconds()


def main(path):
    bag = DagBag(dag_folder=path, include_examples=False, safe_mode=False)
    result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}
    if len(bag.dags) != 1:
        result["dags"] = sorted(bag.dags)
        print(json.dumps(result))
        return
    dag = next(iter(bag.dags.values()))
    task = dag.get_task("score")
    partial = getattr(task, "partial_kwargs", None)
    get = (lambda name: partial.get(name, getattr(task, name, None))) if partial is not None else (
        lambda name: getattr(task, name, None))
    deadline = dag.deadline[0] if isinstance(dag.deadline, list) else dag.deadline
    result.update(
        dag_id=dag.dag_id,
        schedule=str(dag.timetable.summary),
        timezone=str(dag.timezone),
        catchup=dag.catchup,
        max_active_runs=dag.max_active_runs,
        deadline_reference=None if deadline is None else type(deadline.reference).__name__,
        deadline_interval_s=None if deadline is None else seconds(deadline.interval),
        operator=type(task).__name__,
        mapped=partial is not None,
        retries=get("retries"),
        retry_delay_s=seconds(get("retry_delay")),
        retry_exponential_backoff=get("retry_exponential_backoff"),
        max_retry_delay_s=seconds(get("max_retry_delay")),
        execution_timeout_s=seconds(get("execution_timeout")),
        max_active_tis_per_dag=get("max_active_tis_per_dag"),
        properties_file=get("properties_file") if not partial else None,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
