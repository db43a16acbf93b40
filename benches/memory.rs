//! Issue 6: memory held per recorded call. Records 1 M small calls in memory
//! and compares the heap bytes they hold (a counting global allocator: bytes
//! requested and not freed) with the JSON bytes of the same records.
//!
//! First, with `init().memory_limit(1000)`, 1 M calls: memory must stay flat
//! (the newest 1,000 calls kept).
//!
//! `cargo bench --bench memory` prints the figures and writes them to
//! `target/backstep-bench/memory.json` for `bench/compare.sh`.
//! `BACKSTEP_BENCH_CALLS=n` changes the number of calls.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

#[path = "common/mod.rs"]
mod common;
use common::*;

/// Counts the bytes currently allocated (as requested, without the
/// allocator's own headers and rounding: those show in the RSS figure).
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

#[allow(clippy::cast_possible_wrap)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as i64, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resident memory of this process, in bytes (Linux; 0 elsewhere).
fn rss() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Counts the bytes of the call lines written to it.
#[derive(Default)]
struct CallBytes {
    bytes: u64,
    lines: u64,
    partial: Vec<u8>,
}

impl Write for CallBytes {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        for chunk in data.split_inclusive(|&b| b == b'\n') {
            self.partial.extend_from_slice(chunk);
            if self.partial.ends_with(b"\n") {
                if self.partial.starts_with(br#"{"type":"call""#) {
                    self.bytes += self.partial.len() as u64;
                    self.lines += 1;
                }
                self.partial.clear();
            }
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[allow(clippy::cast_precision_loss)]
fn main() {
    if filtered_out("memory") || !measuring("memory") {
        return;
    }
    let calls: u64 = std::env::var("BACKSTEP_BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    // Bounded first: the newest MEMORY_LIMIT calls kept, memory must stay flat.
    let live = LIVE.load(Relaxed);
    mode_memory_bounded();
    for _ in 0..MEMORY_LIMIT {
        black_box(search_tool(black_box(QUERY), black_box(LIMIT)));
    }
    let bounded_held = LIVE.load(Relaxed) - live;
    let live_full = LIVE.load(Relaxed);
    for _ in 0..calls {
        black_box(search_tool(black_box(QUERY), black_box(LIMIT)));
    }
    let bounded_growth = (LIVE.load(Relaxed) - live_full) as f64 / calls as f64;

    // Every call kept (the default). The first call of the session sets up
    // its state: not per-call memory.
    mode_memory();
    black_box(search_tool(QUERY, LIMIT));
    let (live0, rss0) = (LIVE.load(Relaxed), rss());
    for _ in 0..calls {
        black_box(search_tool(black_box(QUERY), black_box(LIMIT)));
    }
    let (live1, rss1) = (LIVE.load(Relaxed), rss());

    let log = backstep::log().last_session();
    let mut json = CallBytes::default();
    log.write_jsonl(&mut json).expect("count the JSON bytes");
    assert_eq!(
        json.lines,
        calls + 1,
        "every call of the session is in memory"
    );
    let json_per_call = json.bytes as f64 / json.lines as f64;
    let held_per_call = (live1 - live0) as f64 / calls as f64;
    let rss_per_call = (rss1 - rss0) as f64 / calls as f64;
    let ratio = held_per_call / json_per_call;

    println!("memory: {calls} small calls recorded in memory");
    println!("  heap held per call   {held_per_call:>8.1} B  (bytes requested, not freed)");
    println!("  RSS growth per call  {rss_per_call:>8.1} B  (with allocator overhead)");
    println!("  JSON line per call   {json_per_call:>8.1} B");
    println!("  held / JSON          {ratio:>8.2}x  (target <= 1.2x)");
    println!(
        "  memory_limit({MEMORY_LIMIT}): {:.2} MB for the newest {MEMORY_LIMIT} calls (with the session and recorder), {bounded_growth:+.3} B per call over {calls} calls",
        bounded_held as f64 / 1e6
    );

    let out = out_dir().join("memory.json");
    let text = format!(
        "{{\"calls\":{calls},\"held_per_call\":{held_per_call:.1},\"rss_per_call\":{rss_per_call:.1},\"json_per_call\":{json_per_call:.1},\"ratio\":{ratio:.3},\"bounded_limit\":{MEMORY_LIMIT},\"bounded_held\":{bounded_held},\"bounded_growth_per_call\":{bounded_growth:.3}}}\n"
    );
    std::fs::write(&out, text).expect("write memory.json");
}
