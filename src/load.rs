//! Reading a scenario: the TOML file, the files it names, and every error pointed at a file, line
//! and column.

use crate::error::CliError;
use crate::locate::{csv_error, field_error, located, span_of};
use crate::trace;
use sim::model::{CatalogEntry, Inputs};
use sim::scenario::{Arrivals, Dist, KeyPath, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A scenario with its source text and the files it refers to, ready to build.
pub struct Loaded {
    pub path: PathBuf,
    pub text: String,
    pub scenario: Scenario,
    pub inputs: Inputs,
    /// Located one-line warnings (a trace column read for nothing), for the caller to print once
    /// the scenario has proved valid.
    pub warnings: Vec<String>,
}

/// The bundled instance price catalog (copied from the shared catalog facts, with sources).
const BUNDLED_CATALOG: &str = include_str!("../catalog/instances.csv");

/// Read and parse a scenario file and every file it names (relative to the scenario's folder).
/// `prices` replaces the bundled price catalog.
pub fn load(path: &Path, prices: Option<&Path>) -> Result<Loaded, CliError> {
    let text = crate::input::read_to_string(path)
        .map_err(|e| CliError::input(format!("{}: cannot read scenario: {e}", path.display())))?;
    load_text(path, text, prices)
}

/// [`load`] on a scenario's text; `path` names it in errors and anchors the files it names.
pub fn load_text(path: &Path, text: String, prices: Option<&Path>) -> Result<Loaded, CliError> {
    let scenario: Scenario = toml::from_str(&text).map_err(|e| located(path, &text, e.span(), e.message()))?;
    let gpu_memory = crate::latency::devices().into_iter().map(|d| (d.name, d.memory_bytes)).collect();
    let mut inputs = Inputs { catalog: read_catalog(prices)?, gpu_memory, ..Inputs::default() };
    let warnings = load_files(path, &scenario, &mut inputs, &|key_path, message| {
        located(path, &text, span_of(&text, &key_path), &message)
    })?;
    Ok(Loaded { path: path.to_path_buf(), text, scenario, inputs, warnings })
}

/// Computes the model table `key` unless `inputs` holds one covering `seqs` up to `max_batch`. A
/// sweep point may ask more than the base scenario did (a larger max_batch, another bucket): the
/// table is then recomputed to cover both.
/// A model table's model, device and stack as written.
struct TableOf<'a> {
    model: &'a str,
    device: &'a str,
    stack: Option<&'a str>,
}

fn ensure_model_table(
    inputs: &mut Inputs,
    key: &str,
    of: TableOf,
    base: &Path,
    max_batch: u32,
    seqs: &[u32],
) -> Result<(), crate::latency::LatencyError> {
    let mut seqs = seqs.to_vec();
    let mut max_batch = max_batch;
    if let Some(existing) = inputs.model_tables.get(key) {
        let reaches = |seq: &u32| existing.by_seq.get(seq).and_then(|p| p.last()).is_some_and(|&(b, _)| b >= max_batch);
        if seqs.iter().all(reaches) {
            return Ok(());
        }
        seqs.extend(existing.by_seq.keys().copied());
        let held = existing.by_seq.values().filter_map(|p| p.last()).map(|&(b, _)| b).max().unwrap_or(1);
        max_batch = max_batch.max(held);
    }
    // An impossible `seq` has no table; `build` reports it at its key.
    let Some(&first) = seqs.first() else { return Ok(()) };
    let seqs = sim::model::model_seqs(first, &seqs);
    let table = crate::latency::model_table(of.model, of.device, of.stack, base, &seqs, max_batch)?;
    inputs.model_tables.insert(key.to_string(), table);
    Ok(())
}

/// Every `[serving]` section of the scenario, at its key path.
fn servings(scenario: &Scenario) -> Vec<(KeyPath, &sim::scenario::Serving)> {
    let mut out = Vec::new();
    if let Some(serving) = &scenario.serving {
        out.push((sim::path!["serving"], serving));
    }
    for (name, region) in &scenario.regions {
        if let Some(serving) = &region.serving {
            out.push((sim::path!["regions", name, "serving"], serving));
        }
    }
    for (key, deployment) in [("ab", &scenario.ab), ("shadow", &scenario.shadow)] {
        if let Some(serving) = deployment.as_ref().and_then(|d| d.serving.as_ref()) {
            out.push((sim::path![key, "serving"], serving));
        }
    }
    for (name, endpoint) in &scenario.endpoints {
        if let Some(serving) = &endpoint.serving {
            out.push((sim::path!["endpoints", name, "serving"], serving));
        }
        for (region, given) in &endpoint.regions {
            if let Some(serving) = &given.serving {
                out.push((sim::path!["endpoints", name, "regions", region, "serving"], serving));
            }
        }
    }
    out
}

