//! What `#[tool]` expands to calls: the in-flight call, its inputs, the
//! future wrapper for async tools, and the panic hook. Hidden from docs.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicPtr, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::call::{Call, Status};
use crate::cost::Cost;
use crate::recorder::{self, warn_once};
use crate::replay::Served;
use crate::site::Site;

thread_local! {
    /// The tool call running on this thread now (set while a sync tool body
    /// runs, and during each poll of an async tool's future).
    static CURRENT: Cell<*const Inflight> = const { Cell::new(std::ptr::null()) };
    /// How many panics our hook has seen on this thread.
    static PANICS: Cell<u64> = const { Cell::new(0) };
    /// The message of the last panic our hook saw, with its number (`PANICS`).
    static LAST_PANIC: RefCell<Option<(u64, String)>> = const { RefCell::new(None) };
    static THREAD_NAME: Arc<str> = thread_name();
    static LINE: RefCell<crate::format::LineWriter> = RefCell::default();
    /// Finished calls' boxes, reused by the next calls on this thread with
    /// their buffer (inputs, then the output, are serialized into it): no
    /// allocation for the call in flight.
    // Boxes, not values: a call's `Inflight` must not move while `CURRENT`
    // points at it, and the box is what the call holds.
    #[allow(clippy::vec_box)]
    static POOL: RefCell<Vec<Box<Inflight>>> = const { RefCell::new(Vec::new()) };
}

/// How many finished boxes a thread keeps (nesting deeper than this allocates).
const POOLED: usize = 8;

/// A box for a new call: a pooled one, or a new one. The caller sets every
/// field a call starts with; the rest are as `recycle` left them.
fn pooled_box(start: Instant) -> Box<Inflight> {
    let reused = POOL
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.pop()))
        .ok()
        .flatten();
    // Field by field into the box, not a new `Inflight` moved in whole:
    // that was a copy of the struct per call.
    reused.unwrap_or_else(|| {
        Box::new(Inflight {
            seq: 0,
            parent: None,
            tool: "",
            cost_usd: 0.0,
            start,
            started_at: SystemTime::UNIX_EPOCH,
            inputs: Vec::new(),
            added: AtomicI64::new(0),
            kind: Kind::Sync,
            panics: 0,
            previous: AtomicPtr::new(std::ptr::null_mut()),
            entered: AtomicBool::new(false),
            served: None,
            in_log: false,
            asked: false,
            error_json: None,
            scope: None,
            thread: None,
            session: None,
            output_from: None,
        })
    })
}

/// A call's buffer as the record memory keeps: given back what is over an
/// eighth more than its JSON (and 64 bytes). A buffer doubles as it grows,
/// so a large output's would otherwise hold twice its size, and one grown by
/// a large call would hold that room as a small call's record. (Shrinking
/// is done in place: no copy.)
fn trimmed(mut json: Vec<u8>) -> Vec<u8> {
    if json.capacity() > json.len() + json.len() / 8 + 64 {
        json.shrink_to_fit();
    }
    json
}

/// Keeps in a finished call's box what the record its call pushed out of
/// memory can give the next call: its buffer (`json`), when the call's own
/// (of `used` bytes) became the record, and its session id and thread name,
/// which the next call uses when they are still this thread's (`begin`,
/// `session_id_reusing`).
///
/// A buffer far larger than the call needed (another thread's large call)
/// is freed instead: the box would hold it for as long as its thread lives,
/// as it calls tools whose records are copies (errors, panics, no output).
fn reuse(b: &mut Inflight, json: String, used: usize, session: Arc<str>, thread: Arc<str>) {
    if b.inputs.capacity() == 0 {
        if json.capacity() <= (2 * used).max(4096) {
            b.inputs = json.into_bytes();
            b.inputs.clear();
        } else {
            drop(json);
            b.inputs = Vec::with_capacity(used);
        }
    }
    b.session = Some(session);
    b.thread = Some(thread);
}

/// Gives a finished call's box back to this thread's pool (its inputs
/// buffer kept, unless a value over 1 MiB grew it:
/// a tool called with 64 KiB documents would otherwise regrow it every call).
fn recycle(mut b: Box<Inflight>) {
    b.scope = None;
    b.served = None;
    b.error_json = None;
    b.in_log = false;
    b.asked = false;
    b.output_from = None;
    *b.added.get_mut() = 0;
    *b.previous.get_mut() = std::ptr::null_mut();
    *b.entered.get_mut() = false;
    if b.inputs.capacity() > 1 << 20 {
        b.inputs = Vec::new();
    } else {
        b.inputs.clear();
    }
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.len() < POOLED {
                p.push(b);
            }
        }
    });
}

fn thread_name() -> Arc<str> {
    let t = std::thread::current();
    if let Some(n) = t.name() {
        return n.into();
    }
    let id = format!("{:?}", t.id());
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    format!("thread-{digits}").into()
}

/// Runs `f` with this thread's line writer.
pub(crate) fn with_line_writer(f: impl FnOnce(&mut crate::format::LineWriter)) {
    let mut f = Some(f);
    let _ = LINE.try_with(|w| {
        if let (Ok(mut w), Some(f)) = (w.try_borrow_mut(), f.take()) {
            f(&mut w);
        }
    });
    // Thread-local gone (thread exiting) or already in use: a fresh one.
    if let Some(f) = f {
        f(&mut crate::format::LineWriter::default());
    }
}

