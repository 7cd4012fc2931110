//! Output digests: every bundled scenario's `summary.json`, `timeseries.csv` and
//! `latency_cdf.csv` (and `jobs_timeseries.csv`, `token_cdf.csv` where written), and the quickstart sweep's `sweep.csv`, `pareto.csv` and `best.toml`, hashed
//! and compared with `tests/digests.txt`.
//!
//! A change meant to keep behaviour (a refactor, a speed-up) must keep these bytes. A change meant
//! to alter results regenerates the file with `SERVESIM_UPDATE_DIGESTS=1 cargo test --test digests`
//! and says why in its commit.

mod common;

use common::*;
use std::fmt::Write as _;
use std::path::Path;

/// FNV-1a, 64 bits: independent of the code under test and stable across platforms and Rust
/// versions (std's hashers promise neither).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn digest(lines: &mut String, label: &str, file: &Path) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    writeln!(lines, "{label} {:016x} {}", fnv1a(&bytes), bytes.len()).unwrap();
}

#[test]
fn bundled_outputs_are_byte_identical_to_the_committed_digests() {
    let dir = scratch("digests");
    let mut lines = String::new();
    let scenarios = bundled_scenarios(&dir);
    for (name, path) in scenarios {
        let out = dir.join(&name);
        ok(servesim(&["run", &path, "--out", out.to_str().unwrap(), "--quiet", "--seed", "7"]));
        for file in ["summary.json", "timeseries.csv", "latency_cdf.csv"] {
            digest(&mut lines, &format!("{name}/{file}"), &out.join(file));
        }
        for optional in ["jobs_timeseries.csv", "token_cdf.csv"] {
            if out.join(optional).is_file() {
                digest(&mut lines, &format!("{name}/{optional}"), &out.join(optional));
            }
        }
    }
    let out = dir.join("quickstart-sweep");
    ok(servesim(&["sweep", &repo("scenarios/quickstart.toml"), "--out", out.to_str().unwrap(), "--quiet"]));
    for file in ["sweep.csv", "pareto.csv", "best.toml"] {
        digest(&mut lines, &format!("quickstart-sweep/{file}"), &out.join(file));
    }

    let committed_path = repo("tests/digests.txt");
    if std::env::var_os("SERVESIM_UPDATE_DIGESTS").is_some() {
        std::fs::write(&committed_path, &lines).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap();
    let changed: Vec<String> = lines
        .lines()
        .zip(committed.lines())
        .filter(|(now, then)| now != then)
        .map(|(now, then)| format!("  now  {now}\n  was  {then}"))
        .collect();
    assert!(
        changed.is_empty() && lines.lines().count() == committed.lines().count(),
        "outputs differ from tests/digests.txt (an intended change updates it with \
         SERVESIM_UPDATE_DIGESTS=1 and says why in its commit):\n{}",
        changed.join("\n")
    );
}
