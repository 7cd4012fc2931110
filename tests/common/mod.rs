//! Helpers shared by the end-to-end tests: running the binary and scratch folders.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path inside the repository.
pub fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

pub fn servesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).output().expect("servesim runs")
}

/// A fresh folder under the system temp dir, unique to this process and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("servesim-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Asserts success and returns stdout.
pub fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `scenarios/realtime-personalization.toml` cut to two minutes with the outage inside, written
/// into `dir`: the full hour is a benchmark (docs/performance.md), not a test.
pub fn short_personalization(dir: &Path) -> String {
    let text = std::fs::read_to_string(repo("scenarios/realtime-personalization.toml"))
        .unwrap()
        .replace("duration = \"1h\"", "duration = \"2min\"")
        .replace("warmup = \"2min\"", "warmup = \"20s\"")
        .replace("interval = \"1min\"", "interval = \"10s\"")
        .replace("at = \"25min\"", "at = \"50s\"")
        .replace("duration = \"10min\"", "duration = \"30s\"");
    assert!(text.contains("duration = \"2min\"") && text.contains("at = \"50s\""));
    write(dir, "realtime-personalization.toml", &text)
}

/// Every bundled scenario as (name, path), sorted by name, with the personalization scenario
/// replaced by its two-minute copy in `dir`.
pub fn bundled_scenarios(dir: &Path) -> Vec<(String, String)> {
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(repo("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    scenarios.sort();
    scenarios
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            let path = if name == "realtime-personalization" {
                short_personalization(dir)
            } else {
                path.to_str().unwrap().to_string()
            };
            (name, path)
        })
        .collect()
}

/// The pinned venv's Python (`.ci/run` makes it; `SERVESIM_PYTHON` overrides), or None — which CI
/// must never see — after saying the test is skipped.
pub fn venv_python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python");
    let python = std::env::var_os("SERVESIM_PYTHON").map(PathBuf::from).or_else(|| venv.is_file().then_some(venv));
    if python.is_none() {
        assert!(std::env::var("CI").is_err(), "CI must create .ci/venv with the pinned tools (see .ci/run)");
        eprintln!("skipped: no validator venv (run .ci/run once, or set SERVESIM_PYTHON)");
    }
    python
}

/// Every record of a CSV file.
pub fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path).unwrap().records().map(|r| r.unwrap()).collect()
}

/// The position of column `name` in a CSV file's header.
pub fn csv_column(path: &Path, name: &str) -> usize {
    csv::Reader::from_path(path).unwrap().headers().unwrap().iter().position(|h| h == name).unwrap()
}

/// A JSON file, parsed.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Prometheus' `promtool`, which CI installs (Debian's prometheus package); None elsewhere when
/// it is missing.
pub fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var("CI").is_err(), "CI installs promtool (Debian's prometheus package, see .ci/run)");
        eprintln!("skipped: no promtool (apt-get install prometheus)");
    }
    found.then_some("promtool")
}
