//! The manual (`docs/reference/`) against the format itself: every key of the scenario format's
//! JSON Schema (`servesim schema`) is documented, and every key the manual writes in a TOML
//! example or an inline code span exists in the schema. A key added without a word in the manual,
//! or a documented key that was renamed or removed, fails here.

mod common;

use std::collections::BTreeSet;

/// Every property name of every object in the schema, `$defs` included.
fn schema_keys(value: &serde_json::Value, keys: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(object) => {
            if let Some(serde_json::Value::Object(properties)) = object.get("properties") {
                keys.extend(properties.keys().cloned());
            }
            object.values().for_each(|v| schema_keys(v, keys));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| schema_keys(v, keys)),
        _ => {}
    }
}

/// The segments of a dotted key, dots inside quotes kept.
fn dotted(path: &str) -> Vec<String> {
    let mut segments = vec![String::new()];
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                segments.last_mut().unwrap().push(c);
            }
            '.' if !quoted => segments.push(String::new()),
            _ => segments.last_mut().unwrap().push(c),
        }
    }
    segments.into_iter().map(|s| s.trim().to_string()).collect()
}

/// An inline code span written as TOML (`truncate = true`, `[compare.edge]`), not a formula
/// (`time = fixed + work / rate`).
fn looks_like_toml(span: &str) -> bool {
    let value_start = |value: &str| {
        let value = value.trim_start();
        value.starts_with(['"', '[', '{', '-', '.'])
            || value.starts_with(|c: char| c.is_ascii_digit())
            || ["true", "false", "inf", "nan"].iter().any(|w| value.starts_with(w))
    };
    span.starts_with('[') || span.split_once('=').is_some_and(|(_, value)| value_start(value))
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// What a piece of TOML (a fenced block, or an inline code span) writes: `key =` names (in tables,
/// inline tables and commented-out alternatives alike) and the segments of `[table]` headers.
/// Segments after `regions`, `instance_types`, `endpoints`, `gpu_sharing` and `weights` are the user's names, not keys.
fn written_keys(toml: &str, keys: &mut BTreeSet<String>, names: &mut BTreeSet<String>) {
    for line in toml.lines() {
        let line = line.trim_start().trim_start_matches('#').trim_start();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_start_matches('[');
            // A header is dotted keys; `[size, batches]` or `[time, rate]` in prose is a list.
            if let Some(end) = header.find(']').filter(|&end| !header[..end].contains([',', ' '])) {
                let mut after_names = false;
                for segment in dotted(&header[..end]) {
                    // A quoted segment is a name the user chose ("g5.xlarge"); the format's keys are bare.
                    if after_names || segment.starts_with('"') {
                        names.insert(segment.trim_matches('"').to_string());
                        after_names = false;
                    } else if !segment.is_empty() {
                        after_names =
                            matches!(segment.as_str(), "regions" | "instance_types" | "endpoints" | "gpu_sharing");
                        keys.insert(segment);
                    }
                }
            }
        }
        // `weights = { us-east = 2 }`: the inner keys are region names.
        let mut line = line.to_string();
        if let Some(at) = line.find("weights = {") {
            let open = at + "weights = {".len();
            let close = line[open..].find('}').map_or(line.len(), |k| open + k);
            for pair in line[open..close].split(',') {
                if let Some((name, _)) = pair.split_once('=') {
                    names.insert(name.trim().to_string());
                }
            }
            line.replace_range(open..close, "");
        }
        // `key =` anywhere else on the line, outside strings.
        let mut in_string = false;
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == '"' {
                in_string = !in_string;
            }
            if in_string || c != '=' || chars.get(i + 1) == Some(&'=') || (i > 0 && "<>!=".contains(chars[i - 1])) {
                continue;
            }
            let before: String = chars[..i].iter().collect();
            let before = before.trim_end();
            let start = before.rfind(|c: char| !is_key_char(c)).map_or(0, |k| k + 1);
            let key = &before[start..];
            if !key.is_empty() && !key.starts_with(|c: char| c.is_ascii_digit()) {
                keys.insert(key.to_string());
            }
        }
    }
}

#[test]
fn the_reference_documents_exactly_the_keys_the_scenario_format_has() {
    let schema: serde_json::Value = serde_json::from_str(&common::ok(common::servesim(&["schema"]))).unwrap();
    let mut format = BTreeSet::new();
    schema_keys(&schema, &mut format);
    assert!(format.len() > 150, "the schema lists {} keys", format.len());

    let mut written = BTreeSet::new();
    let mut names = BTreeSet::new();
    let mut spans = BTreeSet::new();
    let folder = common::repo("docs/reference");
    let mut pages: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    pages.sort();
    assert!(pages.len() >= 4, "docs/reference/ has {} pages", pages.len());
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        // Fenced TOML blocks.
        for block in text.split("```toml").skip(1) {
            written_keys(block.split("```").next().unwrap_or(""), &mut written, &mut names);
        }
        // Inline code spans outside fences: a bare key (`truncate`) or a piece of TOML.
        for (k, outside) in text.split("```").enumerate() {
            if k % 2 == 1 {
                continue;
            }
            for span in outside.split('`').skip(1).step_by(2) {
                if span.chars().all(is_key_char) {
                    spans.insert(span.to_string());
                } else if looks_like_toml(span) {
                    written_keys(span, &mut written, &mut names);
                }
            }
        }
    }

    let documented: BTreeSet<String> = written.union(&spans).cloned().collect();
    let undocumented: Vec<&String> = format.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(undocumented.is_empty(), "scenario keys the reference never mentions: {undocumented:?}");
    let unknown: Vec<&String> = written.iter().filter(|k| !format.contains(*k) && !names.contains(*k)).collect();
    assert!(unknown.is_empty(), "keys the reference writes that the format does not have: {unknown:?}");
}

#[test]
fn the_key_reader_finds_keys_and_leaves_names_alone() {
    let (mut keys, mut names) = (BTreeSet::new(), BTreeSet::new());
    written_keys(
        "[regions.us-east.autoscaling]\n# weights = { us-east = 2, eu-west = 1 }\nx = { kind = \"a=b\", cv = 0.1 }\n\
         [instance_types.\"g5.xlarge\"]\n[size, batches]\n",
        &mut keys,
        &mut names,
    );
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    assert_eq!(keys, ["autoscaling", "cv", "instance_types", "kind", "regions", "weights", "x"]);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["eu-west", "g5.xlarge", "us-east"]);
}
