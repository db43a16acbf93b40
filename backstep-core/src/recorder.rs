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
use crate::replay::{Divergence, Matching, Replayer};
use crate::session::{Session, SessionEnd};
use crate::sink::FileSink;

/// Called with the report when a replay diverges, before the run stops.
pub(crate) type DivergenceHook = Arc<dyn Fn(&Divergence) + Send + Sync>;

/// Set while a replay or resume is active: the one extra load a tool call
/// pays to know whether to look for a recorded answer.
static REPLAYING: AtomicBool = AtomicBool::new(false);

#[inline]
pub(crate) fn replaying() -> bool {
    REPLAYING.load(Ordering::Relaxed)
}

const UNINIT: u8 = 0;
const ON: u8 = 1;
const OFF: u8 = 2;

/// The switch a tool call reads first: one relaxed atomic load when off.
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static RECORDER: OnceLock<Recorder> = OnceLock::new();
thread_local! {
    /// This thread's reference to the log file, and the file generation it is for.
    static FILE_CACHE: std::cell::RefCell<(u64, Option<Arc<FileSink>>)> =
        const { std::cell::RefCell::new((u64::MAX, None)) };
}

/// Bumped whenever the session changes, so threads refresh their copy of its id.
static SESSION_GENERATION: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SESSION_CACHE: std::cell::RefCell<(u64, Option<Arc<str>>)> =
        const { std::cell::RefCell::new((u64::MAX, None)) };
}

/// Sequence numbers are unique and increasing for the whole process.
///
/// Every call writes it, so it has a cache line of its own: next to the
/// switches every call reads (`STATE`, `REPLAYING`, ...), each write on one
/// core made the other core miss on all of them.
static SEQ: OwnLine<AtomicU64> = OwnLine(AtomicU64::new(0));

/// A value alone on its cache lines: 128 bytes, as x86 cores fetch lines in
/// pairs. For what one thread writes on every call while others read their
/// neighbours.
#[repr(align(128))]
struct OwnLine<T>(T);

pub(crate) static WARNED_WRITE: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_OPEN: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_SERIALIZE: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_COST: AtomicBool = AtomicBool::new(false);
pub(crate) static WARNED_COST_CAP: AtomicBool = AtomicBool::new(false);
static WARNED_NOWHERE: AtomicBool = AtomicBool::new(false);
static WARNED_OFF_IN_REPLAY: AtomicBool = AtomicBool::new(false);

/// Set when a resume diverges: the run it resumes did not finish, and its
/// log must not get an end line saying it did.
static RESUME_DIVERGED: AtomicBool = AtomicBool::new(false);

/// A resume stopped at a divergence (see [`RESUME_DIVERGED`]).
pub(crate) fn resume_diverged() {
    RESUME_DIVERGED.store(true, Ordering::Relaxed);
}

/// Why recording stays on during a replay.
const OFF_IN_REPLAY: &str = "recording stays on during a replay (BACKSTEP=off, set_enabled(false) and enabled(false) are ignored until it ends): a tool that is not recorded cannot be answered from the log and would run live";

