//! Log format v1: the only place that writes or parses a line.
//!
//! Every line is one JSON object with a `"type"`:
//! - `"session"`: `session`, `name`, `started_at`, `pid`, `backstep_version`, `format`;
//! - `"call"`: `session`, `seq`, `parent`, `tool`, `inputs`, `output`, `status`,
//!   `error`, `started_at`, `duration_ms`, `cost_usd`, `thread`, and
//!   `"replayed": true` on calls served from a recording;
//! - `"end"`: `session`, `ended_at`, `calls`, `errors`, `panicked`, `cancelled`, `cost_usd`.
//!
//! Costs are written as exact decimals from integer picodollars, and parsed back
//! exactly; durations as milliseconds with nanosecond precision.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::call::{Call, Status};
use crate::cost::Cost;
use crate::session::{Session, SessionEnd};
use crate::time;

/// The format version written in session headers.
pub const FORMAT_VERSION: u32 = 1;

/// Appends `n` in decimal. (`write!` goes through `core::fmt`, several
/// times slower: this runs a few times for every recorded call.)
pub(crate) fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Appends `n` in decimal with at least `width` digits (leading zeros).
pub(crate) fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Which bytes a JSON string must escape: `"`, `\\` and the control characters.
const ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Appends `s` as a JSON string literal.
pub(crate) fn write_str(out: &mut String, s: &str) {
    // Names, ids and most messages need no escaping: one pass to check.
    let plain = if s.len() < 32 {
        // Short (a tool's name, a thread's): a lookup a byte, which stops
        // at the first that needs escaping.
        !s.bytes().any(|b| ESCAPE[usize::from(b)])
    } else {
        // A fold, not `any`: without the early exit it runs 16 bytes at a
        // time. Bitwise on purpose: branch-free, so it vectorizes.
        #[allow(clippy::needless_bitwise_bool)]
        let esc = s.bytes().fold(false, |esc, b| {
            esc | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        !esc
    };
    if plain {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.push_str("null"),
    }
}

fn write_duration_ms(out: &mut String, d: Duration) {
    let ns = d.as_nanos();
    push_u64(out, u64::try_from(ns / 1_000_000).unwrap_or(u64::MAX));
    #[allow(clippy::cast_possible_truncation)] // below 1,000,000
    let frac = (ns % 1_000_000) as u64;
    push_fraction(out, frac, 6);
}

/// Appends `.` and `frac` as `digits` decimals without trailing zeros
/// (nothing when it is zero).
pub(crate) fn push_fraction(out: &mut String, mut frac: u64, digits: usize) {
    if frac == 0 {
        return;
    }
    let mut width = digits;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    out.push('.');
    push_padded(out, frac, width);
}

/// What one call line holds, borrowed: from a [`Call`] kept in memory or
/// read from a log, or straight from a call in flight when memory keeps no
/// calls (`memory_limit(0)`), which then needs no [`Call`] at all.
#[derive(Clone)]
pub(crate) struct CallLine<'a> {
    pub(crate) session: &'a str,
    pub(crate) seq: u64,
    pub(crate) parent: Option<u64>,
    pub(crate) tool: &'a str,
    pub(crate) inputs: &'a str,
    pub(crate) output: &'a str,
    pub(crate) status: Status,
    pub(crate) error: Option<&'a str>,
    pub(crate) started_at: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) cost: Cost,
    pub(crate) thread: &'a str,
    pub(crate) replayed: bool,
}

impl Call {
    /// The fields of this call's log line.
    pub(crate) fn line(&self) -> CallLine<'_> {
        CallLine {
            session: &self.session,
            seq: self.seq,
            parent: self.parent,
            tool: &self.tool,
            inputs: self.inputs_json(),
            output: self.output_json(),
            status: self.status,
            error: self.error.as_deref(),
            started_at: self.started_at,
            duration: self.duration,
            cost: self.cost,
            thread: &self.thread,
            replayed: self.replayed,
        }
    }
}

/// Appends one call line (with its newline).
pub(crate) fn write_call(out: &mut String, c: &CallLine<'_>) {
    let mut fixed = Fixed::default();
    fixed.update(c);
    write_call_with(out, c, &fixed);
}

