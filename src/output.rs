//! Writing results: atomic files, CSV and JSON forms, and the table printed at the end of a run.

use crate::error::CliError;
use sim::metrics::TimeseriesRow;
use sim::summary::Summary;
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `dir/name` through a temporary file and a rename, so a killed run never leaves
/// a half-written file under the final name. The temporary file has an unpredictable name and is
/// created exclusively (`O_EXCL`): a file or symbolic link planted in the folder is never written
/// through. The rename replaces a link at the final name, not its target.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), CliError> {
    let fail = |e: std::io::Error| CliError::input(format!("{}: cannot write {name}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let (temporary, mut file) = create_temporary(dir, name).map_err(fail)?;
    let written = file.write_all(bytes).and_then(|_| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|_| std::fs::rename(&temporary, dir.join(name))) {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(e));
    }
    Ok(())
}

/// A new file `dir/.NAME.PID.RANDOM.tmp`, created exclusively.
fn create_temporary(dir: &Path, name: &str) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    let mut last = None;
    for attempt in 0..16u32 {
        // std's hasher keys are random per process and per call: an unguessable suffix without a
        // random-number dependency.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(attempt);
        let path = dir.join(format!(".{name}.{}.{:016x}.tmp", std::process::id(), hasher.finish()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.expect("sixteen attempts failed"))
}

/// Holds `dir/.servesim.lock` (an advisory lock, released when the process ends) so that two
/// servesim commands never write into one output folder at once; the second gets exit 2.
pub struct OutputLock {
    _file: std::fs::File,
}

pub fn lock_output(dir: &Path) -> Result<OutputLock, CliError> {
    let fail = |e: String| CliError::input(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create: {e}")))?;
    let path = dir.join(".servesim.lock");
    if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
        return Err(fail(".servesim.lock is not a regular file; remove it".into()));
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(format!("cannot open .servesim.lock: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(OutputLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(fail("another servesim command is writing to this folder; wait for it, or use another --out".into()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(fail(format!("cannot lock .servesim.lock: {e}"))),
    }
}

/// The file a complete output set ends with: it lists every file of the set with its size and
/// digest, and is written last, so a folder without it (or whose files do not match it) holds an
/// interrupted or mixed set, which `servesim report` refuses.
pub const MANIFEST: &str = "manifest.json";

/// A run's or plan's output folder while it is written: locked against a second command, its
/// previous manifest removed before the first file changes, stale temporary files of killed runs
/// removed, and the manifest written by [`OutputSet::finish`] once every file is in place.
pub struct OutputSet {
    dir: std::path::PathBuf,
    _lock: OutputLock,
    files: Vec<ManifestEntry>,
    /// Folders this set owns whole (a plan's `deploy/` and `sweep/`).
    folders: Vec<String>,
    /// The set this one replaces, as its manifest listed it: what the new command does not write
    /// again is removed when it finishes, so a folder never mixes two commands' files.
    previous: Option<Manifest>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ManifestEntry {
    path: String,
    bytes: u64,
    fnv1a64: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    servesim_version: String,
    complete: bool,
    files: Vec<ManifestEntry>,
    /// Folders the set owns whole, written by its command outside the manifest (a plan's sweep
    /// journal) or cleared by it (deploy/); absent for a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    folders: Vec<String>,
}

fn fnv1a64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

impl OutputSet {
    pub fn begin(dir: &Path) -> Result<OutputSet, CliError> {
        let lock = lock_output(dir)?;
        let fail = |e: std::io::Error| CliError::input(format!("{}: cannot remove {MANIFEST}: {e}", dir.display()));
        let previous = std::fs::read(dir.join(MANIFEST)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        match std::fs::remove_file(dir.join(MANIFEST)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e)),
        }
        remove_stale_temporaries(dir);
        Ok(OutputSet { dir: dir.to_path_buf(), _lock: lock, files: Vec::new(), folders: Vec::new(), previous })
    }

    /// Reopens a complete set to rewrite the files named in `rewriting` (`servesim report`
    /// rebuilding the page, which may be missing or edited); every other file must match the
    /// manifest and stays listed as it was.
    pub fn amend(dir: &Path, rewriting: &[&str]) -> Result<OutputSet, CliError> {
        let lock = lock_output(dir)?;
        let (files, folders) = read_verified(dir, rewriting)?;
        std::fs::remove_file(dir.join(MANIFEST))
            .map_err(|e| CliError::input(format!("{}: cannot remove {MANIFEST}: {e}", dir.display())))?;
        Ok(OutputSet { dir: dir.to_path_buf(), _lock: lock, files, folders, previous: None })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `relative` (a name, or `folder/name`) atomically and records it for the manifest.
    pub fn write(&mut self, relative: &str, bytes: &[u8]) -> Result<(), CliError> {
        let (folder, name) = match relative.rsplit_once('/') {
            Some((folder, name)) => (self.dir.join(folder), name),
            None => (self.dir.clone(), relative),
        };
        if folder != self.dir {
            remove_stale_temporaries(&folder);
        }
        write_atomic(&folder, name, bytes)?;
        self.files.retain(|f| f.path != relative);
        self.files.push(ManifestEntry {
            path: relative.to_string(),
            bytes: bytes.len() as u64,
            fnv1a64: fnv1a64(bytes),
        });
        Ok(())
    }

    /// Publishes the set: until this returns, readers refuse the folder.
    /// Marks `folder` (a plain name) as the set's whole: the next command into this folder that
    /// does not own it removes it.
    pub fn own_folder(&mut self, folder: &str) {
        self.folders.push(folder.to_string());
    }

    /// Removes what the previous set held and this one does not, then writes the manifest.
    pub fn finish(self) -> Result<(), CliError> {
        if let Some(previous) = &self.previous {
            self.remove_leftovers(previous)?;
        }
        let manifest = Manifest {
            servesim_version: env!("CARGO_PKG_VERSION").to_string(),
            complete: true,
            files: self.files,
            folders: self.folders,
        };
        write_atomic(&self.dir, MANIFEST, &json_bytes(&manifest))
    }

    /// The previous set's files and folders that this set did not write again. Only plain relative
    /// paths a manifest of ours can list are touched (no `..`, no absolute path, no link followed).
    fn remove_leftovers(&self, previous: &Manifest) -> Result<(), CliError> {
        let plain = |relative: &str| {
            Path::new(relative).components().all(|c| matches!(c, std::path::Component::Normal(_)))
                && !relative.is_empty()
        };
        let fail = |path: &Path, e: std::io::Error| CliError::input(format!("{}: cannot remove: {e}", path.display()));
        for folder in previous.folders.iter().filter(|f| plain(f) && !self.folders.contains(f)) {
            let path = self.dir.join(folder);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path).map_err(|e| fail(&path, e))?,
                _ => {}
            }
        }
        for entry in previous.files.iter().filter(|f| plain(&f.path) && !self.files.iter().any(|g| g.path == f.path)) {
            let path = self.dir.join(&entry.path);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(&path, e)),
                _ => {}
            }
            // Folders the removed file leaves empty go too (deploy/us-east after a plan).
            let mut parent = path.parent();
            while let Some(folder) = parent.filter(|p| *p != self.dir && p.starts_with(&self.dir)) {
                if std::fs::remove_dir(folder).is_err() {
                    break;
                }
                parent = folder.parent();
            }
        }
        Ok(())
    }
}