/// Reads the latency tables and traces `scenario` names that `inputs` lacks. `semantic` turns a
/// problem with a scenario key (a file that cannot be read, a missing column) into an error.
/// Returns the warnings about what was read.
pub fn load_files(
    path: &Path,
    scenario: &Scenario,
    inputs: &mut Inputs,
    semantic: &dyn Fn(KeyPath, String) -> CliError,
) -> Result<Vec<String>, CliError> {
    let mut warnings = Vec::new();
    let base = path.parent().unwrap_or(Path::new("."));
    // Every batch service time: (its `file` key's path, the time, the largest batch it must reach).
    let mut services: Vec<(KeyPath, &Dist, u32)> = Vec::new();
    // A serving's service time and each of its variants' (a sweep may choose any of them).
    fn serving_at(at: KeyPath, serving: &sim::scenario::Serving) -> Vec<(KeyPath, &Dist, u32)> {
        let max_batch = serving.batching.max_batch;
        let own = serving.service_time.iter().map(|d| (at.join("service_time").join("file"), d, max_batch));
        let variants =
            serving.variants.iter().enumerate().map(|(k, v)| {
                (at.join("variants").join(k).join("service_time").join("file"), &v.service_time, max_batch)
            });
        own.chain(variants).collect()
    }
    let servings = servings(scenario);
    let services_of_serving: Vec<_> =
        servings.iter().flat_map(|(at, serving)| serving_at(at.clone(), serving)).collect();
    // An LLM engine's model: its iteration profile on every catalog GPU (a sweep may change the
    // device).
    for (at, serving) in &servings {
        let Some(llm) = serving.llm.as_ref() else { continue };
        let Some(model) = llm.model.as_ref() else { continue };
        let stack = llm.stack.as_deref();
        if inputs.llm_profiles.contains_key(&sim::model::llm_key(model, "h100-sxm", stack)) {
            continue;
        }
        let profiles = crate::latency::llm_profiles(model, stack).map_err(|error| {
            let key = if matches!(error, crate::latency::LatencyError::Stack(_)) { "stack" } else { "model" };
            semantic(at.join("llm").join(key), error.to_string())
        })?;
        inputs.llm_profiles.extend(profiles.into_iter().map(|(key, profile)| (key, Arc::new(profile))));
    }
    services.extend(services_of_serving.iter().cloned());
    for (i, job) in scenario.jobs.iter().enumerate() {
        services.push((sim::path!["jobs", i, "service_time", "file"], &job.service_time, job.batch_records));
    }
    // A model's table must reach the largest max_batch and hold every sequence length of every
    // service time that uses it.
    let mut model_needs: BTreeMap<String, (u32, Vec<u32>)> = BTreeMap::new();
    for (_, service_time, max_batch) in &services {
        if let Dist::Model { model, device, seq, seq_buckets, stack } = service_time {
            let need =
                model_needs.entry(sim::model::model_key(model, device, stack.as_deref())).or_insert((1, Vec::new()));
            need.0 = need.0.max((*max_batch).clamp(1, 65_536));
            need.1.extend(sim::model::model_seqs(*seq, seq_buckets).into_iter().filter(|&s| s > 0 && s <= 1 << 20));
        }
    }
    for (key_path, service_time, _) in &services {
        if let Dist::Model { model, device, stack, .. } = service_time {
            let key = sim::model::model_key(model, device, stack.as_deref());
            let (max_batch, seqs) = &model_needs[&key];
            let mut at = key_path.clone();
            at.0.pop();
            let of = TableOf { model, device, stack: stack.as_deref() };
            ensure_model_table(inputs, &key, of, base, *max_batch, seqs)
                .map_err(|error| semantic(at.join(error.key()), error.to_string()))?;
        }
        if let Dist::Table { file: Some(file), .. } = service_time {
            if !inputs.tables.contains_key(file) {
                let table = read_latency_table(&base.join(file)).map_err(|e| match e {
                    TableError::Open(message) => semantic(key_path.clone(), message),
                    TableError::Located(error) => error,
                })?;
                inputs.tables.insert(file.clone(), table);
            }
        }
    }

    // A fleet plan may put any endpoint's model on any of its instances' devices.
    if let Some(fleet) = &scenario.fleet {
        for (k, option) in fleet.instances.iter().enumerate() {
            let Some(device) = &option.device else { continue };
            for (_, service_time, max_batch) in &services_of_serving {
                let Dist::Model { model, seq, seq_buckets, stack, .. } = service_time else { continue };
                let key = sim::model::model_key(model, device, stack.as_deref());
                let seqs = sim::model::model_seqs(*seq, seq_buckets);
                let of = TableOf { model, device, stack: stack.as_deref() };
                ensure_model_table(inputs, &key, of, base, (*max_batch).clamp(1, 65_536), &seqs)
                    .map_err(|error| semantic(sim::path!["fleet", "instances", k, "device"], error.to_string()))?;
            }
        }
    }
    let sizes_used = services_of_serving
        .iter()
        .any(|(_, service_time, _)| matches!(service_time, Dist::Model { seq_buckets, .. } if !seq_buckets.is_empty()));
    let llm_used = servings.iter().any(|(_, serving)| serving.llm.is_some());
    for (i, traffic) in scenario.traffic.iter().enumerate() {
        let Some(key) = sim::model::trace_key(&traffic.arrivals) else { continue };
        if inputs.traces.contains_key(&key) || inputs.rate_series.contains_key(&key) {
            continue;
        }
        let at = |key: &str| sim::path!["traffic", i, "arrivals", key];
        let located = |e: trace::TraceError| match e {
            trace::TraceError::Scenario { key, message } => semantic(at(key), message),
            trace::TraceError::File(error) => error,
        };
        match &traffic.arrivals {
            Arrivals::Trace {
                file,
                timestamp_column,
                timestamp_unit,
                format,
                size_column,
                output_column,
                hash_column,
                hash_block_tokens,
                origin,
                ..
            } => {
                if hash_column.is_some() && *hash_block_tokens == 0 {
                    return Err(semantic(at("hash_block_tokens"), "hash_block_tokens must be at least 1".into()));
                }
                // A column read for nothing is a misunderstanding worth a word, not an error: the
                // same trace may feed a scenario that does use it.
                if size_column.is_some() && !sizes_used && !llm_used {
                    let why = "size_column is read but no service time uses request sizes (only kind = \"model\" with seq_buckets does): the sizes are ignored";
                    warnings.push(format!("warning: {}", semantic(at("size_column"), why.into()).message));
                }
                if output_column.is_some() && !llm_used {
                    let why = "output_column is read but only an LLM engine ([serving.llm]) uses output lengths: they are ignored";
                    warnings.push(format!("warning: {}", semantic(at("output_column"), why.into()).message));
                }
                let columns = trace::Columns {
                    timestamp: timestamp_column,
                    size: size_column.as_deref(),
                    output: output_column.as_deref(),
                    hashes: hash_column.as_deref().map(|name| (name, *hash_block_tokens)),
                    unit: *timestamp_unit,
                    format: *format,
                };
                let data = trace::read(&base.join(file), &columns, origin).map_err(located)?;
                // A request longer than the largest sequence bucket runs at that bucket: say so
                // rather than cut it silently.
                let largest = services_of_serving
                    .iter()
                    .filter_map(|(_, service_time, _)| match service_time {
                        Dist::Model { seq_buckets, .. } => seq_buckets.iter().max().copied(),
                        _ => None,
                    })
                    .max();
                if let (Some(largest), Some(sizes)) = (largest, &data.sizes) {
                    let longer = sizes.iter().filter(|&&size| size > largest).count();
                    if longer > 0 {
                        let why = format!(
                            "{longer} of the trace's {} requests are longer than the largest seq bucket ({largest} tokens) and run at it: add a larger bucket to time them at their size",
                            sizes.len()
                        );
                        warnings.push(format!("warning: {}", semantic(at("size_column"), why).message));
                    }
                }
                inputs.traces.insert(key, Arc::new(data));
            }
            Arrivals::RateTrace {
                file,
                timestamp_column,
                rate_column,
                timestamp_unit,
                format,
                aggregate,
                filter,
                ..
            } => {
                let columns = trace::RateColumns {
                    timestamp: timestamp_column,
                    rate: rate_column,
                    unit: *timestamp_unit,
                    format: *format,
                    sum_shared_times: aggregate.is_some(),
                    filter: filter.as_ref().map(|f| (f.column.as_str(), f.value.as_str())),
                };
                let series = trace::read_rate_series(&base.join(file), &columns).map_err(located)?;
                inputs.rate_series.insert(key, Arc::new(series));
            }
            _ => {}
        }
    }
    Ok(warnings)
}

