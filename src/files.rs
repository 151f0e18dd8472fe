//! Committing files: content digests, and durable replacement of the files that commit a run
//! (`manifest.json`, `index.csv`, `plan.json`, the journal's rewrites): written to a temporary
//! file, fsynced, renamed over the target, and the folder fsynced, so that a crash or power
//! loss leaves either the old file or the new one, never half of one or none.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// `sha256:<hex>` of bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Size and `sha256:<hex>` of a file's bytes, read in chunks (stored snapshots can be large).
pub fn file_digest(path: &Path) -> Result<(u64, String)> {
    entra_model::input::check_regular_file(path)?;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let read = file.read(&mut buffer).map_err(|e| Error::io(path, e))?;
        if read == 0 {
            break;
        }
        total += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((total, format!("sha256:{}", hex::encode(hasher.finalize()))))
}

/// The temporary name beside `path` that [`write_durable`] writes first.
pub fn temporary_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Replaces `path` with `bytes` durably (see the module comment).
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    write_durable_with(path, |file| file.write_all(bytes))
}

/// Like [`write_durable`], with the content written by `fill` (a CSV writer, say).
pub fn write_durable_with(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    let temporary = temporary_for(path);
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        fill(&mut file)?;
        file.sync_all()
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(Error::io(&temporary, error));
    }
    std::fs::rename(&temporary, path).map_err(|e| Error::io(path, e))?;
    sync_folder(path)
}

/// Fsyncs the folder holding `path`, so that a rename or a new file in it survives a crash.
pub fn sync_folder(path: &Path) -> Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Windows cannot open a folder as a file; its renames are durable through the journal.
    if cfg!(unix) {
        let handle = std::fs::File::open(folder).map_err(|e| Error::io(folder, e))?;
        handle.sync_all().map_err(|e| Error::io(folder, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.csv");
        write_durable(&path, b"one").unwrap();
        write_durable(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!temporary_for(&path).exists());
        assert_eq!(
            digest(b"two"),
            file_digest(&path).unwrap().1,
            "one digest for bytes and files"
        );
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_durable(&path, b"old").unwrap();
        let error = write_durable_with(&path, |_| Err(std::io::Error::other("disk full")));
        assert!(error.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!temporary_for(&path).exists());
    }
}
