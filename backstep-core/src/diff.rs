//! `diff`: where two runs stop doing the same thing, and what they add up to.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::call::{Call, Status};
use crate::cost::Cost;
use crate::jsondiff::{json_diff, PathDiff};
use crate::log::Log;

/// Compares two runs call by call, in start order (the order of
/// [`Log::replay`]), and finds the first call where they differ.
///
/// Calls are paired by `seq`, the number each call gets when it starts: a
/// call one run lacks (it was still running when that run's log ended, so
/// its line was never written, though its nested calls' were) is where the
/// runs diverge, and does not shift the calls after it. Two paired calls
/// match when they have the same tool, the same inputs and output (compared
/// as JSON values with [`json_diff`](crate::json_diff): key order does not
/// matter; values nested deeper than `serde_json`'s 128 levels are compared as
/// text), the same status and the same error text. When and how long a call
/// ran, its thread and its cost are not compared: costs are summed in the
/// totals. A run that has fewer calls diverges where its calls run out.
///
/// A log holding several sessions is compared as a whole (session by session
/// in file order, the sessions holding calls paired in turn); narrow it with
/// [`Log::for_session`] or [`Log::last_session`] to compare one run.
///
/// ```
/// # use backstep_core as backstep;
/// let call = |seq: u64, query: &str, hits: u32| format!(
///     r#"{{"type":"call","session":"s","seq":{seq},"parent":null,"tool":"search","inputs":{{"query":"{query}","limit":3}},"output":{{"hits":{hits}}},"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":0.01,"thread":"main"}}"#);
/// let a = backstep::Log::from_jsonl(&[call(0, "rust", 3), call(1, "serde", 2)].join("\n")).unwrap();
/// let b = backstep::Log::from_jsonl(&[call(0, "rust", 3), call(1, "tokio", 2)].join("\n")).unwrap();
///
/// let d = backstep::diff(&a, &b);
/// assert!(d.diverges());
/// let first = d.first_divergence().unwrap();
/// assert_eq!(first.index(), 1);
/// assert_eq!(first.inputs()[0].path, ".query");
/// assert_eq!(first.inputs()[0].left, Some("serde".into()));
/// assert_eq!(first.inputs()[0].right, Some("tokio".into()));
/// assert!(first.output().is_empty());
/// assert!(!backstep::diff(&a, &a).diverges());
/// ```
#[must_use]
pub fn diff(a: &Log, b: &Log) -> Diff {
    let first = first_divergence(a, b);
    let mut tools: BTreeMap<String, ToolDelta> = BTreeMap::new();
    for (side, log) in [(0, a), (1, b)] {
        for c in log {
            let t = tools
                .entry(c.tool().to_string())
                .or_insert_with(|| ToolDelta {
                    tool: c.tool().to_string(),
                    calls: (0, 0),
                    cost: (Cost::ZERO, Cost::ZERO),
                });
            if side == 0 {
                t.calls.0 += 1;
                t.cost.0 += c.cost();
            } else {
                t.calls.1 += 1;
                t.cost.1 += c.cost();
            }
        }
    }
    Diff {
        first,
        a: Totals::of(a),
        b: Totals::of(b),
        tools: tools.into_values().collect(),
    }
}

/// The first call where `left` and `right` differ. Both runs' calls are in
/// (session, seq) order: they are paired like a merge.
#[allow(clippy::similar_names)] // `_l` and `_r`: the same thing for each run
fn first_divergence(left: &Log, right: &Log) -> Option<CallDiff> {
    use std::cmp::Ordering;
    let (keys_l, keys_r) = (keys(left), keys(right));
    let (calls_l, calls_r) = (left.calls(), right.calls());
    let several = left.sessions().len() > 1 || right.sessions().len() > 1;
    let (mut at_l, mut at_r) = (0, 0);
    let mut found = loop {
        let order = match (keys_l.get(at_l), keys_r.get(at_r)) {
            (Some(key_l), Some(key_r)) => key_l.cmp(key_r),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => break None,
        };
        match order {
            Ordering::Equal => {
                let (call_l, call_r) = (&calls_l[at_l], &calls_r[at_r]);
                let pair = CallDiff::between(at_l, keys_l[at_l], Some(call_l), Some(call_r));
                if pair.is_some() {
                    break pair;
                }
                at_l += 1;
                at_r += 1;
            }
            // The right run has no call with the left's next (session, seq).
            Ordering::Less => {
                break CallDiff::between(at_l, keys_l[at_l], Some(&calls_l[at_l]), None).map(
                    |mut found| {
                        found.gap = Some(Gap::of(right, &keys_r, at_r, keys_l[at_l]));
                        found
                    },
                );
            }
            Ordering::Greater => {
                break CallDiff::between(at_r, keys_r[at_r], None, Some(&calls_r[at_r])).map(
                    |mut found| {
                        found.gap = Some(Gap::of(left, &keys_l, at_l, keys_r[at_r]));
                        found
                    },
                );
            }
        }
    };
    if let Some(found) = &mut found {
        found.several = several;
    }
    found
}

