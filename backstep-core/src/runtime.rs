//! What `#[tool]` expands to calls: the in-flight call, its inputs, the
//! future wrapper for async tools, and the panic hook. Hidden from docs.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::call::{Call, Status};
use crate::cost::Cost;
use crate::recorder::{self, warn_once};

/// Static facts about one `#[tool]` function, built at compile time.
#[derive(Debug)]
pub struct Site {
    name: &'static str,
    cost_usd: f64,
}

impl Site {
    /// A tool named `name` costing `cost_usd` dollars per call.
    #[must_use]
    pub const fn new(name: &'static str, cost_usd: f64) -> Site {
        Site { name, cost_usd }
    }
}

thread_local! {
    /// The tool call running on this thread now (set while a sync tool body
    /// runs, and during each poll of an async tool's future).
    static CURRENT: Cell<*const Inflight> = const { Cell::new(std::ptr::null()) };
    /// The message of the panic now unwinding, set by our panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    static THREAD_NAME: Arc<str> = thread_name();
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(512));
}

fn thread_name() -> Arc<str> {
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.into(),
        None => {
            let id = format!("{:?}", t.id());
            let digits: String = id.chars().filter(char::is_ascii_digit).collect();
            format!("thread-{digits}").into()
        }
    }
}

/// Runs `f` with this thread's reusable line buffer, cleared.
pub(crate) fn with_line_buffer(f: impl FnOnce(&mut String)) {
    let mut f = Some(f);
    let _ = LINE.try_with(|b| {
        if let (Ok(mut buf), Some(f)) = (b.try_borrow_mut(), f.take()) {
            buf.clear();
            f(&mut buf);
        }
    });
    // Thread-local gone (thread exiting) or already in use: a fresh buffer.
    if let Some(f) = f {
        f(&mut String::new());
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
        let inside_tool = CURRENT.try_with(|c| !c.get().is_null()).unwrap_or(false);
        if inside_tool {
            let payload = info.payload();
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "Box<dyn Any>".to_string()
            };
            let _ = LAST_PANIC.try_with(|p| p.try_borrow_mut().map(|mut p| *p = Some(msg)));
        }
        previous(info);
    }));
}

fn panic_message() -> String {
    LAST_PANIC
        .try_with(|p| p.try_borrow().ok().and_then(|p| p.clone()))
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            "panic message unavailable (another panic hook replaced backstep's)".to_string()
        })
}

/// How a call that was never finished explicitly gets its status.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// A sync tool: the body runs inside the call.
    Sync,
    /// An async tool: unfinished means its future was dropped.
    Async,
}

/// The data of a call in flight: plain `Send` data, so async tools stay `Send`.
struct Inflight {
    seq: u64,
    parent: Option<u64>,
    site: &'static Site,
    start: Instant,
    started_at: SystemTime,
    inputs: Vec<u8>,
    added: Cell<Cost>,
    kind: Kind,
    /// What `CURRENT` was when a sync call entered, restored when it leaves.
    previous: Cell<*const Inflight>,
    entered: Cell<bool>,
}

// SAFETY: `previous` is only read and written on the thread that entered the
// call (sync tools never leave their thread while entered); `added` is only
// touched through `CURRENT`, which is thread-local and set while the call is
// being driven by exactly one thread.
unsafe impl Send for Inflight {}

/// A call in flight. Finishing it (or dropping it) records it.
pub struct Active {
    inner: Option<Box<Inflight>>,
}

fn current_seq() -> Option<u64> {
    CURRENT
        .try_with(|c| {
            let p = c.get();
            // SAFETY: CURRENT only ever points at the Inflight of a call that is
            // alive: set on entry/poll and restored before that call is dropped.
            (!p.is_null()).then(|| unsafe { (*p).seq })
        })
        .ok()
        .flatten()
}

impl Active {
    fn begin(site: &'static Site, kind: Kind) -> Active {
        if !recorder::recording() {
            return Active { inner: None };
        }
        let mut inputs = Vec::with_capacity(64);
        inputs.push(b'{');
        Active {
            inner: Some(Box::new(Inflight {
                seq: recorder::next_seq(),
                parent: current_seq(),
                site,
                start: Instant::now(),
                started_at: SystemTime::now(),
                inputs,
                added: Cell::new(Cost::ZERO),
                kind,
                previous: Cell::new(std::ptr::null()),
                entered: Cell::new(false),
            })),
        }
    }

    /// Starts a call of a sync tool and makes it the current call of this thread.
    #[must_use]
    pub fn enter(site: &'static Site) -> Active {
        let a = Active::begin(site, Kind::Sync);
        if let Some(inner) = &a.inner {
            let ptr: *const Inflight = &**inner;
            let prev = CURRENT
                .try_with(|c| c.replace(ptr))
                .unwrap_or(std::ptr::null());
            inner.previous.set(prev);
            inner.entered.set(true);
        }
        a
    }

    /// Starts a call whose work happens in a future: it becomes current only
    /// while [`Traced`] polls it.
    #[must_use]
    pub fn start_async(site: &'static Site) -> Active {
        Active::begin(site, Kind::Async)
    }

    /// Stops being this thread's current call (sync part of a future-returning tool done).
    pub fn leave(&mut self) {
        if let Some(inner) = &mut self.inner {
            if inner.entered.replace(false) {
                let prev = inner.previous.get();
                let _ = CURRENT.try_with(|c| c.set(prev));
            }
            inner.kind = Kind::Async;
        }
    }

