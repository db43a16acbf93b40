//! Assert on what an agent did, test by test: capture scopes that keep each
//! test's tool calls apart under parallel `cargo test`, assertions that print
//! the calls when they fail, snapshots, stubs and cassettes.
//!
//! ```
//! # use backstep_core as backstep;
//! let rec = backstep::testing::capture();
//! // ... run the agent: every #[tool] call this thread makes lands in `rec` ...
//! rec.assert_not_called("delete_file");
//! assert!(rec.total_cost() <= 0.05);
//! ```

use std::fmt::Write as _;
use std::future::Future;
use std::marker::PhantomData;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::Value;

use crate::call::Call;
use crate::cost::Cost;
use crate::log::Log;
use crate::replay::{Matching, Replayer};
use crate::scope::{self, Cassette, Scope, StubFn, SCOPES};

/// The calls of one test: every `#[tool]` call made on this thread while the
/// capture is alive, in async tasks polled here, in the calls those make, and
/// in threads and tasks given the scope with [`Capture::bind`] /
/// [`Capture::bind_fn`] — and no other test's. The global log still gets
/// every call.
///
/// Dropping it ends the scope (a cassette being recorded is written then,
/// unless the test is failing). It belongs to the thread that made it.
#[must_use = "calls are captured only while the Capture is alive"]
pub struct Capture {
    scope: Arc<Scope>,
    previous: Option<Arc<Scope>>,
    /// Recording's off-count when the capture began.
    off_epoch: u64,
    _thread_bound: PhantomData<*const ()>,
}

/// Starts capturing this thread's tool calls.
///
/// ```
/// # use backstep_core as backstep;
/// let rec = backstep::testing::capture();
/// assert_eq!(rec.count("search"), 0);
/// ```
pub fn capture() -> Capture {
    let off_epoch = crate::recorder::capture_epoch();
    let scope = Arc::new(Scope::default());
    SCOPES.fetch_add(1, Ordering::Relaxed);
    let previous = scope::enter(Some(scope.clone()));
    Capture {
        scope,
        previous,
        off_epoch,
        _thread_bound: PhantomData,
    }
}

/// Runs `f` inside a new capture and returns its result with the capture.
///
/// ```
/// # use backstep_core as backstep;
/// let (answer, rec) = backstep::testing::capture_in(|| 42);
/// assert_eq!((answer, rec.calls().len()), (42, 0));
/// ```
pub fn capture_in<T>(f: impl FnOnce() -> T) -> (T, Capture) {
    let rec = capture();
    let out = f();
    (out, rec)
}

/// A capture whose tools are answered from the cassette file `path` when it
/// exists (a strict replay: no tool body runs), and recorded into it when it
/// does not (written when the capture drops): the first run records, later
/// runs replay — fast, offline, free.
///
/// A test that fails (the capture drops while the thread panics) saves no
/// cassette, so the next run records again instead of replaying a bad run;
/// stderr says `backstep: cassette PATH not saved: the test failed`. The
/// file is written whole or not at all (into a temporary file beside it,
/// then renamed).
///
/// # Panics
/// If the cassette exists but cannot be read (reported at the caller's line).
///
/// ```no_run
/// # use backstep_core as backstep;
/// let rec = backstep::testing::cassette("tests/cassettes/search.jsonl");
/// // ... run the agent ...
/// rec.assert_called("search", 1);
/// ```
#[track_caller]
pub fn cassette(path: impl AsRef<Path>) -> Capture {
    let path = path.as_ref();
    let rec = capture();
    let cassette = if path.exists() {
        match Replayer::load(path, Matching::Strict, false) {
            Ok(r) => Cassette::Replay(Box::new(r)),
            Err(e) => panic!(
                "backstep: cannot replay the cassette {}: {e}",
                path.display()
            ),
        }
    } else {
        Cassette::Record(path.to_path_buf())
    };
    *rec.scope
        .cassette
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cassette);
    rec
}

/// Answers every call of `tool` made in the current capture with `answer(inputs)`
/// as its output, without running the tool (see [`Capture::stub`]).
///
/// # Panics
/// When no capture is active on this thread (reported at the caller's line).
///
/// ```
/// # use backstep_core as backstep;
/// let _rec = backstep::testing::capture();
/// backstep::testing::stub("search", |_| serde_json::json!(["canned"]));
/// ```
#[track_caller]
pub fn stub(tool: &str, answer: impl Fn(&Value) -> Value + Send + Sync + 'static) {
    let scope =
        scope::current().expect("backstep::testing::stub needs an active capture() on this thread");
    let f: StubFn = Arc::new(move |v| Ok(answer(v)));
    scope.add_stub(tool, f);
}

