//! `LogReader`: a session log read one record at a time, in bounded memory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::call::Call;
use crate::error::LogError;
use crate::format::{self, Interner, Line};
use crate::lines::Lines;
use crate::session::{Session, SessionEnd};

/// One line of a session log: a session header, a call or a session's end.
///
/// ```
/// # use backstep_core as backstep;
/// use backstep::Record;
/// let line = r#"{"type":"end","session":"s1","ended_at":"2026-12-03T19:00:01Z","calls":3,"errors":1,"panicked":0,"cancelled":0,"cost_usd":0.25}"#;
/// match Record::parse(line).unwrap() {
///     Record::End { session, end } => assert_eq!((session.as_str(), end.calls()), ("s1", 3)),
///     other => panic!("not an end line: {other:?}"),
/// }
/// assert!(Record::parse(r#"{"name":"not a log"}"#).is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// A session header: the first line a run writes.
    Session(Session),
    /// One finished call (lines are written when calls finish, so a child's
    /// line comes before its parent's).
    Call(Call),
    /// A session's end line, with its totals.
    End {
        /// The id of the session that ended.
        session: String,
        /// The totals written on the line.
        end: SessionEnd,
    },
}

impl Record {
    /// Parses one line of a log (format v1, without its newline).
    ///
    /// # Errors
    /// A message saying what is wrong with the line (without its place: add
    /// the file and line number yourself), when it is not JSON or not a
    /// backstep record.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let err = backstep::Record::parse("{\"type\":\"call\"").unwrap_err();
    /// assert!(err.starts_with("not a JSON record"), "{err}");
    /// ```
    pub fn parse(line: &str) -> Result<Record, String> {
        format::parse_line(line, &mut Interner::default()).map(Record::from)
    }

    /// The record as one line of format v1, with its newline: what the
    /// recorder wrote (a header read without one is written with `format` 1).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let line = r#"{"type":"session","session":"s1","name":null,"started_at":"2026-12-03T19:00:00.000000Z","pid":7,"backstep_version":"0.1.0","format":1}"#;
    /// assert_eq!(backstep::Record::parse(line).unwrap().to_jsonl(), format!("{line}\n"));
    /// ```
    #[must_use]
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        match self {
            Record::Session(s) => format::write_session(&mut out, s),
            Record::Call(c) => format::write_call(&mut out, &c.line()),
            Record::End { session, end } => format::write_end(&mut out, session, end),
        }
        out
    }
}

impl From<Line> for Record {
    fn from(line: Line) -> Record {
        match line {
            Line::Session(s) => Record::Session(s),
            Line::Call(c) => Record::Call(c),
            Line::End(session, end) => Record::End {
                session: session.to_string(),
                end,
            },
        }
    }
}

impl Call {
    /// The call as one line of the session log (format v1), with its newline:
    /// what `calls --json` prints, and what [`Log::from_jsonl`](crate::Log::from_jsonl) reads back.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let line = r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{"n":1},"output":[1,2],"status":"ok","error":null,"started_at":"2026-01-01T00:00:00.000000Z","duration_ms":1.5,"cost_usd":0.003,"thread":"main"}"#;
    /// let log = backstep::Log::from_jsonl(line).unwrap();
    /// assert_eq!(log.replay(0).unwrap().to_jsonl(), format!("{line}\n"));
    /// ```
    #[must_use]
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        format::write_call(&mut out, &self.line());
        out
    }
}