    /// The inputs writer, or `None` when not recording (skip serializing).
    pub fn inputs(&mut self) -> Option<Inputs<'_>> {
        self.inner.as_mut().map(|i| Inputs { buf: &mut i.inputs })
    }

    /// Whether this call is being recorded.
    #[must_use]
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    fn complete(&mut self, status: Status, output: Option<String>, error: Option<String>) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if inner.entered.replace(false) {
            let prev = inner.previous.get();
            let _ = CURRENT.try_with(|c| c.set(prev));
        }
        let duration = inner.start.elapsed();
        inner.inputs.push(b'}');
        let inputs = String::from_utf8(std::mem::take(&mut inner.inputs))
            .unwrap_or_else(|_| "{}".to_string());
        let r = recorder::recorder();
        let call = Call {
            session: r.session_id(),
            seq: inner.seq,
            parent: inner.parent,
            tool: Cow::Borrowed(inner.site.name),
            inputs: inputs.into_boxed_str(),
            output: output.map_or_else(|| "null".into(), String::into_boxed_str),
            status,
            error,
            started_at: inner.started_at,
            duration,
            cost: Cost::from_usd(inner.site.cost_usd) + inner.added.get(),
            thread: THREAD_NAME
                .try_with(Clone::clone)
                .unwrap_or_else(|_| "".into()),
        };
        r.record(call);
    }

    /// Records a normal return with `output` (serialized) as the output.
    pub fn finish_ok<T: Serialize + ?Sized>(&mut self, output: &T) {
        if self.inner.is_some() {
            let json = to_json(output);
            self.complete(Status::Ok, Some(json), None);
        }
    }

    /// Records a normal return whose value is not recorded.
    pub fn finish_unrecorded(&mut self) {
        self.complete(Status::Ok, None, None);
    }

    /// Records an `Err` return with the error's text.
    pub fn finish_err(&mut self, text: String) {
        self.complete(Status::Error, None, Some(text));
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let Some(inner) = &mut self.inner else { return };
        if std::thread::panicking() {
            let msg = panic_message();
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
    }
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(s) => s,
        Err(e) => {
            warn_once(
                &recorder::WARNED_SERIALIZE,
                &format!("a tool value could not be serialized ({e}); it is recorded as a string saying so"),
            );
            let mut s = String::new();
            crate::format::write_str(&mut s, &format!("<unserializable: {e}>"));
            s
        }
    }
}

/// Writes the recorded arguments of a call as one JSON object.
pub struct Inputs<'a> {
    buf: &'a mut Vec<u8>,
}

impl Inputs<'_> {
    fn key(&mut self, name: &str) {
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        let mut s = String::with_capacity(name.len() + 3);
        crate::format::write_str(&mut s, name);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(b':');
    }

    /// Records argument `name` with its value serialized as JSON.
    pub fn arg<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        self.key(name);
        let mark = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut *self.buf, value) {
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
///
/// ```
/// # use backstep_core as backstep;
/// // Inside a #[tool] body:
/// let (input_tokens, output_tokens) = (1_200, 300);
/// backstep::add_cost(input_tokens as f64 * 0.15e-6 + output_tokens as f64 * 0.6e-6);
/// ```
pub fn add_cost(usd: f64) {
    let cost = Cost::from_usd(usd);
    let added = CURRENT
        .try_with(|c| {
            let p = c.get();
            if p.is_null() {
                return false;
            }
            // SAFETY: see `current_seq`.
            let cell = unsafe { &(*p).added };
            cell.set(cell.get() + cost);
            true
        })
        .unwrap_or(false);
    if !added {
        warn_once(
            &recorder::WARNED_COST,
            "backstep::add_cost was called outside a #[tool] call; that cost was not recorded",
        );
    }
}

/// Makes an async tool's call current on every poll and records it when the
/// future completes; dropped early, the call is recorded as `cancelled`.
pub struct Traced<F, R> {
    fut: F,
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
            fut,
            active: Some(active),
            record: Some(record),
        }
    }
}

/// Restores `CURRENT` when a poll ends, also by unwinding.
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
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        let ptr: *const Inflight = match this.active.as_ref().and_then(|a| a.inner.as_deref()) {
            Some(i) => i,
            None => std::ptr::null(),
        };
        let out = if ptr.is_null() {
            fut.poll(cx)
        } else {
            let _restore = Restore(
                CURRENT
                    .try_with(|c| c.replace(ptr))
                    .unwrap_or(std::ptr::null()),
            );
            fut.poll(cx)
        };
        match out {
            Poll::Ready(value) => {
                if let (Some(active), Some(record)) = (this.active.take(), this.record.take()) {
                    record(active, &value);
                }
                Poll::Ready(value)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Calls `f`: gives the tool body the declared return type as its expected
/// type, so coercions inside it (`&String` to `&str`, `Box<T>` to `Box<dyn Tr>`)
/// keep working, and catches `return` and `?` in the body.
#[inline(always)]
pub fn call_once<T, F: FnOnce() -> T>(f: F) -> T {
    f()
}

/// A value of any type, for the never-taken branch that tells an async block
/// its return type. Never called.
#[inline(always)]
#[must_use]
pub fn unreachable<T>() -> T {
    unreachable!("backstep: the type hint branch is never taken")
}
