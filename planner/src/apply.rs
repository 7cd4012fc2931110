//! Setting a scenario parameter by its path in the scenario document.
//!
//! Paths are the TOML keys joined by dots: `serving.batching.max_batch`, `regions.us-east.replicas`,
//! `traffic[0].arrivals.rate`, `instance_types."g5.xlarge".usd_per_hour`. Two shorthands:
//! `region.NAME...` for `regions.NAME...`, and `slo.latency_pNN` for the `max` of the latency
//! target at percentile NN (created if the SLO has none).

use crate::error::PlanError;
use sim::scenario::{KeyPath, ParamValue, PathSegment};
use toml::{Table, Value};

/// The path's segments, with the `region.` shorthand resolved.
fn segments(path: &str) -> Result<Vec<PathSegment>, PlanError> {
    let mut segments = KeyPath::parse(path)?.0;
    if segments.first() == Some(&PathSegment::Key("region".into())) {
        segments[0] = PathSegment::Key("regions".into());
    }
    Ok(segments)
}

/// The key a parameter path sets, with shorthands resolved: two parameters with the same key would
/// sweep one value twice.
pub fn canonical(path: &str) -> Result<String, PlanError> {
    if let Some(percentile) = path.strip_prefix("slo.latency_p") {
        return Ok(match percentile.parse::<f64>() {
            Ok(p) => format!("slo.latency_p{p}"),
            Err(_) => path.to_string(),
        });
    }
    Ok(KeyPath(segments(path)?).to_string())
}

pub fn to_toml(value: &ParamValue) -> Value {
    match value {
        ParamValue::Integer(v) => Value::Integer(*v),
        ParamValue::Float(v) => Value::Float(*v),
        ParamValue::Bool(v) => Value::Boolean(*v),
        ParamValue::Text(v) => Value::String(v.clone()),
    }
}

/// Sets `path` to `value` in `document`, creating missing tables on the way.
pub fn set(document: &mut Table, path: &str, value: &ParamValue) -> Result<(), PlanError> {
    let apply = |message: String| PlanError::Apply { parameter: path.to_string(), message };
    if let Some(percentile) = path.strip_prefix("slo.latency_p") {
        return set_latency_target(document, percentile, value).map_err(apply);
    }
    let segments = segments(path)?;
    // A sweep varies the regions the scenario has: a path naming another would silently add an
    // empty region (and judge every point on it), so it is refused.
    if let [PathSegment::Key(regions), PathSegment::Key(name), ..] = &segments[..] {
        let known = document.get("regions").and_then(Value::as_table);
        if regions == "regions" && !known.is_some_and(|t| t.contains_key(name)) {
            let names: Vec<&str> = known.map_or(Vec::new(), |t| t.keys().map(String::as_str).collect());
            return Err(apply(format!(
                "the scenario has no region {name:?} (its regions: {}); a sweep cannot add one",
                if names.is_empty() { "none".to_string() } else { names.join(", ") }
            )));
        }
    }
    let mut root = Value::Table(std::mem::take(document));
    let result = set_in(&mut root, &segments, to_toml(value));
    if let Value::Table(table) = root {
        *document = table;
    }
    result.map_err(apply)
}

/// The value at `path` in `document`, if it is set (shorthands as for [`set`]).
pub fn get(document: &Table, path: &str) -> Option<Value> {
    if let Some(percentile) = path.strip_prefix("slo.latency_p") {
        let percentile: f64 = percentile.parse().ok()?;
        let targets = document.get("slo")?.get("latency")?.as_array()?;
        return targets
            .iter()
            .find(|t| {
                let p = t.get("percentile");
                p.and_then(Value::as_float).or_else(|| p.and_then(Value::as_integer).map(|i| i as f64))
                    == Some(percentile)
            })
            .and_then(|t| t.get("max").cloned());
    }
    let segments = segments(path).ok()?;
    let mut node = document.get(match &segments[0] {
        PathSegment::Key(key) => key.as_str(),
        PathSegment::Index(_) => return None,
    })?;
    for segment in &segments[1..] {
        node = match segment {
            PathSegment::Key(key) => node.get(key.as_str())?,
            PathSegment::Index(i) => node.get(*i)?,
        };
    }
    Some(node.clone())
}