/// The parts of a call line that are the same for every call one thread
/// makes in one session, formatted once: what comes before the `seq` (the
/// session id) and the thread's name. A recording thread keeps its own
/// ([`LineWriter`]), so a call's line formats neither again.
#[derive(Default)]
struct Fixed {
    /// `{"type":"call","session":"…","seq":`
    head: Kept,
    /// `,"thread":"…"`
    tail: Kept,
}

impl Fixed {
    /// Formats the parts again where `c`'s session or thread differs.
    fn update(&mut self, c: &CallLine<'_>) {
        self.head
            .set(c.session, "{\"type\":\"call\",\"session\":", ",\"seq\":");
        self.tail.set(c.thread, ",\"thread\":", "");
    }
}

/// A string and the piece of a line it appears in, as a JSON string between
/// the fixed text around it.
#[derive(Default)]
struct Kept {
    value: String,
    text: String,
}

impl Kept {
    /// Formats `before`, `value` as a JSON string and `after`, unless that
    /// is what it holds already.
    #[inline]
    fn set(&mut self, value: &str, before: &str, after: &str) {
        if self.value == value && !self.text.is_empty() {
            return;
        }
        self.format(value, before, after);
    }

    #[cold]
    fn format(&mut self, value: &str, before: &str, after: &str) {
        self.value.clear();
        self.value.push_str(value);
        self.text.clear();
        self.text.push_str(before);
        write_str(&mut self.text, value);
        self.text.push_str(after);
    }
}

/// A thread's buffer for the call lines it writes, and the parts of them
/// that stay the same from call to call.
#[derive(Default)]
pub(crate) struct LineWriter {
    line: String,
    fixed: Fixed,
}

impl LineWriter {
    /// The line of `c`, in one part when its inputs and output are small,
    /// else in five ([`call_parts`]): large inputs and output go to the
    /// kernel from the call's own buffer, not copied into the line.
    pub(crate) fn call<'a>(&'a mut self, c: &CallLine<'a>) -> CallParts<'a> {
        self.line.clear();
        self.fixed.update(c);
        if c.inputs.len() + c.output.len() < SPLIT_LINE_AT {
            write_call_with(&mut self.line, c, &self.fixed);
            CallParts::One([&self.line])
        } else {
            CallParts::Five(parts_with(&mut self.line, c, &self.fixed))
        }
    }
}