/// Installs (once) a panic hook that remembers the message of a panic raised
/// inside a tool call, then calls the hook that was there before.
pub(crate) fn install_panic_hook() {
    // `set_hook` panics when called during a panic; then go without messages.
    if std::thread::panicking() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Kept for every panic, not only those inside a tool body: a value's
        // `Serialize` or `Display` impl may panic while an async call records
        // it, when no call is this thread's current one. Numbered, so a call
        // takes only a message newer than it (`panics_so_far`).
        let msg = payload_message(info.payload());
        if let Ok(n) = PANICS.try_with(|c| {
            c.set(c.get() + 1);
            c.get()
        }) {
            let _ = LAST_PANIC.try_with(|p| p.try_borrow_mut().map(|mut p| *p = Some((n, msg))));
        }
        previous(info);
    }));
}

/// The text of a panic payload: the message of `panic!`, or the type it is not.
fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

/// How many panics the hook has seen on this thread so far: a call notes it
/// as it starts and again as its value is recorded, and takes the hook's
/// message only for a panic after that (an earlier one, caught by the body
/// or by another task on this thread, is not the call's; a `resume_unwind`
/// runs no hook).
#[inline]
fn panics_so_far() -> u64 {
    PANICS.try_with(Cell::get).unwrap_or(u64::MAX)
}

/// The message of the panic now unwinding, when the hook saw it after the
/// `since`-th panic on this thread.
fn panic_message(since: u64) -> String {
    LAST_PANIC
        .try_with(|p| {
            p.try_borrow()
                .ok()
                .and_then(|p| p.as_ref().filter(|(n, _)| *n > since).map(|(_, m)| m.clone()))
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            "panic message unavailable (raised by `resume_unwind`, or another panic hook replaced backstep's)".to_string()
        })
}

/// How a call that was never finished explicitly gets its status.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// The call's own code runs on this thread now: a sync tool's body, the
    /// recording of a call's arguments (also an async tool's, before its
    /// future is made), or of its value once the body is done. Dropped
    /// unfinished, it panicked.
    Sync,
    /// An async tool whose future runs the body: dropped unfinished outside
    /// a poll, it was cancelled.
    Async,
}

/// The data of a call in flight: plain `Send + Sync` data (atomics, not
/// cells), so a tool's future is `Send`/`Sync` exactly when its body's is.
struct Inflight {
    seq: u64,
    parent: Option<u64>,
    tool: &'static str,
    cost_usd: f64,
    start: Instant,
    started_at: SystemTime,
    inputs: Vec<u8>,
    /// Picodollars added by `add_cost` during the call.
    added: AtomicI64,
    kind: Kind,
    /// How many panics this thread had seen when the call started, or when
    /// its value began to be recorded ([`panics_so_far`]).
    panics: u64,
    /// What `CURRENT` was when a sync call entered, restored when it leaves.
    previous: AtomicPtr<Inflight>,
    entered: AtomicBool,
    /// The recorded answer, during replay.
    served: Option<Served>,
    /// A `live` tool that ran again while resuming: its recorded call is
    /// already in the log being appended to, so this one is not written.
    in_log: bool,
    /// A replay or a test stub was asked for this call's answer: a call that
    /// panics before (an argument's `Serialize`) uses up its recorded call
    /// as it is recorded, as a `live` one does.
    asked: bool,
    /// The `Err` value as JSON, when its type is `Serialize`.
    error_json: Option<String>,
    /// The test capture scope the call belongs to (inherited from the
    /// enclosing call, else this thread's).
    scope: Option<Arc<crate::scope::Scope>>,
    /// The thread the call started on (taken by its record).
    thread: Option<Arc<str>>,
    /// The session's id, when the box holds one: from the record its last
    /// call pushed out of memory, or the id its last line was written with.
    session: Option<Arc<str>>,
    /// Where the output starts in `inputs` while it is being serialized
    /// there: a `Serialize` impl that panics leaves it half written, and a
    /// call recorded then (panicked) must not take it for its inputs.
    output_from: Option<usize>,
}

impl Inflight {
    /// The attribute's cost plus what `add_cost` added during the call.
    fn cost(&mut self) -> Cost {
        Cost::from_usd(self.cost_usd) + Cost::from_picodollars(i128::from(*self.added.get_mut()))
    }
}

/// Where a finished call's output JSON is.
#[derive(Clone, Copy)]
enum Output<'a> {
    /// Given apart from the inputs (`None`: `null`).
    Given(Option<&'a [u8]>),
    /// Written into the inputs buffer after the inputs, from this offset.
    Appended(usize),
}

/// A call in flight. Finishing it (or dropping it) records it.
pub struct Active {
    /// `ManuallyDrop`: `Drop for Active` frees it (on its cold path), so a
    /// call that was not recorded has no drop glue left to run at all.
    inner: ManuallyDrop<Option<Box<Inflight>>>,
}

