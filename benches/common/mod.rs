//! Shared by the benches: the two call shapes of issue 6, each written as a
//! plain function, a `#[tool]`, a `tracing::instrument` function and a
//! hand-written floor (what any recorder must at least do), plus the global
//! recording modes and the files they write to.
//!
//! Every bench target includes this module and uses a different part of it.
#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

// ---------------------------------------------------------------------------
// The shapes.

/// One search hit: the small output is three of these.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f64,
    pub title: String,
}

const TITLES: [&str; 3] = [
    "Error handling in Rust",
    "The serde data model",
    "Async in depth",
];

/// The small shape's body: a `&str` and a `usize` in, three hits out.
#[inline(always)]
fn search_body(query: &str, limit: usize) -> Vec<Hit> {
    let mut hits = Vec::with_capacity(limit.min(3));
    for (i, title) in TITLES.iter().enumerate().take(limit) {
        hits.push(Hit {
            id: (query.len() + i) as u64 * 7919,
            score: 1.0 / (i as f64 + 1.5),
            title: (*title).to_string(),
        });
    }
    hits
}

/// The small shape's arguments.
pub const QUERY: &str = "rust serde benchmarks";
pub const LIMIT: usize = 3;

/// Size of the large shape's input string.
pub const DOC_LEN: usize = 64 * 1024;
/// Length of the large shape's output vector.
pub const OFFSETS: usize = 1000;

/// The large shape's input: 64 KiB of text in lines, with quotes and
/// backslashes here and there (as source code or a web page has), so JSON
/// escaping is exercised the way real text exercises it.
#[must_use]
pub fn document() -> String {
    let line = "fn main() { println!(\"hello, {}\", name); } // a \\ line of text\n";
    let mut s = String::with_capacity(DOC_LEN);
    while s.len() + line.len() <= DOC_LEN {
        s.push_str(line);
    }
    while s.len() < DOC_LEN {
        s.push('x');
    }
    s
}

/// The large shape's body: a 64 KiB string in, a 1,000-element vector out.
#[inline(always)]
fn index_body(text: &str, stride: usize) -> Vec<u32> {
    let bytes = text.as_bytes();
    (0..OFFSETS)
        .map(|i| {
            let at = (i * stride) % bytes.len();
            (at as u32) ^ u32::from(bytes[at])
        })
        .collect()
}

/// The large shape's second argument.
pub const STRIDE: usize = 65;

/// The tiny shape: a `u64` in and out, a body of a few instructions. With
/// recording off, the only difference from plain is `#[tool]`'s own check, which
/// a larger body's noise would hide.
#[inline(always)]
fn mix_body(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

// (1) plain functions: the baseline.

#[inline(never)]
pub fn mix_plain(x: u64) -> u64 {
    mix_body(x)
}

#[inline(never)]
pub fn search_plain(query: &str, limit: usize) -> Vec<Hit> {
    search_body(query, limit)
}

#[inline(never)]
pub fn index_plain(text: &str, stride: usize) -> Vec<u32> {
    index_body(text, stride)
}

// (3)-(5) the same under `#[tool]`: off, in memory or to a file depends on the
// global recorder (see the modes below).

#[backstep::tool]
#[inline(never)]
pub fn mix_tool(x: u64) -> u64 {
    mix_body(x)
}

#[backstep::tool]
#[inline(never)]
pub fn search_tool(query: &str, limit: usize) -> Vec<Hit> {
    search_body(query, limit)
}

#[backstep::tool]
#[inline(never)]
pub fn index_tool(text: &str, stride: usize) -> Vec<u32> {
    index_body(text, stride)
}

// (6) the peer: tracing's `#[instrument(ret)]` (arguments and return value
// with `Debug`), to the JSON formatter writing to a file.

#[tracing::instrument(ret)]
#[inline(never)]
pub fn search_traced(query: &str, limit: usize) -> Vec<Hit> {
    search_body(query, limit)
}

#[tracing::instrument(ret)]
#[inline(never)]
pub fn index_traced(text: &str, stride: usize) -> Vec<u32> {
    index_body(text, stride)
}

// (2) the floor: serde_json of the inputs and the output into a reused buffer,
// the least any recorder must do; and the same plus one `write` of the line to
// an O_APPEND file, unbuffered, as backstep's sink does.

/// Appends `{"inputs":{"a":…,"b":…},"output":…}\n` for two named inputs.
#[inline(always)]
fn floor_line<A: Serialize + ?Sized, B: Serialize, O: Serialize>(
    buf: &mut Vec<u8>,
    names: (&str, &str),
    a: &A,
    b: &B,
    body: impl FnOnce() -> O,
) -> O {
    buf.clear();
    buf.extend_from_slice(b"{\"inputs\":{\"");
    buf.extend_from_slice(names.0.as_bytes());
    buf.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *buf, a).expect("serialize");
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(names.1.as_bytes());
    buf.extend_from_slice(b"\":");
    serde_json::to_writer(&mut *buf, b).expect("serialize");
    let out = body();
    buf.extend_from_slice(b"},\"output\":");
    serde_json::to_writer(&mut *buf, &out).expect("serialize");
    buf.extend_from_slice(b"}\n");
    out
}