/// The name a tool path stands for: its last segment (`agent::search` →
/// `search`). [`Capture::__tool_name`] also checks it against the calls.
#[doc(hidden)]
#[must_use]
pub fn __tool_name(path: &str) -> String {
    let path: String = path.split_whitespace().collect();
    let path = path.split("::<").next().unwrap_or(&path);
    path.rsplit("::").next().unwrap_or(path).to_string()
}

/// Converts an expected argument value to JSON for comparison.
#[doc(hidden)]
pub fn __json<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The names of a call's recorded inputs, in the order they were recorded
/// (the tool's parameter order).
fn input_names(call: &Call) -> Vec<String> {
    struct Names(Vec<String>);
    struct NamesVisitor;
    impl<'de> serde::de::Visitor<'de> for NamesVisitor {
        type Value = Names;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = map.next_key::<String>()? {
                map.next_value::<serde::de::IgnoredAny>()?;
                names.push(name);
            }
            Ok(Names(names))
        }
    }
    impl<'de> serde::Deserialize<'de> for Names {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Names, D::Error> {
            d.deserialize_map(NamesVisitor)
        }
    }
    serde_json::from_str::<Names>(call.inputs_json()).map_or_else(|_| Vec::new(), |n| n.0)
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `s`, cut to `max` characters (the last one `…`) when longer.
pub(crate) fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

impl Capture {
    /// Every call captured so far, in start order.
    #[must_use]
    pub fn calls(&self) -> Vec<Call> {
        let mut calls = self
            .scope
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        calls.sort_by_key(Call::seq);
        calls
    }

    /// How many calls were captured so far, of every tool.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// // ... run the agent ...
    /// assert_eq!(rec.len(), rec.calls().len());
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.scope
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether no call was captured so far.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// assert!(rec.is_empty());
    /// assert_eq!(rec.len(), 0);
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The captured calls as a [`Log`], for every query `Log` has.
    #[must_use]
    pub fn log(&self) -> Log {
        Log::from_parts(Vec::new(), self.calls())
    }