/// The seq and capture scope of the call running on this thread now.
fn current_call() -> (Option<u64>, Option<Arc<crate::scope::Scope>>) {
    CURRENT
        .try_with(|c| {
            let p = c.get();
            if p.is_null() {
                return (None, None);
            }
            // SAFETY: CURRENT only ever points at the Inflight of a call that is
            // alive: set on entry/poll and restored before that call is dropped.
            let inflight = unsafe { &*p };
            (Some(inflight.seq), inflight.scope.clone())
        })
        .unwrap_or((None, None))
}

impl Active {
    #[inline]
    fn unrecorded() -> Active {
        Active {
            inner: ManuallyDrop::new(None),
        }
    }

    fn begin(site: &'static Site, cost_usd: f64, kind: Kind) -> Active {
        if !recorder::recording() {
            return Active::unrecorded();
        }
        recorder::check_env_replay();
        site.register();
        let tool = site.tool();
        let panics = panics_so_far();
        let (parent, parent_scope) = current_call();
        let scope = parent_scope.or_else(crate::scope::current);
        let start = Instant::now();
        let mut b = pooled_box(start);
        b.seq = recorder::next_seq();
        b.parent = parent;
        b.tool = tool;
        b.cost_usd = cost_usd;
        b.start = start;
        b.started_at = crate::time::wall_clock(start);
        b.kind = kind;
        b.panics = panics;
        b.scope = scope;
        // The box may hold this thread's name already (from its last call,
        // or the record that call pushed out): one reference count change
        // less, an atomic one.
        let thread = &mut b.thread;
        if THREAD_NAME
            .try_with(|t| {
                if !thread.as_ref().is_some_and(|old| Arc::ptr_eq(old, t)) {
                    *thread = Some(t.clone());
                }
            })
            .is_err()
        {
            *thread = None;
        }
        Active {
            inner: ManuallyDrop::new(Some(b)),
        }
    }

    /// Starts a call of a sync tool and makes it the current call of this thread.
    ///
    /// Inlined, so that with recording off a tool call costs the one load of
    /// [`recorder::known_off`] and the optimizer sees `inner` is `None` in
    /// everything that follows (`serve`, `run`, the dispatch, `drop`).
    #[inline]
    #[must_use]
    pub fn enter(site: &'static Site, cost_usd: f64) -> Active {
        if recorder::known_off() {
            return Active::unrecorded();
        }
        Active::enter_recording(site, cost_usd)
    }

    #[inline(never)]
    fn enter_recording(site: &'static Site, cost_usd: f64) -> Active {
        let a = Active::begin(site, cost_usd, Kind::Sync);
        if let Some(inner) = &*a.inner {
            let ptr: *const Inflight = &**inner;
            let prev = CURRENT
                .try_with(|c| c.replace(ptr))
                .unwrap_or(std::ptr::null());
            inner.previous.store(prev.cast_mut(), Relaxed);
            inner.entered.store(true, Relaxed);
        }
        a
    }

    /// Starts a call whose work happens in a future: it becomes current only
    /// while [`Traced`] polls it. Until the future is made
    /// ([`Active::leave`]), a drop is a panic (an argument's `Serialize`).
    #[inline]
    #[must_use]
    pub fn start_async(site: &'static Site, cost_usd: f64) -> Active {
        if recorder::known_off() {
            return Active::unrecorded();
        }
        Active::begin(site, cost_usd, Kind::Sync)
    }

    /// Stops being this thread's current call (sync part of a future-returning tool done).
    pub fn leave(&mut self) {
        if let Some(inner) = &mut *self.inner {
            // `get_mut`: owned here, so no atomic operation (a locked one
            // waits for every pending store; it was a visible share of a call).
            if std::mem::take(inner.entered.get_mut()) {
                let prev = *inner.previous.get_mut();
                let _ = CURRENT.try_with(|c| c.set(prev));
            }
            inner.kind = Kind::Async;
        }
    }