/// A call's line as [`LineWriter::call`] gives it.
pub(crate) enum CallParts<'a> {
    One([&'a str; 1]),
    Five([&'a str; 5]),
}

impl<'a> CallParts<'a> {
    /// The parts, in order.
    pub(crate) fn parts(&self) -> &[&'a str] {
        match self {
            CallParts::One(p) => p,
            CallParts::Five(p) => p,
        }
    }
}

fn write_call_with(out: &mut String, c: &CallLine<'_>, fixed: &Fixed) {
    out.reserve(c.inputs.len() + c.output.len() + 256);
    write_head(out, c, fixed);
    out.push_str(c.inputs);
    out.push_str(OUTPUT_KEY);
    out.push_str(c.output);
    write_tail(out, c, fixed);
}

/// From how many bytes of inputs and output a call's line is written in
/// parts ([`call_parts`]) rather than copied into one buffer: below it, the
/// copy costs less than the kernel's handling of more parts.
pub(crate) const SPLIT_LINE_AT: usize = 4096;

const OUTPUT_KEY: &str = ",\"output\":";

/// The line of `c` in five parts, the same bytes as [`write_call`]: the
/// fields before the inputs (written into `out`), the inputs, the key of the
/// output, the output, and the fields after it (into `out`).
#[cfg(test)]
fn call_parts<'a>(out: &'a mut String, c: &CallLine<'a>) -> [&'a str; 5] {
    let mut fixed = Fixed::default();
    fixed.update(c);
    parts_with(out, c, &fixed)
}

fn parts_with<'a>(out: &'a mut String, c: &CallLine<'a>, fixed: &Fixed) -> [&'a str; 5] {
    write_head(out, c, fixed);
    let head = out.len();
    write_tail(out, c, fixed);
    let (before, after) = out.split_at(head);
    [before, c.inputs, OUTPUT_KEY, c.output, after]
}

/// The fields of a call line up to the value of `inputs`.
fn write_head(out: &mut String, c: &CallLine<'_>, fixed: &Fixed) {
    out.push_str(&fixed.head.text);
    push_u64(out, c.seq);
    match c.parent {
        Some(p) => {
            out.push_str(",\"parent\":");
            push_u64(out, p);
        }
        None => out.push_str(",\"parent\":null"),
    }
    out.push_str(",\"tool\":");
    write_str(out, c.tool);
    out.push_str(",\"inputs\":");
}

/// The fields of a call line after the value of `output`, and its newline.
fn write_tail(out: &mut String, c: &CallLine<'_>, fixed: &Fixed) {
    // The status and an absent error in one piece: most calls have no error.
    match (c.status, c.error) {
        (Status::Ok, None) => out.push_str(",\"status\":\"ok\",\"error\":null"),
        (status, error) => {
            out.push_str(",\"status\":\"");
            out.push_str(status.as_str());
            out.push_str("\",\"error\":");
            write_opt_str(out, error);
        }
    }
    out.push_str(",\"started_at\":\"");
    time::write_rfc3339(c.started_at, out);
    out.push_str("\",\"duration_ms\":");
    write_duration_ms(out, c.duration);
    out.push_str(",\"cost_usd\":");
    c.cost.write_decimal(out);
    out.push_str(&fixed.tail.text);
    if c.replayed {
        out.push_str(",\"replayed\":true");
    }
    out.push_str("}\n");
}

/// Appends a session header line.
pub(crate) fn write_session(out: &mut String, s: &Session) {
    out.push_str("{\"type\":\"session\",\"session\":");
    write_str(out, &s.id);
    out.push_str(",\"name\":");
    write_opt_str(out, s.name.as_deref());
    out.push_str(",\"started_at\":");
    match s.started_at {
        Some(t) => {
            out.push('"');
            time::write_rfc3339(t, out);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"pid\":");
    match s.pid {
        Some(p) => {
            let _ = write!(out, "{p}");
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"backstep_version\":");
    write_opt_str(out, s.backstep_version.as_deref());
    let _ = writeln!(out, ",\"format\":{}}}", s.format.unwrap_or(FORMAT_VERSION));
}

/// Appends a session end line.
pub(crate) fn write_end(out: &mut String, session: &str, e: &SessionEnd) {
    out.push_str("{\"type\":\"end\",\"session\":");
    write_str(out, session);
    out.push_str(",\"ended_at\":\"");
    time::write_rfc3339(e.ended_at, out);
    let _ = write!(
        out,
        "\",\"calls\":{},\"errors\":{},\"panicked\":{},\"cancelled\":{},\"cost_usd\":",
        e.calls, e.errors, e.panicked, e.cancelled
    );
    e.cost.write_decimal(out);
    out.push_str("}\n");
}

/// One parsed line.
#[derive(Debug)]
pub(crate) enum Line {
    Session(Session),
    Call(Call),
    End(Arc<str>, SessionEnd),
}

/// The text of line `number` (its bytes, as read) as a record: without the
/// line ending, and on the first line without a UTF-8 byte order mark
/// (editors on Windows add one).
pub(crate) fn line_str(bytes: &[u8], number: usize) -> Result<&str, String> {
    let buf = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))?;
    let text = buf.trim_end_matches(['\n', '\r']);
    Ok(if number == 1 {
        text.strip_prefix('\u{feff}').unwrap_or(text)
    } else {
        text
    })
}

/// Whether `text`, which did not parse, is a JSON value cut short (what a
/// run killed while writing a line leaves), rather than something else.
pub(crate) fn is_cut_json(text: &str) -> bool {
    let eof = |t: &str| serde_json::from_str::<serde::de::IgnoredAny>(t).is_err_and(|e| e.is_eof());
    // Cut inside a number (`0.`, `1e+`, `-`), serde says "invalid number",
    // not end of input: with a digit more it is a prefix again.
    eof(text) || (text.ends_with(['-', '+', '.', 'e', 'E']) && eof(&format!("{text}0")))
}

/// Whether `bytes` are UTF-8 but for a character cut short at their end.
pub(crate) fn is_cut_utf8(bytes: &[u8]) -> bool {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    std::str::from_utf8(text).is_err_and(|e| e.error_len().is_none())
}

/// A warning for a session header written by a newer backstep, whose lines
/// this one may read wrongly.
pub(crate) fn format_warning(line: &Line, name: &std::path::Path, number: usize) -> Option<String> {
    match line {
        Line::Session(s) => s.format.filter(|&f| f > FORMAT_VERSION).map(|f| {
            format!(
                "{}:{number}: session {} was written in log format {f}, newer than this backstep reads ({FORMAT_VERSION}); fields it does not know are ignored",
                name.display(),
                s.id
            )
        }),
        _ => None,
    }
}

/// A JSON string borrowed from the line when it has no escapes. (serde's
/// `#[serde(borrow)]` does not reach a `Cow` inside an `Option`: those were
/// copied, five allocations per call line.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Text<'a>, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a str>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visit(std::marker::PhantomData))
    }
}

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    session: Option<Text<'a>>,
    seq: Option<u64>,
    parent: Option<u64>,
    #[serde(borrow)]
    tool: Option<Text<'a>>,
    #[serde(borrow)]
    inputs: Option<&'a RawValue>,
    #[serde(borrow, default)]
    output: Option<&'a RawValue>,
    status: Option<Status>,
    error: Option<String>,
    #[serde(borrow)]
    started_at: Option<Text<'a>>,
    duration_ms: Option<f64>,
    #[serde(borrow)]
    cost_usd: Option<&'a RawValue>,
    #[serde(borrow)]
    thread: Option<Text<'a>>,
    name: Option<String>,
    pid: Option<u32>,
    backstep_version: Option<String>,
    format: Option<u32>,
    #[serde(borrow)]
    ended_at: Option<Text<'a>>,
    calls: Option<u64>,
    #[serde(default)]
    replayed: bool,
    errors: Option<u64>,
    panicked: Option<u64>,
    cancelled: Option<u64>,
}

