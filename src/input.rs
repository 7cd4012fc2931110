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

/// The text of a file, which must be UTF-8: the error names the byte offset of the first bad byte.
pub fn read_to_string(path: &Path) -> Result<String, String> {
    String::from_utf8(read(path)?).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        format!("not UTF-8 text: invalid byte 0x{:02x} at byte offset {offset}", e.as_bytes()[offset])
    })
}

/// The bytes of a file, refused if they are compressed or archived (servesim reads plain text only).
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    open(path)?.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if let Some(advice) = packed(path, &bytes) {
        return Err(advice);
    }
    Ok(bytes)
}

/// What a compressed or archived file is and how to get the text out of it. A compressed tar
/// archive gets `tar`, not the decompressor: `gunzip -k` would leave a `.tar`, refused in turn.
fn packed(path: &Path, bytes: &[u8]) -> Option<String> {
    const MAGIC: [(&[u8], &str, &str, Option<&str>); 5] = [
        (b"\x1f\x8b", "gzip", "gunzip -k FILE", Some("tar -xzf FILE")),
        (b"\x28\xb5\x2f\xfd", "zstd", "zstd -d FILE", Some("tar --zstd -xf FILE")),
        (b"BZh", "bzip2", "bunzip2 -k FILE", Some("tar -xjf FILE")),
        (b"\xfd7zXZ\x00", "xz", "unxz -k FILE", Some("tar -xJf FILE")),
        (b"PK\x03\x04", "zip", "unzip FILE", None),
    ];
    let name = path.file_name().map_or(String::new(), |n| n.to_string_lossy().to_lowercase());
    let is_tar = name.contains(".tar") || [".tgz", ".tbz", ".tbz2", ".txz", ".tzst"].iter().any(|e| name.ends_with(e));
    if let Some(&(_, kind, tool, untar)) = MAGIC.iter().find(|(magic, ..)| bytes.starts_with(magic)) {
        return Some(match untar {
            Some(untar) if is_tar => {
                format!(
                    "the file is a {kind}-compressed tar archive: extract it first ({untar}) and name the file inside"
                )
            }
            _ => format!("the file is {kind}-compressed: decompress it first ({tool})"),
        });
    }
    // POSIX tar: "ustar" at offset 257 of the first header.
    (bytes.get(257..262) == Some(b"ustar"))
        .then(|| "the file is a tar archive: extract it first (tar -xf FILE) and name the file inside".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_and_non_utf8_files_are_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("servesim-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let gzip = dir.join("trace.csv.gz");
        std::fs::write(&gzip, b"\x1f\x8b\x08\x00rest").unwrap();
        assert!(read(&gzip).unwrap_err().contains("gzip-compressed: decompress it first (gunzip -k FILE)"));
        // A compressed tar archive: gunzip would leave a .tar, which is refused in turn.
        let tarball = dir.join("traces.tar.gz");
        std::fs::write(&tarball, b"\x1f\x8b\x08\x00rest").unwrap();
        assert!(read(&tarball).unwrap_err().contains("gzip-compressed tar archive: extract it first (tar -xzf FILE)"));
        let mut tar = vec![b'a'; 512];
        tar[257..262].copy_from_slice(b"ustar");
        let plain_tar = dir.join("traces.tar");
        std::fs::write(&plain_tar, &tar).unwrap();
        assert!(read(&plain_tar).unwrap_err().contains("tar archive: extract it first (tar -xf FILE)"));
        let latin1 = dir.join("scenario.toml");
        std::fs::write(&latin1, b"name = \"caf\xe9\"\n").unwrap();
        assert_eq!(read_to_string(&latin1).unwrap_err(), "not UTF-8 text: invalid byte 0xe9 at byte offset 11");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
