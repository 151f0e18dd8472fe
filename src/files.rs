//! Committing files: content digests, and durable replacement of the files that commit a run
//! (`manifest.json`, `index.csv`, `plan.json`, the journal's rewrites): written to a temporary
//! file, fsynced, renamed over the target, and the folder fsynced, so that a crash or power
//! loss leaves either the old file or the new one, never half of one or none.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use entra_model::InputError;

use crate::error::{Error, Result};

/// `sha256:<hex>` of bytes.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// [`digest`] of bytes written to it piece by piece: a serialiser writes straight into the
/// hash instead of into a buffer the size of a large plan.
#[derive(Default)]
pub struct Digester(Sha256);

impl Digester {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// `sha256:<hex>`, as [`digest`] of the same bytes at once.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.0.finalize()))
    }
}

impl Write for Digester {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Size and `sha256:<hex>` of a file's bytes, read in chunks (stored snapshots can be large).
pub fn file_digest(path: &Path) -> Result<(u64, String)> {
    entra_model::input::check_regular_file(path)?;
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Digester::default();
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
    Ok((total, hasher.finish()))
}

/// [`file_digest`] of each file, in their order, read on every core: a run's large files are
/// sealed side by side instead of one after another.
pub fn file_digests(paths: &[PathBuf]) -> Vec<Result<(u64, String)>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(paths.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<(u64, String)>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let at = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(at) else {
                            return mine;
                        };
                        mine.push((at, file_digest(path)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(crate::threads::joined)
            .collect()
    });
    done.sort_by_key(|(at, _)| *at);
    done.into_iter().map(|(_, digest)| digest).collect()
}

/// Whether a run file exists where it is (a link there counts: it is refused when used).
pub fn exists_no_follow(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Reads a run file the tool wrote (a journal, an index, a manifest, a seal, a lock): `None`
/// when there is none; a link, a FIFO, a device or a file over `max` bytes is an error, so
/// nothing hangs and nothing is read from elsewhere.
pub fn read_run_file(path: &Path, max: u64) -> Result<Option<Vec<u8>>> {
    if !exists_no_follow(path)? {
        return Ok(None);
    }
    refuse_link(path)?;
    Ok(Some(entra_model::input::read_bytes_max(path, max)?))
}

/// Opens a run file to stream it: a link, a FIFO or a device is an error, as for
/// [`read_run_file`]; a missing file is an error too.
pub fn open_run_file(path: &Path) -> Result<std::fs::File> {
    refuse_link(path)?;
    Ok(entra_model::input::open_input(
        path,
        entra_model::input::MAX_INPUT_BYTES,
    )?)
}

/// A run file is never reached through a symbolic link.
fn refuse_link(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(InputError::Link {
            path: path.to_path_buf(),
        }
        .into());
    }
    Ok(())
}

/// [`read_run_file`] as UTF-8 text.
pub fn read_run_text(path: &Path, max: u64) -> Result<Option<String>> {
    match read_run_file(path, max)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| {
            Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
            )
        }),
    }
}

/// Opens a run file for appending, creating it: never through a link (a dangling link would
/// send the journal elsewhere), and only a regular file.
pub fn open_append_no_follow(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    open_no_follow(path, options)
}

/// Opens an existing run file for writing in place (truncating a torn line), never through a
/// link.
pub fn open_write_no_follow(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    open_no_follow(path, options)
}

/// Creates a new run file (it must not exist yet), never through a link.
pub fn create_new_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    no_follow(&mut options);
    options.open(path)
}

/// Opens (creating) a lock file for reading and writing, never through a link.
pub fn open_lock_file(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    open_no_follow(path, options)
}

/// Whether the open `file` is the one at `path` now (not removed or replaced since it was
/// opened).
pub fn is_same_file(file: &std::fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::symlink_metadata(path)) {
            (Ok(open), Ok(there)) => open.dev() == there.dev() && open.ino() == there.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.is_file()
    }
}

fn no_follow(options: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    let _ = options;
}

fn open_no_follow(path: &Path, mut options: std::fs::OpenOptions) -> Result<std::fs::File> {
    no_follow(&mut options);
    let file = options.open(path).map_err(|e| {
        // O_NOFOLLOW on a link fails with ELOOP: say what it is.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            Error::from(InputError::Link {
                path: path.to_path_buf(),
            })
        } else {
            Error::io(path, e)
        }
    })?;
    let metadata = file.metadata().map_err(|e| Error::io(path, e))?;
    if !metadata.is_file() {
        return Err(InputError::NotARegularFile {
            path: path.to_path_buf(),
            kind: "special file",
        }
        .into());
    }
    Ok(file)
}

/// A temporary name beside `path` for [`write_durable`], unique to this write: two writers at
/// once (two `plan approve`s) never share one, so neither renames the other's half-written file
/// into place.
pub fn temporary_for(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{serial}.tmp", std::process::id()))
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
        // Created new, never through a link: a name taken already is an error, not a follow.
        let mut file = create_new_no_follow(&temporary)?;
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
    fn file_digests_keep_the_files_order_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for index in 0..7 {
            let path = dir.path().join(format!("f{index}"));
            if index != 3 {
                std::fs::write(&path, "x".repeat(index * 1000)).unwrap();
            }
            paths.push(path);
        }
        let digests = file_digests(&paths);
        assert_eq!(digests.len(), paths.len());
        for (index, (path, found)) in paths.iter().zip(&digests).enumerate() {
            match found {
                Ok((bytes, sha256)) => {
                    assert_eq!(*bytes, index as u64 * 1000);
                    assert_eq!(*sha256, digest(&std::fs::read(path).unwrap()));
                    let mut streamed = Digester::default();
                    streamed.update(&std::fs::read(path).unwrap());
                    assert_eq!(*sha256, streamed.finish());
                }
                Err(error) => {
                    assert_eq!(index, 3);
                    assert!(error.to_string().contains("f3"), "{error}");
                }
            }
        }
        assert!(file_digests(&[]).is_empty());
    }

    #[test]
    fn durable_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.csv");
        write_durable(&path, b"one").unwrap();
        write_durable(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        assert_eq!(
            digest(b"two"),
            file_digest(&path).unwrap().1,
            "one digest for bytes and files"
        );
    }

    #[cfg(unix)]
    #[test]
    fn run_files_are_never_reached_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        let journal = dir.path().join("plan.journal.jsonl");
        std::os::unix::fs::symlink(&elsewhere, &journal).unwrap();
        let error = open_append_no_follow(&journal).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert!(
            !elsewhere.exists(),
            "nothing written through the dangling link"
        );
        assert!(read_run_file(&journal, 100).is_err());
        // A durable write replaces the link itself.
        write_durable(&journal, b"x").unwrap();
        assert!(!elsewhere.exists());
        assert_eq!(read_run_file(&journal, 100).unwrap().unwrap(), b"x");
    }

    #[test]
    fn a_failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_durable(&path, b"old").unwrap();
        let error = write_durable_with(&path, |_| Err(std::io::Error::other("disk full")));
        assert!(error.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
