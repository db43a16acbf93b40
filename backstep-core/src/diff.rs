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
/// Two calls match when they have the same tool, the same inputs and output
/// (compared as JSON values with [`json_diff`](crate::json_diff): key order does
/// not matter), the same status and the same error text. When and how long a call ran, its
/// thread and its cost are not compared: costs are summed in the totals. A run
/// that has fewer calls diverges where its calls run out.
///
/// A log holding several sessions is compared as a whole (session by session
/// in file order); narrow it with [`Log::for_session`] or
/// [`Log::last_session`] to compare one run.
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
    let first = a
        .calls()
        .iter()
        .map(Some)
        .chain(std::iter::repeat(None))
        .zip(b.calls().iter().map(Some).chain(std::iter::repeat(None)))
        .take(a.len().max(b.len()))
        .enumerate()
        .find_map(|(i, (x, y))| CallDiff::between(i, x, y));
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
/// assert!(d.first_divergence().unwrap().b().is_none()); // b has no call 0
/// assert!(d.to_string().starts_with("the runs diverge at call 0 (start order):"));
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
            by_status[status_index(c.status())] += 1;
        }
        Totals {
            calls: log.len(),
            sessions: log.sessions().len(),
            by_status,
            cost: log.total_cost(),
        }
    }
}

fn status_index(s: Status) -> usize {
    match s {
        Status::Ok => 0,
        Status::Error => 1,
        Status::Panicked => 2,
        Status::Cancelled => 3,
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
        let i = status_index(status);
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
    a: Option<Call>,
    b: Option<Call>,
    inputs: Vec<PathDiff>,
    output: Vec<PathDiff>,
}

impl CallDiff {
    fn between(index: usize, a: Option<&Call>, b: Option<&Call>) -> Option<CallDiff> {
        let (mut inputs, mut output) = (Vec::new(), Vec::new());
        if let (Some(x), Some(y)) = (a, b) {
            if x.tool() == y.tool() {
                inputs = json_diff(&parse(x.inputs_json()), &parse(y.inputs_json()));
                output = json_diff(&parse(x.output_json()), &parse(y.output_json()));
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
            a: a.cloned(),
            b: b.cloned(),
            inputs,
            output,
        })
    }

    /// The position of the call in start order in both runs (as in
    /// [`Log::replay`]): the calls before it match.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }

    /// Run `a`'s call at this position; `None` when run `a` has no more calls.
    #[must_use]
    pub fn a(&self) -> Option<&Call> {
        self.a.as_ref()
    }

    /// Run `b`'s call at this position; `None` when run `b` has no more calls.
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
    /// run `b`'s, `None` where absent.
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

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
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

fn write_changes(out: &mut String, title: &str, changes: &[PathDiff]) {
    if changes.is_empty() {
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

fn call_line(c: Option<&Call>) -> String {
    match c {
        Some(c) => format!(
            "#{} {} {} {}",
            c.seq(),
            c.tool(),
            c.status(),
            shorten(c.inputs_json(), SHOWN_VALUE)
        ),
        None => "(no call: the run ended here)".to_string(),
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
            Some(d) => {
                let _ = writeln!(out, "the runs diverge at call {} (start order):", d.index);
                let _ = writeln!(out, "  a: {}", call_line(d.a()));
                let _ = writeln!(out, "  b: {}", call_line(d.b()));
                if let (Some(a), Some(b)) = (d.a(), d.b()) {
                    if d.tool_differs() {
                        let _ = writeln!(out, "  tool: {} → {}", a.tool(), b.tool());
                    }
                    write_changes(&mut out, "inputs", &d.inputs);
                    write_changes(&mut out, "output", &d.output);
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
the runs diverge at call 1 (start order):
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