/// What [`diff`] found: the first divergence, if any, then counts and costs
/// of both runs. Its `Display` is the report `backstep diff` prints.
///
/// ```
/// # use backstep_core as backstep;
/// let a = backstep::Log::from_jsonl(r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"fetch","inputs":{},"output":null,"status":"error","error":"timeout","started_at":"2026-01-01T00:00:00Z","duration_ms":5,"cost_usd":0.01,"thread":"main"}"#).unwrap();
/// let b = backstep::Log::from_jsonl("").unwrap();
/// let d = backstep::diff(&a, &b);
/// assert_eq!(d.calls(), (1, 0));
/// assert_eq!(d.count(backstep::Status::Error), (1, 0));
/// assert_eq!(d.cost(), (backstep::Cost::from_usd(0.01), backstep::Cost::ZERO));
/// assert_eq!(d.cost_delta(), backstep::Cost::from_usd(-0.01));
/// assert!(d.first_divergence().unwrap().b().is_none()); // b has no call #0
/// assert!(d.to_string().starts_with("\
/// the runs diverge at call #0 (calls paired by seq; the first call):
///   a: #0 fetch error {}
///   b: no call #0: b holds no calls"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Diff {
    first: Option<CallDiff>,
    a: Totals,
    b: Totals,
    tools: Vec<ToolDelta>,
}

#[derive(Clone, Debug, PartialEq)]
struct Totals {
    calls: usize,
    sessions: usize,
    by_status: [u64; 4],
    cost: Cost,
}

impl Totals {
    fn of(log: &Log) -> Totals {
        let mut by_status = [0; 4];
        for c in log {
            by_status[c.status().index()] += 1;
        }
        Totals {
            calls: log.len(),
            sessions: log.sessions().len(),
            by_status,
            cost: log.total_cost(),
        }
    }
}

impl Diff {
    /// Whether the runs differ in any call (tool, inputs, output, status,
    /// error text, or number of calls). Cost alone does not make them diverge.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let empty = backstep::Log::from_jsonl("").unwrap();
    /// assert!(!backstep::diff(&empty, &empty).diverges());
    /// ```
    #[must_use]
    pub fn diverges(&self) -> bool {
        self.first.is_some()
    }

    /// The first call where the runs differ.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let empty = backstep::Log::from_jsonl("").unwrap();
    /// assert!(backstep::diff(&empty, &empty).first_divergence().is_none());
    /// ```
    #[must_use]
    pub fn first_divergence(&self) -> Option<&CallDiff> {
        self.first.as_ref()
    }

    /// Number of calls in each run: `(a, b)`.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let empty = backstep::Log::from_jsonl("").unwrap();
    /// assert_eq!(backstep::diff(&empty, &empty).calls(), (0, 0));
    /// ```
    #[must_use]
    pub fn calls(&self) -> (usize, usize) {
        (self.a.calls, self.b.calls)
    }

    /// Number of calls that ended with `status` in each run: `(a, b)`.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let empty = backstep::Log::from_jsonl("").unwrap();
    /// assert_eq!(backstep::diff(&empty, &empty).count(backstep::Status::Panicked), (0, 0));
    /// ```
    #[must_use]
    pub fn count(&self, status: Status) -> (u64, u64) {
        let i = status.index();
        (self.a.by_status[i], self.b.by_status[i])
    }

