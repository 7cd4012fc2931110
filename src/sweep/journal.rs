//! The durable journal that makes sweeps resumable and shardable: a header line naming the sweep,
//! then one JSON line per finished point, appended and fsynced before the point counts as done. A
//! torn last line (a kill mid-write) is cut on resume.

use crate::error::CliError;
use planner::PointResult;
use serde::{Deserialize, Serialize};
use sim::scenario::Sweep;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(super) const JOURNAL: &str = "journal.jsonl";

/// First line of a journal: what sweep it belongs to, and enough to finish it without the scenario.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(super) struct JournalHeader {
    pub servesim_sweep: String,
    pub servesim_version: String,
    /// Points in the whole sweep (all shards).
    pub points: usize,
    /// `[index, count]`.
    pub shard: (u32, u32),
    /// The scenario document the points apply to (TOML).
    pub base: String,
    /// The scenario's folder, against which its relative file references resolve.
    pub base_dir: PathBuf,
    pub spec: Sweep,
}

pub(super) struct Journal {
    file: Mutex<File>,
}

impl Journal {
    /// Opens the journal in `out` for `header`'s sweep: a new one, or an existing one of the same
    /// sweep and shard, whose finished points are returned.
    pub fn open(out: &Path, header: &JournalHeader) -> Result<(Journal, Vec<PointResult>), CliError> {
        let path = out.join(JOURNAL);
        let io_error = |e: std::io::Error| CliError::input(format!("{}: {e}", path.display()));
        let mut finished = Vec::new();
        // Only a regular file: a planted link would send the journal outside --out.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(CliError::input(format!(
                "{}: not a regular file (a link?); servesim writes only regular files in --out: remove it",
                path.display()
            )));
        }
        if path.exists() {
            let (existing, results) = read_journal(&path)?;
            if existing.servesim_sweep != header.servesim_sweep || existing.shard != header.shard {
                return Err(CliError::input(format!(
                    "{}: holds the journal of a different sweep (or shard); use another --out or remove it",
                    path.display()
                )));
            }
            finished = results;
        } else {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_error)?;
            let mut line = serde_json::to_vec(header).expect("a journal header serialises");
            line.push(b'\n');
            file.write_all(&line).and_then(|_| file.sync_all()).map_err(io_error)?;
        }
        let file = OpenOptions::new().append(true).open(&path).map_err(io_error)?;
        Ok((Journal { file: Mutex::new(file) }, finished))
    }

    pub fn append(&self, result: &PointResult) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(result).expect("a point result serialises");
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)?;
        // Durable before the point counts as done: a SIGKILL after this loses nothing.
        file.sync_data()
    }
}

/// Reads a journal: its header and finished points. A torn last line (a kill mid-write) is cut off.
pub(super) fn read_journal(path: &Path) -> Result<(JournalHeader, Vec<PointResult>), CliError> {
    let bad = |line: usize, what: String| CliError::input(format!("{}:{line}:1: {what}", path.display()));
    let file =
        File::open(path).map_err(|e| CliError::input(format!("{}: cannot read journal: {e}", path.display())))?;
    let mut lines = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        lines.push(line.map_err(|e| CliError::input(format!("{}: cannot read journal: {e}", path.display())))?);
    }
    let header: JournalHeader = lines
        .first()
        .and_then(|l| serde_json::from_slice(l).ok())
        .ok_or_else(|| bad(1, "not a servesim sweep journal".into()))?;
    let mut results = Vec::new();
    let mut good_bytes: u64 = lines[0].len() as u64 + 1;
    for (i, line) in lines.iter().enumerate().skip(1) {
        match serde_json::from_slice::<PointResult>(line) {
            Ok(result) => {
                results.push(result);
                good_bytes += line.len() as u64 + 1;
            }
            Err(_) if i == lines.len() - 1 => {
                // Torn final write: drop it so appends continue from a clean line.
                let file = OpenOptions::new().write(true).open(path).map_err(|e| bad(i + 1, e.to_string()))?;
                file.set_len(good_bytes).map_err(|e| bad(i + 1, e.to_string()))?;
            }
            Err(e) => return Err(bad(i + 1, format!("unreadable point: {e}"))),
        }
    }
    Ok((header, results))
}
