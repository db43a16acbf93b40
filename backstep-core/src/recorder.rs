//! The global recorder: on/off switch, the current session, calls kept in
//! memory and the optional session log file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::SystemTime;

use crate::call::{Call, Status};
use crate::cost::Cost;
use crate::format;
use crate::log::Log;
use crate::session::{Session, SessionEnd};
use crate::sink::FileSink;

const UNINIT: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// The switch a tool call reads first: one relaxed atomic load when off.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static RECORDER: OnceLock<Recorder> = OnceLock::new();
/// Sequence numbers are unique and increasing for the whole process.
static SEQ: AtomicU64 = AtomicU64::new(0);

pub(crate) static WARNED_WRITE: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_OPEN: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_SERIALIZE: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_COST: AtomicBool = AtomicBool::new(false);

/// Prints `message` on stderr the first time `flag` is seen unset.
pub(crate) fn warn_once(flag: &AtomicBool, message: &str) {
    if !flag.swap(true, Ordering::Relaxed) {
        eprintln!("backstep: warning: {message}");
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Recording never panics while holding a lock, but a poisoned lock must
    // not turn one panic into many.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Totals {
    calls: u64,
    errors: u64,
    panicked: u64,
    cancelled: u64,
    cost: Cost,
}

struct Memory {
    sessions: Vec<Session>,
    calls: Vec<Call>,
    totals: Totals,
}

pub(crate) struct Recorder {
    session: RwLock<Arc<str>>,
    memory: Mutex<Memory>,
    sink: Mutex<Output>,
}

/// The log file, and the header line of the current session not yet written:
/// a header goes out with the session's first line, so a session replaced
/// before it recorded anything (`BACKSTEP_LOG` set, then `init().install()`)
/// leaves no trace in the file.
struct Output {
    file: Option<FileSink>,
    header: Option<String>,
}

impl Output {
    fn write(&mut self, line: &str) {
        if let Some(file) = self.file.as_mut() {
            if let Some(header) = self.header.take() {
                file.write(&header);
            }
            file.write(line);
        }
    }
}

fn header_line(s: &Session) -> String {
    let mut line = String::with_capacity(200);
    format::write_session(&mut line, s);
    line
}

/// Whether tool calls are being recorded now. The first call reads the
/// environment (`BACKSTEP`, `BACKSTEP_LOG`, `BACKSTEP_SESSION`).
#[inline]
pub(crate) fn recording() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            recorder();
            STATE.load(Ordering::Relaxed) == ON
        }
    }
}

pub(crate) fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}

fn env_off() -> bool {
    matches!(
        std::env::var("BACKSTEP")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref(),
        Ok("off" | "0" | "false" | "no")
    )
}

fn session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS per process; mix in time and pid so two
    // processes started in the same instant still differ.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

fn new_session(name: Option<String>) -> Session {
    Session {
        id: session_id().into(),
        name,
        started_at: Some(SystemTime::now()),
        pid: Some(std::process::id()),
        backstep_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        format: Some(format::FORMAT_VERSION),
        end: None,
    }
}

fn open_sink(path: &Path) -> Option<FileSink> {
    match FileSink::open(path) {
        Ok(s) => Some(s),
        Err(e) => {
            warn_once(
                &WARNED_OPEN,
                &format!(
                    "cannot open the session log {}: {e}; recording in memory only (backstep::log(), backstep::dump())",
                    path.display()
                ),
            );
            None
        }
    }
}

