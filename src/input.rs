//! Opening the files a user names: regular files only (a FIFO or `/dev/zero` would block or never
//! end), at most [`MAX_INPUT_BYTES`] (a table or trace larger than that is a mistake, and reading
//! it would exhaust memory before any check ran).

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// 1 GiB: far above any scenario, latency table, profile or request trace servesim reads.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// The file, once it is known to be a regular file of reasonable size; the error says why not.
pub fn open(path: &Path) -> Result<File, String> {
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.len() > MAX_INPUT_BYTES {
        return Err(format!("{} bytes, over the {} byte limit for input files", metadata.len(), MAX_INPUT_BYTES));
    }
    File::open(path).map_err(|e| e.to_string())
}

pub fn read_to_string(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    open(path)?.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    open(path)?.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}
