//! The configs `servesim plan` writes, validated against real schemas by tests/validate_deploy.py
//! (kubernetes-validate for the core kinds, Triton's ModelConfig protobuf), in the venv that
//! .ci/run installs; and a broken config must be caught.

mod common;

use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python");
    std::env::var_os("SERVESIM_PYTHON").map(PathBuf::from).or_else(|| venv.is_file().then_some(venv))
}

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
    let Some(python) = python() else {
        assert!(std::env::var("CI").is_err(), "CI must create .ci/venv with the pinned validators (see .ci/run)");
        eprintln!("skipped: no validator venv (run .ci/run once, or set SERVESIM_PYTHON)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("servesim-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("plan");
    let scenario = format!("{}/scenarios/three-region.toml", env!("CARGO_MANIFEST_DIR"));
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
}