    /// The exact total cost of each run: `(a, b)`.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let empty = backstep::Log::from_jsonl("").unwrap();
    /// assert_eq!(backstep::diff(&empty, &empty).cost(), (backstep::Cost::ZERO, backstep::Cost::ZERO));
    /// ```
    #[must_use]
    pub fn cost(&self) -> (Cost, Cost) {
        (self.a.cost, self.b.cost)
    }

    /// What run `b` cost more than run `a` (negative when it cost less), exactly.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let empty = backstep::Log::from_jsonl("").unwrap();
    /// assert!(backstep::diff(&empty, &empty).cost_delta().is_zero());
    /// ```
    #[must_use]
    pub fn cost_delta(&self) -> Cost {
        delta(self.a.cost, self.b.cost)
    }

    /// Calls and cost per tool in both runs, by tool name.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let a = backstep::Log::from_jsonl(r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"fetch","inputs":{},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":5,"cost_usd":0.01,"thread":"main"}"#).unwrap();
    /// let d = backstep::diff(&a, &a);
    /// let fetch = &d.tools()[0];
    /// assert_eq!((fetch.tool(), fetch.calls()), ("fetch", (1, 1)));
    /// assert!(fetch.cost_delta().is_zero());
    /// ```
    #[must_use]
    pub fn tools(&self) -> &[ToolDelta] {
        &self.tools
    }
}

fn delta(a: Cost, b: Cost) -> Cost {
    Cost::from_picodollars(b.picodollars().saturating_sub(a.picodollars()))
}

/// One tool's calls and cost in both runs of a [`Diff`].
///
/// ```
/// # use backstep_core as backstep;
/// let empty = backstep::Log::from_jsonl("").unwrap();
/// assert!(backstep::diff(&empty, &empty).tools().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolDelta {
    tool: String,
    calls: (u64, u64),
    cost: (Cost, Cost),
}

impl ToolDelta {
    /// The tool's name.
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.tool
    }
    /// Its number of calls in each run: `(a, b)`.
    #[must_use]
    pub fn calls(&self) -> (u64, u64) {
        self.calls
    }
    /// Its exact cost in each run: `(a, b)`.
    #[must_use]
    pub fn cost(&self) -> (Cost, Cost) {
        self.cost
    }
    /// What it cost more in run `b` than in run `a` (negative when less).
    #[must_use]
    pub fn cost_delta(&self) -> Cost {
        delta(self.cost.0, self.cost.1)
    }
}

/// The first call at which two runs differ, from [`Diff::first_divergence`].
///
/// ```
/// # use backstep_core as backstep;
/// let call = |status: &str, output: &str, error: &str| format!(
///     r#"{{"type":"call","session":"s","seq":0,"parent":null,"tool":"fetch","inputs":{{"url":"u"}},"output":{output},"status":"{status}","error":{error},"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":0,"thread":"main"}}"#);
/// let a = backstep::Log::from_jsonl(&call("ok", r#"{"items":[{"name":"x"}]}"#, "null")).unwrap();
/// let b = backstep::Log::from_jsonl(&call("error", "null", r#""timeout""#)).unwrap();
/// let d = backstep::diff(&a, &b);
/// let first = d.first_divergence().unwrap();
/// assert_eq!(first.index(), 0);
/// assert!(first.status_differs() && first.error_differs() && !first.tool_differs());
/// assert!(first.inputs().is_empty());
/// assert_eq!(first.output()[0].path, ".");
/// assert_eq!(first.a().unwrap().status(), backstep::Status::Ok);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct CallDiff {
    index: usize,
    /// (session, seq): the session's place among the log's sessions that
    /// hold calls, in file order.
    key: (usize, u64),
    a: Option<Call>,
    b: Option<Call>,
    inputs: Vec<PathDiff>,
    output: Vec<PathDiff>,
    /// Inputs / output that could not be parsed as JSON values (nested
    /// deeper than `serde_json`'s 128 levels), compared as text.
    inputs_as_text: bool,
    output_as_text: bool,
    /// What the run without this call has instead.
    gap: Option<Gap>,
    /// Whether either log holds several sessions (said in the report).
    several: bool,
}