#[inline(never)]
pub fn search_floor(buf: &mut Vec<u8>, query: &str, limit: usize) -> Vec<Hit> {
    floor_line(buf, ("query", "limit"), query, &limit, || {
        search_body(query, limit)
    })
}

#[inline(never)]
pub fn index_floor(buf: &mut Vec<u8>, text: &str, stride: usize) -> Vec<u32> {
    floor_line(buf, ("text", "stride"), text, &stride, || {
        index_body(text, stride)
    })
}

#[inline(never)]
pub fn search_floor_file(buf: &mut Vec<u8>, file: &File, query: &str, limit: usize) -> Vec<Hit> {
    let out = search_floor(buf, query, limit);
    write_line(file, buf);
    out
}

#[inline(never)]
pub fn index_floor_file(buf: &mut Vec<u8>, file: &File, text: &str, stride: usize) -> Vec<u32> {
    let out = index_floor(buf, text, stride);
    write_line(file, buf);
    out
}

/// [`search_floor_file`] with its line padded to `len` bytes with spaces
/// inside the JSON object: the same work, and as many bytes written as a
/// `#[tool]` line. A control, not a floor: it shows how much of `#[tool]`'s
/// overhead to a file is the kernel taking a longer line.
#[inline(never)]
pub fn search_floor_file_padded(
    buf: &mut Vec<u8>,
    file: &File,
    len: usize,
    query: &str,
    limit: usize,
) -> Vec<Hit> {
    let out = search_floor(buf, query, limit);
    if buf.len() < len {
        let end = buf.len() - 2; // before `}\n`
        buf.splice(end..end, std::iter::repeat(b' ').take(len - buf.len()));
    }
    write_line(file, buf);
    out
}

/// [`call_floor`] in memory, keeping a copy of each line (one allocation of
/// exactly its size, in a growing `Vec`): the least a recorder that keeps
/// every call in memory must do. A control, not a floor: it shows how much
/// of `#[tool]`'s overhead when it keeps every call is the memory that only
/// grows.
#[inline]
pub fn call_floor_kept(small: bool, buf: &mut Vec<u8>, kept: &mut Vec<Box<[u8]>>, doc: &str) {
    call_floor(small, buf, None, doc);
    kept.push(buf.as_slice().into());
}

/// The length of the last line of `path` (with its newline): what one
/// `#[tool]` call wrote there.
#[must_use]
pub fn last_line_len(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("read a bench log");
    text.lines().last().map_or(0, |l| l.len() + 1)
}

fn write_line(mut file: &File, line: &[u8]) {
    file.write_all(line).expect("write the floor's line");
}

// ---------------------------------------------------------------------------
// Where bench output goes.

