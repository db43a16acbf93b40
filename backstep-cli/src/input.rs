//! Opening log files (or standard input) with one-line errors, and checking
//! that they are backstep logs before reading them whole or as a stream.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use backstep_core::{Log, LogReader, Record};

use crate::Failure;

/// Names (session ids, tool names) numbered in the order they are first
/// seen, for the commands that read a log one record at a time.
#[derive(Default)]
pub struct Numbered {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Numbered {
    /// The number of `name`, which is given the next one when new. (Calls
    /// of one session come in runs: the newest name is checked first.)
    pub fn number(&mut self, name: &str) -> usize {
        if let Some(last) = self.names.len().checked_sub(1) {
            if self.names[last] == name {
                return last;
            }
        }
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), self.names.len() - 1);
        self.names.len() - 1
    }

    /// Every name, in the order first seen (by number).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Longest first line looked at before deciding what a file is.
const SNIFF_LIMIT: u64 = 16 << 20;

/// An opened input: a file or standard input, with the name errors use.
pub struct Input {
    /// `run.jsonl`, or `<stdin>`.
    pub name: PathBuf,
    reader: Box<dyn Read>,
}

impl Input {
    /// Opens `path`, `-` being standard input. A missing file, a directory or
    /// an unreadable file is a one-line error.
    pub fn open(path: &Path) -> Result<Input, Failure> {
        if path == Path::new("-") {
            return Ok(Input {
                name: PathBuf::from("<stdin>"),
                reader: Box::new(io::stdin()),
            });
        }
        let shown = path.display();
        let file = File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Failure(format!("{shown}: no such file")),
            io::ErrorKind::PermissionDenied => Failure(format!("{shown}: permission denied")),
            _ => Failure(format!("{shown}: cannot open: {e}")),
        })?;
        let meta = file
            .metadata()
            .map_err(|e| Failure(format!("{shown}: cannot open: {e}")))?;
        if meta.is_dir() {
            return Err(Failure(format!(
                "{shown}: is a directory, not a session log file"
            )));
        }
        Ok(Input {
            name: path.to_path_buf(),
            reader: Box::new(file),
        })
    }

    /// Checks the first line is a backstep record, then hands back a reader
    /// over the whole input (the first line included).
    ///
    /// A first line that is not one is an error ("not a backstep session
    /// log"), unless it is also the last line and not complete JSON: a log
    /// cut off while its first line was written, which the readers tolerate
    /// with a note. A UTF-8 byte order mark before the first line is skipped.
    pub fn sniffed(self) -> Result<(PathBuf, impl Read), Failure> {
        let Input { name, reader } = self;
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let mut head = Vec::new();
        let mut lineno = 0;
        loop {
            let start = head.len();
            let n = read_line(&mut reader, &mut head, &name)?;
            if n == 0 {
                break;
            }
            lineno += 1;
            let line = &head[start..];
            let complete = line.ends_with(b"\n");
            let Ok(text) = std::str::from_utf8(line) else {
                return Err(not_a_log(&name.display().to_string(), lineno, BINARY));
            };
            let text = first_line_text(text, lineno);
            if text.trim().is_empty() {
                if complete {
                    continue;
                }
                break;
            }
            if let Err(why) = Record::parse(text) {
                let shown = name.display().to_string();
                let json = serde_json::from_str::<serde_json::Value>(text);
                if let Ok(value) = &json {
                    return Err(not_a_log(&shown, lineno, &not_a_record(value, &why)));
                }
                if complete {
                    // A JSON document spread over several lines (pretty-printed)?
                    let mut text = format!("{text}\n");
                    let mut lines = 1;
                    let mut more = Vec::new();
                    while lines < PRETTY_LINES && text.len() < PRETTY_BYTES {
                        more.clear();
                        if read_line(&mut reader, &mut more, &name)? == 0 {
                            break;
                        }
                        lines += 1;
                        let Ok(next) = std::str::from_utf8(&more) else {
                            break;
                        };
                        text.push_str(next);
                        match serde_json::from_str::<serde_json::Value>(&text) {
                            Ok(v) => {
                                let why = format!(
                                    "{} over {lines} lines; a log holds one record per line",
                                    json_kind(&v)
                                );
                                return Err(not_a_log(&shown, lineno, &why));
                            }
                            Err(e) if e.classify() == serde_json::error::Category::Eof => {}
                            Err(_) => break,
                        }
                    }
                    return Err(not_a_log(&shown, lineno, &why));
                }
            }
            break;
        }
        Ok((name, Cursor::new(head).chain(reader)))
    }

    /// Reads the whole log (for commands that need every call at once).
    pub fn load(self) -> Result<Log, Failure> {
        let (name, reader) = self.sniffed()?;
        let log = Log::from_reader(reader, &name).map_err(|e| Failure(one_line_error(&e)))?;
        for w in log.warnings() {
            eprintln!("backstep: note: {w}");
        }
        Ok(log)
    }

    /// Reads the log one record at a time, in bounded memory.
    pub fn stream(self) -> Result<LogReader<impl Read>, Failure> {
        let (name, reader) = self.sniffed()?;
        Ok(LogReader::new(reader, name))
    }
}