fn need<T>(v: Option<T>, field: &str, kind: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{kind} record has no `{field}` field"))
}

fn parse_time(s: Option<Text<'_>>, field: &str, kind: &str) -> Result<SystemTime, String> {
    let s = need(s, field, kind)?;
    time::parse_rfc3339(&s).ok_or_else(|| format!("`{field}` is not an RFC 3339 time: {:?}", &*s))
}

fn parse_cost(v: Option<&RawValue>) -> Result<Cost, String> {
    match v {
        None => Ok(Cost::ZERO),
        Some(raw) if raw.get() == "null" => Ok(Cost::ZERO),
        Some(raw) => Cost::parse_decimal(raw.get())
            .ok_or_else(|| format!("`cost_usd` is not a number of dollars: {}", raw.get())),
    }
}

/// Interns short strings (session ids, thread names) so a large log does not
/// hold one copy per call.
/// FNV-1a: the interned strings are short ids and names, for which `SipHash`
/// (the std default, made to resist crafted keys) costs more than the rest of
/// the lookup. A log is not an adversary of the process reading it.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// Which field a string is interned for: each keeps its own last few, as
/// lines in a row mostly share their session and thread and cycle through a
/// few tools, and a comparison is cheaper than hashing.
#[derive(Clone, Copy)]
pub(crate) enum Field {
    Session = 0,
    Tool = 1,
    Thread = 2,
}

/// How many of each field's strings are compared before hashing.
const RECENT: usize = 4;

#[derive(Default)]
pub(crate) struct Interner {
    strings: std::collections::HashSet<Arc<str>, std::hash::BuildHasherDefault<Fnv>>,
    /// The strings last handed out for each field, newest first.
    recent: [[Option<Arc<str>>; RECENT]; 3],
}

impl Interner {
    pub(crate) fn get(&mut self, field: Field, s: &str) -> Arc<str> {
        let recent = &mut self.recent[field as usize];
        if let Some(i) = recent.iter().position(|a| a.as_deref() == Some(s)) {
            // Newest first: a hit moves to the front.
            recent[..=i].rotate_right(1);
            return recent[0].clone().unwrap_or_else(|| s.into());
        }
        let a = if let Some(a) = self.strings.get(s) {
            a.clone()
        } else {
            let a: Arc<str> = Arc::from(s);
            self.strings.insert(a.clone());
            a
        };
        recent.rotate_right(1);
        recent[0] = Some(a.clone());
        a
    }
}

