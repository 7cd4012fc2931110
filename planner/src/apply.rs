//! Setting a scenario parameter by its path in the scenario document.
//!
//! Paths are the TOML keys joined by dots: `serving.batching.max_batch`, `regions.us-east.replicas`,
//! `traffic[0].arrivals.rate`, `instance_types."g5.xlarge".usd_per_hour`. Two shorthands:
//! `region.NAME...` for `regions.NAME...`, and `slo.latency_pNN` for the `max` of the latency
//! target at percentile NN (created if the SLO has none).

use sim::scenario::ParamValue;
use toml::{Table, Value};

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let bad = || format!("bad parameter path {path:?}: write keys joined by dots, e.g. serving.batching.max_batch");
    let mut segments = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(bad)?;
            segments.push(Segment::Key(quoted[..end].to_string()));
            rest = &quoted[end + 1..];
        } else if let Some(indexed) = rest.strip_prefix('[') {
            let end = indexed.find(']').ok_or_else(bad)?;
            segments.push(Segment::Index(indexed[..end].parse().map_err(|_| bad())?));
            rest = &indexed[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let key = &rest[..end];
            if key.is_empty() {
                return Err(bad());
            }
            // `traffic.0.arrivals` means the same as `traffic[0].arrivals`.
            segments.push(match key.parse::<usize>() {
                Ok(i) if !segments.is_empty() => Segment::Index(i),
                _ => Segment::Key(key.to_string()),
            });
            rest = &rest[end..];
        }
        if let Some(after) = rest.strip_prefix('.') {
            if after.is_empty() {
                return Err(bad());
            }
            rest = after;
        }
    }
    if segments.is_empty() {
        return Err(bad());
    }
    Ok(segments)
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
pub fn set(document: &mut Table, path: &str, value: &ParamValue) -> Result<(), String> {
    if let Some(percentile) = path.strip_prefix("slo.latency_p") {
        return set_latency_target(document, path, percentile, value);
    }
    let mut segments = parse(path)?;
    if segments.first() == Some(&Segment::Key("region".into())) {
        segments[0] = Segment::Key("regions".into());
    }
    let mut root = Value::Table(std::mem::take(document));
    let result = set_in(&mut root, &segments, to_toml(value), path);
    if let Value::Table(table) = root {
        *document = table;
    }
    result
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
    let mut segments = parse(path).ok()?;
    if segments.first() == Some(&Segment::Key("region".into())) {
        segments[0] = Segment::Key("regions".into());
    }
    let mut node = document.get(match &segments[0] {
        Segment::Key(key) => key.as_str(),
        Segment::Index(_) => return None,
    })?;
    for segment in &segments[1..] {
        node = match segment {
            Segment::Key(key) => node.get(key.as_str())?,
            Segment::Index(i) => node.get(*i)?,
        };
    }
    Some(node.clone())
}

fn set_in(node: &mut Value, segments: &[Segment], value: Value, path: &str) -> Result<(), String> {
    let (first, rest) = segments.split_first().expect("a path has at least one segment");
    let child = match (first, node) {
        (Segment::Key(key), Value::Table(table)) => {
            if rest.is_empty() {
                table.insert(key.clone(), value);
                return Ok(());
            }
            table.entry(key.clone()).or_insert_with(|| Value::Table(Table::new()))
        }
        (Segment::Index(i), Value::Array(items)) => {
            let length = items.len();
            let item =
                items.get_mut(*i).ok_or_else(|| format!("{path}: index {i} is past the end ({length} items)"))?;
            if rest.is_empty() {
                *item = value;
                return Ok(());
            }
            item
        }
        (Segment::Key(key), _) => return Err(format!("{path}: {key:?} is under something that is not a table")),
        (Segment::Index(i), _) => return Err(format!("{path}: [{i}] indexes something that is not a list")),
    };
    set_in(child, rest, value, path)
}

fn set_latency_target(document: &mut Table, path: &str, percentile: &str, value: &ParamValue) -> Result<(), String> {
    let percentile: f64 =
        percentile.parse().map_err(|_| format!("{path}: expected slo.latency_pNN, e.g. slo.latency_p99"))?;
    let slo = document.entry("slo").or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(slo) = slo else { return Err(format!("{path}: slo is not a table")) };
    let targets = slo.entry("latency").or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(targets) = targets else { return Err(format!("{path}: slo.latency is not a list")) };
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
        assert!(set(&mut d, "traffic[3].origin", &ParamValue::Integer(1)).unwrap_err().contains("past the end"));
        assert!(set(&mut d, "name.first", &ParamValue::Integer(1)).unwrap_err().contains("not a table"));
        assert!(set(&mut d, "a..b", &ParamValue::Integer(1)).is_err());
        assert!(set(&mut d, "", &ParamValue::Integer(1)).is_err());
    }
}