/// The run that has no call at a divergence: what it has around the place.
#[derive(Clone, Debug, PartialEq)]
struct Gap {
    /// Its number of calls.
    calls: usize,
    /// Its next call after the place, if any: (session, seq).
    next: Option<(usize, u64)>,
    /// Its calls (same session) whose parent is the missing call.
    nested: Vec<u64>,
}

impl Gap {
    fn of(log: &Log, keys: &[(usize, u64)], at: usize, missing: (usize, u64)) -> Gap {
        Gap {
            calls: log.len(),
            next: keys.get(at).copied(),
            nested: log
                .iter()
                .zip(keys)
                .filter(|(c, k)| k.0 == missing.0 && c.parent() == Some(missing.1))
                .map(|(c, _)| c.seq())
                .collect(),
        }
    }
}

/// Each call's (session, seq): the session's place among the sessions that
/// hold calls (in file order, as the calls are sorted), and its seq.
fn keys(log: &Log) -> Vec<(usize, u64)> {
    let mut ordinal = 0;
    let mut current: Option<&str> = None;
    log.iter()
        .map(|c| {
            if current.is_some_and(|s| s != c.session()) {
                ordinal += 1;
            }
            current = Some(c.session());
            (ordinal, c.seq())
        })
        .collect()
}

/// Where two JSON texts differ. Text that cannot be parsed (nested deeper
/// than `serde_json`'s recursion limit) is compared as text: one change at
/// `.` holding both texts as strings, and `true`.
fn compare(a: &str, b: &str) -> (Vec<PathDiff>, bool) {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => (json_diff(&x, &y), false),
        _ if a == b => (Vec::new(), true),
        _ => (
            vec![PathDiff {
                path: ".".to_string(),
                left: Some(Value::String(a.to_string())),
                right: Some(Value::String(b.to_string())),
            }],
            true,
        ),
    }
}

impl CallDiff {
    fn between(
        index: usize,
        key: (usize, u64),
        a: Option<&Call>,
        b: Option<&Call>,
    ) -> Option<CallDiff> {
        let (mut inputs, mut output) = (Vec::new(), Vec::new());
        let (mut inputs_as_text, mut output_as_text) = (false, false);
        if let (Some(x), Some(y)) = (a, b) {
            if x.tool() == y.tool() {
                (inputs, inputs_as_text) = compare(x.inputs_json(), y.inputs_json());
                (output, output_as_text) = compare(x.output_json(), y.output_json());
                if inputs.is_empty()
                    && output.is_empty()
                    && x.status() == y.status()
                    && x.error() == y.error()
                {
                    return None;
                }
            }
        }
        Some(CallDiff {
            index,
            key,
            a: a.cloned(),
            b: b.cloned(),
            inputs,
            output,
            inputs_as_text,
            output_as_text,
            gap: None,
            several: false,
        })
    }

