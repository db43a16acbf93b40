//! `Log`: the one way to query calls, live or read back from a file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::call::{Call, Status};
use crate::cost::Cost;
use crate::error::LogError;
use crate::format::{self, Line};
use crate::reader::LogReader;
use crate::session::Session;

/// A set of recorded calls with the sessions they belong to: the live
/// recording ([`log()`](crate::log)) or a session log file ([`Log::open`]).
///
/// Calls are ordered by session, then by `seq` (the order in which they
/// started), so [`Log::replay`]`(0)` is the first call made.
///
/// ```
/// # use backstep_core as backstep;
/// let log = backstep::Log::from_jsonl(concat!(
///   r#"{"type":"call","session":"s","seq":1,"parent":0,"tool":"fetch","inputs":{},"output":null,"status":"error","error":"timeout","started_at":"2026-01-01T00:00:00Z","duration_ms":5,"cost_usd":0.01,"thread":"main"}"#, "\n",
///   r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"plan","inputs":{},"output":1,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":9,"cost_usd":0.002,"thread":"main"}"#,
/// )).unwrap();
/// assert_eq!(log.replay(0).unwrap().tool(), "plan");
/// assert_eq!(log.total_cost(), backstep::Cost::from_usd(0.012));
/// assert_eq!(log.with_status(backstep::Status::Error).count(), 1);
/// assert_eq!(log.children(0).map(|c| c.tool()).collect::<Vec<_>>(), ["fetch"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Log {
    sessions: Vec<Session>,
    calls: Vec<Call>,
    warnings: Vec<String>,
}

/// Per-tool figures from [`Log::stats_by_tool`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolStats {
    /// Number of calls.
    pub calls: u64,
    /// Calls that ended with `error`.
    pub errors: u64,
    /// Calls that panicked.
    pub panicked: u64,
    /// Calls that were cancelled.
    pub cancelled: u64,
    /// Sum of the calls' costs (exact).
    pub cost: Cost,
    /// Sum of the calls' durations.
    pub duration: Duration,
}

