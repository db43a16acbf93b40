//! Where finished lines go besides memory: an append-only file.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::recorder::warn_once;

/// A JSON Lines file opened for appending. Each record is handed to the kernel
/// with one `write_all` of one complete line, so anything written survives the
/// process being killed; nothing is buffered in user space. Threads write
/// through a shared reference: each `write` of an `O_APPEND` file lands whole
/// at the end, so lines from two threads never interleave.
pub(crate) struct FileSink {
    path: PathBuf,
    file: File,
    failed: AtomicBool,
}

fn ends_without_newline(file: &mut File) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return false;
    };
    if len == 0 || file.seek(SeekFrom::Start(len - 1)).is_err() {
        return false;
    }
    let mut last = [0u8; 1];
    file.read_exact(&mut last).is_ok() && last[0] != b'\n'
}

impl FileSink {
    /// Opens (creating parent directories) `path` for appending.
    pub(crate) fn open(path: &Path) -> std::io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        // A run killed mid-write left a cut last line: end it, so the next
        // line (this run's) is not glued onto it and the file stays readable.
        if ends_without_newline(&mut file) {
            file.write_all(b"\n")?;
        }
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
            failed: AtomicBool::new(false),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes complete lines; `false` when they did not all go out. A
    /// failure (full disk, revoked permission) warns once and is otherwise
    /// swallowed: the recorder keeps in memory the call the file did not take.
    pub(crate) fn write(&self, lines: &str) -> bool {
        match (&self.file).write_all(lines.as_bytes()) {
            Ok(()) => true,
            Err(e) => {
                self.failed_with(&e);
                false
            }
        }
    }

    fn failed_with(&self, e: &std::io::Error) {
        if !self.failed.swap(true, Ordering::Relaxed) {
            warn_once(
                &crate::recorder::WARNED_WRITE,
                &format!(
                    "cannot write to the session log {}: {e}; calls are still recorded in memory (backstep::log(), backstep::dump())",
                    self.path.display()
                ),
            );
        }
    }

    /// Writes one line given in parts, with one `writev`: the kernel appends
    /// it whole (the file's lock is held for all of it), as one `write`
    /// would, without the parts being copied together first. A short write
    /// (rare: a full disk, a signal) is finished with the rest in one buffer.
    pub(crate) fn write_parts(&self, parts: &[&str]) -> bool {
        if let [line] = parts {
            return self.write(line);
        }
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p.as_bytes())).collect();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let written = loop {
            match (&self.file).write_vectored(&slices) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed_with(&e);
                    return false;
                }
                Ok(n) => break n,
            }
        };
        if written < total {
            // Bytes, not `str`: the kernel may have stopped inside a character.
            let rest: Vec<u8> = parts.iter().flat_map(|p| p.bytes()).skip(written).collect();
            if let Err(e) = (&self.file).write_all(&rest) {
                self.failed_with(&e);
                return false;
            }
        }
        true
    }

    /// Asks the OS to put what was written on disk (at session end).
    pub(crate) fn sync(&self) {
        let _ = self.file.sync_data();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_in_parts_lands_whole_after_what_is_there() {
        let path = std::env::temp_dir().join(format!("backstep-sink-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let sink = FileSink::open(&path).unwrap();
        assert!(sink.write("first\n"));
        let big = "y".repeat(100_000);
        assert!(sink.write_parts(&["{\"a\":", &big, ",\"b\":", "2", "}\n"]));
        assert!(sink.write_parts(&["last\n"]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("first\n{{\"a\":{big},\"b\":2}}\nlast\n"));
        assert!(!sink.failed.load(Ordering::Relaxed));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_failed_write_in_parts_is_noted() {
        let Ok(sink) = FileSink::open(Path::new("/dev/full")) else {
            return; // not on this system
        };
        assert!(!sink.write_parts(&["a", "b"]));
        assert!(sink.failed.load(Ordering::Relaxed));
        assert!(!sink.write("c\n"));
    }
}