    /// How many calls match before this one: its position in start order
    /// in the run that has it (in both, when both do).
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// The `seq` of the call where the runs diverge. Calls are paired by
    /// `seq` (within sessions taken in file order), so a call one run lacks
    /// (still running when its log ended) does not shift the ones after it.
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.key.1
    }

    /// Run `a`'s call with this seq; `None` when run `a` has none.
    #[must_use]
    pub fn a(&self) -> Option<&Call> {
        self.a.as_ref()
    }

    /// Run `b`'s call with this seq; `None` when run `b` has none.
    #[must_use]
    pub fn b(&self) -> Option<&Call> {
        self.b.as_ref()
    }

    /// Whether both runs made a call here, but of different tools (then
    /// inputs and outputs are not compared).
    #[must_use]
    pub fn tool_differs(&self) -> bool {
        matches!((&self.a, &self.b), (Some(a), Some(b)) if a.tool() != b.tool())
    }

    /// The inputs that differ, one entry per JSON path (`.query`,
    /// `.items[2].name`), in path order; `left` is run `a`'s value, `right`
    /// run `b`'s, `None` where absent. Inputs nested deeper than
    /// `serde_json`'s 128 levels cannot be parsed: they are compared as text,
    /// and differ in one entry at `.` holding both texts as strings.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let call = |items: &str| format!(
    ///     r#"{{"type":"call","session":"s","seq":0,"parent":null,"tool":"put","inputs":{{"items":{items}}},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":0,"thread":"main"}}"#);
    /// let a = backstep::Log::from_jsonl(&call(r#"[{"name":"a"},{"name":"b"}]"#)).unwrap();
    /// let b = backstep::Log::from_jsonl(&call(r#"[{"name":"a"},{"name":"B"},{"name":"c"}]"#)).unwrap();
    /// let d = backstep::diff(&a, &b);
    /// let changes = d.first_divergence().unwrap().inputs();
    /// assert_eq!(changes[0].path, ".items[1].name");
    /// assert_eq!((changes[0].left.as_ref(), changes[0].right.as_ref()), (Some(&"b".into()), Some(&"B".into())));
    /// assert_eq!((changes[1].path.as_str(), changes[1].left.is_none()), (".items[2]", true));
    /// ```
    #[must_use]
    pub fn inputs(&self) -> &[PathDiff] {
        &self.inputs
    }

    /// The parts of the output that differ, one entry per JSON path (`.` is
    /// the whole output).
    #[must_use]
    pub fn output(&self) -> &[PathDiff] {
        &self.output
    }

    /// Whether both runs made this call but it ended differently.
    #[must_use]
    pub fn status_differs(&self) -> bool {
        matches!((&self.a, &self.b), (Some(a), Some(b)) if a.status() != b.status())
    }

    /// Whether both runs made this call but with different error texts.
    #[must_use]
    pub fn error_differs(&self) -> bool {
        matches!((&self.a, &self.b), (Some(a), Some(b)) if a.error() != b.error())
    }
}

/// At most `max` characters, ending with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

fn signed(n: i128) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

fn signed_cost(c: Cost) -> String {
    if c.picodollars() > 0 {
        format!("+{c}")
    } else {
        c.to_string()
    }
}

/// Changes listed per section before "… and N more".
const SHOWN_CHANGES: usize = 12;
/// Characters of a value shown in a change line.
const SHOWN_VALUE: usize = 60;

fn write_changes(out: &mut String, title: &str, changes: &[PathDiff], as_text: bool) {
    if changes.is_empty() {
        return;
    }
    if as_text {
        let _ = writeln!(
            out,
            "  {title} (nested deeper than 128 levels: compared as text):"
        );
        for c in changes {
            if let (Some(Value::String(a)), Some(Value::String(b))) = (&c.left, &c.right) {
                let (a, b, at) = excerpts(a, b);
                let _ = writeln!(out, "    {}  from character {at}: {a} → {b}", c.path);
            }
        }
        return;
    }
    let _ = writeln!(out, "  {title}:");
    let width = changes
        .iter()
        .take(SHOWN_CHANGES)
        .map(|c| c.path.chars().count())
        .max()
        .unwrap_or(0);
    for c in changes.iter().take(SHOWN_CHANGES) {
        let side = |v: &Option<Value>| {
            v.as_ref().map_or_else(
                || "(absent)".to_string(),
                |v| shorten(&v.to_string(), SHOWN_VALUE),
            )
        };
        let _ = writeln!(
            out,
            "    {:<width$}  {} → {}",
            c.path,
            side(&c.left),
            side(&c.right)
        );
    }
    if changes.len() > SHOWN_CHANGES {
        let _ = writeln!(out, "    … and {} more", changes.len() - SHOWN_CHANGES);
    }
}

/// Characters shown before the first difference of two texts.
const SHOWN_BEFORE: usize = 20;

/// Both texts from a little before their first difference, shortened, and
/// the place (counting characters from 1) where they start to differ.
fn excerpts(a: &str, b: &str) -> (String, String, usize) {
    let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let from = at.saturating_sub(SHOWN_BEFORE);
    let cut = |s: &str| {
        let rest: String = s.chars().skip(from).collect();
        let lead = if from > 0 { "…" } else { "" };
        format!("{lead}{}", shorten(&rest, SHOWN_VALUE))
    };
    (cut(a), cut(b), at + 1)
}