impl Log {
    /// Reads a session log file (JSON Lines, any number of sessions).
    ///
    /// A last line that is cut off (the program died while writing it) is
    /// dropped with a warning on stderr and in [`Log::warnings`]; the rest is kept.
    ///
    /// # Errors
    /// [`LogError::Io`] if the file cannot be read, [`LogError::Corrupt`] naming
    /// the line if any other line is not a backstep record.
    ///
    /// ```no_run
    /// # use backstep_core as backstep;
    /// let log = backstep::Log::open("run.jsonl")?;
    /// println!("{} calls, {}", log.len(), log.total_cost());
    /// # Ok::<(), backstep::LogError>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Log, LogError> {
        let path = path.as_ref();
        let io = |source| LogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        if file.metadata().map_err(io)?.is_dir() {
            return Err(io(std::io::Error::other("it is a directory")));
        }
        let len = file.metadata().map_or(0, |m| m.len());
        let log = Log::read(file, path, len)?;
        for w in &log.warnings {
            eprintln!("backstep: warning: {w}");
        }
        Ok(log)
    }

    /// Reads a log from any reader; `name` is used in error messages.
    ///
    /// # Errors
    /// As [`Log::open`].
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let log = backstep::Log::from_reader(&b""[..], "empty.jsonl").unwrap();
    /// assert!(log.is_empty());
    /// ```
    pub fn from_reader(reader: impl Read, name: impl AsRef<Path>) -> Result<Log, LogError> {
        Log::read(reader, name.as_ref(), 0)
    }

    /// Reads a log of about `len` bytes (0: unknown).
    fn read(reader: impl Read, name: &Path, len: u64) -> Result<Log, LogError> {
        let mut lines = LogReader::new(reader, name);
        let mut log = Log::default();
        // Room for every call at once, estimated from the first chunk:
        // growing a vector of a million calls by doubling copies it ~20 times.
        if len > 0 {
            let head = lines.peek().map_err(|source| LogError::Io {
                path: name.to_path_buf(),
                source,
            })?;
            #[allow(clippy::naive_bytecount)] // one chunk once: no crate for it
            let count = head.iter().filter(|&&b| b == b'\n').count();
            if let Some(per_line) = head.len().checked_div(count) {
                // A call line is never under ~200 bytes (its fixed
                // fields): short first lines do not inflate the guess.
                let estimate = usize::try_from(len).unwrap_or(0) / per_line.max(200);
                log.calls.reserve(estimate);
            }
        }
        while let Some(line) = lines.next_line() {
            log.push_line(line?);
        }
        log.warnings = lines.take_warnings();
        log.sort();
        Ok(log)
    }

    /// Parses log text held in memory (errors name the place `<memory>`).
    ///
    /// # Errors
    /// As [`Log::open`].
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert!(backstep::Log::from_jsonl("").unwrap().is_empty());
    /// ```
    pub fn from_jsonl(text: &str) -> Result<Log, LogError> {
        Log::from_reader(text.as_bytes(), "<memory>")
    }

    pub(crate) fn from_parts(sessions: Vec<Session>, calls: Vec<Call>) -> Log {
        let mut log = Log {
            sessions,
            calls,
            warnings: Vec::new(),
        };
        log.sort();
        log
    }

    fn push_line(&mut self, line: Line) {
        match line {
            Line::Call(call) => {
                if !self.sessions.iter().any(|s| s.id == call.session) {
                    self.sessions.push(Session {
                        id: call.session.clone(),
                        name: None,
                        started_at: None,
                        pid: None,
                        backstep_version: None,
                        format: None,
                        end: None,
                    });
                }
                self.calls.push(call);
            }
            Line::Session(s) => match self.sessions.iter_mut().find(|x| x.id == s.id) {
                Some(existing) => {
                    let end = existing.end.take();
                    *existing = Session { end, ..s };
                }
                None => self.sessions.push(s),
            },
            Line::End(id, end) => match self.sessions.iter_mut().find(|x| x.id == id) {
                Some(s) => s.end = Some(end),
                None => self.sessions.push(Session {
                    id,
                    name: None,
                    started_at: None,
                    pid: None,
                    backstep_version: None,
                    format: None,
                    end: Some(end),
                }),
            },
        }
    }

    fn sort(&mut self) {
        let order: std::collections::HashMap<&str, usize> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (&*s.id, i))
            .collect();
        // Calls in a row mostly share a session: look up its rank once.
        let mut last: Option<(*const str, usize)> = None;
        let mut key = |c: &Call| -> (usize, u64) {
            let id = Arc::as_ptr(&c.session);
            let rank = match last {
                Some((s, rank)) if std::ptr::eq(s, id) => rank,
                _ => {
                    let rank = order.get(&*c.session).copied().unwrap_or(usize::MAX);
                    last = Some((id, rank));
                    rank
                }
            };
            (rank, c.seq)
        };
        // A log is mostly in order already (a parent's line comes after its
        // children's): checking costs no moves of the calls.
        let mut prev = (0, 0);
        let sorted = self.calls.iter().all(|c| {
            let k = key(c);
            std::mem::replace(&mut prev, k) <= k
        });
        if !sorted {
            // Keys once each, then the calls moved once each (stable).
            self.calls.sort_by_cached_key(key);
        }
    }

    /// Only the calls (and the session) with id `session`: sequence numbers
    /// restart in every process, so narrow a file holding several runs to one
    /// before looking calls up by `seq`.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let call = |s: &str| format!(r#"{{"type":"call","session":"{s}","seq":0,"parent":null,"tool":"t","inputs":{{}},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":0,"cost_usd":0.5,"thread":"main"}}"#);
    /// let log = backstep::Log::from_jsonl(&format!("{}\n{}", call("a"), call("b"))).unwrap();
    /// assert_eq!(log.len(), 2);
    /// let b = log.for_session("b");
    /// assert_eq!((b.len(), b.sessions().len(), b.get(0).unwrap().session()), (1, 1, "b"));
    /// ```
    #[must_use]
    pub fn for_session(&self, session: &str) -> Log {
        Log {
            sessions: self
                .sessions
                .iter()
                .filter(|s| &*s.id == session)
                .cloned()
                .collect(),
            calls: self
                .calls
                .iter()
                .filter(|c| &*c.session == session)
                .cloned()
                .collect(),
            warnings: self.warnings.clone(),
        }
    }

    /// The last session in the log (the latest run, in a file runs append to).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert!(backstep::Log::from_jsonl("").unwrap().last_session().is_empty());
    /// ```
    #[must_use]
    pub fn last_session(&self) -> Log {
        match self.sessions.last() {
            Some(s) => self.for_session(&s.id.clone()),
            None => Log::default(),
        }
    }

    /// Every call, in start order.
    #[must_use]
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// Iterates over the calls in start order.
    pub fn iter(&self) -> std::slice::Iter<'_, Call> {
        self.calls.iter()
    }

    /// The sessions the calls belong to, in the order they appear.
    #[must_use]
    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// Problems that did not stop reading (a cut-off last line).
    #[must_use]
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of calls.
    #[must_use]
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether there are no calls.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Call number `i` in start order (0 is the first call made), with its
    /// inputs and output: the call to look at, or to make again.
    #[must_use]
    pub fn replay(&self, i: usize) -> Option<&Call> {
        self.calls.get(i)
    }

    /// The call with sequence number `seq` (in the first session that has one;
    /// see [`Log::for_session`] for files holding several runs).
    #[must_use]
    pub fn get(&self, seq: u64) -> Option<&Call> {
        self.calls.iter().find(|c| c.seq == seq)
    }

    /// The calls of one tool.
    pub fn by_tool<'a>(&'a self, tool: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls.iter().filter(move |c| c.tool() == tool)
    }

    /// The calls that ended with `status`.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Call> + '_ {
        self.calls.iter().filter(move |c| c.status == status)
    }

    /// The calls made directly from call `seq` (same session).
    pub fn children(&self, seq: u64) -> impl Iterator<Item = &Call> + '_ {
        let session = self.get(seq).map(|c| c.session.clone());
        self.calls
            .iter()
            .filter(move |c| c.parent == Some(seq) && Some(&c.session) == session.as_ref())
    }

    /// How many calls `tool` got.
    #[must_use]
    pub fn count(&self, tool: &str) -> usize {
        self.by_tool(tool).count()
    }

    /// The exact sum of every call's cost.
    #[must_use]
    pub fn total_cost(&self) -> Cost {
        self.calls.iter().map(|c| c.cost).sum()
    }

    /// Exact cost per tool name.
    #[must_use]
    pub fn cost_by_tool(&self) -> BTreeMap<String, Cost> {
        let mut out = BTreeMap::new();
        for c in &self.calls {
            *out.entry(c.tool().to_string()).or_insert(Cost::ZERO) += c.cost;
        }
        out
    }

    /// The sum of the durations of the top-level calls (those without a parent),
    /// so nested calls are not counted twice.
    #[must_use]
    pub fn total_duration(&self) -> Duration {
        self.calls
            .iter()
            .filter(|c| c.parent.is_none())
            .map(|c| c.duration)
            .sum()
    }

    /// Calls, errors, cost and time per tool name.
    #[must_use]
    pub fn stats_by_tool(&self) -> BTreeMap<String, ToolStats> {
        let mut out: BTreeMap<String, ToolStats> = BTreeMap::new();
        for c in &self.calls {
            // `get_mut` first: `entry` would allocate the key for every call.
            if !out.contains_key(c.tool()) {
                out.insert(c.tool().to_string(), ToolStats::default());
            }
            let Some(s) = out.get_mut(c.tool()) else {
                continue;
            };
            s.calls += 1;
            match c.status {
                Status::Ok => {}
                Status::Error => s.errors += 1,
                Status::Panicked => s.panicked += 1,
                Status::Cancelled => s.cancelled += 1,
            }
            s.cost += c.cost;
            s.duration += c.duration;
        }
        out
    }

    /// The calls as stable JSON for snapshot tests: time, duration, session
    /// and thread are left out, and `seq`/`parent` are renumbered from 0 in
    /// start order, so the same run gives the same snapshot.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let log = backstep::Log::from_jsonl(r#"{"type":"call","session":"s","seq":41,"parent":null,"tool":"t","inputs":{"n":1},"output":2,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":3,"cost_usd":0.5,"thread":"main"}"#).unwrap();
    /// assert_eq!(
    ///     log.snapshot_json(),
    ///     serde_json::json!([{"seq": 0, "parent": null, "tool": "t", "inputs": {"n": 1},
    ///                         "output": 2, "status": "ok", "error": null, "cost_usd": 0.5}])
    /// );
    /// ```
    #[must_use]
    pub fn snapshot_json(&self) -> serde_json::Value {
        use serde_json::Value;
        let index: std::collections::HashMap<(&str, u64), usize> = self
            .calls
            .iter()
            .enumerate()
            .map(|(i, c)| ((&*c.session, c.seq), i))
            .collect();
        Value::Array(
            self.calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let mut m = serde_json::Map::new();
                    m.insert("seq".into(), i.into());
                    m.insert(
                        "parent".into(),
                        c.parent
                            .and_then(|p| index.get(&(&*c.session, p)))
                            .map_or(Value::Null, |&p| p.into()),
                    );
                    m.insert("tool".into(), c.tool().into());
                    m.insert("inputs".into(), c.inputs());
                    m.insert(
                        "output".into(),
                        serde_json::from_str(c.output_json()).unwrap_or(Value::Null),
                    );
                    m.insert("status".into(), c.status().as_str().into());
                    m.insert("error".into(), c.error().map_or(Value::Null, Into::into));
                    let mut cost = String::new();
                    c.cost().write_decimal(&mut cost);
                    m.insert(
                        "cost_usd".into(),
                        serde_json::from_str(&cost).unwrap_or(Value::Null),
                    );
                    if c.replayed() {
                        m.insert("replayed".into(), true.into());
                    }
                    Value::Object(m)
                })
                .collect(),
        )
    }

    /// [`Log::snapshot_json`] as pretty text, for `insta::assert_snapshot!`,
    /// `expect_test`, or a file the test compares with.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert_eq!(backstep::Log::from_jsonl("").unwrap().snapshot(), "[]");
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> String {
        serde_json::to_string_pretty(&self.snapshot_json()).unwrap_or_default()
    }

    /// Writes the log as JSON Lines in format v1 (headers, calls, end lines).
    ///
    /// # Errors
    /// What the writer returns.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let text = r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00.000000Z","duration_ms":0,"cost_usd":0,"thread":"main"}"#;
    /// let mut out = Vec::new();
    /// backstep::Log::from_jsonl(text).unwrap().write_jsonl(&mut out).unwrap();
    /// assert!(String::from_utf8(out).unwrap().contains(r#""tool":"t""#));
    /// ```
    pub fn write_jsonl(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        let mut buf = String::new();
        for s in &self.sessions {
            buf.clear();
            if s.started_at.is_some() {
                format::write_session(&mut buf, s);
            }
            for c in self.calls.iter().filter(|c| c.session == s.id) {
                format::write_call(&mut buf, &c.line());
            }
            if let Some(end) = &s.end {
                format::write_end(&mut buf, &s.id, end);
            }
            w.write_all(buf.as_bytes())?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Log {
    type Item = &'a Call;
    type IntoIter = std::slice::Iter<'a, Call>;
    fn into_iter(self) -> Self::IntoIter {
        self.calls.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":0.5,"thread":"main"}"#;

    #[test]
    fn cut_last_line_is_a_warning() {
        let text = format!("{CALL}\n{}", &CALL[..40]);
        let log = Log::from_jsonl(&text).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log.warnings().len(), 1);
        assert!(
            log.warnings()[0].starts_with("<memory>:2: last line is cut off"),
            "{:?}",
            log.warnings()
        );
    }

    #[test]
    fn a_byte_order_mark_before_the_first_line_is_skipped() {
        let log = Log::from_jsonl(&format!("\u{feff}{CALL}\n{CALL}\n")).unwrap();
        assert_eq!(log.len(), 2);
        assert!(log.warnings().is_empty());
        // Anywhere else it is not part of the format.
        assert!(Log::from_jsonl(&format!("{CALL}\n\u{feff}{CALL}\n")).is_err());
    }

    #[test]
    fn a_header_from_a_newer_format_is_read_with_a_warning() {
        let header = r#"{"type":"session","session":"s","name":null,"started_at":"2026-01-01T00:00:00Z","pid":1,"backstep_version":"9.0.0","format":7}"#;
        let log = Log::from_jsonl(&format!("{header}\n{CALL}\n")).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            log.warnings(),
            ["<memory>:1: session s was written in log format 7, newer than this backstep reads (1); fields it does not know are ignored"]
        );
        let text = format!("{header}\n{CALL}\n");
        let mut reader = crate::LogReader::new(text.as_bytes(), "r.jsonl");
        assert_eq!(reader.by_ref().filter_map(Result::ok).count(), 2);
        assert_eq!(reader.warnings().len(), 1);
    }

    #[test]
    fn corrupt_middle_line_names_the_line() {
        let text = format!("{CALL}\n{{oops\n{CALL}\n");
        let err = Log::from_jsonl(&text).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("<memory>:2: not a JSON record:"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_last_line_with_newline_is_an_error() {
        let err = Log::from_jsonl(&format!("{CALL}\n{{\"a\":1}}\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "<memory>:2: not a backstep record (no `type` field)"
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_names_the_line() {
        let mut bytes = format!("{CALL}\n").into_bytes();
        bytes.extend_from_slice(b"{\"type\":\"call\xff\"}\n");
        bytes.extend_from_slice(format!("{CALL}\n").as_bytes());
        let err = Log::from_reader(&bytes[..], "run.jsonl").unwrap_err();
        assert_eq!(
            err.to_string(),
            "run.jsonl:2: not UTF-8 text (invalid utf-8 sequence of 1 bytes from index 13)"
        );
    }

    #[test]
    fn escaped_strings_and_many_tools_read_back_as_written() {
        let line = |tool: &str, seq: u64| {
            CALL.replace(
                "\"tool\":\"t\"",
                &format!("\"tool\":{}", serde_json::json!(tool)),
            )
            .replace("\"seq\":0", &format!("\"seq\":{seq}"))
            .replace("\"session\":\"s\"", "\"session\":\"s\\u0031\"")
        };
        let tools = ["a\"b", "t1", "t2", "t3", "t4", "t5", "a\"b", "t1"];
        let text: String = tools
            .iter()
            .enumerate()
            .map(|(i, t)| line(t, i as u64) + "\n")
            .collect();
        let log = Log::from_jsonl(&text).unwrap();
        let read: Vec<&str> = log.calls().iter().map(Call::tool).collect();
        assert_eq!(read, tools);
        assert!(log
            .calls()
            .iter()
            .all(|c| c.session() == "s1" && c.thread() == "main"));
        // One copy of each string, whichever cache found it.
        let first = log.get(0).unwrap();
        let again = log.get(6).unwrap();
        assert!(Arc::ptr_eq(&first.session, &again.session));
        assert!(Arc::ptr_eq(&first.thread, &again.thread));
    }

    #[test]
    fn calls_come_out_by_session_then_seq() {
        let call = |session: &str, seq: u64| {
            CALL.replace("\"session\":\"s\"", &format!("\"session\":\"{session}\""))
                .replace("\"seq\":0", &format!("\"seq\":{seq}"))
        };
        let text = [
            call("a", 2),
            call("b", 1),
            call("a", 0),
            call("b", 0),
            call("a", 1),
        ]
        .join("\n");
        let log = Log::from_jsonl(&text).unwrap();
        let order: Vec<(&str, u64)> = log.calls().iter().map(|c| (c.session(), c.seq())).collect();
        assert_eq!(order, [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]);
        let sorted = Log::from_jsonl(&[call("a", 0), call("a", 1)].join("\n")).unwrap();
        assert_eq!(
            sorted.calls().iter().map(Call::seq).collect::<Vec<_>>(),
            [0, 1]
        );
    }
}