/// Reads a session log one [`Record`] at a time, in file order, holding one
/// line in memory: for logs too large to load as a [`Log`](crate::Log).
///
/// It judges lines as [`Log::open`](crate::Log::open) does: a line cut off
/// by a crash (the last line, one followed by a new session's header, or one
/// ended later with a newline) is skipped and reported in
/// [`LogReader::warnings`] (not on stderr: the caller decides), and any other
/// line that is not a backstep record is one [`LogError::Corrupt`] naming the
/// file and line, after which the iteration ends.
///
/// ```
/// # use backstep_core as backstep;
/// use backstep::{LogReader, Record};
/// let text = concat!(
///     r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":2,"cost_usd":0.5,"thread":"main"}"#, "\n",
///     r#"{"type":"call","session":"s","seq":1,"par"#, // cut off by a crash
/// );
/// let mut reader = LogReader::new(text.as_bytes(), "run.jsonl");
/// let mut calls = 0;
/// for record in &mut reader {
///     if let Record::Call(call) = record? {
///         calls += 1;
///         assert_eq!(call.tool(), "t");
///     }
/// }
/// assert_eq!(calls, 1);
/// assert!(reader.warnings()[0].starts_with("run.jsonl:2: last line is cut off"));
/// # Ok::<(), backstep::LogError>(())
/// ```
pub struct LogReader<R> {
    lines: Lines<R>,
    name: PathBuf,
    interner: Interner,
    line: usize,
    calls: u64,
    /// A line that did not parse: an error unless it turns out to be the last.
    pending: Option<(usize, String, bool)>,
    warnings: Vec<String>,
    done: bool,
}

impl<R> std::fmt::Debug for LogReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("name", &self.name)
            .field("line", &self.line)
            .field("calls", &self.calls)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl LogReader<File> {
    /// Opens a session log file for reading record by record.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be opened or is a directory.
    ///
    /// ```no_run
    /// # use backstep_core as backstep;
    /// for record in backstep::LogReader::open("run.jsonl")? {
    ///     if let backstep::Record::Call(call) = record? {
    ///         println!("{} {}", call.seq(), call.tool());
    ///     }
    /// }
    /// # Ok::<(), backstep::LogError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<LogReader<File>, LogError> {
        let path = path.as_ref();
        let io = |source| LogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(std::io::Error::other("it is a directory")));
        }
        Ok(LogReader::new(file, path))
    }
}

impl<R: Read> LogReader<R> {
    /// Reads records from any reader; `name` is used in errors and warnings.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert_eq!(backstep::LogReader::new(&b""[..], "empty.jsonl").count(), 0);
    /// ```
    pub fn new(reader: R, name: impl AsRef<Path>) -> LogReader<R> {
        LogReader {
            lines: Lines::new(reader),
            name: name.as_ref().to_path_buf(),
            interner: Interner::default(),
            line: 0,
            calls: 0,
            pending: None,
            warnings: Vec::new(),
            done: false,
        }
    }

    /// Problems that did not stop reading (a cut-off last line), once the
    /// iteration has ended.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let mut reader = backstep::LogReader::new(&b"{\"type\":"[..], "cut.jsonl");
    /// assert!(reader.next().is_none());
    /// assert_eq!(reader.warnings().len(), 1);
    /// ```
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The number of lines read so far (1-based number of the last one).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let mut reader = backstep::LogReader::new(&b"\n\n"[..], "blank.jsonl");
    /// assert!(reader.next().is_none());
    /// assert_eq!(reader.line(), 2);
    /// ```
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    fn corrupt(&self, line: usize, message: String) -> LogError {
        LogError::Corrupt {
            path: self.name.clone(),
            line,
            message,
        }
    }
}

impl<R: Read> LogReader<R> {
    /// What is read ahead (for an estimate of the whole, before the first line).
    pub(crate) fn peek(&mut self) -> std::io::Result<&[u8]> {
        self.lines.peek()
    }