/// The price catalog: the user's file, or the bundled one. Columns: cloud, instance, gpu, gpus,
/// region, usd_per_hour, spot_usd_per_hour, preemptions_per_hour, source; `#` lines are comments.
pub fn read_catalog(prices: Option<&Path>) -> Result<Vec<CatalogEntry>, CliError> {
    let (name, bytes): (PathBuf, Vec<u8>) = match prices {
        Some(path) => (
            path.to_path_buf(),
            crate::input::read(path)
                .map_err(|e| CliError::input(format!("{}: cannot read price file: {e}", path.display())))?,
        ),
        None => (PathBuf::from("catalog/instances.csv (bundled)"), BUNDLED_CATALOG.as_bytes().to_vec()),
    };
    let path = name.as_path();
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            CliError::input(format!(
                "{}: missing column {name:?} (a price file needs cloud, instance, gpu, gpus, region, usd_per_hour, source)",
                path.display()
            ))
        })
    };
    let [cloud, instance, gpu, gpus, region, price, source] =
        ["cloud", "instance", "gpu", "gpus", "region", "usd_per_hour", "source"].map(column);
    let (cloud, instance, gpu, gpus, region, price, source) =
        (cloud?, instance?, gpu?, gpus?, region?, price?, source?);
    let spot = headers.iter().position(|h| h == "spot_usd_per_hour");
    let preemptions = headers.iter().position(|h| h == "preemptions_per_hour");
    let mut entries = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let text = |i: usize| record.get(i).unwrap_or("").to_string();
        let number = |i: usize, what: &str| -> Result<f64, CliError> {
            let value: f64 = record.get(i).unwrap_or("").parse().map_err(|_| field_error(path, &record, i, what))?;
            if value.is_finite() && value >= 0.0 {
                Ok(value)
            } else {
                Err(field_error(path, &record, i, what))
            }
        };
        let optional = |i: Option<usize>, what: &str| -> Result<Option<f64>, CliError> {
            match i {
                Some(i) if !record.get(i).unwrap_or("").is_empty() => number(i, what).map(Some),
                _ => Ok(None),
            }
        };
        entries.push(CatalogEntry {
            cloud: text(cloud),
            instance: text(instance),
            gpu: text(gpu),
            gpus: record
                .get(gpus)
                .unwrap_or("")
                .parse()
                .map_err(|_| field_error(path, &record, gpus, "gpus is not a whole number"))?,
            region: text(region),
            usd_per_hour: number(price, "usd_per_hour is not a price")?,
            spot_usd_per_hour: optional(spot, "spot_usd_per_hour is not a price")?,
            preemptions_per_hour: optional(preemptions, "preemptions_per_hour is not a rate")?,
            source: text(source),
        });
    }
    Ok(entries)
}

