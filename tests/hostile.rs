//! The hostile-input corpus (`tests/hostile/cases.toml`, from `make_cases.py`): every case runs
//! the real binary in its own scratch folder and must get exactly the outcome written for it —
//! the exit code, a one-line message with the fragments (file:line: included) and without the
//! forbidden ones, the files and values it must or must not produce — and never a panic, an abort
//! or a hang (each case is killed after 120 s).

mod common;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Corpus {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The hardening issue's item the case comes from (1–13), or the class of bad input.
    #[allow(dead_code)]
    item: toml::Value,
    command: Vec<String>,
    exit: i32,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    stderr_lacks: Vec<String>,
    /// Where the command's standard output goes (`/dev/full`, say); by default a file in the
    /// case's folder, read for `stdout_has`.
    stdout: Option<String>,
    /// Fragments the standard output must hold.
    #[serde(default)]
    stdout_has: Vec<String>,
    /// Whether stderr must be one line (default: for exit 2).
    one_line: Option<bool>,
    /// Paths (relative to the scratch folder) that must not exist afterwards.
    #[serde(default)]
    absent: Vec<String>,
    #[serde(default)]
    json: Vec<JsonCheck>,
    #[serde(default)]
    lines_absent: Vec<LineCheck>,
    #[serde(default)]
    file_texts: Vec<TextCheck>,
    /// TOML files that must parse and lack a top-level key (text injected as settings).
    #[serde(default)]
    toml_absent: Vec<KeyCheck>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    #[serde(default)]
    files_hex: BTreeMap<String, String>,
    #[serde(default)]
    links: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct JsonCheck {
    file: String,
    pointer: Option<String>,
    equals: Option<toml::Value>,
    between: Option<(f64, f64)>,
}

#[derive(Deserialize)]
struct LineCheck {
    file: String,
    line: String,
}

#[derive(Deserialize)]
struct KeyCheck {
    file: String,
    key: String,
}

#[derive(Deserialize)]
struct TextCheck {
    file: String,
    text: String,
}

const TIME_LIMIT: Duration = Duration::from_secs(120);

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Runs one case; returns what is wrong with its outcome, if anything.
fn run_case(case: &Case, root: &Path) -> Result<(), String> {
    let dir = root.join(&case.name);
    std::fs::create_dir_all(&dir).unwrap();
    let place = |relative: &str| -> PathBuf {
        let path = dir.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        path
    };
    let expand = |text: &str| text.replace("{dir}", dir.to_str().unwrap());
    for (name, text) in &case.files {
        std::fs::write(place(name), text).unwrap();
    }
    for (name, bytes) in &case.files_hex {
        std::fs::write(place(name), hex(bytes)).unwrap();
    }
    for (name, target) in &case.links {
        #[cfg(unix)]
        std::os::unix::fs::symlink(expand(target), place(name)).unwrap();
        #[cfg(not(unix))]
        let _ = (name, target);
    }
    let args: Vec<String> = case.command.iter().map(|a| expand(a)).collect();
    let stdout_path = case.stdout.as_deref().map_or_else(|| dir.join(".stdout"), PathBuf::from);
    let stdout =
        std::fs::OpenOptions::new().write(true).create(case.stdout.is_none()).truncate(true).open(&stdout_path);
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(&args)
        .current_dir(&dir)
        .stdout(Stdio::from(stdout.unwrap()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            child.kill().unwrap();
            return Err(format!("hung: killed after {} s", TIME_LIMIT.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut message = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut message).unwrap();
    if std::env::var_os("SERVESIM_SHOW").is_some() {
        eprintln!("{}: exit {:?}: {}", case.name, status.code(), message.trim_end().replace('\n', " | "));
    }
    let mut wrong = Vec::new();
    if message.contains("panicked") || message.contains("RUST_BACKTRACE") {
        wrong.push("panicked".to_string());
    }
    if status.code() != Some(case.exit) {
        wrong.push(format!("exit {:?}, expected {}", status.code(), case.exit));
    }
    let one_line = case.one_line.unwrap_or(case.exit == 2);
    if one_line && message.trim_end().lines().count() != 1 {
        wrong.push("the message is not one line".to_string());
    }
    for fragment in &case.stderr {
        if !message.contains(fragment.as_str()) {
            wrong.push(format!("lacks {fragment:?}"));
        }
    }
    for fragment in &case.stderr_lacks {
        if message.contains(fragment.as_str()) {
            wrong.push(format!("holds {fragment:?}"));
        }
    }
    if !case.stdout_has.is_empty() {
        let printed = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        for fragment in case.stdout_has.iter().filter(|f| !printed.contains(f.as_str())) {
            wrong.push(format!("stdout lacks {fragment:?}"));
        }
    }
    for path in &case.absent {
        if std::fs::symlink_metadata(dir.join(path)).is_ok() {
            wrong.push(format!("{path} exists"));
        }
    }
    for check in &case.json {
        let path = dir.join(&check.file);
        let Ok(bytes) = std::fs::read(&path) else {
            wrong.push(format!("{} is missing", check.file));
            continue;
        };
        let Some(pointer) = &check.pointer else { continue };
        let value: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(value) => value,
            Err(e) => {
                wrong.push(format!("{}: {e}", check.file));
                continue;
            }
        };
        let found = value.pointer(pointer).cloned().unwrap_or(serde_json::Value::Null);
        if let Some(want) = &check.equals {
            let want = serde_json::to_value(want).unwrap();
            let same = match (found.as_f64(), want.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => found == want,
            };
            if !same {
                wrong.push(format!("{}{pointer} is {found}, expected {want}", check.file));
            }
        }
        if let Some((low, high)) = check.between {
            if !found.as_f64().is_some_and(|v| (low..=high).contains(&v)) {
                wrong.push(format!("{}{pointer} is {found}, expected {low}..={high}", check.file));
            }
        }
    }
    for check in &case.lines_absent {
        match std::fs::read_to_string(dir.join(&check.file)) {
            Ok(text) if text.lines().any(|l| l.trim() == check.line.trim()) => {
                wrong.push(format!("{} has the line {:?}", check.file, check.line))
            }
            Ok(_) => {}
            Err(e) => wrong.push(format!("{}: {e}", check.file)),
        }
    }
    for check in &case.toml_absent {
        let text = std::fs::read_to_string(dir.join(&check.file)).unwrap_or_default();
        match toml::from_str::<toml::Table>(&text) {
            Ok(table) if table.contains_key(&check.key) => {
                wrong.push(format!("{} has the key {:?}", check.file, check.key))
            }
            Ok(_) => {}
            Err(e) => wrong.push(format!("{}: {e}", check.file)),
        }
    }
    for check in &case.file_texts {
        let text = std::fs::read_to_string(dir.join(&check.file)).unwrap_or_default();
        if text != check.text {
            wrong.push(format!("{} holds {text:?}, expected {:?}", check.file, check.text));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("{} — stderr: {}", wrong.join("; "), message.trim_end()))
    }
}

#[test]
fn every_hostile_input_gets_its_expected_outcome() {
    let text = std::fs::read_to_string(common::repo("tests/hostile/cases.toml")).unwrap();
    let corpus: Corpus = toml::from_str(&text).unwrap();
    assert!(corpus.case.len() >= 150, "the corpus holds {} cases", corpus.case.len());
    let root = common::scratch("hostile");
    let only = std::env::var("SERVESIM_CASE").ok();
    let cases: Vec<&Case> = corpus.case.iter().filter(|c| only.as_deref().is_none_or(|o| c.name == o)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(k) else { break };
                if let Err(wrong) = run_case(case, &root) {
                    failures.lock().unwrap().push(format!("{}: {wrong}", case.name));
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