/// Temporary files (`.NAME.PID.RANDOM.tmp`) left by a killed run. Only called with the folder's
/// lock held, so none of them belongs to a live writer.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_ours = name.starts_with('.') && name.ends_with(".tmp") && name.matches('.').count() >= 4;
        if is_ours && entry.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The manifest's entries, once `dir` is known to hold a complete output set: its manifest exists
/// and every file it lists has the size and digest it was written with.
fn read_verified(dir: &Path, rewriting: &[&str]) -> Result<(Vec<ManifestEntry>, Vec<String>), CliError> {
    let manifest_path = dir.join(MANIFEST);
    let bytes = std::fs::read(&manifest_path).map_err(|e| {
        CliError::input(format!(
            "{}: not a complete output set ({MANIFEST}: {e}); the run that wrote it was interrupted or is still running: run it again",
            dir.display()
        ))
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| CliError::input(format!("{}: {e}", manifest_path.display())))?;
    if !manifest.complete {
        return Err(CliError::input(format!("{}: the output set is marked incomplete", manifest_path.display())));
    }
    for file in manifest.files.iter().filter(|f| !rewriting.contains(&f.path.as_str())) {
        let path = dir.join(&file.path);
        let content = std::fs::read(&path).map_err(|e| {
            CliError::input(format!("{}: listed in {MANIFEST} but cannot be read: {e}", path.display()))
        })?;
        if content.len() as u64 != file.bytes || fnv1a64(&content) != file.fnv1a64 {
            return Err(CliError::input(format!(
                "{}: differs from what the run wrote (size or digest in {MANIFEST}); it was changed or comes from another run",
                path.display()
            )));
        }
    }
    Ok((manifest.files, manifest.folders))
}

pub fn json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("results serialise to JSON");
    bytes.push(b'\n');
    bytes
}

