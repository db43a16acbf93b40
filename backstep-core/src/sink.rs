//! Where finished lines go besides memory: an append-only file.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::recorder::warn_once;

/// A JSON Lines file opened for appending. Each record is handed to the kernel
/// with one `write` (or `writev`) of one complete line, so anything written
/// survives the process being killed; nothing is buffered in user space.
/// Threads write through a shared reference: each `write` of an `O_APPEND`
/// file lands whole at the end, so lines from two threads never interleave.
pub(crate) struct FileSink {
    path: PathBuf,
    file: File,
    failed: AtomicBool,
    /// A write failed part way through a line: the next line starts with a
    /// newline, so it is not glued onto the cut one.
    cut: AtomicBool,
    /// A write has failed or been cut short: from then on lines are written
    /// one at a time, under `serial`. (A line that another thread has in
    /// the kernel at the very moment of the first failure can still land
    /// after the cut bytes; that window is one `write` wide.)
    troubled: AtomicBool,
    serial: std::sync::Mutex<()>,
}

/// One `write` call of `f`, again while interrupted; no bytes taken is an
/// error (`WriteZero`).
fn write_some(
    mut file: &File,
    mut f: impl FnMut(&mut &File) -> std::io::Result<usize>,
) -> std::io::Result<usize> {
    loop {
        match f(&mut file) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
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
            cut: AtomicBool::new(false),
            troubled: AtomicBool::new(false),
            serial: std::sync::Mutex::new(()),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes complete lines; `false` when they did not all go out. A
    /// failure (full disk, revoked permission) warns once and is otherwise
    /// swallowed: the recorder keeps in memory the call the file did not take.
    pub(crate) fn write(&self, lines: &str) -> bool {
        self.write_parts(&[lines])
    }

    fn failed_with(&self, e: &std::io::Error) {
        if !self.failed.swap(true, Ordering::Relaxed) {
            warn_once(
                &crate::recorder::WARNED_WRITE,
                &format!(
                    "cannot write to the session log {}: {e}; the calls it does not take are kept in memory (backstep::log(), backstep::dump())",
                    self.path.display()
                ),
            );
        }
    }

    /// Writes one line given in parts, with one `write` (one part) or one
    /// `writev`: the kernel appends it whole (the file's lock is held for
    /// all of it), as one `write` would, without the parts being copied
    /// together first. A short write (rare: a full disk, a file size limit,
    /// a signal) is finished with the rest. `false` when the line did not
    /// all go out: if part of it did, the next line begins with a newline.
    pub(crate) fn write_parts(&self, parts: &[&str]) -> bool {
        if self.troubled.load(Ordering::Relaxed) {
            // Once a write has failed, lines go out one at a time: the line
            // that owes the newline must not be overtaken by another
            // thread's, which would land glued onto the cut one.
            let _one_at_a_time = self
                .serial
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            return self.write_line(parts);
        }
        self.write_line(parts)
    }

    fn write_line(&self, parts: &[&str]) -> bool {
        // A load first: every write reads the flag, and a swap on every
        // write would pass its cache line between the writing threads' cores.
        let newline = self.cut.load(Ordering::Relaxed) && self.cut.swap(false, Ordering::Relaxed);
        if let ([line], false) = (parts, newline) {
            // The common case: one `write` of one line, nothing to gather.
            return match write_some(&self.file, |f| f.write(line.as_bytes())) {
                Ok(n) if n == line.len() => true,
                Ok(n) => {
                    self.troubled.store(true, Ordering::Relaxed);
                    self.write_rest(&[line], n, 0, line.len())
                }
                Err(e) => self.cut_short(0, 0, &e),
            };
        }
        let prefix = usize::from(newline);
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(parts.len() + 1);
        if newline {
            slices.push(IoSlice::new(b"\n"));
        }
        slices.extend(parts.iter().map(|p| IoSlice::new(p.as_bytes())));
        let total: usize = slices.iter().map(|s| s.len()).sum();
        match write_some(&self.file, |f| f.write_vectored(&slices)) {
            Ok(n) if n == total => true,
            Ok(n) => {
                self.troubled.store(true, Ordering::Relaxed);
                let slices: Vec<&[u8]> = slices.iter().map(|s| &**s).collect();
                self.write_rest(&slices, n, prefix, total)
            }
            Err(e) => self.cut_short(0, prefix, &e),
        }
    }

    /// Finishes a line of `total` bytes in `parts` of which the kernel took
    /// only `written` (`prefix`: the newline owed before it).
    fn write_rest<T: AsRef<[u8]>>(
        &self,
        parts: &[T],
        written: usize,
        prefix: usize,
        total: usize,
    ) -> bool {
        // Bytes, not `str`: the kernel may have stopped inside a character.
        let rest: Vec<u8> = parts
            .iter()
            .flat_map(|p| p.as_ref().iter().copied())
            .skip(written)
            .collect();
        debug_assert_eq!(written + rest.len(), total);
        let mut at = 0;
        while at < rest.len() {
            match write_some(&self.file, |f| f.write(&rest[at..])) {
                Ok(n) => at += n,
                Err(e) => return self.cut_short(written + at, prefix, &e),
            }
        }
        true
    }

    /// A line that did not all go out, `written` bytes of it (with the
    /// `prefix` newline owed from before): the newline is still owed if it
    /// did not go out, and a line cut part way through owes one.
    fn cut_short(&self, written: usize, prefix: usize, e: &std::io::Error) -> bool {
        self.troubled.store(true, Ordering::Relaxed);
        if written != prefix {
            self.cut.store(true, Ordering::Relaxed);
        }
        self.failed_with(e);
        false
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