fn call_line(c: &Call) -> String {
    format!(
        "#{} {} {} {}",
        c.seq(),
        c.tool(),
        c.status(),
        shorten(c.inputs_json(), SHOWN_VALUE)
    )
}

/// `#38`, or `#38 of session 2` when a log holds several sessions.
fn call_name(key: (usize, u64), several: bool) -> String {
    if several {
        format!("#{} of session {}", key.1, key.0 + 1)
    } else {
        format!("#{}", key.1)
    }
}

/// `#39`, `#39 and #40`, `#39, #40 and #41`, `#39, #40, … and #45 (7 calls)`.
fn seq_list(seqs: &[u64]) -> String {
    let names: Vec<String> = seqs.iter().map(|s| format!("#{s}")).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [first @ .., last] if names.len() <= 4 => format!("{} and {last}", first.join(", ")),
        [first, second, .., last] => {
            format!("{first}, {second}, … and {last} ({} calls)", names.len())
        }
        _ => unreachable!(),
    }
}

/// The line for the run (`side`) that has no call at `key`.
fn missing_line(side: &str, key: (usize, u64), gap: &Gap, several: bool) -> String {
    let name = call_name(key, several);
    if !gap.nested.is_empty() {
        let n = gap.nested.len();
        let (what, are) = if n == 1 {
            ("call", "is")
        } else {
            ("calls", "are")
        };
        return format!(
            "no call {name}, but its nested {what} {} {are} there: {name} was still running when {side}'s log ended",
            seq_list(&gap.nested)
        );
    }
    match gap.next {
        None if gap.calls == 0 => format!("no call {name}: {side} holds no calls"),
        None => {
            let what = if gap.calls == 1 { "call" } else { "calls" };
            format!("no call {name}: {side} ends after {} {what}", gap.calls)
        }
        Some(next) => format!(
            "no call {name}: {side} goes on with call {}",
            call_name(next, several)
        ),
    }
}

impl CallDiff {
    /// The divergence part of the `diff` report.
    fn write_report(&self, out: &mut String) {
        let d = self;
        let paired = if d.several {
            "calls paired by session, in file order, and seq"
        } else {
            "calls paired by seq"
        };
        let before = match d.index {
            0 => "the first call".to_string(),
            1 => "the 1 call before it matches".to_string(),
            n => format!("the {n} calls before it match"),
        };
        let _ = writeln!(
            out,
            "the runs diverge at call {} ({paired}; {before}):",
            call_name(d.key, d.several)
        );
        for (side, call) in [("a", d.a()), ("b", d.b())] {
            let line = match (call, &d.gap) {
                (Some(c), _) => call_line(c),
                (None, Some(gap)) => missing_line(side, d.key, gap, d.several),
                (None, None) => "no call".to_string(),
            };
            let _ = writeln!(out, "  {side}: {line}");
        }
        if let (Some(a), Some(b)) = (d.a(), d.b()) {
            if d.tool_differs() {
                let _ = writeln!(out, "  tool: {} → {}", a.tool(), b.tool());
            }
            write_changes(out, "inputs", &d.inputs, d.inputs_as_text);
            write_changes(out, "output", &d.output, d.output_as_text);
            if d.status_differs() {
                let _ = writeln!(out, "  status: {} → {}", a.status(), b.status());
            }
            if d.error_differs() {
                let err = |e: Option<&str>| {
                    e.map_or_else(|| "(none)".to_string(), |e| shorten(e, SHOWN_VALUE))
                };
                let _ = writeln!(out, "  error: {} → {}", err(a.error()), err(b.error()));
            }
        }
    }
}