pub(crate) fn recorder() -> &'static Recorder {
    RECORDER.get_or_init(|| {
        crate::runtime::install_panic_hook();
        let session = new_session(
            std::env::var("BACKSTEP_SESSION")
                .ok()
                .filter(|s| !s.is_empty()),
        );
        let sink = std::env::var_os("BACKSTEP_LOG")
            .filter(|p| !p.is_empty())
            .and_then(|p| open_sink(Path::new(&p)));
        let r = Recorder {
            session: RwLock::new(session.id.clone()),
            memory: Mutex::new(Memory {
                sessions: vec![session.clone()],
                calls: Vec::new(),
                totals: Totals {
                    calls: 0,
                    errors: 0,
                    panicked: 0,
                    cancelled: 0,
                    cost: Cost::ZERO,
                },
            }),
            sink: Mutex::new(Output {
                file: sink,
                header: Some(header_line(&session)),
            }),
        };
        let _ = STATE.compare_exchange(
            UNINIT,
            if env_off() { OFF } else { ON },
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        r
    })
}

impl Recorder {
    pub(crate) fn session_id(&self) -> Arc<str> {
        self.session
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stores a finished call: one line to the file (formatted before taking
    /// the file lock), then into memory.
    pub(crate) fn record(&self, call: Call) {
        {
            let mut out = lock(&self.sink);
            if out.file.is_some() {
                crate::runtime::with_line_buffer(|buf| {
                    format::write_call(buf, &call);
                    out.write(buf);
                });
            }
        }
        let mut mem = lock(&self.memory);
        let t = &mut mem.totals;
        t.calls += 1;
        match call.status {
            Status::Ok => {}
            Status::Error => t.errors += 1,
            Status::Panicked => t.panicked += 1,
            Status::Cancelled => t.cancelled += 1,
        }
        t.cost += call.cost;
        mem.calls.push(call);
    }

    fn end_session(&self) {
        let id = self.session_id();
        let mut mem = lock(&self.memory);
        let t = &mem.totals;
        let end = SessionEnd {
            ended_at: SystemTime::now(),
            calls: t.calls,
            errors: t.errors,
            panicked: t.panicked,
            cancelled: t.cancelled,
            cost: t.cost,
        };
        if let Some(s) = mem.sessions.iter_mut().find(|s| s.id == id) {
            if s.end.is_some() {
                return;
            }
            s.end = Some(end.clone());
        }
        drop(mem);
        let mut out = lock(&self.sink);
        let mut line = String::with_capacity(200);
        format::write_end(&mut line, &id, &end);
        out.write(&line);
        if let Some(file) = out.file.as_mut() {
            file.sync();
        }
    }

    /// Ends the current session, or forgets it if it recorded nothing and
    /// wrote nothing (the one started from the environment before `install`).
    fn close_current(&self) {
        let id = self.session_id();
        let mut mem = lock(&self.memory);
        let unused = mem.totals.calls == 0 && !mem.calls.iter().any(|c| c.session == id);
        let mut out = lock(&self.sink);
        if unused && out.header.is_some() {
            mem.sessions.retain(|s| s.id != id);
            out.header = None;
            return;
        }
        drop(out);
        drop(mem);
        self.end_session();
    }

    fn start_session(&self, name: Option<String>, path: Option<PathBuf>) -> Option<PathBuf> {
        let session = new_session(name);
        {
            let mut mem = lock(&self.memory);
            mem.sessions.push(session.clone());
            mem.totals = Totals {
                calls: 0,
                errors: 0,
                panicked: 0,
                cancelled: 0,
                cost: Cost::ZERO,
            };
        }
        *self.session.write().unwrap_or_else(PoisonError::into_inner) = session.id.clone();
        let mut out = lock(&self.sink);
        if let Some(p) = path {
            out.file = open_sink(&p);
        }
        out.header = Some(header_line(&session));
        out.file.as_ref().map(|s| s.path().to_path_buf())
    }

    fn snapshot(&self) -> Log {
        let mem = lock(&self.memory);
        Log::from_parts(mem.sessions.clone(), mem.calls.clone())
    }
}

/// Turns recording on or off for the whole process, overriding `BACKSTEP=off`.
/// While off, a tool call costs one atomic load and records nothing.
///
/// ```
/// # use backstep_core as backstep;
/// backstep::set_enabled(false);
/// assert!(!backstep::is_enabled());
/// backstep::set_enabled(true);
/// ```
pub fn set_enabled(on: bool) {
    recorder();
    STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
}

/// Whether tool calls are recorded now.
///
/// ```
/// # use backstep_core as backstep;
/// // On by default, unless the environment says BACKSTEP=off.
/// let _ = backstep::is_enabled();
/// ```
#[must_use]
pub fn is_enabled() -> bool {
    recording()
}

/// A snapshot of every call recorded so far in this process, as a [`Log`].
///
/// ```
/// # use backstep_core as backstep;
/// let log = backstep::log();
/// println!("{} calls so far, {}", log.len(), log.total_cost());
/// ```
#[must_use]
pub fn log() -> Log {
    recorder().snapshot()
}

/// Writes every call recorded in memory so far to `path` as a session log
/// (replacing the file), for programs that did not stream to a file:
/// call it at the end of `main` or in a panic handler.
///
/// # Errors
/// The I/O error if the file cannot be written.
///
/// ```no_run
/// # use backstep_core as backstep;
/// backstep::dump("run.jsonl").expect("write the session log");
/// ```
pub fn dump(path: impl AsRef<Path>) -> std::io::Result<()> {
    let path = path.as_ref();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    log().write_jsonl(&mut out)?;
    std::io::Write::flush(&mut out)
}

/// Configures recording for this process; finish with [`Builder::install`].
/// `BACKSTEP_LOG`, `BACKSTEP_SESSION` and `BACKSTEP=off` give the same settings
/// without code; what the builder sets explicitly wins.
///
/// ```no_run
/// # use backstep_core as backstep;
/// fn main() {
///     let _session = backstep::init().log_file("logs/run.jsonl").name("nightly").install();
///     // ... run the agent; every #[tool] call is appended to logs/run.jsonl ...
/// } // the guard drops: an end-of-session line with totals is written
/// ```
#[must_use = "call .install() to apply the settings"]
pub fn init() -> Builder {
    Builder::default()
}

/// Settings for a recording session, from [`init`].
#[derive(Debug, Default, Clone)]
pub struct Builder {
    path: Option<PathBuf>,
    name: Option<String>,
    enabled: Option<bool>,
}

impl Builder {
    /// Streams every call to this JSON Lines file (appending), one line per
    /// call, written as the call finishes.
    #[must_use]
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.path = Some(path.into());
        self
    }

    /// Names the session (shown in the header line and by tools reading the log).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Turns recording on or off, overriding `BACKSTEP=off`.
    #[must_use]
    pub fn enabled(mut self, on: bool) -> Builder {
        self.enabled = Some(on);
        self
    }

    /// Starts a new session with these settings and returns its guard; when the
    /// guard drops, the session's end line (totals) is written.
    ///
    /// Never fails: a log file that cannot be opened is reported once on stderr
    /// and calls are recorded in memory only ([`SessionGuard::log_path`] is then `None`).
    pub fn install(self) -> SessionGuard {
        let r = recorder();
        let path = self.path.or_else(|| {
            std::env::var_os("BACKSTEP_LOG")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        let name = self.name.or_else(|| {
            std::env::var("BACKSTEP_SESSION")
                .ok()
                .filter(|s| !s.is_empty())
        });
        r.close_current();
        let opened = r.start_session(name, path);
        if let Some(on) = self.enabled {
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
        }
        SessionGuard {
            path: opened,
            session: r.session_id(),
        }
    }
}

/// Ends the session when dropped, writing its end-of-session line (calls,
/// errors, panics, cancellations, total cost) to the log file.
#[must_use = "the session ends when this guard is dropped; bind it with `let _session = ...`"]
#[derive(Debug)]
pub struct SessionGuard {
    path: Option<PathBuf>,
    session: Arc<str>,
}

impl SessionGuard {
    /// The log file calls are streamed to, if one is open.
    #[must_use]
    pub fn log_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The session's id, as written on each of its lines.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let r = recorder();
        if r.session_id() == self.session {
            r.end_session();
        }
    }
}