/// Lines and bytes read past a first line that starts JSON spread over
/// several lines, to tell a pretty-printed JSON file from a corrupt log.
const PRETTY_LINES: usize = 10_000;
const PRETTY_BYTES: usize = 4 << 20;

/// Reads one line (at most [`SNIFF_LIMIT`] bytes) onto `buf`.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, name: &Path) -> Result<usize, Failure> {
    reader
        .take(SNIFF_LIMIT)
        .read_until(b'\n', buf)
        .map_err(|e| Failure(format!("{}: cannot read: {e}", name.display())))
}

/// A line's text without its line end, and on the first line without a
/// UTF-8 byte order mark (as the log readers skip it).
pub fn first_line_text(text: &str, lineno: usize) -> &str {
    let text = text.trim_end_matches(['\n', '\r']);
    if lineno == 1 {
        text.strip_prefix('\u{feff}').unwrap_or(text)
    } else {
        text
    }
}

/// `a JSON array`, `a JSON object`, …
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "JSON null",
        serde_json::Value::Bool(_) => "a JSON boolean",
        serde_json::Value::Number(_) => "a JSON number",
        serde_json::Value::String(_) => "a JSON string",
        serde_json::Value::Array(_) => "a JSON array",
        serde_json::Value::Object(_) => "a JSON object",
    }
}

/// Why a line of valid JSON is not a log record: what it is when not an
/// object (`a JSON array, not a log record`), else the parser's reason.
pub fn not_a_record(value: &serde_json::Value, why: &str) -> String {
    if value.is_object() {
        why.to_string()
    } else {
        format!("{}, not a log record", json_kind(value))
    }
}

/// Why a file is not a log, when its first line is binary.
pub const BINARY: &str = "binary data, not UTF-8 text";

/// The error for a file whose first record line is not a backstep record:
/// `name:line: not a backstep session log (why)`.
pub fn not_a_log(name: &str, line: usize, why: &str) -> Failure {
    let why = match why.strip_prefix("not a backstep record (") {
        Some(rest) => rest.trim_end_matches(')').to_string(),
        None => why.replace("not a JSON record: ", "not JSON: "),
    };
    Failure(format!("{name}:{line}: not a backstep session log ({why})"))
}

/// A log error as one line (serde's messages never hold newlines, but a
/// file name might).
pub fn one_line_error(e: &backstep_core::LogError) -> String {
    e.to_string().replace('\n', " ")
}

/// Opens and reads every file; `-` may be given once.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Log)>, Failure> {
    check_stdin_once(paths)?;
    paths
        .iter()
        .map(|p| {
            let input = Input::open(p)?;
            let name = input.name.clone();
            Ok((name, input.load()?))
        })
        .collect()
}

/// `-` (standard input) can be read only once.
pub fn check_stdin_once(paths: &[PathBuf]) -> Result<(), Failure> {
    if paths
        .iter()
        .filter(|p| p.as_path() == Path::new("-"))
        .count()
        > 1
    {
        return Err(Failure::new("`-` (standard input) can be given only once"));
    }
    Ok(())
}

/// The session whose id is `wanted` or starts with it, among `ids`.
pub fn pick_session<'a>(
    ids: impl IntoIterator<Item = &'a str>,
    wanted: &str,
    file: &str,
) -> Result<String, Failure> {
    let ids: Vec<&str> = ids.into_iter().collect();
    if let Some(exact) = ids.iter().find(|id| **id == wanted) {
        return Ok((*exact).to_string());
    }
    let matching: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| id.starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).to_string()),
        [] => Err(Failure(format!(
            "{file}: no session `{wanted}` (sessions: {})",
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        ))),
        many => Err(Failure(format!(
            "{file}: `{wanted}` matches several sessions ({}): give more of the id",
            many.join(", ")
        ))),
    }
}
