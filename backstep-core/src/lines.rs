//! The lines of a reader, split in one reused buffer: no copy of each line
//! into a `String`, and `memchr` to find each end.

use std::io::{self, Read};

/// How much is asked of the reader at once.
const CHUNK: usize = 1 << 18;

/// Splits a reader into lines, each with its `\n` (the last one may have
/// none). A line longer than the buffer grows it.
pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    /// `buf[start..end]` is read and not yet handed out.
    start: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
        }
    }

    /// What is read ahead and not handed out yet (the first chunk, before
    /// the first line is taken): for estimates of the whole.
    pub(crate) fn peek(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end && !self.eof {
            self.fill()?;
        }
        Ok(&self.buf[self.start..self.end])
    }

    /// The next line with its `\n`, or `None` after the last one.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        let mut searched = self.start;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[searched..self.end]) {
                let (from, to) = (self.start, searched + i + 1);
                self.start = to;
                return Ok(Some(&self.buf[from..to]));
            }
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                let from = std::mem::replace(&mut self.start, self.end);
                return Ok(Some(&self.buf[from..self.end]));
            }
            searched = self.end - self.start;
            self.fill()?;
            searched += self.start;
        }
    }

    /// Reads more after what is kept: the unfinished line moves to the
    /// front, and the buffer doubles when that line fills it.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize((self.buf.len() * 2).max(CHUNK), 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read, as a pipe does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all(data: &[u8], step: usize) -> Vec<Vec<u8>> {
        let mut lines = Lines::new(Trickle { data, step });
        let mut out = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            out.push(l.to_vec());
        }
        out
    }

    #[test]
    fn lines_keep_their_newline_and_the_last_may_have_none() {
        for step in [1, 3, 1 << 20] {
            assert_eq!(
                all(b"a\n\nbc\nd", step),
                [&b"a\n"[..], b"\n", b"bc\n", b"d"],
                "step {step}"
            );
            assert_eq!(all(b"a\n", step), [b"a\n"]);
            assert!(all(b"", step).is_empty());
        }
    }

    #[test]
    fn a_line_longer_than_the_buffer_grows_it_whole() {
        let long = vec![b'x'; CHUNK * 2 + 17];
        let mut data = b"first\n".to_vec();
        data.extend_from_slice(&long);
        data.extend_from_slice(b"\nlast\n");
        let lines = all(&data, 70_000);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], b"first\n");
        assert_eq!(&lines[1][..long.len()], &long[..]);
        assert_eq!(lines[1].len(), long.len() + 1);
        assert_eq!(lines[2], b"last\n");
    }

    #[test]
    fn peek_shows_the_first_chunk_without_taking_it() {
        let mut lines = Lines::new(&b"one\ntwo\n"[..]);
        assert_eq!(lines.peek().unwrap(), b"one\ntwo\n");
        assert_eq!(lines.next_line().unwrap(), Some(&b"one\n"[..]));
        assert_eq!(lines.peek().unwrap(), b"two\n");
    }
}