/// The report `backstep diff` prints: the first divergence with the JSON paths
/// that differ, then calls, statuses and costs of both runs with their deltas.
impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match &self.first {
            None => {
                let _ = writeln!(
                    out,
                    "the runs match: {} calls with the same tools, inputs, outputs, statuses and errors",
                    self.a.calls
                );
            }
            Some(d) => d.write_report(&mut out),
        }
        out.push('\n');
        let mut rows: Vec<[String; 4]> = vec![[
            String::new(),
            "a".to_string(),
            "b".to_string(),
            "b − a".to_string(),
        ]];
        let count_row = |name: &str, a: u64, b: u64| {
            [
                name.to_string(),
                a.to_string(),
                b.to_string(),
                signed(i128::from(b) - i128::from(a)),
            ]
        };
        let (ca, cb) = self.calls();
        rows.push(count_row("calls", ca as u64, cb as u64));
        for s in [Status::Error, Status::Panicked, Status::Cancelled] {
            let (a, b) = self.count(s);
            if a != 0 || b != 0 {
                rows.push(count_row(s.as_str(), a, b));
            }
        }
        rows.push([
            "cost".to_string(),
            self.a.cost.to_string(),
            self.b.cost.to_string(),
            signed_cost(self.cost_delta()),
        ]);
        let changed: Vec<&ToolDelta> = self
            .tools
            .iter()
            .filter(|t| t.calls.0 != t.calls.1 || t.cost.0 != t.cost.1)
            .collect();
        if !changed.is_empty() {
            rows.push(Default::default());
        }
        for t in changed {
            rows.push(count_row(
                &format!("{} calls", t.tool),
                t.calls.0,
                t.calls.1,
            ));
            if t.cost.0 != t.cost.1 {
                rows.push([
                    format!("{} cost", t.tool),
                    t.cost.0.to_string(),
                    t.cost.1.to_string(),
                    signed_cost(t.cost_delta()),
                ]);
            }
        }
        let w = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let (w0, w1, w2, w3) = (w(0), w(1), w(2), w(3));
        for r in &rows {
            let line = format!("{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}", r[0], r[1], r[2], r[3]);
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if self.a.sessions > 1 || self.b.sessions > 1 {
            let _ = writeln!(
                out,
                "(a holds {} sessions, b holds {}: compared as a whole)",
                self.a.sessions, self.b.sessions
            );
        }
        f.write_str(out.trim_end_matches('\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(seq: u64, tool: &str, inputs: &str, output: &str, cost: &str) -> String {
        format!(
            r#"{{"type":"call","session":"s","seq":{seq},"parent":null,"tool":"{tool}","inputs":{inputs},"output":{output},"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":{cost},"thread":"main"}}"#
        )
    }

    fn log(lines: &[String]) -> Log {
        Log::from_jsonl(&lines.join("\n")).unwrap()
    }

    #[test]
    fn key_order_and_cost_do_not_make_a_divergence() {
        let a = log(&[call(0, "t", r#"{"a":1,"b":[1,2]}"#, "2", "0.5")]);
        let b = log(&[call(0, "t", r#"{"b":[1,2],"a":1}"#, "2", "0.7")]);
        let d = diff(&a, &b);
        assert!(!d.diverges(), "{d}");
        assert_eq!(d.cost_delta(), Cost::from_usd(0.2));
    }

    #[test]
    fn odd_keys_and_nested_paths() {
        let a = log(&[call(0, "t", r#"{"a b":{"x":[1,{"y":2}]}}"#, "null", "0")]);
        let b = log(&[call(0, "t", r#"{"a b":{"x":[1,{"y":3}]}}"#, "null", "0")]);
        let d = diff(&a, &b);
        let paths: Vec<&str> = d
            .first_divergence()
            .unwrap()
            .inputs()
            .iter()
            .map(|p| p.path.as_str())
            .collect();
        assert_eq!(paths, [r#"["a b"].x[1].y"#]);
    }

    #[test]
    fn values_too_deep_for_serde_json_are_compared_as_text() {
        let deep = |leaf: &str| format!(r#"{{"x":{}{leaf}{}}}"#, "[".repeat(200), "]".repeat(200));
        let a = log(&[call(0, "t", &deep("1"), &deep("\"out\""), "0")]);
        let b = log(&[call(0, "t", &deep("2"), &deep("\"out\""), "0")]);
        assert!(!diff(&a, &a).diverges());
        let d = diff(&a, &b);
        let first = d.first_divergence().expect("the inputs differ");
        assert_eq!(first.inputs().len(), 1);
        assert_eq!(first.inputs()[0].path, ".");
        assert_eq!(first.inputs()[0].left, Some(Value::String(deep("1"))));
        assert!(first.output().is_empty());
        let text = d.to_string();
        let inputs = text.lines().skip(3).take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(
            inputs,
            format!(
                "  inputs (nested deeper than 128 levels: compared as text):\n    .  from character 206: …{}1{}… → …{}2{}…",
                "[".repeat(20),
                "]".repeat(39),
                "[".repeat(20),
                "]".repeat(39),
            )
        );
        // Outputs too.
        let c = log(&[call(0, "t", &deep("1"), &deep("\"other\""), "0")]);
        let d = diff(&a, &c);
        let first = d.first_divergence().expect("the outputs differ");
        assert!(first.inputs().is_empty());
        assert_eq!(first.output()[0].path, ".");
        assert!(d.to_string().contains("  output (nested deeper than 128 levels: compared as text):\n    .  from character 208: …"), "{d}");
    }

    #[test]
    fn a_run_cut_short_diverges_where_its_calls_are_missing() {
        let nested = |seq: u64, parent: u64, tool: &str| {
            call(seq, tool, "{}", "null", "0")
                .replace("\"parent\":null", &format!("\"parent\":{parent}"))
        };
        let full = [
            call(0, "plan", "{}", "1", "0"),
            nested(2, 1, "read"),
            call(1, "step", "{}", "null", "0"),
            nested(4, 3, "read"),
            nested(5, 3, "grep"),
            call(3, "step", "{}", "null", "0"),
        ];
        let a = log(&full);
        // Cut before #3 (the parent) was written: its nested calls were.
        let b = log(&full[..5]);
        let d = diff(&a, &b);
        let first = d.first_divergence().unwrap();
        assert_eq!((first.seq(), first.index()), (3, 3));
        assert_eq!(first.a().unwrap().tool(), "step");
        assert!(first.b().is_none() && !first.tool_differs());
        assert!(
            d.to_string().starts_with(
                "\
the runs diverge at call #3 (calls paired by seq; the 3 calls before it match):
  a: #3 step ok {}
  b: no call #3, but its nested calls #4 and #5 are there: #3 was still running when b's log ended
"
            ),
            "{d}"
        );
        // The other way round, and a run that simply ends.
        assert!(diff(&b, &a).to_string().starts_with(
            "\
the runs diverge at call #3 (calls paired by seq; the 3 calls before it match):
  a: no call #3, but its nested calls #4 and #5 are there: #3 was still running when a's log ended
  b: #3 step ok {}
"
        ));
        let c = log(&full[..3]);
        assert!(diff(&a, &c).to_string().starts_with(
            "\
the runs diverge at call #3 (calls paired by seq; the 3 calls before it match):
  a: #3 step ok {}
  b: no call #3: b ends after 3 calls
"
        ));
        // A call missing in the middle, not a parent.
        let gap = log(&[full[0].clone(), full[1].clone(), full[3].clone()]);
        assert!(
            diff(&a, &gap).to_string().starts_with(
                "\
the runs diverge at call #1 (calls paired by seq; the 1 call before it matches):
  a: #1 step ok {}
  b: no call #1, but its nested call #2 is there: #1 was still running when b's log ended
"
            ),
            "{}",
            diff(&a, &gap)
        );
    }

    #[test]
    fn report_text() {
        let a = log(&[
            call(0, "plan", "{}", "1", "0.001"),
            call(1, "search", r#"{"query":"rust"}"#, "[1]", "0.01"),
        ]);
        let b = log(&[
            call(0, "plan", "{}", "1", "0.001"),
            call(1, "fetch", r#"{"url":"u"}"#, "null", "0"),
            call(2, "search", r#"{"query":"rust"}"#, "[1]", "0.01"),
        ]);
        assert_eq!(
            diff(&a, &b).to_string(),
            "\
the runs diverge at call #1 (calls paired by seq; the 1 call before it matches):
  a: #1 search ok {\"query\":\"rust\"}
  b: #1 fetch ok {\"url\":\"u\"}
  tool: search → fetch

                  a       b  b − a
calls             2       3     +1
cost         $0.011  $0.011     $0

fetch calls       0       1     +1"
        );
    }
}