    /// The captured calls of `tool`, in start order.
    #[must_use]
    pub fn of(&self, tool: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.tool() == tool)
            .collect()
    }

    /// How many times `tool` was called.
    #[must_use]
    pub fn count(&self, tool: &str) -> usize {
        self.of(tool).len()
    }

    /// Call number `n` (from 0) of `tool`.
    ///
    /// # Panics
    /// With the table of captured calls, when there is no such call.
    #[track_caller]
    #[must_use]
    pub fn nth(&self, tool: &str, n: usize) -> Call {
        match self.of(tool).into_iter().nth(n) {
            Some(c) => c,
            None => self.fail(&format!(
                "expected a call #{n} of `{tool}`, but it was called {} time(s)",
                self.count(tool)
            )),
        }
    }

    /// The exact sum of the captured calls' costs. Compares with `f64`:
    /// `assert!(rec.total_cost() <= 0.05)`.
    #[must_use]
    pub fn total_cost(&self) -> Cost {
        self.calls().iter().map(Call::cost).sum()
    }

    /// The exact cost of the calls of `tool`.
    #[must_use]
    pub fn cost_of(&self, tool: &str) -> Cost {
        self.of(tool).iter().map(Call::cost).sum()
    }

    /// The calls made directly from `call`.
    #[must_use]
    pub fn children(&self, call: &Call) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.parent() == Some(call.seq()))
            .collect()
    }

    /// Asserts `tool` was called exactly `times` times.
    ///
    /// # Panics
    /// With the table of captured calls, when it was not.
    #[track_caller]
    pub fn assert_called(&self, tool: &str, times: usize) {
        self.check_recorded();
        let n = self.count(tool);
        if n != times {
            self.fail(&format!(
                "expected `{tool}` to be called {times} time(s), but it was called {n} time(s)"
            ));
        }
    }

    /// Asserts `tool` was called at least once.
    ///
    /// # Panics
    /// With the table of captured calls, when it was not.
    #[track_caller]
    pub fn assert_called_at_least_once(&self, tool: &str) {
        self.check_recorded();
        if self.count(tool) == 0 {
            self.fail(&format!("expected `{tool}` to be called, but it was not"));
        }
    }

    /// Asserts `tool` was never called.
    ///
    /// # Panics
    /// With the table of captured calls, when it was.
    #[track_caller]
    pub fn assert_not_called(&self, tool: &str) {
        self.check_recorded();
        let n = self.count(tool);
        if n != 0 {
            self.fail(&format!(
                "expected `{tool}` not to be called, but it was called {n} time(s)"
            ));
        }
    }

    /// Asserts some call of `tool` had these arguments (a partial match: other
    /// arguments may be anything; values are compared as JSON, so `&str`,
    /// `String`, numbers and structs all work).
    ///
    /// # Panics
    /// With the table of captured calls, when no call matches. When an
    /// argument name is not among the recorded inputs of any call of `tool`
    /// (a typo, or a parameter left out with `skip`), the message says so and
    /// lists the input names its calls do have.
    #[track_caller]
    pub fn assert_called_with(&self, tool: &str, expected: &[(&str, Value)]) {
        self.check_recorded();
        let calls = self.of(tool);
        let matches = |c: &Call| {
            let inputs = c.inputs();
            expected.iter().all(|(k, v)| inputs.get(*k) == Some(v))
        };
        if !calls.iter().any(matches) {
            let wanted: Vec<String> = expected.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let mut known: Vec<String> = Vec::new();
            for name in calls.iter().flat_map(input_names) {
                if !known.contains(&name) {
                    known.push(name);
                }
            }
            let unknown: Vec<String> = expected
                .iter()
                .filter(|(k, _)| !known.iter().any(|n| n == k))
                .map(|(k, _)| format!("`{k}`"))
                .collect();
            let why = if calls.is_empty() {
                "it was never called".to_string()
            } else if !unknown.is_empty() {
                let has = if known.is_empty() {
                    "its calls have no recorded inputs".to_string()
                } else {
                    let known: Vec<String> = known.iter().map(|n| format!("`{n}`")).collect();
                    format!("its inputs are {}", known.join(", "))
                };
                format!(
                    "no call of `{tool}` has an input named {}; {has}",
                    or_list(&unknown)
                )
            } else {
                format!("none of its {} call(s) matched", calls.len())
            };
            self.fail(&format!(
                "expected a call of `{tool}` with {}, but {why}",
                wanted.join(", ")
            ));
        }
    }

    /// Asserts the tools were called in this order, other calls allowed in
    /// between (a subsequence of the captured calls).
    ///
    /// # Panics
    /// With the table of captured calls, when they were not.
    #[track_caller]
    pub fn assert_sequence(&self, tools: &[&str]) {
        self.check_recorded();
        let calls = self.calls();
        let mut it = calls.iter();
        for (i, want) in tools.iter().enumerate() {
            if !it.any(|c| c.tool() == *want) {
                self.fail(&format!(
                    "expected the calls {tools:?} in this order; after {:?}, `{want}` did not follow",
                    &tools[..i]
                ));
            }
        }
    }

    /// Asserts the captured calls are exactly these tools, in this order.
    ///
    /// # Panics
    /// With the table of captured calls, when they are not.
    #[track_caller]
    pub fn assert_exact_sequence(&self, tools: &[&str]) {
        self.check_recorded();
        let calls = self.calls();
        let got: Vec<&str> = calls.iter().map(Call::tool).collect();
        if got != tools {
            self.fail(&format!(
                "expected exactly the calls {tools:?}, but got {got:?}"
            ));
        }
    }

    /// Panics with `message` and the table of captured calls, at the location
    /// of the caller (through the `#[track_caller]` assertions: the user's test line).
    #[track_caller]
    fn fail(&self, message: &str) -> ! {
        panic!("{message}\n{}", self.table())
    }

    /// The name a tool path stands for in an assertion on this capture
    /// ([`__tool_name`]), refusing a path whose function this capture saw
    /// record under another name (`#[tool(name = "search")] fn web_search`):
    /// counting `web_search` would find nothing and `assert_not_called!`
    /// would pass although the tool ran.
    ///
    /// # Panics
    /// Then, at the assertion's line, saying which name to use.
    #[doc(hidden)]
    #[must_use]
    #[track_caller]
    pub fn __tool_name(&self, path: &str) -> String {
        let name = __tool_name(path);
        let mut tools: Vec<String> = self.calls().iter().map(|c| c.tool().to_string()).collect();
        tools.sort_unstable();
        tools.dedup();
        let other: Vec<String> = tools
            .into_iter()
            .filter(|t| *t != name && crate::site::may_record_as(path, t))
            .collect();
        if let Some(first) = other.first() {
            let names = other
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ");
            panic!(
                "backstep: `{path}` names a function whose calls this capture recorded as {names} (renamed with #[tool(name = …)]): name the tool by that string, as in assert_called!(rec, \"{first}\")"
            );
        }
        name
    }

    /// Fails the assertion when recording was turned off while the capture
    /// ran: the calls made then were not seen, so `assert_not_called!`
    /// could pass on a tool that ran.
    #[track_caller]
    fn check_recorded(&self) {
        assert!(
            !crate::recorder::off_since(self.off_epoch),
            "backstep: this capture cannot be checked: recording was turned off while it ran (set_enabled(false)), so the calls made then were not seen"
        );
    }

    /// The captured calls as a table, as printed by failing assertions.
    ///
    /// Calls are numbered from 0 in the order they started, and `parent`
    /// uses those numbers (`outer` for a call made inside one the capture
    /// did not see start), as in [`Capture::snapshot_json`]: tests run in
    /// parallel share one process, whose own numbering is of no use here.
    #[must_use]
    pub fn table(&self) -> String {
        let calls = self.calls();
        let index: std::collections::HashMap<u64, usize> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.seq(), i))
            .collect();
        let mut out = format!("captured calls ({}):\n", calls.len());
        let _ = writeln!(
            out,
            "  {:>4} {:>6}  {:<20} {:<9} {:<36} output / error",
            "#", "parent", "tool", "status", "inputs"
        );
        for (i, c) in calls.iter().enumerate() {
            let parent = match c.parent() {
                None => "-".to_string(),
                Some(p) => index
                    .get(&p)
                    .map_or_else(|| "outer".to_string(), ToString::to_string),
            };
            let result = match c.error() {
                Some(e) => e.to_string(),
                None => c.output_json().to_string(),
            };
            let _ = writeln!(
                out,
                "  {:>4} {:>6}  {:<20} {:<9} {:<36} {}",
                i,
                parent,
                short(c.tool(), 20),
                c.status().as_str(),
                short(c.inputs_json(), 36),
                short(&result, 60)
            );
        }
        out
    }

    /// The captured calls as stable JSON for snapshot tests (see
    /// [`Log::snapshot_json`]): time, duration, session and thread are left
    /// out, and `seq`/`parent` are renumbered from 0 in start order.
    #[must_use]
    pub fn snapshot_json(&self) -> Value {
        self.log().snapshot_json()
    }

    /// [`Capture::snapshot_json`] as pretty text, for `insta::assert_snapshot!`,
    /// `expect_test` or a file compared in the test.
    #[must_use]
    pub fn snapshot(&self) -> String {
        self.log().snapshot()
    }

    /// Answers every call of `tool` in this capture with `answer(inputs)` as
    /// its output, without running the tool's body: the unit-test twin of
    /// replay. The output is rebuilt into the tool's return type as a replay
    /// would (for a `Result`, it is the `Ok` value); a call whose answer does
    /// not fit that type panics, naming the tool, the answer and the type.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// rec.stub("search", |inputs| serde_json::json!([format!("hit for {}", inputs["query"])]));
    /// ```
    pub fn stub(&self, tool: &str, answer: impl Fn(&Value) -> Value + Send + Sync + 'static) {
        let f: StubFn = Arc::new(move |v| Ok(answer(v)));
        self.scope.add_stub(tool, f);
    }

    /// Makes every call of `tool` in this capture fail with the error text
    /// `answer(inputs)`, without running it (for `Result` tools whose error is
    /// `anyhow::Error`, `Box<dyn Error>`, `io::Error` or deserializes from a string).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// rec.stub_error("fetch", |inputs| format!("503 for {}", inputs["url"]));
    /// ```
    pub fn stub_error(
        &self,
        tool: &str,
        answer: impl Fn(&Value) -> String + Send + Sync + 'static,
    ) {
        let f: StubFn = Arc::new(move |v| {
            let text = answer(v);
            Err((text.clone(), Value::String(text)))
        });
        self.scope.add_stub(tool, f);
    }

    /// Makes every call of `tool` in this capture fail with the error value
    /// `answer(inputs)`, without running it: for a `Result` tool whose error
    /// type implements `Deserialize` (a `thiserror` enum, say), the value is
    /// rebuilt into that type, as a replay would. The recorded error text is
    /// the value's JSON.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// // For `enum SearchError { RateLimited(u32), Empty }` deriving Deserialize:
    /// rec.stub_error_value("search", |_| serde_json::json!({"RateLimited": 30}));
    /// ```
    pub fn stub_error_value(
        &self,
        tool: &str,
        answer: impl Fn(&Value) -> Value + Send + Sync + 'static,
    ) {
        let f: StubFn = Arc::new(move |v| {
            let value = answer(v);
            Err((value.to_string(), value))
        });
        self.scope.add_stub(tool, f);
    }

    /// Makes `fut` part of this capture wherever it is polled (a spawned task).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// let task = rec.bind(async { /* tool calls */ });
    /// // tokio::spawn(task);
    /// # drop(task);
    /// ```
    pub fn bind<F: Future>(&self, fut: F) -> Bound<F> {
        Bound {
            fut,
            scope: self.scope.clone(),
        }
    }

    /// Makes `f` part of this capture wherever it runs (a spawned thread).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// let rec = backstep::testing::capture();
    /// std::thread::spawn(rec.bind_fn(|| { /* tool calls */ })).join().unwrap();
    /// ```
    pub fn bind_fn<T>(&self, f: impl FnOnce() -> T + Send) -> impl FnOnce() -> T + Send {
        let scope = self.scope.clone();
        move || {
            let previous = scope::enter(Some(scope));
            let restore = RestoreScope(previous);
            let out = f();
            drop(restore);
            out
        }
    }
}