/// Turns recording on or off, unless a replay is in progress: a tool call
/// that is not recorded is not answered from the log either, so turning
/// recording off would make the replay's tools run live, reaching the
/// outside world the replay promises to leave alone.
fn store_enabled(on: bool) {
    if !on && replaying() {
        warn_once(&WARNED_OFF_IN_REPLAY, OFF_IN_REPLAY);
        return;
    }
    if STATE.swap(if on { ON } else { OFF }, Ordering::Relaxed) == ON && !on {
        OFF_EPOCH.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many times recording was turned off: a test capture made before the
/// last time cannot say what was not called (see [`capture_epoch`]).
static OFF_EPOCH: AtomicU64 = AtomicU64::new(0);
static WARNED_CAPTURE_ON: AtomicBool = AtomicBool::new(false);

/// For a new test capture: turns recording on if it is off (a capture can
/// only see recorded calls: `assert_not_called!` would pass on a tool that
/// ran), saying so once, and returns the count to give [`off_since`].
pub(crate) fn capture_epoch() -> u64 {
    if !recording() {
        store_enabled(true);
        warn_once(
            &WARNED_CAPTURE_ON,
            "recording was off (BACKSTEP=off or set_enabled(false)); a test capture turned it on, as it can only check the calls that are recorded",
        );
    }
    OFF_EPOCH.load(Ordering::Relaxed)
}

/// Whether recording is off now, or was turned off since `epoch`.
pub(crate) fn off_since(epoch: u64) -> bool {
    !recording() || OFF_EPOCH.load(Ordering::Relaxed) != epoch
}

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

impl Totals {
    fn add(&mut self, status: Status, cost: Cost) {
        self.calls += 1;
        match status {
            Status::Ok => {}
            Status::Error => self.errors += 1,
            Status::Panicked => self.panicked += 1,
            Status::Cancelled => self.cancelled += 1,
        }
        self.cost += cost;
    }
}

/// Aligned as [`OwnLine`], so its `Mutex`, locked by every call, shares no
/// cache line with the fields of [`Recorder`] every call reads.
#[repr(align(128))]
struct Memory {
    sessions: Vec<Session>,
    calls: std::collections::VecDeque<Call>,
    /// Where in `calls` the oldest call is, once a memory limit is reached
    /// and each new call takes the oldest one's place: `calls` is then a
    /// ring, whose order starts here. `0` otherwise.
    oldest: usize,
    /// Keep only the newest this many calls (`BACKSTEP_MEMORY`, `memory_limit`).
    limit: Option<usize>,
    /// With a limit, the calls whose line the log file did not take (it
    /// could not be opened, or a write failed): kept whatever the limit, as
    /// no other record of them is left.
    unwritten: Vec<Call>,
    totals: Totals,
}

pub(crate) struct Recorder {
    session: RwLock<Arc<str>>,
    /// Mirrors of `sink` read without its lock on every call.
    has_file: AtomicBool,
    lost_file: AtomicBool,
    /// The session header is not written yet: the next line takes the lock.
    header_pending: AtomicBool,
    /// Changes whenever `sink` does, so threads refresh their file reference.
    file_generation: AtomicU64,
    skip_replayed: AtomicBool,
    /// Mirror of `memory.limit == Some(0)`, read without its lock.
    keeps_none: AtomicBool,
    /// Memory holds as many calls as its limit (`n > 0`) allows, so each new
    /// call takes the oldest one's place: a call's buffer can then become its
    /// record (see [`Recorder::record`]). Set by `record`, cleared when the
    /// limit changes.
    full: AtomicBool,
    replay: RwLock<Option<Arc<Replayer>>>,
    on_divergence: RwLock<Option<DivergenceHook>>,
    memory: Mutex<Memory>,
    sink: Mutex<Output>,
}

/// The log file, and the header line of the current session not yet written:
/// a header goes out with the session's first line, so a session replaced
/// before it recorded anything (`BACKSTEP_LOG` set, then `init().install()`)
/// leaves no trace in the file.
struct Output {
    file: Option<Arc<FileSink>>,
    /// A log file was asked for and could not be opened.
    lost: bool,
    header: Option<String>,
    /// Resume: replayed calls are already in the file.
    skip_replayed: bool,
}

impl Output {
    fn write(&mut self, line: &str) {
        self.write_parts(&[line]);
    }

    /// Writes one line given in parts (see [`FileSink::write_parts`]).
    fn write_parts(&mut self, parts: &[&str]) -> Written {
        let Some(file) = self.file.as_deref() else {
            return Written::NoFile;
        };
        if let Some(header) = self.header.take() {
            file.write(&header);
        }
        Written::by(file.write_parts(parts))
    }
}

/// What became of a call's line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Written {
    /// In the log file.
    Yes,
    /// Already in the log file being resumed: not written, not counted again.
    Before,
    /// No log file is open.
    NoFile,
    /// The write failed (full disk, revoked permission), or the log file
    /// asked for could not be opened.
    Failed,
}

impl Written {
    fn by(ok: bool) -> Written {
        if ok {
            Written::Yes
        } else {
            Written::Failed
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

/// Set once a recorded tool call has started any replay the environment
/// asks for (stored after the replay is running, so no thread skips ahead
/// of it).
static ENV_REPLAY_CHECKED: AtomicBool = AtomicBool::new(false);

/// Starts the replay `BACKSTEP_REPLAY` or `BACKSTEP_RESUME` asks for, if
/// nothing has yet (`init()...install()` and `mode()` start it too): a
/// program that never calls either still has its tools answered from the
/// log, not run live. One load per recorded call after the first.
#[inline]
pub(crate) fn check_env_replay() {
    if !ENV_REPLAY_CHECKED.load(Ordering::Acquire) {
        check_env_replay_slow();
    }
}

#[cold]
fn check_env_replay_slow() {
    // Threads whose first calls come together wait in `ensure_env_replay`
    // (a `OnceLock`) until the replay is running, then all are served.
    ensure_env_replay();
    ENV_REPLAY_CHECKED.store(true, Ordering::Release);
}

/// The path environment variable `name` gives, if set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// Whether the environment asks for a replay or a resume.
fn env_asks_replay() -> bool {
    env_path("BACKSTEP_REPLAY").is_some() || env_path("BACKSTEP_RESUME").is_some()
}

/// Whether recording is known to be off: the one relaxed load a tool call
/// pays then. (Not yet decided counts as not off: the slow path reads the
/// environment.)
#[inline]
pub(crate) fn known_off() -> bool {
    STATE.load(Ordering::Relaxed) == OFF
}

pub(crate) fn next_seq() -> u64 {
    SEQ.0.fetch_add(1, Ordering::Relaxed)
}

/// A switch's value that is not one backstep knows: said once on stderr,
/// as a typo (`BACKSTEP=of`) would otherwise go unnoticed.
fn warn_env(name: &str, value: &str, expected: &str, meaning: &str) {
    eprintln!(
        "backstep: warning: {name}={value:?} is not understood (expected {expected}); {meaning}"
    );
}

fn env_off() -> bool {
    let Ok(v) = std::env::var("BACKSTEP") else {
        return false;
    };
    match v.trim().to_ascii_lowercase().as_str() {
        "off" | "0" | "false" | "no" => true,
        "" | "on" | "1" | "true" | "yes" => false,
        _ => {
            warn_env("BACKSTEP", &v, "`off` or `on`", "recording stays on");
            false
        }
    }
}

fn env_memory_limit() -> Option<usize> {
    let v = std::env::var("BACKSTEP_MEMORY").ok()?;
    let parsed = v.trim().parse().ok();
    if parsed.is_none() && !v.trim().is_empty() {
        warn_env(
            "BACKSTEP_MEMORY",
            &v,
            "a number of calls",
            "every call is kept in memory",
        );
    }
    parsed
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

/// A replay's own calls are not appended to the recording it replays.
fn warn_replay_into_recording(path: &Path) {
    warn_once(
        &WARNED_OPEN,
        &format!(
            "not writing the replay's own log to {}: it is the recording being replayed",
            path.display()
        ),
    );
}

fn open_sink(path: &Path) -> Option<Arc<FileSink>> {
    match FileSink::open(path) {
        Ok(s) => Some(Arc::new(s)),
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
        let log_path = env_path("BACKSTEP_LOG");
        let asked = log_path.is_some();
        let sink = log_path.and_then(|p| open_sink(Path::new(&p)));
        let lost = asked && sink.is_none();
        let limit = env_memory_limit();
        let r = Recorder {
            session: RwLock::new(session.id.clone()),
            replay: RwLock::new(None),
            on_divergence: RwLock::new(None),
            has_file: AtomicBool::new(sink.is_some()),
            lost_file: AtomicBool::new(lost),
            header_pending: AtomicBool::new(true),
            file_generation: AtomicU64::new(0),
            skip_replayed: AtomicBool::new(false),
            keeps_none: AtomicBool::new(limit == Some(0)),
            full: AtomicBool::new(false),
            memory: Mutex::new(Memory {
                sessions: vec![session.clone()],
                calls: std::collections::VecDeque::new(),
                oldest: 0,
                limit,
                unwritten: Vec::new(),
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
                lost,
                header: Some(header_line(&session)),
                skip_replayed: false,
            }),
        };
        // `BACKSTEP=off` cannot hold with a replay asked for: the replay's
        // tools would run live (see `store_enabled`).
        let off = env_off() && {
            let replay = env_asks_replay();
            if replay {
                warn_once(&WARNED_OFF_IN_REPLAY, OFF_IN_REPLAY);
            }
            !replay
        };
        let _ = STATE.compare_exchange(
            UNINIT,
            if off { OFF } else { ON },
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        r
    })
}

/// `BACKSTEP_REPLAY` / `BACKSTEP_RESUME`, applied once the recorder exists.
fn replay_from_env() -> Option<ReplaySource> {
    let matching = match std::env::var("BACKSTEP_REPLAY_MATCH").as_deref() {
        Ok("by_inputs" | "by-inputs") => Matching::ByInputs,
        Ok("" | "strict") | Err(_) => Matching::Strict,
        Ok(other) => {
            warn_env(
                "BACKSTEP_REPLAY_MATCH",
                other,
                "`strict` or `by_inputs`",
                "matching is strict",
            );
            Matching::Strict
        }
    };
    if let Some(p) = env_path("BACKSTEP_RESUME") {
        if let Some(r) = env_path("BACKSTEP_REPLAY") {
            eprintln!(
                "backstep: warning: both BACKSTEP_RESUME and BACKSTEP_REPLAY are set; resuming from {} (BACKSTEP_REPLAY={} is ignored)",
                p.display(),
                r.display()
            );
        }
        return Some(ReplaySource {
            path: p,
            kind: ReplayKind::Resume,
            matching,
        });
    }
    env_path("BACKSTEP_REPLAY").map(|p| ReplaySource {
        path: p,
        kind: ReplayKind::Replay,
        matching,
    })
}

static ENV_REPLAY: OnceLock<()> = OnceLock::new();

/// The recorder, with any replay the environment asks for started.
pub(crate) fn ensure_env_replay() {
    ENV_REPLAY.get_or_init(|| {
        if let Some(src) = replay_from_env() {
            let r = recorder();
            if r.replay
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_none()
            {
                r.close_current();
                r.start_replay(&src, None, None);
            }
        }
    });
}

impl Recorder {
    pub(crate) fn replayer(&self) -> Option<Arc<Replayer>> {
        self.replay
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn divergence_hook(&self) -> Option<DivergenceHook> {
        self.on_divergence
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Loads the recording and starts the session that replays (or resumes) it.
    /// A recording that cannot be read stops the program: running live
    /// instead would do the very work (and spend the money) replay avoids.
    fn start_replay(
        &self,
        src: &ReplaySource,
        name: Option<String>,
        log_path: Option<PathBuf>,
    ) -> Option<PathBuf> {
        let resume = src.kind == ReplayKind::Resume;
        let replayer = match Replayer::load(&src.path, src.matching, resume) {
            Ok(r) => r,
            Err(e) => panic!(
                "backstep: cannot {} {}: {e}",
                if resume { "resume from" } else { "replay" },
                src.path.display()
            ),
        };
        let opened = if resume {
            // Resume appends to the recorded session: same id, no new header,
            // totals counting what is already in the file.
            let recorded = Log::open(&src.path)
                .map(|l| l.last_session())
                .unwrap_or_default();
            let session = replayer
                .session
                .clone()
                .unwrap_or_else(|| new_session(name.clone()));
            {
                let mut mem = lock(&self.memory);
                let t = &mut mem.totals;
                *t = Totals {
                    calls: 0,
                    errors: 0,
                    panicked: 0,
                    cancelled: 0,
                    cost: Cost::ZERO,
                };
                for c in recorded.calls() {
                    t.add(c.status, c.cost);
                }
                // A finished run keeps its end line: a second one is written
                // only if the resumed run makes new calls (`end_session`).
                mem.sessions.push(session.clone());
            }
            self.set_session_id(session.id.clone());
            let mut out = lock(&self.sink);
            out.file = open_sink(&src.path);
            out.lost = out.file.is_none();
            // The recorded header stays the session's only one; a log that
            // has none (killed before its first line) gets one now.
            out.header = replayer.session.as_ref().map_or_else(
                || Some(header_line(&session)),
                |s| s.started_at.is_none().then(|| header_line(&session)),
            );
            out.skip_replayed = true;
            self.sync_flags(&out);
            out.file.as_ref().map(|s| s.path().to_path_buf())
        } else {
            let recording = std::fs::canonicalize(&src.path).ok();
            let is_recording = |p: &Path| std::fs::canonicalize(p).ok() == recording;
            let same = log_path.as_deref().is_some_and(is_recording);
            // Without a log file of its own, the session keeps the one open
            // (`BACKSTEP_LOG`): not when that is the recording either.
            if log_path.is_none() {
                let mut out = lock(&self.sink);
                if out.file.as_deref().is_some_and(|f| is_recording(f.path())) {
                    warn_replay_into_recording(&src.path);
                    out.file = None;
                    out.lost = false;
                    self.sync_flags(&out);
                }
            }
            let log_path = if same {
                warn_replay_into_recording(&src.path);
                None
            } else {
                log_path
            };
            let opened = self.start_session(name, log_path);
            let mut out = lock(&self.sink);
            out.skip_replayed = false;
            self.sync_flags(&out);
            opened
        };
        *self.replay.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(replayer));
        REPLAYING.store(true, Ordering::Relaxed);
        if STATE.swap(ON, Ordering::Relaxed) == OFF {
            warn_once(&WARNED_OFF_IN_REPLAY, OFF_IN_REPLAY);
        }
        opened
    }

    fn stop_replay(&self) -> Option<Arc<Replayer>> {
        REPLAYING.store(false, Ordering::Relaxed);
        let mut out = lock(&self.sink);
        out.skip_replayed = false;
        self.sync_flags(&out);
        drop(out);
        self.replay
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn set_session_id(&self, id: Arc<str>) {
        *self.session.write().unwrap_or_else(PoisonError::into_inner) = id;
        SESSION_GENERATION.fetch_add(1, Ordering::Release);
    }

    /// The current session's id. Each thread keeps a copy until the session
    /// changes: the lock's reader count is a cache line every recording
    /// thread would otherwise write on every call.
    pub(crate) fn session_id(&self) -> Arc<str> {
        self.session_id_reusing(None)
    }

    /// [`Recorder::session_id`], given back as `spare` when that is this
    /// thread's copy of it (no reference count to change, an atomic
    /// operation).
    pub(crate) fn session_id_reusing(&self, spare: Option<Arc<str>>) -> Arc<str> {
        let generation = SESSION_GENERATION.load(Ordering::Acquire);
        let cached = SESSION_CACHE
            .try_with(|c| {
                let c = c.try_borrow().ok()?;
                let id = c.1.as_ref().filter(|_| c.0 == generation)?;
                Some(match spare {
                    Some(spare) if Arc::ptr_eq(&spare, id) => spare,
                    _ => id.clone(),
                })
            })
            .ok()
            .flatten();
        if let Some(id) = cached {
            return id;
        }
        let id = self.session_id_locked();
        // A copy of its own, not a clone of the shared `Arc`: every call takes
        // a reference, and two threads counting on one would pass its cache
        // line back and forth between their cores on every call.
        let id: Arc<str> = Arc::from(&*id);
        let _ = SESSION_CACHE.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = (generation, Some(id.clone()));
            }
        });
        id
    }

    fn session_id_locked(&self) -> Arc<str> {
        self.session
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stores the finished call in `slot`: one line to the file (formatted
    /// before taking the file lock), then into memory. Leaves in `slot` the
    /// call memory did not keep: with a memory limit memory has reached, the
    /// oldest call, which the new one replaced (swapped in place, not moved
    /// out and in: a call is some 200 bytes). The caller frees it after the
    /// lock is let go (another thread may be waiting on it), or reuses its
    /// buffer and names.
    pub(crate) fn record(&self, slot: &mut Option<Call>) {
        let Some(call) = slot.as_mut() else {
            return;
        };
        let written = self.write_record(call.replayed, || call.line());
        let mut mem = lock(&self.memory);
        if written != Written::Before {
            mem.totals.add(call.status, call.cost);
        }
        if written == Written::NoFile && mem.limit == Some(0) {
            warn_once(
                &WARNED_NOWHERE,
                "memory_limit(0) (BACKSTEP_MEMORY=0) keeps no call in memory, and no log file is open: calls are counted in the session's totals, not kept (give a log file, BACKSTEP_LOG, to keep them)",
            );
        }
        if written == Written::Failed && mem.limit.is_some() {
            // Not in the file: kept, whatever the limit, so it is not lost.
            mem.unwritten.extend(slot.take());
            return;
        }
        match mem.limit {
            // Nothing kept: the call is freed after the lock.
            Some(0) => {}
            // (`set_memory_limit` drops what is over a new limit at once.)
            Some(limit) if mem.calls.len() >= limit => {
                if mem.calls.capacity() > limit {
                    mem.calls.shrink_to(limit); // once: see below
                }
                // A load first: a store on every call would take the cache
                // line from the threads that read it.
                if !self.full.load(Ordering::Relaxed) {
                    self.full.store(true, Ordering::Relaxed);
                }
                // The oldest call's place takes the new one, and the next
                // oldest is the one after it.
                let at = mem.oldest;
                if let Some(oldest) = mem.calls.get_mut(at) {
                    std::mem::swap(oldest, call);
                    mem.oldest = (at + 1) % mem.calls.len();
                }
            }
            _ => mem.calls.extend(slot.take()),
        }
    }

    /// Whether memory holds all the calls its limit (*n* > 0) allows: a
    /// finished call's buffer can then become its record, as the record it
    /// pushes out gives its own to the next call. (Until then, or keeping
    /// every call, a record is a copy of exactly its JSON's size.)
    pub(crate) fn full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Whether a finished call must be made a [`Call`] and go to
    /// [`Recorder::record`]: unless memory keeps no calls (`memory_limit(0)`)
    /// and a log file is open, when [`Recorder::record_line`] writes its line
    /// without one.
    pub(crate) fn keeps_calls(&self) -> bool {
        !self.keeps_none.load(Ordering::Relaxed) || !self.has_file.load(Ordering::Relaxed)
    }

    /// Records a call that memory does not keep: its line to the file, and
    /// it counts in the session's totals. `false` when the file did not take
    /// the line: the call must then go to [`Recorder::record_unwritten`].
    pub(crate) fn record_line(&self, line: &format::CallLine<'_>) -> bool {
        let written = self.write_record(line.replayed, || line.clone());
        if written != Written::Before {
            lock(&self.memory).totals.add(line.status, line.cost);
        }
        matches!(written, Written::Yes | Written::Before)
    }

    /// Keeps a call whose line [`Recorder::record_line`] could not write
    /// (and has counted).
    pub(crate) fn record_unwritten(&self, call: Option<Call>) {
        lock(&self.memory).unwritten.extend(call);
    }

    /// Writes a finished call's line to the log file, if one is open.
    fn write_record<'a>(
        &self,
        replayed: bool,
        line: impl FnOnce() -> format::CallLine<'a>,
    ) -> Written {
        if replayed && self.skip_replayed.load(Ordering::Relaxed) {
            return Written::Before;
        }
        if !self.has_file.load(Ordering::Relaxed) {
            return if self.lost_file.load(Ordering::Relaxed) {
                Written::Failed
            } else {
                Written::NoFile
            };
        }
        // Formatted before the file lock is taken; written in one call.
        let line = line();
        let mut written = Written::NoFile;
        crate::runtime::with_line_writer(|w| written = self.write_line(w.call(&line).parts()));
        written
    }

    /// Sets how many calls memory keeps (`None`: every call).
    fn set_memory_limit(&self, limit: Option<usize>) {
        let mut mem = lock(&self.memory);
        mem.limit = limit;
        // The calls in order again: new ones go to the back from now on.
        let oldest = std::mem::take(&mut mem.oldest);
        mem.calls.rotate_left(oldest);
        if let Some(limit) = limit {
            let over = mem.calls.len().saturating_sub(limit);
            // The oldest go now, not as later calls come in (with `0`,
            // none would: no call reaches memory).
            let gone: Vec<Call> = mem.calls.drain(..over).collect();
            // And the room they took (with `0`, `record` never shrinks it).
            mem.calls.shrink_to(limit);
            self.keeps_none.store(limit == 0, Ordering::Relaxed);
            self.full.store(false, Ordering::Relaxed);
            drop(mem);
            drop(gone);
        } else {
            self.keeps_none.store(false, Ordering::Relaxed);
            self.full.store(false, Ordering::Relaxed);
        }
    }

    /// Publishes what `out` now holds to the lock-free readers. Called with
    /// the sink lock held, after every change of `out`.
    fn sync_flags(&self, out: &Output) {
        self.has_file.store(out.file.is_some(), Ordering::Relaxed);
        self.lost_file.store(out.lost, Ordering::Relaxed);
        self.skip_replayed
            .store(out.skip_replayed, Ordering::Relaxed);
        // Before the generation: a writer that sees the new generation sees
        // the pending header too, and writes it first.
        self.header_pending
            .store(out.header.is_some(), Ordering::Release);
        self.file_generation.fetch_add(1, Ordering::Release);
    }

    /// Writes one finished line to the log file. The file is shared, and each
    /// thread keeps a reference to it until it changes, so two recording
    /// threads do not queue on a lock to make their `write`s; the header of
    /// a new session, and a thread's first line, go through the lock.
    fn write_line(&self, line: &[&str]) -> Written {
        let generation = self.file_generation.load(Ordering::Acquire);
        if !self.header_pending.load(Ordering::Acquire) {
            // Written through the thread's reference, not a clone of it: a
            // clone's count would be one more cache line the threads pass
            // back and forth on every call.
            let written = FILE_CACHE.try_with(|c| {
                let c = c.borrow();
                match (c.0 == generation, &c.1) {
                    (true, Some(file)) => Some(Written::by(file.write_parts(line))),
                    (true, None) => Some(Written::NoFile),
                    (false, _) => None,
                }
            });
            if let Ok(Some(written)) = written {
                return written;
            }
        }
        let mut out = lock(&self.sink);
        let written = out.write_parts(line);
        if out.header.is_none() {
            self.header_pending.store(false, Ordering::Release);
        }
        // Stable while the lock is held: it changes only with `out`.
        let generation = self.file_generation.load(Ordering::Acquire);
        let file = out.file.clone();
        drop(out);
        let _ = FILE_CACHE.try_with(|c| *c.borrow_mut() = (generation, file));
        written
    }

    fn end_session(&self) {
        if RESUME_DIVERGED.load(Ordering::Relaxed) && self.replayer().is_some_and(|r| r.resume) {
            return;
        }
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
            // Ended already (twice over, or a finished run resumed): a new
            // end line only if calls were made since, as the last one read
            // is the one that counts.
            if s.end
                .as_ref()
                .is_some_and(|e| (e.calls, e.cost) == (end.calls, end.cost))
            {
                return;
            }
            s.end = Some(end.clone());
        }
        drop(mem);
        let mut out = lock(&self.sink);
        let mut line = String::with_capacity(200);
        format::write_end(&mut line, &id, &end);
        out.write(&line);
        if let Some(file) = out.file.as_deref() {
            file.sync();
        }
    }

    /// Ends the current session, or forgets it if it recorded nothing and
    /// wrote nothing (the one started from the environment before `install`).
    pub(crate) fn close_current(&self) {
        let id = self.session_id();
        let mut mem = lock(&self.memory);
        let unused = mem.totals.calls == 0
            && !mem
                .calls
                .iter()
                .chain(&mem.unwritten)
                .any(|c| c.session == id);
        let mut out = lock(&self.sink);
        if unused && out.header.is_some() {
            mem.sessions.retain(|s| s.id != id);
            out.header = None;
            self.sync_flags(&out);
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
        self.set_session_id(session.id.clone());
        let mut out = lock(&self.sink);
        if let Some(p) = path {
            out.file = open_sink(&p);
            out.lost = out.file.is_none();
        }
        out.header = Some(header_line(&session));
        self.sync_flags(&out);
        out.file.as_ref().map(|s| s.path().to_path_buf())
    }

    fn snapshot(&self) -> Log {
        let mem = lock(&self.memory);
        let calls = mem
            .unwritten
            .iter()
            .chain(mem.calls.range(mem.oldest..))
            .chain(mem.calls.range(..mem.oldest))
            .cloned()
            .collect();
        Log::from_parts(mem.sessions.clone(), calls)
    }
}

/// Turns recording on or off for the whole process, overriding `BACKSTEP=off`.
/// While off, a tool call costs one atomic load and records nothing.
///
/// During a replay recording stays on, and turning it off only prints a
/// warning: a call that is not recorded is not answered from the log either,
/// so its tool would run live.
///
/// ```
/// # use backstep_core as backstep;
/// backstep::set_enabled(false);
/// assert!(!backstep::is_enabled());
/// backstep::set_enabled(true);
/// ```
pub fn set_enabled(on: bool) {
    recorder();
    if !on {
        // A replay the environment asks for, not started yet, would never
        // start: the first tool call starts it only while recording is on.
        ensure_env_replay();
    }
    store_enabled(on);
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
/// call it at the end of `main` or in a panic handler. With a memory limit
/// ([`Builder::memory_limit`]) that is the calls memory kept, while the end
/// lines count every call of their session.
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
#[derive(Default, Clone)]
pub struct Builder {
    path: Option<PathBuf>,
    name: Option<String>,
    enabled: Option<bool>,
    replay: Option<(PathBuf, ReplayKind)>,
    matching: Option<Matching>,
    on_divergence: Option<DivergenceHook>,
    memory_limit: Option<usize>,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("path", &self.path)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("replay", &self.replay)
            .field("matching", &self.matching)
            .field("on_divergence", &self.on_divergence.is_some())
            .field("memory_limit", &self.memory_limit)
            .finish()
    }
}

/// What a session does with tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Tools run; their calls are recorded.
    Record,
    /// Tools are answered from a recorded log and do not run.
    Replay,
    /// Tools are answered from a recorded log while it lasts, then run live,
    /// appending to that log.
    Resume,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplayKind {
    Replay,
    Resume,
    Auto,
}

pub(crate) struct ReplaySource {
    pub(crate) path: PathBuf,
    pub(crate) kind: ReplayKind,
    pub(crate) matching: Matching,
}

/// Whether this session records, replays or resumes.
///
/// ```
/// # use backstep_core as backstep;
/// if backstep::mode() == backstep::Mode::Replay {
///     println!("(replaying: no tool runs, nothing is paid)");
/// }
/// ```
#[must_use]
pub fn mode() -> Mode {
    ensure_env_replay();
    match recorder().replayer() {
        Some(r) if r.resume => Mode::Resume,
        Some(_) => Mode::Replay,
        None => Mode::Record,
    }
}

/// Replays the run recorded in `path`: every `#[tool]` call is answered from
/// the log instead of running (no network, no cost, no side effects), and the
/// program stops with a report the moment it does something the recording did
/// not. Same as `init().replay(path).install()`; `BACKSTEP_REPLAY=path` does it
/// without code.
///
/// # Panics
/// If the log cannot be read.
///
/// ```no_run
/// # use backstep_core as backstep;
/// let _replay = backstep::replay_from("run.jsonl");
/// // ... run the agent as usual ...
/// ```
pub fn replay_from(path: impl Into<PathBuf>) -> SessionGuard {
    init().replay(path).install()
}

/// The recorded calls the replay (or resume) in progress has not used yet, as
/// a report; `None` when every call was used or nothing is being replayed.
///
/// ```
/// # use backstep_core as backstep;
/// assert!(backstep::replay_unused().is_none());
/// ```
#[must_use]
pub fn replay_unused() -> Option<Divergence> {
    recorder().replayer().and_then(|r| r.unused())
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

    /// Turns recording on or off, overriding `BACKSTEP=off`. With a replay,
    /// recording stays on (see [`set_enabled`]).
    #[must_use]
    pub fn enabled(mut self, on: bool) -> Builder {
        self.enabled = Some(on);
        self
    }

    /// Keeps only the newest `calls` calls in memory ([`log()`] shows those),
    /// while the log file keeps every call: for long-running agents. Same as
    /// `BACKSTEP_MEMORY=<calls>`. The limit stays for later sessions until
    /// one sets another (`usize::MAX` keeps every call again). Once memory
    /// is full, a call's record is the buffer it was serialized into, and
    /// the record it pushes out becomes the next call's buffer: no
    /// allocation or copy per call, for at most an eighth more than each
    /// record's JSON (and 64 bytes) in memory; before memory is full, and
    /// keeping every call, a record is its JSON's size.
    ///
    /// `0` keeps none: each call's line is written to the log file straight
    /// from the buffer its inputs and output were serialized into, without
    /// the record memory would keep (the cheapest way to record to a file).
    /// The session's totals are still counted, and test captures
    /// ([`capture`](crate::testing::capture)) still see their calls. With
    /// no log file at all, `0` keeps nothing and says so once on stderr.
    ///
    /// A call whose line the log file asked for did not take (it could not
    /// be opened, or a write failed: a full disk) is kept in memory whatever
    /// the limit, so it is not lost; memory then grows by each such call.
    ///
    /// ```no_run
    /// # use backstep_core as backstep;
    /// let _session = backstep::init()
    ///     .log_file("logs/agent.jsonl")
    ///     .memory_limit(0)
    ///     .install();
    /// ```
    #[must_use]
    pub fn memory_limit(mut self, calls: usize) -> Builder {
        self.memory_limit = Some(calls);
        self
    }

    /// Replays the last session of the log at `path` (see [`replay_from`]).
    /// The replay's own calls, marked `replayed`, go to memory and to
    /// [`Builder::log_file`] if given.
    #[must_use]
    pub fn replay(mut self, path: impl Into<PathBuf>) -> Builder {
        self.replay = Some((path.into(), ReplayKind::Replay));
        self
    }

    /// Resumes the crashed run recorded at `path`: calls are answered from the
    /// log while it lasts (nothing is done or paid twice), then tools run live
    /// and their calls are appended to the same session in the same file. A
    /// call that was in flight when the run died has no line, so it runs again.
    #[must_use]
    pub fn resume(mut self, path: impl Into<PathBuf>) -> Builder {
        self.replay = Some((path.into(), ReplayKind::Resume));
        self
    }

    /// The cassette pattern, for tests: replays `path` if it exists, else
    /// records to it.
    #[must_use]
    pub fn auto(mut self, path: impl Into<PathBuf>) -> Builder {
        self.replay = Some((path.into(), ReplayKind::Auto));
        self
    }

    /// How replayed calls are paired with recorded ones (default [`Matching::Strict`]).
    #[must_use]
    pub fn matching(mut self, matching: Matching) -> Builder {
        self.matching = Some(matching);
        self
    }

    /// Called with the report when the replay diverges, just before the
    /// program is stopped with a panic carrying the same report (log it, or
    /// `std::process::exit` with your own code).
    #[must_use]
    pub fn on_divergence(mut self, hook: impl Fn(&Divergence) + Send + Sync + 'static) -> Builder {
        self.on_divergence = Some(Arc::new(hook));
        self
    }

    /// Starts a new session with these settings and returns its guard; when the
    /// guard drops, the session's end line (totals) is written.
    ///
    /// Never fails: a log file that cannot be opened is reported once on stderr
    /// and calls are recorded in memory only ([`SessionGuard::log_path`] is then `None`).
    pub fn install(self) -> SessionGuard {
        let r = recorder();
        let path = self.path.or_else(|| env_path("BACKSTEP_LOG"));
        let name = self.name.or_else(|| {
            std::env::var("BACKSTEP_SESSION")
                .ok()
                .filter(|s| !s.is_empty())
        });
        ENV_REPLAY.get_or_init(|| ());
        if let Some(limit) = self.memory_limit {
            r.set_memory_limit(Some(limit));
        }
        r.close_current();
        r.stop_replay();
        *r.on_divergence
            .write()
            .unwrap_or_else(PoisonError::into_inner) = self.on_divergence;
        let matching = self.matching;
        let source = match self.replay {
            Some((p, ReplayKind::Auto)) if !p.exists() => {
                // Nothing recorded yet: record this run into the cassette.
                let opened = r.start_session(name, Some(p));
                return SessionGuard {
                    path: opened,
                    session: r.session_id(),
                };
            }
            Some((p, kind)) => Some(ReplaySource {
                path: p,
                kind: if kind == ReplayKind::Resume {
                    ReplayKind::Resume
                } else {
                    ReplayKind::Replay
                },
                matching: matching.unwrap_or_default(),
            }),
            None => replay_from_env().map(|mut s| {
                if let Some(m) = matching {
                    s.matching = m;
                }
                s
            }),
        };
        let opened = match source {
            Some(src) => r.start_replay(&src, name, path),
            None => r.start_session(name, path),
        };
        if let Some(on) = self.enabled {
            store_enabled(on);
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
        if r.session_id() != self.session {
            return;
        }
        r.end_session();
        let Some(replayer) = r.stop_replay() else {
            return;
        };
        if let Some(unused) = replayer.unused() {
            if replayer.matching == Matching::Strict && !std::thread::panicking() {
                if let Some(hook) = r.divergence_hook() {
                    hook(&unused);
                }
                panic!("{unused}");
            }
            eprintln!("backstep: warning: {unused}");
        }
    }
}