    /// The inputs writer, or `None` when not recording (skip serializing).
    #[inline]
    pub fn inputs(&mut self) -> Option<Inputs<'_>> {
        self.inner.as_mut().map(|i| Inputs::open(&mut i.inputs))
    }

    /// Whether this call is being recorded.
    #[inline]
    #[must_use]
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// Records the call, with `output` (JSON text) as its output.
    fn complete(&mut self, status: Status, output: Option<String>, error: Option<String>) {
        // An `Err` whose value is `Serialize` is kept as the output, so a
        // replay can rebuild it.
        let output = match (status, output, &mut *self.inner) {
            (Status::Error, None, Some(inner)) => inner.error_json.take(),
            (_, output, _) => output,
        };
        if let Some(inner) = &mut *self.inner {
            // An output half serialized when its `Serialize` panicked.
            if let Some(at) = inner.output_from.take() {
                inner.inputs.truncate(at);
            }
        }
        let output = output.as_deref().map(str::as_bytes);
        self.complete_json(status, Output::Given(output), error);
    }

    fn complete_json(&mut self, status: Status, output: Output<'_>, error: Option<String>) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if std::mem::take(inner.entered.get_mut()) {
            let prev = *inner.previous.get_mut();
            let _ = CURRENT.try_with(|c| c.set(prev));
        }
        let duration = inner.start.elapsed();
        let r = recorder::recorder();
        let mut unwritten = false;
        if !r.keeps_calls() && inner.scope.is_none() && inner.served.is_none() {
            // Memory keeps no calls (`memory_limit(0)`), no test captures
            // this one and no replay answered it: its line is written from
            // the call's own buffer, and no `Call` is made, unless the file
            // did not take the line.
            if Active::record_line(r, &mut inner, status, output, error.as_deref(), duration) {
                recycle(inner);
                return;
            }
            unwritten = true;
        }
        let (json, split) = match output {
            // Memory full: the buffer itself. The record it pushes out gives
            // the box a buffer back (below), so a call allocates and copies
            // nothing.
            Output::Appended(split) if r.full() => {
                (trimmed(std::mem::take(&mut inner.inputs)), split)
            }
            // Else inputs and output in one allocation of exactly their size.
            Output::Appended(split) => (inner.inputs.as_slice().to_vec(), split),
            Output::Given(output) => {
                let inputs: &[u8] = if inner.inputs.is_empty() {
                    b"{}"
                } else {
                    &inner.inputs
                };
                let output = output.unwrap_or(b"null");
                let mut json = Vec::with_capacity(inputs.len() + output.len());
                json.extend_from_slice(inputs);
                json.extend_from_slice(output);
                (json, inputs.len())
            }
        };
        // SAFETY: the buffer holds only what serde_json wrote (valid UTF-8,
        // as its writer guarantees), parameter names (Rust identifiers, so
        // UTF-8) and ASCII punctuation.
        let json = unsafe { String::from_utf8_unchecked(json) };
        debug_assert!(json.is_char_boundary(split));
        let json_len = json.len();
        let session = r.session_id_reusing(inner.session.take());
        // Moved, not cloned: one reference count change less.
        let thread = inner.thread.take().unwrap_or_else(|| "".into());
        let mut call = Some(Call {
            session,
            seq: inner.seq,
            parent: inner.parent,
            tool: crate::call::Name::Static(inner.tool),
            json,
            split,
            status,
            error,
            started_at: inner.started_at,
            duration,
            cost: inner.cost(),
            thread,
            replayed: inner.in_log,
        });
        let scope = inner.scope.take();
        match inner.served.take() {
            None if unwritten => r.record_unwritten(call.take()),
            None => {
                if let (Some(scope), Some(call)) = (&scope, &call) {
                    scope.push(call);
                }
                // Leaves in `call` what memory did not keep.
                r.record(&mut call);
            }
            Some(served) => {
                if let Some(call) = call.take() {
                    record_served(r, call, served, scope.as_deref());
                }
            }
        }
        if let Some(Call {
            json,
            session,
            thread,
            ..
        }) = call
        {
            reuse(&mut inner, json, json_len, session, thread);
        }
        recycle(inner);
    }

    /// [`Active::complete_json`] for a call memory does not keep: `false`
    /// when the log file did not take its line. Not inlined, so the line
    /// writer it calls stays out of the path of the calls memory keeps.
    #[inline(never)]
    fn record_line(
        r: &recorder::Recorder,
        inner: &mut Inflight,
        status: Status,
        output: Output<'_>,
        error: Option<&str>,
        duration: std::time::Duration,
    ) -> bool {
        let cost = inner.cost();
        let buf: &[u8] = &inner.inputs;
        let (inputs, output) = match output {
            Output::Appended(split) => buf.split_at(split),
            Output::Given(output) => (
                if buf.is_empty() { b"{}" } else { buf },
                output.unwrap_or(b"null"),
            ),
        };
        // SAFETY: as for the record's JSON in `complete_json`; `split` is
        // where the output, appended after the inputs, starts.
        let (inputs, output) = unsafe {
            (
                std::str::from_utf8_unchecked(inputs),
                std::str::from_utf8_unchecked(output),
            )
        };
        let session = r.session_id_reusing(inner.session.take());
        let written = r.record_line(&crate::format::CallLine {
            session: &session,
            seq: inner.seq,
            parent: inner.parent,
            tool: inner.tool,
            inputs,
            output,
            status,
            error,
            started_at: inner.started_at,
            duration,
            cost,
            thread: inner.thread.as_deref().unwrap_or(""),
            replayed: inner.in_log,
        });
        inner.session = Some(session);
        written
    }

    /// Asks the replay in progress for a recorded answer to this call.
    /// `true`: the body must not run; build the return value with the
    /// `Rebuild` dispatch.
    ///
    /// # Panics
    /// On a divergence, after recording this call and calling the hook: the
    /// panic carries the report.
    #[inline]
    pub fn serve(&mut self, live: bool, ignore: &[&str]) -> bool {
        // Not recorded, not served: replay and stubs answer recorded calls only.
        if self.inner.is_none() {
            return false;
        }
        self.serve_recorded(live, ignore)
    }

    /// [`Active::serve`] for a tool that must run live because a log cannot
    /// give its output back (`why`): during a replay or resume, its `site`
    /// says once that its body runs again (`#[tool(live)]` says it is meant
    /// to).
    #[inline]
    pub fn serve_unreplayable(&mut self, site: &'static Site, why: &str, ignore: &[&str]) -> bool {
        if self.inner.is_none() {
            return false;
        }
        if recorder::replaying() {
            site.warn_runs_again(why);
        }
        self.serve_recorded(true, ignore)
    }

    #[inline(never)]
    fn serve_recorded(&mut self, live: bool, ignore: &[&str]) -> bool {
        if let Some(inner) = &mut *self.inner {
            inner.asked = true;
        }
        let scoped = self.inner.as_ref().and_then(|i| i.scope.clone());
        if let Some(scope) = scoped {
            if self.serve_from(live, ignore, Source::Scope(&scope)) {
                return true;
            }
        }
        if !recorder::replaying() {
            return false;
        }
        let Some(replayer) = recorder::recorder().replayer() else {
            return false;
        };
        self.serve_from(live, ignore, Source::Global(&replayer))
    }

    fn serve_from(&mut self, live: bool, ignore: &[&str], source: Source<'_>) -> bool {
        let Some(inner) = &mut *self.inner else {
            return false;
        };
        let r = recorder::recorder();
        if live {
            match source {
                Source::Scope(s) => s.consume_live(inner.tool),
                Source::Global(g) => inner.in_log = g.consume_live(inner.tool) && g.resume,
            }
            return false;
        }
        let inputs = if inner.inputs.is_empty() {
            "{}".to_string()
        } else {
            String::from_utf8_lossy(&inner.inputs).into_owned()
        };
        let answer = match source {
            Source::Scope(s) => s.answer(inner.tool, inner.seq, &inputs, ignore),
            Source::Global(g) => g.serve(inner.tool, inner.seq, &inputs, ignore),
        };
        match answer {
            Ok(Some(served)) => {
                inner.served = Some(served);
                true
            }
            Ok(None) => false,
            Err(divergence) => {
                let summary = divergence.to_string();
                // The body never ran: nothing was spent. Resuming, the call
                // stays out of the log being resumed (as its answered calls
                // do), or the next resume would be served this error as if
                // the tool had returned it.
                if let Some(inner) = &mut *self.inner {
                    inner.cost_usd = 0.0;
                    *inner.added.get_mut() = 0;
                    if matches!(source, Source::Global(g) if g.resume) {
                        inner.in_log = true;
                        recorder::resume_diverged();
                    }
                }
                self.complete(Status::Error, None, Some(summary.clone()));
                if let Some(hook) = r.divergence_hook() {
                    hook(&divergence);
                }
                panic!("{summary}");
            }
        }
    }

    /// The recorded answer, recorded again as this call (marked replayed).
    /// Returns the recorded status, output JSON and error text.
    pub fn take_served(&mut self) -> (Status, String, Option<String>) {
        let Some(served) = self.served() else {
            return (
                Status::Error,
                "null".into(),
                Some("backstep: no recorded answer".into()),
            );
        };
        let answer = (
            served.call.status(),
            served.call.output_json().to_string(),
            served.call.error().map(str::to_string),
        );
        self.complete(answer.0, None, answer.2.clone());
        answer
    }

    /// Replays a `-> !` tool: its recorded call panicked; panic again.
    pub fn replay_never(&mut self) -> ! {
        let (_, _, error) = self.take_served();
        std::panic::panic_any(error.unwrap_or_else(|| "recorded panic".to_string()))
    }

    /// Stops the program: the tool's return type cannot be rebuilt from a log.
    ///
    /// # Panics
    /// Always, with a message naming the tool and the reason.
    pub fn cannot_rebuild(&mut self, what: &str) -> ! {
        let tool = self.inner.as_ref().map_or("?", |i| i.tool);
        self.cannot_rebuild_tool(tool, what)
    }

    /// [`Active::cannot_rebuild`] for a call whose answer may already be taken.
    ///
    /// # Panics
    /// Always, with a message naming the tool and the reason.
    pub fn cannot_rebuild_tool(&mut self, tool: &str, what: &str) -> ! {
        if self.inner.is_some() {
            let _ = self.take_served();
        }
        panic!(
            "backstep replay: cannot rebuild the return value of tool `{tool}` from the log: {what}; mark the tool `#[tool(live)]` to always run its body instead"
        );
    }

    /// Whether the answer to serve was made up by a test stub (`rec.stub`),
    /// not read from a log: a return value that cannot be rebuilt from it is
    /// then the stub's mistake.
    #[must_use]
    pub fn served_by_stub(&self) -> bool {
        self.served().is_some_and(|s| s.from_stub)
    }

    /// The answer a replay or a stub gave this call, if one did.
    fn served(&self) -> Option<&Served> {
        self.inner.as_ref().and_then(|i| i.served.as_ref())
    }

    /// Whether the recorded answer is a call that was cancelled (its future
    /// dropped before it completed): replay then never completes it either,
    /// so the `timeout` or `select!` that dropped it drops it again.
    #[must_use]
    pub fn replays_cancelled(&self) -> bool {
        self.served()
            .is_some_and(|s| s.call.status() == Status::Cancelled)
    }

    /// A future that never completes, holding this replayed call: dropped
    /// (as the recorded run dropped it), it is recorded `cancelled` again.
    pub async fn replay_cancelled(mut self) -> ::core::convert::Infallible {
        self.leave();
        ::core::future::pending().await
    }

    /// Keeps the `Err` value's JSON for the record (when the error type is `Serialize`).
    pub fn set_error_json(&mut self, json: String) {
        if let Some(inner) = &mut *self.inner {
            inner.error_json = Some(json);
        }
    }

    /// Records a normal return with `output` (serialized) as the output:
    /// written straight after the inputs, in the call's own buffer.
    pub fn finish_ok<T: Serialize + ?Sized>(&mut self, output: &T) {
        if let Some(inner) = &mut *self.inner {
            // Serialized right after the inputs, in the call's own buffer:
            // the record's JSON is then one copy of that buffer.
            if inner.inputs.is_empty() {
                inner.inputs.extend_from_slice(b"{}");
            }
            let split = inner.inputs.len();
            inner.output_from = Some(split);
            write_json(&mut inner.inputs, output);
            inner.output_from = None;
            self.complete_json(Status::Ok, Output::Appended(split), None);
        }
    }

    /// Records a normal return whose value is not recorded.
    #[inline]
    pub fn finish_unrecorded(&mut self) {
        if self.inner.is_some() {
            self.complete(Status::Ok, None, None);
        }
    }

    /// Records an `Err` return with the error's text.
    pub fn finish_err(&mut self, text: String) {
        self.complete(Status::Error, None, Some(text));
    }
}

