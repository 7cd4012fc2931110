//! `servesim sweep --emit-k8s-job`: the sweep as a Kubernetes Indexed Job (through
//! `reports::kubernetes`, no shell in the pod) and as a Slurm job array (every argument quoted by
//! `shlex`). What the user passed (`--set` values, file names, the image) reaches the scheduler as
//! data, never as code.

use super::SweepArgs;
use crate::error::CliError;
use crate::output::write_atomic;
use reports::kubernetes::{boolean, dns_name, document, int, list, map, text};
use std::path::Path;

/// The `servesim sweep` arguments every shard repeats: overrides, strategy, samples, replications.
fn shared_arguments(args: &SweepArgs) -> Vec<String> {
    let mut words = Vec::new();
    for setting in &args.set {
        words.extend(["--set".to_string(), setting.clone()]);
    }
    for (flag, value) in [
        ("--strategy", args.strategy.clone()),
        ("--samples", args.samples.map(|v| v.to_string())),
        ("--replications", args.replications.map(|v| v.to_string())),
    ] {
        if let Some(value) = value {
            words.extend([flag.to_string(), value]);
        }
    }
    words
}

/// Kubernetes expands `$(VAR)` in a container's args: a user's `$` is written `$$`.
fn literal_arg(word: &str) -> String {
    word.replace('$', "$$")
}

fn quote(word: &str) -> Result<String, CliError> {
    shlex::try_quote(word)
        .map(|q| q.into_owned())
        .map_err(|_| CliError::input(format!("argument {word:?} has a NUL byte and cannot be written to a script")))
}

/// `--image` (or `flag`), refused unless it can be a container image reference (it lands in
/// manifests).
pub(crate) fn check_image(flag: &str, image: &str) -> Result<(), CliError> {
    if reports::kubernetes::is_image_reference(image) {
        return Ok(());
    }
    Err(CliError::input(format!(
        "{flag} {image:?}: not a container image reference (letters, digits and . _ - / : @ + only)"
    )))
}

pub(super) fn emit_cluster_jobs(args: &SweepArgs, out: &Path, points: usize) -> Result<(), CliError> {
    check_image("--image", &args.image)?;
    let n = args.shards;
    let file = args.scenario.file_name().map_or("scenario.toml".into(), |f| f.to_string_lossy().into_owned());
    let name = dns_name(&args.scenario.file_stem().map_or("scenario".into(), |f| f.to_string_lossy().into_owned()));
    let shared = shared_arguments(args);

    let mut pod_args = vec!["sweep".to_string(), "/scenario/scenario.toml".to_string()];
    pod_args.extend(shared.iter().map(|w| literal_arg(w)));
    pod_args.extend([
        "--shard".to_string(),
        format!("$(JOB_COMPLETION_INDEX)/{n}"),
        "--out".to_string(),
        format!("/results/{name}/shard-$(JOB_COMPLETION_INDEX)"),
        "--quiet".to_string(),
    ]);
    let labels = map([("app.kubernetes.io/name", text("servesim")), ("app.kubernetes.io/component", text("sweep"))]);
    let container = map([
        ("name", text("servesim")),
        ("image", text(args.image.as_str())),
        ("command", list([text("servesim")])),
        ("args", list(pod_args.into_iter().map(text))),
        (
            "resources",
            map([
                ("requests", map([("cpu", text("2")), ("memory", text("1Gi"))])),
                ("limits", map([("memory", text("2Gi"))])),
            ]),
        ),
        (
            "volumeMounts",
            list([
                map([("name", text("scenario")), ("mountPath", text("/scenario")), ("readOnly", boolean(true))]),
                map([("name", text("results")), ("mountPath", text("/results"))]),
            ]),
        ),
    ]);
    let job = map([
        ("apiVersion", text("batch/v1")),
        ("kind", text("Job")),
        ("metadata", map([("name", text(format!("servesim-sweep-{name}"))), ("labels", labels.clone())])),
        (
            "spec",
            map([
                ("completionMode", text("Indexed")),
                ("completions", int(n)),
                ("parallelism", int(n)),
                ("backoffLimit", int(2 * n)),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", labels)])),
                        (
                            "spec",
                            map([
                                ("restartPolicy", text("Never")),
                                ("containers", list([container])),
                                (
                                    "volumes",
                                    list([
                                        map([
                                            ("name", text("scenario")),
                                            ("configMap", map([("name", text(format!("servesim-{name}-scenario")))])),
                                        ]),
                                        map([
                                            ("name", text("results")),
                                            ("persistentVolumeClaim", map([("claimName", text("servesim-results"))])),
                                        ]),
                                    ]),
                                ),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    let comments = format!(
        "servesim sweep of {file:?} ({points} points) as a Kubernetes Indexed Job of {n} shards.\n\
         Each pod runs one shard and journals finished points on the results volume, so a retried pod\n\
         resumes where it stopped. Before applying:\n  \
         kubectl create configmap servesim-{name}-scenario --from-file=scenario.toml=<path to the scenario>\n    \
         (add the files the scenario names, e.g. --from-file=<table>.csv, and refer to them flat)\n  \
         a ReadWriteMany PersistentVolumeClaim named servesim-results\n\
         After the Job completes, copy /results off the volume and join the shards:\n  \
         servesim merge --out merged results/{name}/shard-*"
    );
    let job = document(&comments, &job);

    let mut command = vec!["servesim".to_string(), "sweep".to_string(), quote(&file)?];
    for word in &shared {
        command.push(quote(word)?);
    }
    let slurm = format!(
        "#!/usr/bin/env bash\n\
         # servesim sweep of {points} points as a Slurm job array of {n} shards.\n\
         # Submit from the folder holding the scenario: sbatch slurm-sweep.sh\n\
         # Each task journals finished points, so a requeued task resumes. When all tasks are done:\n\
         #   servesim merge --out results/{name}/merged results/{name}/shard-*\n\
         #SBATCH --job-name=servesim-{name}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --cpus-per-task=2\n\
         #SBATCH --mem=2G\n\
         #SBATCH --output=results/{name}/slurm-%A_%a.out\n\
         set -euo pipefail\n\
         mkdir -p results/{name}\n\
         {command} --threads \"${{SLURM_CPUS_PER_TASK:-2}}\" \\\n  \
         --shard \"${{SLURM_ARRAY_TASK_ID}}/{n}\" --out \"results/{name}/shard-${{SLURM_ARRAY_TASK_ID}}\" --quiet\n",
        last = n - 1,
        command = command.join(" "),
    );
    write_atomic(out, "k8s-sweep-job.yaml", job.as_bytes())?;
    write_atomic(out, "slurm-sweep.sh", slurm.as_bytes())?;
    if !args.quiet {
        println!("wrote {0}/k8s-sweep-job.yaml and {0}/slurm-sweep.sh ({points} points in {n} shards)", out.display());
    }
    Ok(())
}
