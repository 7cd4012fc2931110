//! `servesim schema` against a real validator: Python's jsonschema (the pinned venv `.ci/run`
//! makes) accepts every bundled scenario and refuses what `servesim validate` refuses for its
//! shape (an unknown key, a wrong type, a duration without a unit).

mod common;

use common::{ok, repo, scratch, servesim};
use std::path::Path;
use std::process::Command;

/// The scenario as the JSON document an editor's TOML checker hands the schema.
fn as_json(dir: &Path, name: &str, toml_text: &str) -> String {
    let value: toml::Value = toml::from_str(toml_text).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn the_schema_accepts_every_bundled_scenario_and_refuses_bad_shapes() {
    let dir = scratch("schema");
    let schema_text = ok(servesim(&["schema"]));
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    assert_eq!(schema["title"], "servesim scenario");
    assert_eq!(schema["additionalProperties"], false, "unknown top-level keys must be refused");
    let schema_path = dir.join("schema.json");
    std::fs::write(&schema_path, &schema_text).unwrap();

    let Some(python) = common::venv_python() else { return };
    let mut documents = Vec::new();
    let mut expected = Vec::new();
    for entry in std::fs::read_dir(repo("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            documents.push(as_json(&dir, &name, &std::fs::read_to_string(&path).unwrap()));
            expected.push("ok");
        }
    }
    let quickstart = std::fs::read_to_string(repo("scenarios/quickstart.toml")).unwrap();
    for (name, from, to) in [
        ("typo", "[regions.", "[regoins."),
        ("type", "duration = \"", "duration = 5\nx_duration = \""),
        ("unit", "duration = \"", "duration = \"5\"\nx = \""),
    ] {
        let text = quickstart.replacen(from, to, 1);
        assert_ne!(text, quickstart, "{name}: the edit must apply");
        // servesim refuses it too: the schema and the loader agree.
        let scenario = common::write(&dir, &format!("{name}.toml"), &text);
        assert_eq!(servesim(&["validate", &scenario]).status.code(), Some(2), "{name}");
        documents.push(as_json(&dir, name, &text));
        expected.push("invalid");
    }
    let output = Command::new(python)
        .arg(repo("tests/validate_schema.py"))
        .arg(&schema_path)
        .args(&documents)
        .output()
        .expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(String::from).collect();
    assert_eq!(lines.len(), documents.len());
    for ((line, want), document) in lines.iter().zip(&expected).zip(&documents) {
        assert!(line.starts_with(want), "{document}: {line}");
    }
}