impl Drop for Active {
    #[inline]
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.drop_unfinished();
        }
    }
}

impl Active {
    /// A call dropped before it was finished: a panic, a cancelled future,
    /// or an exit the expansion could not see.
    #[cold]
    #[inline(never)]
    fn drop_unfinished(&mut self) {
        let Some(inner) = &mut *self.inner else {
            return;
        };
        // An async call that panicked in a poll was recorded there; one
        // dropped while someone else unwinds was cancelled.
        let panicked = inner.kind == Kind::Sync && std::thread::panicking();
        if panicked {
            let msg = panic_message(inner.panics);
            if !inner.asked {
                // Panicked before it could be answered (an argument's
                // `Serialize`): it runs live, as it did when recorded, and
                // uses up its recorded call, or the next call of its tool
                // would be paired with that one.
                self.serve_recorded(true, &[]);
            }
            self.complete(Status::Panicked, None, Some(msg));
        } else if inner.kind == Kind::Async {
            self.complete(Status::Cancelled, None, None);
        } else {
            // Only an inline (`#[track_caller]`) body can get here: it returned
            // through a `return` or `?` hidden inside a macro, which #[tool]
            // cannot see. Say so rather than guess a value.
            self.complete(
                Status::Error,
                None,
                Some("returned early from inside a macro (e.g. `bail!`); #[tool] on a #[track_caller] function cannot see that value".to_string()),
            );
        }
        // `complete` took the call; should it not have, it is freed here.
        drop(self.inner.take());
    }
}