struct RestoreScope(Option<Arc<Scope>>);

impl Drop for RestoreScope {
    fn drop(&mut self) {
        scope::enter(self.0.take());
    }
}

/// A future that belongs to a capture wherever it is polled; see [`Capture::bind`].
pub struct Bound<F> {
    fut: F,
    scope: Arc<Scope>,
}

impl<F: Future> Future for Bound<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: never moved out, no Drop impl
        // on `Bound`, no manual `Unpin` impl.
        let this = unsafe { self.get_unchecked_mut() };
        let _restore = RestoreScope(scope::enter(Some(this.scope.clone())));
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        scope::enter(self.previous.take());
        SCOPES.fetch_sub(1, Ordering::Relaxed);
        let cassette = self
            .scope
            .cassette
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match cassette {
            // A failing test's calls are not a recording to replay later runs from.
            Some(Cassette::Record(path)) if std::thread::panicking() => {
                eprintln!(
                    "backstep: cassette {} not saved: the test failed",
                    path.display()
                );
            }
            Some(Cassette::Record(path)) => {
                if let Err(e) = save_cassette(&path, self.calls()) {
                    eprintln!(
                        "backstep: warning: cannot write the cassette {}: {e}",
                        path.display()
                    );
                }
            }
            Some(Cassette::Replay(r)) => {
                if let Some(unused) = r.unused() {
                    assert!(std::thread::panicking(), "{unused}");
                }
            }
            None => {}
        }
    }
}

