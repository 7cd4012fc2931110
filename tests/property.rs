//! Property: any scenario document — the bundled ones mutated at random (numbers swapped for
//! extremes, strings for hostile text, lines deleted, duplicated, swapped or cut) — is either
//! accepted and runs, or refused with an error of exit code 2; nothing panics. In process through
//! the CLI's library for speed, and a sample through the binary for the exit codes.

mod common;

use rand::{Rng, SeedableRng};
use std::path::Path;

const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "18446744073709551615",
    "1e-300",
    "65536",
    "0.5",
    "1024",
    "100000",
    "-0.0",
    "3.7",
];
const STRINGS: &[&str] = &[
    "\"\"",
    "\"1ns\"",
    "\"1e9h\"",
    "\"-5s\"",
    "\"x\\ny\"",
    "\"é\"",
    "\"0/s\"",
    "\"1e400/s\"",
    "\"a\"",
    "\"regions\"",
    "\"4e8/s\"",
    "\"1d\"",
    "\"first\"",
    "\"/dev/zero\"",
    "\"../../etc/passwd\"",
    "\"model\"",
    "\"table\"",
    "\"nearest\"",
    "\"5ms\"",
    "\"99999999h\"",
];
const LINES: &[&str] = &[
    "seed = 18446744073709551615",
    "warmup = \"1h\"",
    "interval = \"1ns\"",
    "[regions.zz]\nreplicas = 0",
    "[[faults]]\nkind = \"replica_crash\"\nregion = \"a\"\nmtbf = \"1ms\"\nmttr = \"1ms\"",
    "[serving.batching]\nmax_batch = 65536\ninstances = 1024",
    "[slo]\navailability = 0",
    "[[traffic]]\norigin = \"a\"\narrivals = { process = \"trace\", file = \"/dev/zero\" }",
    "[network]\nlinks = [{ from = \"a\", to = \"a\", rtt = \"1s\" }]",
    "[plan]\nsurvive = [\"region\"]",
    "x = [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
];

fn mutate(text: &str, rng: &mut rand_pcg::Pcg64Mcg) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for _ in 0..rng.random_range(1..4) {
        if lines.is_empty() {
            break;
        }
        let at = rng.random_range(0..lines.len());
        match rng.random_range(0..7) {
            0 => {
                // A number on the line becomes an extreme.
                let line = &lines[at];
                let digits: Vec<usize> =
                    line.char_indices().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
                if let Some(&start) = digits.get(rng.random_range(0..digits.len().max(1))) {
                    let end = line[start..]
                        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                        .map_or(line.len(), |e| start + e);
                    let pick = NUMBERS[rng.random_range(0..NUMBERS.len())];
                    lines[at] = format!("{}{pick}{}", &line[..start], &line[end..]);
                }
            }
            1 => {
                // A quoted string on the line becomes hostile text.
                let line = &lines[at];
                if let Some(start) = line.find('"') {
                    if let Some(length) = line[start + 1..].find('"') {
                        let pick = STRINGS[rng.random_range(0..STRINGS.len())];
                        lines[at] = format!("{}{pick}{}", &line[..start], &line[start + length + 2..]);
                    }
                }
            }
            2 => {
                lines.remove(at);
            }
            3 => {
                let copy = lines[at].clone();
                lines.insert(at, copy);
            }
            4 => {
                let other = rng.random_range(0..lines.len());
                lines.swap(at, other);
            }
            5 => lines.push(LINES[rng.random_range(0..LINES.len())].to_string()),
            _ => {
                let cut = rng.random_range(0..=lines[at].len());
                let cut = (0..=cut).rev().find(|&c| lines[at].is_char_boundary(c)).unwrap_or(0);
                lines[at].truncate(cut);
            }
        }
    }
    lines.join("\n") + "\n"
}

fn seeds() -> Vec<String> {
    let mut texts: Vec<String> = std::fs::read_dir(common::repo("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    texts.sort();
    texts
}

/// Loads and builds `text` as the CLI does; runs it briefly when it builds and is small.
/// Returns whether it was accepted; an error must carry exit code 2.
fn outcome(text: String, path: &Path) -> bool {
    let loaded = match servesim::load::load_text(path, text, None) {
        Ok(loaded) => loaded,
        Err(error) => {
            assert_eq!(error.code, 2, "{}", error.message);
            return false;
        }
    };
    let mut model = match loaded.build() {
        Ok(model) => model,
        Err(error) => {
            assert_eq!(error.code, 2, "{}", error.message);
            return false;
        }
    };
    // Run at most two simulated seconds of modest traffic: the property is about input, not time.
    let rate: f64 = model.sources.iter().map(|s| s.process.mean_rate_per_sec().unwrap_or(f64::INFINITY)).sum();
    if rate <= 20_000.0 && model.regions.iter().map(|r| r.primary.replicas as u64).sum::<u64>() <= 2_000 {
        model.duration = model.duration.min(2_000_000_000);
        model.warmup = model.warmup.min(model.duration / 2);
        let _ = sim::run(&model, &sim::RunOptions::seeded(1));
    }
    true
}

#[test]
fn random_scenario_documents_are_accepted_or_refused_never_a_panic() {
    let dir = common::scratch("property");
    // Relative files resolve into an empty folder: their errors are part of the property.
    let path = dir.join("mutated.toml");
    let seeds = seeds();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(20261201);
    let (mut accepted, mut refused) = (0, 0);
    let mut sample = Vec::new();
    for k in 0..800 {
        let text = mutate(&seeds[k % seeds.len()], &mut rng);
        if k % 20 == 0 {
            sample.push(text.clone());
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| outcome(text.clone(), &path)));
        match result {
            Ok(true) => accepted += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("document {k} panicked:\n{text}"),
        }
    }
    eprintln!("accepted {accepted}, refused {refused}");
    // Both outcomes occur, or the mutations tested nothing.
    assert!(accepted >= 40 && refused >= 200, "accepted {accepted}, refused {refused}");

    // The binary: exit 0 or 2, and a refusal is one line.
    for (k, text) in sample.iter().enumerate() {
        let scenario = common::write(&dir, &format!("sample-{k}.toml"), text);
        let output = common::servesim(&["validate", &scenario]);
        let message = common::stderr(&output);
        match output.status.code() {
            Some(0) => {}
            Some(2) => assert_eq!(message.trim_end().lines().count(), 1, "sample {k}: {message}\n{text}"),
            other => panic!("sample {k}: exit {other:?}: {message}\n{text}"),
        }
    }
}