    /// The warnings so far, taken.
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// The next parsed line: how both `LogReader` and [`Log`](crate::Log)
    /// read, so the two judge every line alike.
    ///
    /// A bad line waits to be judged until the next line is known. It is a
    /// warning, not an error, when it is the last line and has no newline,
    /// when the next line starts a new session (a run died mid-line and the
    /// next one appended to the file), or when it is JSON cut short (a run
    /// died mid-line and a resume, or the next run, ended it with a newline).
    /// Any other bad line is one [`LogError::Corrupt`], and the end.
    pub(crate) fn next_line(&mut self) -> Option<Result<Line, LogError>> {
        loop {
            if self.done {
                return None;
            }
            let bytes = match self.lines.next_line() {
                Ok(Some(bytes)) => bytes,
                Ok(None) => {
                    self.done = true;
                    let (line, message, complete) = self.pending.take()?;
                    if complete {
                        return Some(Err(self.corrupt(line, message)));
                    }
                    self.warnings.push(format!(
                        "{}:{line}: last line is cut off (the program stopped while writing it); ignored it and kept the {} calls before it",
                        self.name.display(),
                        self.calls
                    ));
                    return None;
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(LogError::Io {
                        path: self.name.clone(),
                        source,
                    }));
                }
            };
            self.line += 1;
            let complete = bytes.ends_with(b"\n");
            let parsed = match format::line_str(bytes, self.line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => format::parse_line(text, &mut self.interner)
                    .map_err(|message| (message, complete && format::is_cut_json(text))),
                Err(message) => Err((message, complete && format::is_cut_utf8(bytes))),
            };
            if let Some((line, message, _)) = self.pending.take() {
                if matches!(parsed, Ok(Line::Session(_))) {
                    self.cut_off(line, &message);
                } else {
                    self.done = true;
                    return Some(Err(self.corrupt(line, message)));
                }
            }
            match parsed {
                Ok(line) => {
                    if let Some(w) = format::format_warning(&line, &self.name, self.line) {
                        self.warnings.push(w);
                    }
                    if matches!(line, Line::Call(_)) {
                        self.calls += 1;
                    }
                    return Some(Ok(line));
                }
                Err((message, true)) => self.cut_off(self.line, &message),
                Err((message, false)) => self.pending = Some((self.line, message, complete)),
            }
        }
    }

    fn cut_off(&mut self, line: usize, message: &str) {
        self.warnings.push(format!(
            "{}:{line}: a line cut off when its run stopped ({message}); ignored it",
            self.name.display()
        ));
    }
}