/// A text cell as spreadsheets will not run it: one that would start a formula (`=`, `+`, `-`,
/// `@`, tab or carriage return first, and not a number) gets a leading `'` (OWASP's advice for
/// CSV injection). Numbers, negative ones included, stay as they are.
pub fn csv_text(text: &str) -> std::borrow::Cow<'_, str> {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    if formula {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// [`csv_text`] undone, for files servesim reads back (`servesim report`).
pub fn csv_text_read(text: String) -> String {
    match text.strip_prefix('\'') {
        Some(rest) if csv_text(rest).starts_with('\'') => rest.to_string(),
        _ => text,
    }
}

/// A table of text cells (header first) as CSV, each cell through [`csv_text`].
pub fn table_csv(table: &[Vec<String>]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in table {
        writer.write_record(row.iter().map(|cell| csv_text(cell).into_owned())).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

pub fn timeseries_csv(rows: &[TimeseriesRow]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        match csv_text(&row.region) {
            std::borrow::Cow::Borrowed(_) => writer.serialize(row),
            std::borrow::Cow::Owned(region) => writer.serialize(TimeseriesRow { region, ..row.clone() }),
        }
        .expect("time-series rows serialise to CSV");
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// `latency_cdf.csv`: `region, latency_ms, fraction` rows.
pub fn latency_cdf_csv(cdfs: &[(String, Vec<(f64, f64)>)]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["region", "latency_ms", "fraction"]).expect("writing to memory");
    for (region, points) in cdfs {
        for (ms, fraction) in points {
            writer
                .write_record([&csv_text(region), ms.to_string().as_str(), &fraction.to_string()])
                .expect("writing to memory");
        }
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// `token_cdf.csv` (LLM runs): `metric, deployment, ms, fraction` rows, TTFT then TPOT.
pub fn token_cdf_csv(cdfs: &[sim::summary::TokenCdf]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["metric", "deployment", "ms", "fraction"]).expect("writing to memory");
    for cdf in cdfs {
        for (ms, fraction) in &cdf.points {
            writer
                .write_record([&cdf.metric, &*csv_text(&cdf.deployment), &ms.to_string(), &fraction.to_string()])
                .expect("writing to memory");
        }
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// `slo_scrapes.csv` (runs with an SLO): `time_s, endpoint, sli, bad, requests` — each SLI's
/// cumulative bad requests (errors; or slower than the target, errors included) and all requests
/// of its endpoint, as Prometheus would have scraped the clients' counters.
pub fn slo_scrapes_csv(model: &sim::Model, scrapes: &sim::monitor::Scrapes) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(["time_s", "endpoint", "sli", "bad", "requests"]).expect("writing to memory");
    if scrapes.width > 0 {
        for (k, row) in scrapes.values.chunks_exact(scrapes.width).enumerate() {
            let time = sim::units::nanos_to_secs(k as u64 * scrapes.interval);
            for sli in &model.monitoring.slis {
                let endpoint = model.endpoint_key(sli.endpoint);
                writer
                    .write_record([
                        time.to_string(),
                        csv_text(endpoint).into_owned(),
                        sli.name(),
                        row[sli.bad].to_string(),
                        row[sli.total].to_string(),
                    ])
                    .expect("writing to memory");
            }
        }
    }
    writer.into_inner().expect("writing to memory cannot fail")
}

/// `token_cdf.csv` read back.
pub fn read_token_cdf_csv(bytes: &[u8]) -> Result<Vec<sim::summary::TokenCdf>, csv::Error> {
    let mut cdfs: Vec<sim::summary::TokenCdf> = Vec::new();
    for row in csv::Reader::from_reader(bytes).deserialize::<(String, String, f64, f64)>() {
        let (metric, deployment, ms, fraction) = row?;
        let deployment = csv_text_read(deployment);
        match cdfs.last_mut() {
            Some(cdf) if cdf.metric == metric && cdf.deployment == deployment => cdf.points.push((ms, fraction)),
            _ => cdfs.push(sim::summary::TokenCdf { metric, deployment, points: vec![(ms, fraction)] }),
        }
    }
    Ok(cdfs)
}

/// The table printed after a run.
pub fn print_table(summary: &Summary) {
    let operational = summary
        .regions
        .values()
        .map(|r| &r.stats)
        .chain(summary.deployments.values().map(|d| &d.stats))
        .any(|s| s.requests.failed + s.requests.degraded + s.requests.retries > 0 || s.replicas_peak != s.replicas);
    // The replicas column fits "12.3 (peak 20)": what an autoscaled or failing run had.
    let widths = [14, 11, 11, 9, 9, 9, 9, 11, 9];
    // A line of `first` then `cells` right-aligned under the columns.
    let columns = |first: &str, cells: &[String]| {
        let mut line = format!("{first:<20}");
        for (cell, width) in cells.iter().zip(widths) {
            line.push_str(&format!(" {cell:>width$}"));
        }
        line
    };
    let titles = reports::table::HEADERS.map(String::from);
    let mut header = columns("region", &titles);
    if operational {
        header.push_str(&format!(" {:>9} {:>9} {:>9}", "failed", "degraded", "retries"));
    }
    println!("{header}");
    for row in reports::table::rows(summary) {
        let s = row.section;
        let mut line = columns(&row.name, &row.cells());
        if operational {
            line.push_str(&format!(" {:>9} {:>9} {:>9}", s.requests.failed, s.requests.degraded, s.requests.retries));
        }
        if s.saturated {
            line.push_str("  SATURATED");
        }
        println!("{line}");
    }
    if let Some(reason) = summary.saturation_reason() {
        println!("saturated: {reason}");
    }
    if let Some(slo) = &summary.slo {
        println!("SLO {}", reports::table::slo_words(slo));
    }
    let endpoints = reports::table::endpoint_rows(summary);
    if !endpoints.is_empty() {
        println!("{}", columns("endpoint", &titles));
        for (row, slo) in endpoints {
            let mut line = columns(&row.name, &row.cells());
            if let Some(slo) = slo {
                line.push_str(&format!("  SLO {}", reports::table::slo_words(slo)));
            }
            println!("{line}");
        }
    }
    for line in reports::table::sharing_lines(summary) {
        println!("{line}");
    }
    for line in reports::table::breakdown_lines(summary) {
        println!("{line}");
    }
    for line in reports::table::llm_lines(summary) {
        println!("{line}");
    }
    let stages = reports::table::stage_rows(summary);
    if !stages.is_empty() {
        let mut header = format!("{:<20} {:<14}", "pipeline", "stage");
        for title in reports::table::STAGE_HEADERS {
            header.push_str(&format!(" {title:>12}"));
        }
        println!("{header}");
        for (endpoint, stage, cells) in stages {
            let mut line = format!("{endpoint:<20} {stage:<14}");
            for cell in cells {
                line.push_str(&format!(" {cell:>12}"));
            }
            println!("{line}");
        }
    }
}

/// Peak resident memory of this process, from Linux's /proc.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("servesim-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_output_set_is_readable_only_once_finished_and_unchanged() {
        let dir = scratch("set");
        let mut set = OutputSet::begin(&dir).unwrap();
        set.write("summary.json", b"{}").unwrap();
        set.write("deploy/eu/config.pbtxt", b"name: \"m\"").unwrap();
        std::fs::write(dir.join(".summary.json.1.00ff.tmp"), "left by a killed run").unwrap();
        drop(set); // killed before finishing
        let unfinished = OutputSet::amend(&dir, &[]).err().expect("no manifest yet");
        assert!(unfinished.message.contains("not a complete output set"), "{}", unfinished.message);

        let mut set = OutputSet::begin(&dir).unwrap();
        assert!(!dir.join(".summary.json.1.00ff.tmp").exists(), "stale temporaries are removed");
        set.write("summary.json", b"{\"a\": 1}").unwrap();
        set.write("deploy/eu/config.pbtxt", b"name: \"m\"").unwrap();
        set.finish().unwrap();
        let (listed, _) = read_verified(&dir, &[]).unwrap();
        assert_eq!(
            listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["summary.json", "deploy/eu/config.pbtxt"]
        );

        // A file from another run beside the manifest is caught, by name.
        std::fs::write(dir.join("summary.json"), "{\"a\": 2}").unwrap();
        let mixed = read_verified(&dir, &[]).err().expect("a changed file");
        assert!(mixed.message.contains("summary.json") && mixed.message.contains("another run"), "{}", mixed.message);
        // A new run removes the manifest before it changes anything.
        let set = OutputSet::begin(&dir).unwrap();
        assert!(!dir.join(MANIFEST).exists());
        drop(set);
    }

    #[test]
    fn a_set_written_over_another_keeps_none_of_the_files_it_did_not_write() {
        let dir = scratch("leftovers");
        // A plan's set: files, a deploy folder and a folder it owns whole.
        let mut plan = OutputSet::begin(&dir).unwrap();
        plan.write("best.toml", b"name = \"x\"").unwrap();
        plan.write("summary.json", b"{}").unwrap();
        plan.write("deploy/eu/config.pbtxt", b"name: \"m\"").unwrap();
        std::fs::create_dir_all(dir.join("sweep")).unwrap();
        std::fs::write(dir.join("sweep/journal.jsonl"), "{}").unwrap();
        plan.own_folder("sweep");
        plan.finish().unwrap();
        std::fs::write(dir.join("notes.txt"), "the user's own file").unwrap();
        // A run into the same folder.
        let mut run = OutputSet::begin(&dir).unwrap();
        run.write("summary.json", b"{\"run\": 1}").unwrap();
        run.finish().unwrap();
        for gone in ["best.toml", "deploy", "sweep"] {
            assert!(!dir.join(gone).exists(), "{gone} is the plan's, not the run's");
        }
        assert!(dir.join("notes.txt").exists(), "a file no set listed is left alone");
        let (listed, folders) = read_verified(&dir, &[]).unwrap();
        assert_eq!(listed.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["summary.json"]);
        assert!(folders.is_empty());
    }

    #[test]
    fn a_second_lock_on_one_folder_is_refused_until_the_first_is_gone() {
        let dir = scratch("lock");
        let first = lock_output(&dir).unwrap();
        let second = lock_output(&dir).err().expect("the folder is locked");
        assert_eq!(second.code, 2);
        assert!(second.message.contains("another servesim command is writing"), "{}", second.message);
        drop(first);
        assert!(lock_output(&dir).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn writes_replace_a_link_at_the_final_name_and_leave_its_target_alone() {
        let dir = scratch("links");
        let target = dir.join("target.txt");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("summary.json")).unwrap();
        write_atomic(&dir, "summary.json", b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert!(std::fs::symlink_metadata(dir.join("summary.json")).unwrap().is_file());
        // No temporary file is left behind.
        let names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn formula_cells_are_defused_and_read_back() {
        for (cell, written) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+cmd", "'+cmd"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-5", "-5"),
            ("1e-3", "1e-3"),
            ("us-east", "us-east"),
            ("'quoted", "'quoted"),
        ] {
            assert_eq!(csv_text(cell), written, "{cell}");
            assert_eq!(csv_text_read(written.to_string()), cell, "{cell}");
        }
    }
}
