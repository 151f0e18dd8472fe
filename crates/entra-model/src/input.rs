//! Reading input files the way admins produce them: a UTF-8 byte-order mark (Windows
//! PowerShell 5.1 writes one by default) is accepted, and only regular files are read.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::InputError;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Drops a leading UTF-8 byte-order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(BOM).unwrap_or(bytes)
}

/// Drops a leading UTF-8 byte-order mark from text.
pub fn strip_bom_str(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Refuses anything but a regular file (after following links) before it is opened: opening
/// a FIFO blocks until a writer appears, and a device never ends.
pub fn check_regular_file(path: &Path) -> Result<(), InputError> {
    let metadata = std::fs::metadata(path).map_err(|e| InputError::io(path, e))?;
    if metadata.is_file() {
        return Ok(());
    }
    let kind = if metadata.is_dir() {
        "directory"
    } else {
        special_kind(&metadata)
    };
    Err(InputError::NotARegularFile {
        path: path.to_path_buf(),
        kind,
    })
}

#[cfg(unix)]
fn special_kind(metadata: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::Metadata) -> &'static str {
    "special file"
}

/// Files of any kind are read up to this size unless their reader names a smaller bound.
pub const MAX_INPUT_BYTES: u64 = 16 << 30;

/// Opens an input file: the one way the tool opens a file it reads. Opened non-blocking, so a
/// FIFO never blocks the open, then checked on the open handle (no window between check and
/// open): only a regular file of at most `max` bytes is returned.
pub fn open_input(path: &Path, max: u64) -> Result<std::fs::File, InputError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| InputError::io(path, e))?;
    let metadata = file.metadata().map_err(|e| InputError::io(path, e))?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "directory"
        } else {
            special_kind(&metadata)
        };
        return Err(InputError::NotARegularFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    if metadata.len() > max {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(file)
}

/// Reads a whole regular file of at most `max` bytes (one that grows past it while read is
/// refused too).
pub fn read_bytes_max(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let file = open_input(path, max)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// Reads a whole regular file.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, InputError> {
    read_bytes_max(path, MAX_INPUT_BYTES)
}

/// Reads a whole regular file of at most `max` bytes as UTF-8 text, without a byte-order mark.
pub fn read_text_max(path: &Path, max: u64) -> Result<String, InputError> {
    text_of(path, read_bytes_max(path, max)?)
}

/// Reads a whole regular file as UTF-8 text, without a byte-order mark.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    text_of(path, read_bytes(path)?)
}

fn text_of(path: &Path, bytes: Vec<u8>) -> Result<String, InputError> {
    let text = String::from_utf8(strip_bom(&bytes).to_vec()).map_err(|e| {
        InputError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        )
    })?;
    Ok(text)
}

/// Parses one JSON file, naming the file and position on failure.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, InputError> {
    let bytes = read_bytes(path)?;
    serde_json::from_slice(strip_bom(&bytes)).map_err(|e| InputError::json(path, &e))
}

/// Refuses a path whose real location is outside `root` (a symbolic link leaving a tenant
/// directory would make a recording read files it does not own).
pub fn check_inside(root: &Path, path: &Path) -> Result<(), InputError> {
    let real_root = std::fs::canonicalize(root).map_err(|e| InputError::io(root, e))?;
    let real = std::fs::canonicalize(path).map_err(|e| InputError::io(path, e))?;
    if real.starts_with(&real_root) {
        Ok(())
    } else {
        Err(InputError::OutsideDirectory {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, b"\xEF\xBB\xBF{\"value\": [1]}").unwrap();
        let value: serde_json::Value = read_json(&path).unwrap();
        assert_eq!(value["value"][0], 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.json");
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        let error = read_json::<serde_json::Value>(&path).unwrap_err();
        assert!(
            matches!(error, InputError::NotARegularFile { kind: "FIFO", .. }),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_oversized_files_are_refused_without_reading_them() {
        let error = read_bytes_max(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(
            matches!(error, InputError::NotARegularFile { kind: "device", .. }),
            "{error}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allowed_signers");
        std::fs::write(&path, vec![b'x'; 2048]).unwrap();
        let error = read_text_max(&path, 1024).unwrap_err();
        assert!(
            matches!(error, InputError::TooLarge { max: 1024, .. }),
            "{error}"
        );
        assert_eq!(read_text_max(&path, 2048).unwrap().len(), 2048);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_leaving_the_root_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.json"), "{}").unwrap();
        let link = root.path().join("users.json");
        std::os::unix::fs::symlink(outside.path().join("secret.json"), &link).unwrap();
        assert!(matches!(
            check_inside(root.path(), &link),
            Err(InputError::OutsideDirectory { .. })
        ));
        std::fs::write(root.path().join("inside.json"), "{}").unwrap();
        check_inside(root.path(), &root.path().join("inside.json")).unwrap();
    }
}