/// Appends `value` as JSON to `buf`; a value that fails to serialize is
/// written as a string saying so (and warned about once).
fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    let mark = buf.len();
    if let Err(e) = serde_json::to_writer(&mut *buf, value) {
        buf.truncate(mark);
        warn_once(
            &recorder::WARNED_SERIALIZE,
            &format!(
                "a tool value could not be serialized ({e}); it is recorded as a string saying so"
            ),
        );
        let mut s = String::new();
        crate::format::write_str(&mut s, &format!("<unserializable: {e}>"));
        buf.extend_from_slice(s.as_bytes());
    }
}

/// Where a recorded answer comes from.
#[derive(Clone, Copy)]
enum Source<'a> {
    Scope(&'a crate::scope::Scope),
    Global(&'a crate::replay::Replayer),
}

/// Records a served call as this run's call (recorded status, output, error,
/// cost and duration; new seq, parent, time and thread), then the calls
/// recorded inside it, renumbered after it, so the replay's log mirrors the
/// original run.
fn record_served(
    r: &recorder::Recorder,
    fresh: Call,
    served: Served,
    scope: Option<&crate::scope::Scope>,
) {
    let record = |call: Call| {
        if let Some(scope) = scope {
            scope.push(&call);
        }
        let mut call = Some(call);
        r.record(&mut call);
        // What memory did not keep is freed here, after its lock.
        drop(call);
    };
    let Served {
        call: old,
        descendants,
        ..
    } = served;
    let mut renumber = std::collections::HashMap::new();
    renumber.insert(old.seq, fresh.seq);
    let session = fresh.session.clone();
    let started = fresh.started_at;
    let thread = fresh.thread.clone();
    let (json, split) = crate::call::join_json(fresh.inputs_json(), old.output_json());
    record(Call {
        json,
        split,
        status: old.status,
        error: old.error.clone(),
        duration: old.duration,
        cost: old.cost,
        replayed: true,
        ..fresh
    });
    for d in descendants {
        let seq = recorder::next_seq();
        renumber.insert(d.seq, seq);
        let parent = d.parent.and_then(|p| renumber.get(&p).copied());
        record(Call {
            session: session.clone(),
            seq,
            parent,
            started_at: started,
            thread: thread.clone(),
            replayed: true,
            ..d
        });
    }
}

/// Writes the recorded arguments of a call as one JSON object.
///
/// They are written into the call's own (reused) buffer, and the object is
/// closed when the writer is dropped.
pub struct Inputs<'a> {
    buf: &'a mut Vec<u8>,
    /// Where the argument being serialized starts: a `Serialize` impl that
    /// panics leaves it half written, and it is dropped.
    pending: Option<usize>,
}