/// Writes `calls` as the cassette `path`: into a file beside it, renamed
/// to `path` once complete, so no half-written cassette is ever replayed.
fn save_cassette(path: &Path, calls: Vec<Call>) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let session = crate::session::Session {
        id: calls
            .first()
            .map_or_else(|| "cassette".into(), |c| c.session.clone()),
        name: Some("cassette".to_string()),
        started_at: Some(std::time::SystemTime::now()),
        pid: Some(std::process::id()),
        backstep_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        format: Some(crate::format::FORMAT_VERSION),
        end: None,
    };
    let log = Log::from_parts(vec![session], calls);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    let written = std::fs::File::create(&tmp).and_then(|f| {
        let mut w = std::io::BufWriter::new(f);
        log.write_jsonl(&mut w)?;
        w.flush()
    });
    let saved = written.and_then(|()| std::fs::rename(&tmp, path));
    if saved.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    saved
}

impl PartialEq<f64> for Cost {
    fn eq(&self, other: &f64) -> bool {
        *self == Cost::from_usd(*other)
    }
}

impl PartialOrd<f64> for Cost {
    fn partial_cmp(&self, other: &f64) -> Option<std::cmp::Ordering> {
        if other.is_nan() {
            return None;
        }
        Some(self.cmp(&Cost::from_usd(*other)))
    }
}