fn set_in(node: &mut Value, segments: &[PathSegment], value: Value) -> Result<(), String> {
    let (first, rest) = segments.split_first().expect("a path has at least one segment");
    let child = match (first, node) {
        (PathSegment::Key(key), Value::Table(table)) => {
            if rest.is_empty() {
                table.insert(key.clone(), value);
                return Ok(());
            }
            table.entry(key.clone()).or_insert_with(|| Value::Table(Table::new()))
        }
        (PathSegment::Index(i), Value::Array(items)) => {
            let length = items.len();
            let item = items.get_mut(*i).ok_or_else(|| format!("index {i} is past the end ({length} items)"))?;
            if rest.is_empty() {
                *item = value;
                return Ok(());
            }
            item
        }
        (PathSegment::Key(key), _) => return Err(format!("{key:?} is under something that is not a table")),
        (PathSegment::Index(i), _) => return Err(format!("[{i}] indexes something that is not a list")),
    };
    set_in(child, rest, value)
}

fn set_latency_target(document: &mut Table, percentile: &str, value: &ParamValue) -> Result<(), String> {
    let percentile: f64 = percentile
        .parse()
        .ok()
        .filter(|p: &f64| *p > 0.0 && *p < 100.0)
        .ok_or("expected slo.latency_pNN with 0 < NN < 100, e.g. slo.latency_p99")?;
    let slo = document.entry("slo").or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(slo) = slo else { return Err("slo is not a table".into()) };
    let targets = slo.entry("latency").or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(targets) = targets else { return Err("slo.latency is not a list".into()) };
    let matching = targets.iter_mut().find(|t| {
        t.get("percentile")
            .and_then(Value::as_float)
            .or_else(|| t.get("percentile").and_then(Value::as_integer).map(|i| i as f64))
            == Some(percentile)
    });
    match matching {
        Some(Value::Table(target)) => {
            target.insert("max".into(), to_toml(value));
        }
        _ => {
            let mut target = Table::new();
            target.insert("percentile".into(), Value::Float(percentile));
            target.insert("max".into(), to_toml(value));
            targets.push(Value::Table(target));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn sets_nested_quoted_indexed_and_aliased_paths() {
        let mut d = doc(
            "[regions.a]\nreplicas = 1\n[[traffic]]\norigin = \"a\"\narrivals = { process = \"poisson\", rate = 5 }\n",
        );
        set(&mut d, "region.a.replicas", &ParamValue::Integer(4)).unwrap();
        set(&mut d, "traffic[0].arrivals.rate", &ParamValue::Text("9/s".into())).unwrap();
        set(&mut d, "traffic.0.origin", &ParamValue::Text("b".into())).unwrap();
        set(&mut d, "serving.batching.max_batch", &ParamValue::Integer(8)).unwrap();
        set(&mut d, "instance_types.\"g5.xlarge\".usd_per_hour", &ParamValue::Float(1.5)).unwrap();
        set(&mut d, "slo.latency_p99", &ParamValue::Text("80ms".into())).unwrap();
        set(&mut d, "slo.latency_p99", &ParamValue::Text("90ms".into())).unwrap();
        let expected = doc(r#"
[regions.a]
replicas = 4
[[traffic]]
origin = "b"
arrivals = { process = "poisson", rate = "9/s" }
[serving.batching]
max_batch = 8
[instance_types."g5.xlarge"]
usd_per_hour = 1.5
[slo]
latency = [{ percentile = 99.0, max = "90ms" }]
"#);
        assert_eq!(d, expected);
    }

    #[test]
    fn gets_what_set_wrote() {
        let mut d = doc("[[traffic]]\norigin = \"a\"\n");
        set(&mut d, "serving.batching.max_batch", &ParamValue::Integer(8)).unwrap();
        set(&mut d, "slo.latency_p99", &ParamValue::Text("90ms".into())).unwrap();
        assert_eq!(get(&d, "serving.batching.max_batch"), Some(Value::Integer(8)));
        assert_eq!(get(&d, "traffic[0].origin"), Some(Value::String("a".into())));
        assert_eq!(get(&d, "slo.latency_p99"), Some(Value::String("90ms".into())));
        assert_eq!(get(&d, "serving.queue_capacity"), None);
    }

    #[test]
    fn rejects_paths_that_cannot_be_set() {
        let mut d = doc("name = \"x\"\n[[traffic]]\norigin = \"a\"\n");
        let message = |path: &str| set(&mut d.clone(), path, &ParamValue::Integer(1)).unwrap_err().to_string();
        assert_eq!(message("traffic[3].origin"), "traffic[3].origin: index 3 is past the end (1 items)");
        assert_eq!(message("name.first"), "name.first: \"first\" is under something that is not a table");
        assert!(message("slo.latency_pxyz").starts_with("slo.latency_pxyz: expected slo.latency_pNN"));
        let bad = set(&mut d, "a..b", &ParamValue::Integer(1)).unwrap_err();
        assert_eq!(bad.parameter(), Some("a..b"));
        assert!(set(&mut d, "", &ParamValue::Integer(1)).is_err());
    }
}