impl<R: Read> Iterator for LogReader<R> {
    type Item = Result<Record, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_line().map(|r| r.map(Record::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":0.5,"thread":"main"}"#;

    fn read(text: &str) -> (Vec<Result<Record, String>>, Vec<String>) {
        let mut reader = LogReader::new(text.as_bytes(), "t.jsonl");
        let items = (&mut reader)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        (items, reader.warnings().to_vec())
    }

    #[test]
    fn corrupt_middle_line_is_one_error_then_the_end() {
        let (items, warnings) = read(&format!("{CALL}\n{{oops\n{CALL}\n{CALL}\n"));
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        let err = items[1].as_ref().unwrap_err();
        assert!(err.starts_with("t.jsonl:2: not a JSON record:"), "{err}");
        assert!(warnings.is_empty());
    }

    #[test]
    fn cut_last_line_is_a_warning_and_complete_bad_last_line_an_error() {
        let (items, warnings) = read(&format!("{CALL}\n\n{}", &CALL[..30]));
        assert_eq!(items.len(), 1);
        assert_eq!(
            warnings,
            ["t.jsonl:3: last line is cut off (the program stopped while writing it); ignored it and kept the 1 calls before it"]
        );
        let (items, _) = read(&format!("{CALL}\n{{\"a\":1}}\n"));
        assert_eq!(
            items[1].as_ref().unwrap_err(),
            "t.jsonl:2: not a backstep record (no `type` field)"
        );
    }

    #[test]
    fn records_round_trip_as_lines() {
        let text = concat!(
            r#"{"type":"session","session":"s","name":"n","started_at":"2026-01-01T00:00:00.000000Z","pid":1,"backstep_version":"0.1.0","format":1}"#,
            "\n",
            r#"{"type":"end","session":"s","ended_at":"2026-01-01T00:00:01.000000Z","calls":1,"errors":0,"panicked":0,"cancelled":0,"cost_usd":0.5}"#,
            "\n",
        );
        let (items, _) = read(text);
        let back: String = items
            .iter()
            .map(|r| r.as_ref().unwrap().to_jsonl())
            .collect();
        assert_eq!(back, text);
    }

    const HEADER: &str = r#"{"type":"session","session":"b","name":null,"started_at":"2026-01-01T00:00:00.000000Z","pid":1,"backstep_version":"0.1.0","format":7}"#;

    /// What `Log` makes of the same text: its calls' tools, its warnings and error.
    fn read_as_log(text: &str) -> (usize, Vec<String>, Option<String>) {
        match crate::Log::from_reader(text.as_bytes(), "t.jsonl") {
            Ok(log) => (log.len(), log.warnings().to_vec(), None),
            Err(e) => (0, Vec::new(), Some(e.to_string())),
        }
    }

    #[test]
    fn a_cut_line_before_a_new_session_or_ended_later_is_a_warning_as_in_log() {
        let cut = &CALL[..50];
        let other = CALL.replace("\"session\":\"s\"", "\"session\":\"b\"");
        let garbage = "{oops";
        for (text, warning) in [
            // The next run appended its header after the cut line (blank
            // lines between do not matter).
            (
                format!("{CALL}\n{garbage}\n\n{HEADER}\n{other}\n"),
                "t.jsonl:2: a line cut off when its run stopped (not a JSON record: key must be a string at line 1 column 2); ignored it",
            ),
            // A resume ended the cut line with a newline and went on.
            (
                format!("{CALL}\n{cut}\n{other}\n"),
                "t.jsonl:2: a line cut off when its run stopped (not a JSON record: EOF while parsing an object at line 1 column 50); ignored it",
            ),
        ] {
            let (items, warnings) = read(&text);
            assert!(items.iter().all(Result::is_ok), "{items:?}");
            let calls = items.iter().filter(|r| matches!(r, Ok(Record::Call(_)))).count();
            assert_eq!(calls, 2);
            assert_eq!(warnings[0], warning);
            assert_eq!(read_as_log(&text), (2, warnings, None));
        }
        // Garbage anywhere else is an error, in both.
        let text = format!("{CALL}\n{garbage}\n{other}\n");
        let (items, _) = read(&text);
        let err = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(
            err,
            "t.jsonl:2: not a JSON record: key must be a string at line 1 column 2"
        );
        assert_eq!(read_as_log(&text).2.as_deref(), Some(err.as_str()));
    }

    #[test]
    fn warnings_come_in_line_order() {
        let text = format!("{CALL}\n{{oops\n{HEADER}\n");
        let (_, warnings) = read(&text);
        assert_eq!(warnings.len(), 2);
        assert!(
            warnings[0].starts_with("t.jsonl:2: a line cut off"),
            "{warnings:?}"
        );
        assert!(
            warnings[1].starts_with("t.jsonl:3: session b was written in log format 7"),
            "{warnings:?}"
        );
        assert_eq!(read_as_log(&text).1, warnings);
    }

    #[test]
    fn a_character_cut_by_a_crash_is_a_cut_line() {
        let mut bytes = format!("{CALL}\n").into_bytes();
        let text = CALL.replace("\"t\"", "\"日本\"");
        let at = text.find('本').unwrap() + 1; // inside the character
        bytes.extend_from_slice(&text.as_bytes()[..at]);
        bytes.push(b'\n');
        bytes.extend_from_slice(format!("{CALL}\n").as_bytes());
        let mut reader = LogReader::new(&bytes[..], "t.jsonl");
        assert_eq!((&mut reader).flatten().count(), 2);
        assert_eq!(reader.warnings().len(), 1);
        assert!(
            reader.warnings()[0]
                .starts_with("t.jsonl:2: a line cut off when its run stopped (not UTF-8 text"),
            "{:?}",
            reader.warnings()
        );
    }
}