impl Drop for Inputs<'_> {
    // Not inlined, as `open` and `arg`: a tool's function keeps only calls
    // on its recording path, which then needs fewer registers, and its path
    // with recording off saves and restores fewer (callgrind, a `u64 -> u64`
    // tool with recording off: 26 instructions a call, 31 with these
    // inlined, 11 for the plain function; a recorded call takes ~20 more).
    #[inline(never)]
    fn drop(&mut self) {
        if let Some(start) = self.pending {
            self.buf.truncate(start);
        }
        self.buf.push(b'}');
    }
}

impl Inputs<'_> {
    #[inline(never)]
    fn open(buf: &mut Vec<u8>) -> Inputs<'_> {
        buf.push(b'{');
        Inputs { buf, pending: None }
    }

    fn key(&mut self, name: &str) {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        // Parameter names are Rust identifiers: nothing to escape.
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Records argument `name` with its value serialized as JSON.
    #[inline(never)]
    pub fn arg<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        self.pending = Some(self.buf.len());
        self.key(name);
        let mark = self.buf.len();
        let written = serde_json::to_writer(&mut *self.buf, value);
        self.pending = None;
        if let Err(e) = written {
            self.buf.truncate(mark);
            warn_once(
                &recorder::WARNED_SERIALIZE,
                &format!("argument `{name}` could not be serialized ({e}); it is recorded as a string saying so"),
            );
            let mut s = String::new();
            crate::format::write_str(&mut s, &format!("<unserializable: {e}>"));
            self.buf.extend_from_slice(s.as_bytes());
        }
    }

    /// Records argument `name` as the string `"[redacted]"`.
    pub fn redacted(&mut self, name: &str) {
        self.key(name);
        self.buf.extend_from_slice(b"\"[redacted]\"");
    }
}

/// Adds `usd` dollars to the cost of the tool call running now: for costs known
/// only inside the body, such as tokens × price.
///
/// Called outside any tool call, it warns once on stderr and adds nothing.
/// What one call collects this way stops at about $9.2M (2⁶³ picodollars),
/// with a warning the first time.
///
/// ```
/// # use backstep_core as backstep;
/// // Inside a #[tool] body:
/// let (input_tokens, output_tokens) = (1_200, 300);
/// backstep::add_cost(input_tokens as f64 * 0.15e-6 + output_tokens as f64 * 0.6e-6);
/// ```
pub fn add_cost(usd: f64) {
    if !usd.is_finite() {
        warn_once(
            &recorder::WARNED_COST,
            &format!(
                "backstep::add_cost({usd}) ignored: a cost must be a finite number of dollars"
            ),
        );
        return;
    }
    let cost = Cost::from_usd(usd);
    let added = CURRENT
        .try_with(|c| {
            let p = c.get();
            if p.is_null() {
                return false;
            }
            // SAFETY: see `current_call`.
            let added = unsafe { &(*p).added };
            // Saturating, as `Cost` addition is, and said once: the sum of
            // one call is held in an `i64` of picodollars.
            let pico = cost.picodollars();
            let mut capped = false;
            let _ = added.fetch_update(Relaxed, Relaxed, |v| {
                let sum = i128::from(v).saturating_add(pico);
                let kept = clamp_i64(sum);
                capped = i128::from(kept) != sum;
                Some(kept)
            });
            if capped {
                warn_once(
                    &recorder::WARNED_COST_CAP,
                    &format!(
                        "backstep::add_cost({usd}) took the cost added to one call past {}, the most one call can record; the call records that much",
                        Cost::from_picodollars(i128::from(i64::MAX))
                    ),
                );
            }
            true
        })
        .unwrap_or(false);
    if !added && recorder::recording() {
        warn_once(
            &recorder::WARNED_COST,
            "backstep::add_cost was called outside a #[tool] call; that cost was not recorded",
        );
    }
}

/// The picodollars one call can add up (about $9.2M: a per-call amount).
fn clamp_i64(pico: i128) -> i64 {
    i64::try_from(pico).unwrap_or(if pico < 0 { i64::MIN } else { i64::MAX })
}

/// Makes an async tool's call current on every poll and records it when the
/// future completes; dropped early, the call is recorded as `cancelled`.
pub struct Traced<F: Future, R> {
    fut: Option<F>,
    /// A replayed answer, handed out on the first poll.
    ready: Option<F::Output>,
    active: Option<Active>,
    record: Option<R>,
}

impl<F, R> Traced<F, R>
where
    F: Future,
    R: FnOnce(Active, &F::Output),
{
    /// Wraps `fut`; `record` is given the call and the output when it completes.
    pub fn new(mut active: Active, fut: F, record: R) -> Traced<F, R> {
        active.leave();
        Traced {
            fut: Some(fut),
            ready: None,
            active: Some(active),
            record: Some(record),
        }
    }

    /// A future that never completes, for a replayed call that was recorded
    /// `cancelled`: dropped, `active` is recorded `cancelled` again.
    pub fn never(mut active: Active, record: R) -> Traced<F, R> {
        active.leave();
        Traced {
            fut: None,
            ready: None,
            active: Some(active),
            record: Some(record),
        }
    }

    /// A future that yields `value` (a replayed answer, already recorded).
    /// `record` is not called; it only gives this the type of the live branch.
    pub fn ready(value: F::Output, record: R) -> Traced<F, R> {
        Traced {
            fut: None,
            ready: Some(value),
            active: None,
            record: Some(record),
        }
    }
}