impl Loaded {
    /// Prints the warnings to stderr.
    pub fn warn(&self) {
        for warning in &self.warnings {
            eprintln!("{warning}");
        }
    }

    /// An error about the value at `path`, pointed at its line and column.
    pub fn error_at(&self, path: &KeyPath, message: &str) -> CliError {
        located(&self.path, &self.text, span_of(&self.text, path), message)
    }

    /// Check the scenario's meaning and build the model, with semantic errors pointed at the file.
    pub fn build(&self) -> Result<sim::Model, CliError> {
        sim::build(&self.scenario, &self.inputs)
            .map_err(|e| located(&self.path, &self.text, span_of(&self.text, &e.path), &e.to_string()))
    }
}

enum TableError {
    Open(String),
    Located(CliError),
}

/// A batch-size → latency CSV: columns `batch_size` and `latency_ms`; lines starting with `#` are
/// comments (for provenance).
fn read_latency_table(path: &Path) -> Result<Vec<(u32, f64)>, TableError> {
    let bytes = crate::input::read(path)
        .map_err(|e| TableError::Open(format!("cannot read latency table {}: {e}", path.display())))?;
    parse_latency_table(path, &bytes).map_err(TableError::Located)
}

/// A latency table from its bytes; `path` names it in errors.
pub fn parse_latency_table(path: &Path, bytes: &[u8]) -> Result<Vec<(u32, f64)>, CliError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).comment(Some(b'#')).from_reader(bytes);
    let headers = reader.headers().map_err(|e| CliError::input(format!("{}: {}", path.display(), e)))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            CliError::input(format!(
                "{}:1:1: missing column {name:?} (columns are: {})",
                path.display(),
                crate::locate::shown_columns(&headers)
            ))
        })
    };
    let size_column = column("batch_size")?;
    let latency_column = column("latency_ms")?;
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let field = |index: usize| record.get(index).unwrap_or("");
        let bad = |index: usize, what: &str| field_error(path, &record, index, what);
        let size: u32 = field(size_column).parse().map_err(|_| bad(size_column, "batch_size is not a whole number"))?;
        let latency: f64 =
            field(latency_column).parse().map_err(|_| bad(latency_column, "latency_ms is not a number"))?;
        if !(latency.is_finite() && latency > 0.0 && latency <= 86_400_000.0) {
            return Err(bad(latency_column, "latency_ms must be more than zero and at most a day (86400000)"));
        }
        if rows.insert(size, latency * 1e6).is_some() {
            return Err(bad(size_column, "batch size listed twice"));
        }
    }
    Ok(rows.into_iter().collect())
}
