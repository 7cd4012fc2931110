//! Kubernetes objects as YAML, through one emitter: every manifest servesim writes (the plan's
//! Deployment, Service, HPA, KEDA ScaledObject and KServe InferenceService, the sweep's Indexed
//! Job) is built as a tree of values here and serialised by `yaml-rust2`, which quotes whatever
//! needs quoting. No scenario string can add a key or break the document; names that become
//! Kubernetes names go through [`dns_name`].

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

/// A YAML mapping with its keys in the order given (as Kubernetes documentation writes them).
pub fn map<const N: usize>(entries: [(&str, Yaml); N]) -> Yaml {
    let mut hash = Hash::new();
    for (key, value) in entries {
        hash.insert(Yaml::String(key.to_string()), value);
    }
    Yaml::Hash(hash)
}

/// A mapping from owned keys (labels whose keys are data).
pub fn map_of(entries: impl IntoIterator<Item = (String, Yaml)>) -> Yaml {
    Yaml::Hash(entries.into_iter().map(|(k, v)| (Yaml::String(k), v)).collect())
}

pub fn text(value: impl Into<String>) -> Yaml {
    Yaml::String(value.into())
}

pub fn int(value: impl Into<i64>) -> Yaml {
    Yaml::Integer(value.into())
}

pub fn boolean(value: bool) -> Yaml {
    Yaml::Boolean(value)
}

pub fn list(items: impl IntoIterator<Item = Yaml>) -> Yaml {
    Yaml::Array(items.into_iter().collect())
}

/// One YAML document: `comments` as `#` lines (each line of it, so a newline in a scenario string
/// stays inside a comment), then the object.
pub fn document(comments: &str, object: &Yaml) -> String {
    let mut out = String::new();
    for line in comments.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    let mut body = String::new();
    YamlEmitter::new(&mut body).dump(object).expect("writing YAML to a string cannot fail");
    out.push_str(&body);
    out.push('\n');
    out
}

/// A DNS-1123 label from a scenario string: lowercase alphanumerics and single dashes, at most
/// 50 characters (room for suffixes under Kubernetes' 63), never empty.
pub fn dns_name(text: &str) -> String {
    let mut name: String =
        text.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-');
    let name: String = name.chars().take(50).collect();
    if name.is_empty() {
        "servesim".into()
    } else {
        name.trim_end_matches('-').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    #[test]
    fn hostile_strings_stay_values() {
        let object = map([
            ("name", text("demo\ninjected_key: pwned\n#")),
            ("image", text("busybox\n   securityContext: {privileged: true}\n#")),
            ("count", text("60")),
            ("flag", text("yes")),
        ]);
        let yaml = document("plan for \"x\"\ninjected: 1", &object);
        let parsed = &YamlLoader::load_from_str(&yaml).unwrap()[0];
        assert_eq!(parsed, &object, "{yaml}");
        assert_eq!(parsed.as_hash().unwrap().len(), 4);
        assert_eq!(parsed["count"].as_str(), Some("60"));
    }

    #[test]
    fn dns_names_are_labels() {
        assert_eq!(dns_name("Quick Start_US-East"), "quick-start-us-east");
        assert_eq!(dns_name("東京"), "servesim");
        assert_eq!(dns_name(&"a".repeat(80)).len(), 50);
    }
}

/// Whether `image` can be a container image reference (`[registry[:port]/]path[:tag][@digest]`):
/// its characters and length only, so that a newline or a quote never reaches a manifest.
pub fn is_image_reference(image: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-/:@+".contains(c);
    (1..=512).contains(&image.len())
        && image.chars().all(allowed)
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod image_tests {
    use super::is_image_reference;

    #[test]
    fn image_references_are_plain_text() {
        for good in ["servesim:latest", "nvcr.io/nvidia/tritonserver:24.08-py3", "localhost:5000/a/b@sha256:0123abcd"] {
            assert!(is_image_reference(good), "{good}");
        }
        for bad in ["", "busybox\n  securityContext: {privileged: true}", "a b", "-rm", "x\"y", "$(touch X)"] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }
}