/// Parses one line of a log. `Err` says what is wrong, without the place.
pub(crate) fn parse_line(line: &str, interner: &mut Interner) -> Result<Line, String> {
    let raw: RawLine<'_> =
        serde_json::from_str(line).map_err(|e| format!("not a JSON record: {e}"))?;
    let kind = raw
        .kind
        .as_deref()
        .unwrap_or(if raw.tool.is_some() { "call" } else { "" });
    match kind {
        "call" => {
            let k = "call";
            let duration_ms = need(raw.duration_ms, "duration_ms", k)?;
            if !(duration_ms.is_finite() && duration_ms >= 0.0) {
                return Err(format!("`duration_ms` is not a duration: {duration_ms}"));
            }
            let inputs = need(raw.inputs, "inputs", k)?;
            if !inputs.get().starts_with('{') {
                return Err("`inputs` is not a JSON object".to_string());
            }
            let (json, split) =
                crate::call::join_json(inputs.get(), raw.output.map_or("null", RawValue::get));
            Ok(Line::Call(Call {
                session: interner.get(Field::Session, &need(raw.session, "session", k)?),
                seq: need(raw.seq, "seq", k)?,
                parent: raw.parent,
                tool: crate::call::Name::Shared(
                    interner.get(Field::Tool, &need(raw.tool, "tool", k)?),
                ),
                json,
                split,
                status: need(raw.status, "status", k)?,
                error: raw.error,
                started_at: parse_time(raw.started_at, "started_at", k)?,
                duration: Duration::try_from_secs_f64(duration_ms / 1000.0)
                    .map_err(|_| format!("`duration_ms` is out of range: {duration_ms:?}"))?,
                cost: parse_cost(raw.cost_usd)?,
                thread: interner.get(Field::Thread, raw.thread.as_deref().unwrap_or("")),
                replayed: raw.replayed,
            }))
        }
        "session" => {
            let k = "session";
            Ok(Line::Session(Session {
                id: interner.get(Field::Session, &need(raw.session, "session", k)?),
                name: raw.name,
                started_at: Some(parse_time(raw.started_at, "started_at", k)?),
                pid: raw.pid,
                backstep_version: raw.backstep_version,
                format: raw.format,
                end: None,
            }))
        }
        "end" => {
            let k = "end";
            let id = interner.get(Field::Session, &need(raw.session, "session", k)?);
            Ok(Line::End(
                id,
                SessionEnd {
                    ended_at: parse_time(raw.ended_at, "ended_at", k)?,
                    calls: raw.calls.unwrap_or(0),
                    errors: raw.errors.unwrap_or(0),
                    panicked: raw.panicked.unwrap_or(0),
                    cancelled: raw.cancelled.unwrap_or(0),
                    cost: parse_cost(raw.cost_usd)?,
                },
            ))
        }
        "" => Err("not a backstep record (no `type` field)".to_string()),
        other => Err(format!("unknown record type `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_by_hand_as_fmt_would() {
        let text = |f: &dyn Fn(&mut String)| {
            let mut s = String::new();
            f(&mut s);
            s
        };
        assert_eq!(text(&|s| push_u64(s, 0)), "0");
        assert_eq!(text(&|s| push_u64(s, u64::MAX)), u64::MAX.to_string());
        assert_eq!(text(&|s| push_padded(s, 7, 4)), "0007");
        assert_eq!(text(&|s| push_padded(s, 12345, 2)), "12345");
        assert_eq!(text(&|s| push_fraction(s, 500, 6)), ".0005");
        assert_eq!(text(&|s| push_fraction(s, 0, 6)), "");
        assert_eq!(
            text(&|s| write_duration_ms(s, Duration::from_micros(1_500))),
            "1.5"
        );
        assert_eq!(
            text(&|s| write_duration_ms(s, Duration::from_nanos(64_525))),
            "0.064525"
        );
        assert_eq!(
            text(&|s| write_duration_ms(s, Duration::from_secs(2))),
            "2000"
        );
        assert_eq!(text(&|s| push_fraction(s, 100_000, 6)), ".1");
        assert_eq!(text(&|s| push_fraction(s, 5, 6)), ".000005");
        assert_eq!(text(&|s| write_str(s, "plain")), r#""plain""#);
        // Short strings and long ones are checked for escapes differently.
        for len in [0, 1, 30, 31, 32, 33, 100] {
            let plain = "p".repeat(len);
            assert_eq!(text(&|s| write_str(s, &plain)), format!("\"{plain}\""));
            if len > 0 {
                let quoted = format!("{}\"", "q".repeat(len - 1));
                let back: String = serde_json::from_str(&text(&|s| write_str(s, &quoted))).unwrap();
                assert_eq!(back, quoted);
            }
        }
        assert_eq!(text(&|s| write_str(s, "a\"b\u{1}")), r#""a\"b\u0001""#);
    }

    fn sample() -> Call {
        Call {
            session: "s-1".into(),
            seq: 3,
            parent: Some(1),
            tool: crate::call::Name::Static("read_file"),
            json: r#"{"path":"a \"b\".txt"}null"#.into(),
            split: r#"{"path":"a \"b\".txt"}"#.len(),
            status: Status::Error,
            error: Some("no such file\n(os error 2)".into()),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_324_531_000_001),
            duration: Duration::from_nanos(1_500_250),
            cost: Cost::from_usd(0.003),
            thread: "main".into(),
            replayed: false,
        }
    }

    #[test]
    fn call_line_is_exact_and_round_trips() {
        let mut out = String::new();
        write_call(&mut out, &sample().line());
        assert_eq!(
            out,
            concat!(
                r#"{"type":"call","session":"s-1","seq":3,"parent":1,"tool":"read_file","#,
                r#""inputs":{"path":"a \"b\".txt"},"output":null,"status":"error","#,
                r#""error":"no such file\n(os error 2)","started_at":"2026-12-03T19:02:11.000001Z","#,
                r#""duration_ms":1.50025,"cost_usd":0.003,"thread":"main"}"#,
                "\n"
            )
        );
        let Line::Call(back) = parse_line(out.trim_end(), &mut Interner::default()).unwrap() else {
            panic!("not a call")
        };
        assert_eq!(back, sample());
    }

    #[test]
    fn a_threads_line_writer_writes_the_same_lines() {
        let mut big = sample();
        let (json, split) =
            crate::call::join_json(&format!(r#"{{"doc":"{}"}}"#, "x".repeat(5000)), "[1,2]");
        (big.json, big.split, big.replayed) = (json, split, true);
        let mut other_session = sample();
        other_session.session = "s-\"2\"".into();
        let mut other_thread = sample();
        other_thread.thread = "worker\t1".into();
        let mut ok = sample();
        (ok.status, ok.error, ok.parent) = (Status::Ok, None, None);
        let mut writer = LineWriter::default();
        // The kept parts (session, thread) change and change back.
        for c in [sample(), big, other_session, other_thread, ok, sample()] {
            let mut whole = String::new();
            write_call(&mut whole, &c.line());
            let line = c.line();
            let parts = writer.call(&line);
            assert_eq!(parts.parts().concat(), whole);
            if let CallParts::Five(parts) = parts {
                // Inputs and output are not copied into the line.
                assert_eq!(parts[1], c.inputs_json());
                assert_eq!(parts[3], c.output_json());
                assert!(c.json.len() >= SPLIT_LINE_AT);
            } else {
                assert!(c.json.len() < SPLIT_LINE_AT);
            }
            let mut buf = String::new();
            assert_eq!(call_parts(&mut buf, &line).concat(), whole);
        }
    }

    #[test]
    fn a_line_cut_anywhere_is_cut_json() {
        let line =
            r#"{"type":"call","seq":-1,"duration_ms":0.5,"cost_usd":1e+3,"n":2E-7,"s":"a\"b"}"#;
        for end in 1..line.len() {
            assert!(is_cut_json(&line[..end]), "{:?}", &line[..end]);
        }
        assert!(!is_cut_json(line));
        assert!(!is_cut_json(r#"{"a":1}x"#));
        assert!(!is_cut_json(r#"{"a":1,}"#));
        assert!(!is_cut_json(r#"{"a":.5"#));
    }

    #[test]
    fn escapes_control_characters() {
        let mut out = String::new();
        write_str(&mut out, "a\u{1}b\\");
        assert_eq!(out, r#""a\u0001b\\""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\u{1}b\\");
    }

    #[test]
    fn rejects_what_is_not_a_record() {
        let mut i = Interner::default();
        assert_eq!(
            parse_line(r#"{"a":1}"#, &mut i).unwrap_err(),
            "not a backstep record (no `type` field)"
        );
        assert!(parse_line(r#"{"type":"call","seq":1}"#, &mut i)
            .unwrap_err()
            .contains("no `duration_ms` field"));
        assert!(parse_line("{\"type\":", &mut i)
            .unwrap_err()
            .starts_with("not a JSON record"));
    }
}
