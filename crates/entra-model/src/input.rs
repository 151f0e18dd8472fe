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
    // Sized from the file (a file that grows meanwhile still reads, to the limit): growing
    // the buffer by doubling copied and freshly mapped a large table's bytes several times.
    let size = file.metadata().map(|m| m.len()).unwrap_or(0).min(max);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
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

/// Reads a collection file (`{"value": [...]}`, a Graph response body) element by element,
/// handing each to `each`: the list is never held, so a large file costs its bytes and one
/// element rather than a tree of every element. A syntax error names the file, line and
/// column; `each`'s first error stops the read and is returned as it is (`Ok(Err(_))`).
pub fn read_each<T: DeserializeOwned, E>(
    path: &Path,
    each: impl FnMut(T) -> Result<(), E>,
) -> Result<Result<(), E>, InputError> {
    let bytes = read_bytes(path)?;
    let mut failed = None;
    let mut each = each;
    let outer = each_value::Outer {
        each: &mut each,
        failed: &mut failed,
        element: std::marker::PhantomData,
    };
    let mut reader = serde_json::Deserializer::from_slice(strip_bom(&bytes));
    let parsed =
        serde::de::DeserializeSeed::deserialize(outer, &mut reader).and_then(|()| reader.end());
    match (parsed, failed) {
        (_, Some(error)) => Ok(Err(error)),
        (Ok(()), None) => Ok(Ok(())),
        (Err(error), None) => Err(InputError::json(path, &error)),
    }
}

/// The visitors of [`read_each`]: the object's `value` list, each element handed on; other
/// keys (`@odata.context`, ...) skipped.
mod each_value {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{DeserializeSeed, Error, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer};

    pub struct Outer<'f, T, E, F> {
        pub each: &'f mut F,
        pub failed: &'f mut Option<E>,
        pub element: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>, E, F: FnMut(T) -> Result<(), E>> DeserializeSeed<'de>
        for Outer<'_, T, E, F>
    {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_map(self)
        }
    }

    impl<'de, T: Deserialize<'de>, E, F: FnMut(T) -> Result<(), E>> Visitor<'de>
        for Outer<'_, T, E, F>
    {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a collection: an object with a `value` list")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = false;
            while let Some(key) = map.next_key::<String>()? {
                if key == "value" {
                    if seen {
                        return Err(A::Error::duplicate_field("value"));
                    }
                    seen = true;
                    map.next_value_seed(List {
                        each: &mut *self.each,
                        failed: &mut *self.failed,
                        element: PhantomData,
                    })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if seen {
                Ok(())
            } else {
                Err(A::Error::missing_field("value"))
            }
        }
    }

    struct List<'f, T, E, F> {
        each: &'f mut F,
        failed: &'f mut Option<E>,
        element: PhantomData<T>,
    }

    impl<'de, T: Deserialize<'de>, E, F: FnMut(T) -> Result<(), E>> DeserializeSeed<'de>
        for List<'_, T, E, F>
    {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_seq(self)
        }
    }

    impl<'de, T: Deserialize<'de>, E, F: FnMut(T) -> Result<(), E>> Visitor<'de> for List<'_, T, E, F> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(element) = seq.next_element::<T>()? {
                if let Err(error) = (self.each)(element) {
                    *self.failed = Some(error);
                    return Err(A::Error::custom("stopped by the reader"));
                }
            }
            Ok(())
        }
    }
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
    fn read_each_hands_on_every_element_and_stops_at_the_first_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(
            &path,
            b"\xEF\xBB\xBF{\"@odata.context\": {\"a\": [1]}, \"value\": [1, 2, 3]}",
        )
        .unwrap();
        let mut seen = Vec::new();
        let done = read_each::<u32, ()>(&path, |n| {
            seen.push(n);
            Ok(())
        });
        assert!(matches!(done, Ok(Ok(()))));
        assert_eq!(seen, [1, 2, 3]);
        let stopped = read_each::<u32, String>(&path, |n| {
            if n == 2 {
                Err(format!("refused {n}"))
            } else {
                Ok(())
            }
        });
        assert_eq!(stopped.unwrap(), Err("refused 2".to_string()));
        for (body, needle) in [
            (&b"{\"value\": [1, \"x\"]}"[..], "line 1"),
            (b"{\"values\": []}", "missing field `value`"),
            (b"{\"value\": []} trailing", "trailing"),
            (b"[1]", "a collection"),
        ] {
            std::fs::write(&path, body).unwrap();
            let error = read_each::<u32, ()>(&path, |_| Ok(())).unwrap_err();
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

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