/// Restores `CURRENT` when a poll ends, also by unwinding. (It must not touch
/// the call: a panicking poll has already recorded and freed it.)
struct Restore(*const Inflight);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| c.set(self.0));
    }
}

impl<F, R> Future for Traced<F, R>
where
    F: Future,
    R: FnOnce(Active, &F::Output),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of
        // `Traced`, and `Traced` has no `Drop` impl and no manual `Unpin` impl.
        let this = unsafe { self.get_unchecked_mut() };
        if let Some(value) = this.ready.take() {
            return Poll::Ready(value);
        }
        if this.fut.is_none() && this.active.is_some() {
            return Poll::Pending; // `Traced::never`
        }
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) }
            .as_pin_mut()
            .expect("a #[tool] future polled after it completed");
        let ptr: *const Inflight = match this.active.as_ref().and_then(|a| a.inner.as_deref()) {
            Some(i) => i,
            None => std::ptr::null(),
        };
        let out = if ptr.is_null() {
            fut.poll(cx)
        } else {
            let previous = CURRENT
                .try_with(|c| c.replace(ptr))
                .unwrap_or(std::ptr::null());
            let _restore = Restore(previous);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
                Ok(poll) => poll,
                Err(payload) => {
                    if let Some(active) = this.active.as_mut() {
                        active.complete(Status::Panicked, None, Some(payload_message(&*payload)));
                    }
                    std::panic::resume_unwind(payload)
                }
            }
        };
        match out {
            Poll::Ready(value) => {
                if let (Some(mut active), Some(record)) = (this.active.take(), this.record.take()) {
                    // The body is done: a drop while its value is recorded
                    // is a panic in the value's `Serialize` or `Display`.
                    if let Some(inner) = &mut *active.inner {
                        inner.kind = Kind::Sync;
                        inner.panics = panics_so_far();
                    }
                    record(active, &value);
                }
                Poll::Ready(value)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Active {
    /// Runs the tool body `f`: gives it the declared return type as its
    /// expected type, so coercions inside it (`&String` to `&str`, `Box<T>` to
    /// `Box<dyn Tr>`) keep working, and catches `return` and `?` in the body.
    /// A panic is recorded with its payload's message (also one re-raised by
    /// `resume_unwind`, which runs no hook) and then continues unchanged.
    #[inline]
    pub fn run<T, F: FnOnce() -> T>(&mut self, f: F) -> T {
        if self.inner.is_none() {
            return f();
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(value) => {
                // A panic the body caught is not one of its value's.
                if let Some(inner) = &mut *self.inner {
                    inner.panics = panics_so_far();
                }
                value
            }
            Err(payload) => {
                self.complete(Status::Panicked, None, Some(payload_message(&*payload)));
                std::panic::resume_unwind(payload)
            }
        }
    }
}

/// A value of any type, for the never-taken branch that tells an async block
/// its return type. Never called.
#[inline]
#[must_use]
pub fn unreachable<T>() -> T {
    unreachable!("backstep: the type hint branch is never taken")
}

#[cfg(test)]
mod tests {
    use super::{pooled_box, reuse, trimmed};
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_record_holds_at_most_an_eighth_more_than_its_json() {
        let mut big = Vec::with_capacity(70_000);
        big.extend_from_slice(b"{\"text\":\"short\"}\"ok\"");
        let json = trimmed(big);
        assert_eq!(json, b"{\"text\":\"short\"}\"ok\"");
        assert!(
            json.capacity() <= json.len() + json.len() / 8 + 64,
            "{}",
            json.capacity()
        );
        // Room within that is kept: the buffer is not copied.
        let mut room = Vec::with_capacity(512);
        room.extend_from_slice(&[b'x'; 450]);
        let ptr = room.as_ptr();
        let json = trimmed(room);
        assert_eq!((json.capacity(), json.as_ptr()), (512, ptr));
    }

    #[test]
    fn a_box_takes_the_buffer_pushed_out_only_when_near_the_size_it_needs() {
        let names = || -> (Arc<str>, Arc<str>) { ("session".into(), "thread".into()) };
        let mut b = pooled_box(Instant::now());
        // Its own buffer became the record: it takes the one pushed out.
        b.inputs = Vec::new();
        let near = String::with_capacity(700);
        let ptr = near.as_ptr();
        let (session, thread) = names();
        reuse(&mut b, near, 450, session, thread);
        assert_eq!((b.inputs.as_ptr(), b.inputs.capacity()), (ptr, 700));
        assert_eq!(b.session.as_deref(), Some("session"));
        assert_eq!(b.thread.as_deref(), Some("thread"));
        // Another thread's large call's buffer: freed, and a buffer of the
        // size this thread's call needed instead.
        b.inputs = Vec::new();
        let (session, thread) = names();
        reuse(&mut b, String::with_capacity(500_000), 450, session, thread);
        assert!(
            (450..4096).contains(&b.inputs.capacity()),
            "{}",
            b.inputs.capacity()
        );
        // Its own buffer is still there (its record was a copy): kept.
        let own = b.inputs.as_ptr();
        let (session, thread) = names();
        reuse(&mut b, String::with_capacity(700), 450, session, thread);
        assert_eq!(b.inputs.as_ptr(), own);
    }
}