/// One call of the small (`search_*`) or large (`index_*`) shape, with its
/// arguments and result behind `black_box`: the same call for every bench.
#[inline]
pub fn call_plain(small: bool, doc: &str) {
    if small {
        black_box(search_plain(black_box(QUERY), black_box(LIMIT)));
    } else {
        black_box(index_plain(black_box(doc), black_box(STRIDE)));
    }
}

/// [`call_plain`] through the floor: into `buf`, and to `file` when given.
#[inline]
pub fn call_floor(small: bool, buf: &mut Vec<u8>, file: Option<&File>, doc: &str) {
    match (small, file) {
        (true, None) => drop(black_box(search_floor(
            buf,
            black_box(QUERY),
            black_box(LIMIT),
        ))),
        (false, None) => drop(black_box(index_floor(
            buf,
            black_box(doc),
            black_box(STRIDE),
        ))),
        (true, Some(f)) => drop(black_box(search_floor_file(
            buf,
            f,
            black_box(QUERY),
            black_box(LIMIT),
        ))),
        (false, Some(f)) => drop(black_box(index_floor_file(
            buf,
            f,
            black_box(doc),
            black_box(STRIDE),
        ))),
    }
}

/// [`call_plain`] through `#[tool]`.
#[inline]
pub fn call_tool(small: bool, doc: &str) {
    if small {
        black_box(search_tool(black_box(QUERY), black_box(LIMIT)));
    } else {
        black_box(index_tool(black_box(doc), black_box(STRIDE)));
    }
}

/// [`call_plain`] through tracing's `#[instrument(ret)]`.
#[inline]
pub fn call_traced(small: bool, doc: &str) {
    if small {
        black_box(search_traced(black_box(QUERY), black_box(LIMIT)));
    } else {
        black_box(index_traced(black_box(doc), black_box(STRIDE)));
    }
}

/// `target/backstep-bench/` (or under `CARGO_TARGET_DIR`), created.
#[must_use]
pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    let dir = target.join("backstep-bench");
    std::fs::create_dir_all(&dir).expect("create target/backstep-bench");
    dir
}

/// Opens `name` under [`out_dir`] for appending, emptied first.
#[must_use]
pub fn append_file(name: &str) -> (PathBuf, File) {
    let path = out_dir().join(name);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open a bench output file");
    file.set_len(0).expect("empty a bench output file");
    (path, file)
}

/// Empties a file that something else appends to (between criterion samples,
/// so the disk does not fill; appends go on at the new end).
pub fn truncate(path: &Path) {
    if let Ok(f) = OpenOptions::new().write(true).open(path) {
        let _ = f.set_len(0);
    }
}

// ---------------------------------------------------------------------------
// Recording modes. The recorder is global, and once a log file is installed a
// process cannot go back to memory-only: a bench sets the mode it needs, and
// the in-memory ones must run before any file one in the same process.

/// Calls kept in memory by the bounded modes (`init().memory_limit(n)`).
pub const MEMORY_LIMIT: usize = 1_000;

/// What is installed now: (log file, memory limit).
static MODE: Mutex<Option<(bool, Option<usize>)>> = Mutex::new(None);
static GUARD: Mutex<Option<backstep::SessionGuard>> = Mutex::new(None);

/// The log `#[tool]` streams to in the file modes.
#[must_use]
pub fn tool_log() -> PathBuf {
    out_dir().join("tool.jsonl")
}

/// Installs a session: in memory only or also to [`tool_log`], keeping every
/// call in memory (`limit` `None`, the default) or only the newest `limit`.
fn install(file: bool, limit: Option<usize>) {
    let mut mode = MODE.lock().unwrap_or_else(PoisonError::into_inner);
    let had_file = mode.is_some_and(|(f, _)| f);
    if *mode != Some((file, limit)) {
        assert!(
            file || !had_file,
            "an in-memory bench ran after a log file was installed in this process; \
             run the in-memory benches first (or in their own process)"
        );
        let mut builder = backstep::init()
            .name("bench")
            .enabled(true)
            // `usize::MAX` puts the default back: keep every call.
            .memory_limit(limit.unwrap_or(usize::MAX));
        if file {
            if !had_file {
                let _ = std::fs::remove_file(tool_log());
            }
            builder = builder.log_file(tool_log());
        }
        let guard = builder.install();
        assert!(
            !file || guard.log_path().is_some(),
            "could not open the log"
        );
        // The session it replaces ended when this one was installed.
        *GUARD.lock().unwrap_or_else(PoisonError::into_inner) = Some(guard);
        *mode = Some((file, limit));
    }
    backstep::set_enabled(true);
}