/// Asserts a tool was called: `assert_called!(rec, search)` (at least once) or
/// `assert_called!(rec, search, times = 2)`. The tool is a path to the function
/// (a rename is then a compile error; the name is its last segment) or a
/// string (`"web_search"`, for tools renamed with `name = …`).
#[macro_export]
macro_rules! assert_called {
    ($rec:expr, $tool:literal $(,)?) => {
        $rec.assert_called_at_least_once($tool)
    };
    ($rec:expr, $tool:literal, times = $n:expr $(,)?) => {
        $rec.assert_called($tool, $n)
    };
    ($rec:expr, $tool:path $(,)?) => {{
        let _ = $tool;
        $rec.assert_called_at_least_once(&$rec.__tool_name(stringify!($tool)))
    }};
    ($rec:expr, $tool:path, times = $n:expr $(,)?) => {{
        let _ = $tool;
        $rec.assert_called(&$rec.__tool_name(stringify!($tool)), $n)
    }};
}

/// Asserts a tool was never called: `assert_not_called!(rec, delete_file)`.
#[macro_export]
macro_rules! assert_not_called {
    ($rec:expr, $tool:literal $(,)?) => {
        $rec.assert_not_called($tool)
    };
    ($rec:expr, $tool:path $(,)?) => {{
        let _ = $tool;
        $rec.assert_not_called(&$rec.__tool_name(stringify!($tool)))
    }};
}

/// Asserts some call of a tool had these arguments (others may be anything):
/// `assert_called_with!(rec, send_email, to = "a@example.com", urgent = true)`.
#[macro_export]
macro_rules! assert_called_with {
    ($rec:expr, $tool:literal, $($arg:ident = $value:expr),+ $(,)?) => {
        $rec.assert_called_with($tool, &[$((stringify!($arg), $crate::testing::__json(&$value))),+])
    };
    ($rec:expr, $tool:path, $($arg:ident = $value:expr),+ $(,)?) => {{
        let _ = $tool;
        $rec.assert_called_with(
            &$rec.__tool_name(stringify!($tool)),
            &[$((stringify!($arg), $crate::testing::__json(&$value))),+],
        )
    }};
}

/// Asserts calls happened in this order: `assert_sequence!(rec, [plan, search, summarize])`
/// allows other calls in between; `assert_sequence!(rec, exact [plan, search])`
/// requires exactly these calls.
#[macro_export]
macro_rules! assert_sequence {
    ($rec:expr, exact [$($tool:tt)*] $(,)?) => {
        $rec.assert_exact_sequence(&$crate::__tool_list!($rec, [] $($tool)*))
    };
    ($rec:expr, [$($tool:tt)*] $(,)?) => {
        $rec.assert_sequence(&$crate::__tool_list!($rec, [] $($tool)*))
    };
}

/// Turns `a, b::c, "d"` into `["a", "c", "d"]` (as `&str`s).
#[doc(hidden)]
#[macro_export]
macro_rules! __tool_list {
    ($rec:expr, [$($done:expr),*]) => { [$($done.as_str()),*] };
    ($rec:expr, [$($done:expr),*] $tool:literal $(, $($rest:tt)*)?) => {
        $crate::__tool_list!($rec, [$($done,)* ::std::string::String::from($tool)] $($($rest)*)?)
    };
    ($rec:expr, [$($done:expr),*] $($seg:ident)::+ $(, $($rest:tt)*)?) => {
        $crate::__tool_list!($rec, [$($done,)* {
            let _ = $($seg)::+;
            $rec.__tool_name(stringify!($($seg)::+))
        }] $($($rest)*)?)
    };
}

/// Pins the tool calls of a [`Capture`] (or a [`Log`](crate::Log)) as an
/// [insta](https://insta.rs) snapshot, in one line: `snapshot()`'s stable
/// rendering (no times, durations, session or thread; `seq` and `parent`
/// renumbered from 0), stored under `snapshots/` beside the test as insta
/// does, reviewed with `cargo insta review`. Needs the `insta` feature.
///
/// ```ignore
/// let rec = backstep::testing::capture();
/// run_agent("audit the repo");
/// backstep::assert_tool_snapshot!(rec);                 // named after the test
/// backstep::assert_tool_snapshot!("audit_calls", rec);  // or by name
/// ```
#[cfg(feature = "insta")]
#[macro_export]
macro_rules! assert_tool_snapshot {
    ($rec:expr $(,)?) => {
        $crate::__private::insta::assert_snapshot!($rec.snapshot())
    };
    ($name:expr, $rec:expr $(,)?) => {
        $crate::__private::insta::assert_snapshot!($name, $rec.snapshot())
    };
}