/// `#[tool]` with recording off (`BACKSTEP=off`).
pub fn mode_off() {
    backstep::set_enabled(false);
}

/// `#[tool]` recording in memory only, every call kept (the default): memory
/// grows with each call measured, and that growth is part of the cost.
/// `bench/compare.sh` runs each in-memory bench in its own process.
pub fn mode_memory() {
    install(false, None);
}

/// `#[tool]` recording in memory only, keeping the newest [`MEMORY_LIMIT`] calls.
pub fn mode_memory_bounded() {
    install(false, Some(MEMORY_LIMIT));
}

/// `#[tool]` streaming to [`tool_log`] and keeping every call in memory (the
/// default of `init().log_file(..).install()`). Returns the log's path.
pub fn mode_file() -> PathBuf {
    install(true, None);
    tool_log()
}

/// `#[tool]` streaming to [`tool_log`], keeping the newest [`MEMORY_LIMIT`]
/// calls in memory.
pub fn mode_file_bounded() -> PathBuf {
    install(true, Some(MEMORY_LIMIT));
    tool_log()
}

/// `#[tool]` streaming to [`tool_log`] and keeping no call in memory
/// (`init().memory_limit(0)`): only the file has them.
pub fn mode_file_only() -> PathBuf {
    install(true, Some(0));
    tool_log()
}

/// Installs (once) tracing-subscriber's JSON formatter writing to
/// `target/backstep-bench/tracing.jsonl` (O_APPEND, one `write` per event) as
/// the global subscriber. Returns the file's path.
pub fn tracing_to_file() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let (path, file) = append_file("tracing.jsonl");
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(Arc::new(file))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("install the subscriber");
        path
    })
}

// ---------------------------------------------------------------------------
// Clocks.

/// Times `iters` calls of `f` on this thread's CPU clock (user + system time
/// of this thread): on a machine shared with other work, time the thread spends
/// waiting for a core is not counted, so runs compare. `BENCH_CLOCK=wall` uses
/// the wall clock instead.
pub fn measure(iters: u64, mut f: impl FnMut()) -> Duration {
    let wall = wall_clock();
    let (t0, c0) = (Instant::now(), thread_cpu());
    for _ in 0..iters {
        f();
    }
    match (wall, c0, thread_cpu()) {
        (false, Some(c0), Some(c1)) => c1.saturating_sub(c0),
        _ => t0.elapsed(),
    }
}

fn wall_clock() -> bool {
    static WALL: OnceLock<bool> = OnceLock::new();
    *WALL.get_or_init(|| std::env::var("BENCH_CLOCK").is_ok_and(|v| v == "wall"))
}

/// This thread's CPU time, where the OS has such a clock.
#[cfg(unix)]
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

#[cfg(not(unix))]
fn thread_cpu() -> Option<Duration> {
    None
}

// ---------------------------------------------------------------------------
// Threads.

/// Threads kept for a whole benchmark (a fresh thread per sample would start
/// with cold caches, new thread-locals and a new malloc arena each time), each
/// with its own reusable buffer (for the floors).
pub struct Workers<'scope> {
    threads: u64,
    shared: Arc<WorkersShared>,
    handles: Vec<std::thread::ScopedJoinHandle<'scope, ()>>,
}

struct WorkersShared {
    start: Barrier,
    done: Barrier,
    calls: std::sync::atomic::AtomicU64,
    /// Threads that have woken for a run, over all runs: each spins until
    /// the others are awake too, so the time one takes to wake (an idle
    /// vCPU of this VM can take milliseconds) is not timed as its work.
    awake: std::sync::atomic::AtomicU64,
    stop: std::sync::atomic::AtomicBool,
    spans: Mutex<Vec<(Instant, Instant)>>,
}

impl<'scope> Workers<'scope> {
    /// Starts `threads` threads in `scope`, each running its share of the calls
    /// of `f` when [`Workers::run`] says so.
    pub fn new<'env, F>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        threads: u64,
        f: &'scope F,
    ) -> Self
    where
        F: Fn(&mut Vec<u8>) + Sync,
    {
        let shared = Arc::new(WorkersShared {
            start: Barrier::new(threads as usize + 1),
            done: Barrier::new(threads as usize + 1),
            calls: std::sync::atomic::AtomicU64::new(0),
            awake: std::sync::atomic::AtomicU64::new(0),
            stop: std::sync::atomic::AtomicBool::new(false),
            spans: Mutex::new(Vec::new()),
        });
        let handles = (0..threads)
            .map(|t| {
                let shared = Arc::clone(&shared);
                scope.spawn(move || {
                    use std::sync::atomic::Ordering::{AcqRel, Acquire};
                    let mut buf = Vec::with_capacity(1024);
                    for run in 1.. {
                        shared.start.wait();
                        if shared.stop.load(Acquire) {
                            return;
                        }
                        shared.awake.fetch_add(1, AcqRel);
                        while shared.awake.load(Acquire) < run * threads {
                            std::hint::spin_loop();
                        }
                        let calls = shared.calls.load(Acquire);
                        let n = calls / threads + u64::from(t < calls % threads);
                        let begin = Instant::now();
                        for _ in 0..n {
                            f(&mut buf);
                        }
                        let end = Instant::now();
                        shared
                            .spans
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((begin, end));
                        shared.done.wait();
                    }
                })
            })
            .collect();
        Workers {
            threads,
            shared,
            handles,
        }
    }

    /// Runs `calls` calls split over the threads, which start together; returns
    /// the wall time from the first start to the last end (throughput is a
    /// wall-clock matter: a thread waiting on a lock uses no CPU).
    pub fn run(&self, calls: u64) -> Duration {
        let s = &self.shared;
        s.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        s.calls.store(calls, std::sync::atomic::Ordering::Release);
        s.start.wait();
        s.done.wait();
        let spans = s.spans.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(spans.len() as u64, self.threads, "every thread ran");
        let begin = spans.iter().map(|x| x.0).min().expect("a thread");
        let end = spans.iter().map(|x| x.1).max().expect("a thread");
        end - begin
    }

    /// Ends the threads.
    pub fn stop(self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Release);
        self.shared.start.wait();
        for h in self.handles {
            h.join().expect("bench thread");
        }
    }
}

/// criterion's options that take a value (`--save-baseline new`): the
/// value is not a filter word.
const VALUED: [&str; 15] = [
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--output-format",
    "--color",
    "--plotting-backend",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
];

/// The words of a `cargo bench -- FILTER` (none: run everything).
pub fn filter_words() -> Vec<String> {
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') && a.parse::<f64>().is_err() {
            words.push(a);
        }
    }
    words
}

/// Whether this run measures and writes its results: `cargo bench` passes
/// `--bench`; `cargo test --benches` does not, and builds without
/// optimizations, where the numbers would mean nothing (and would replace
/// the last real run's in `target/backstep-bench`).
#[allow(dead_code)] // not every bench binary uses it
pub fn measuring(name: &str) -> bool {
    let measuring = std::env::args().any(|a| a == "--bench") && !cfg!(debug_assertions);
    if !measuring {
        println!(
            "{name}: not measured: run by `cargo test`, or in a debug build (`cargo bench --bench {name}` measures)"
        );
    }
    measuring
}

/// Whether a `cargo bench -- FILTER` names some other bench only.
#[allow(dead_code)] // not every bench binary uses it
pub fn filtered_out(name: &str) -> bool {
    let words = filter_words();
    !words.is_empty() && !words.iter().any(|w| name.contains(w.as_str()))
}
