//! The heap that records hold, counted by a global allocator: with a memory
//! limit, a record is at most an eighth more than its JSON (and 64 bytes),
//! and no thread keeps a buffer far larger than its own calls need.
//!
//! One test: this binary's allocations are all counted, so nothing else may
//! run while it measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier};

use backstep::tool;

struct Counting;

/// Bytes allocated and not yet freed, by the whole process.
static LIVE: AtomicIsize = AtomicIsize::new(0);

fn size(layout: Layout) -> isize {
    isize::try_from(layout.size()).unwrap()
}

// SAFETY: every method hands the call on to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(size(layout), Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(size(layout), Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(size(layout), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(isize::try_from(new_size).unwrap() - size(layout), Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[tool]
fn big(n: usize) -> String {
    "y".repeat(n)
}

#[tool]
fn small(i: u32) -> u32 {
    i
}

#[tool]
fn fails(i: u32) -> Result<u32, String> {
    Err(format!("no {i}"))
}

/// The JSON of the calls in memory of the session `id`.
fn json_bytes(id: &str) -> isize {
    let log = backstep::log();
    let bytes: usize = log
        .iter()
        .filter(|c| c.session() == id)
        .map(|c| c.inputs_json().len() + c.output_json().len())
        .sum();
    isize::try_from(bytes).unwrap()
}

/// Runs `fill`, then `calls`, in a new session keeping `limit` calls; the
/// heap `calls` left held over the JSON of the calls memory kept (`fill`'s
/// must all have been pushed out).
fn held_over_json(limit: usize, fill: impl FnOnce(), calls: impl FnOnce()) -> f64 {
    let guard = backstep::init().memory_limit(limit).install();
    fill();
    let before = LIVE.load(Relaxed);
    calls();
    let held = LIVE.load(Relaxed) - before;
    let json = json_bytes(guard.session_id());
    drop(guard);
    held as f64 / json as f64
}

#[test]
fn records_hold_about_their_json_and_threads_no_larger_buffers_than_they_need() {
    // Memory not full (a limit not reached, or none): a record is a copy
    // of exactly its JSON. A record's other fields (some 200 bytes) are
    // counted too, hence the margin.
    for limit in [usize::MAX, 100_000] {
        let ratio = held_over_json(
            limit,
            || {},
            || {
                for _ in 0..200 {
                    big(20_000);
                }
            },
        );
        assert!((1.0..1.05).contains(&ratio), "limit {limit}: {ratio:.3}");
    }
    // Memory full: each record is the buffer its call was serialized into,
    // which doubled as it grew; trimmed to at most an eighth more.
    let ratio = held_over_json(
        100,
        || (0..100).for_each(|i| assert_eq!(small(i), i)),
        || (0..100).for_each(|_| assert_eq!(big(20_000).len(), 20_000)),
    );
    assert!((0.95..1.15).contains(&ratio), "full memory: {ratio:.3}");

    // Eight threads each push one large record out, with a small call of
    // their own, then (once all have) make calls whose records are copies
    // (errors): none of them may keep the large record's buffer while it
    // lives.
    let guard = backstep::init().memory_limit(8).install();
    for _ in 0..8 {
        big(500_000);
    }
    let before = LIVE.load(Relaxed);
    let pushed_out = Arc::new(Barrier::new(8));
    let done = Arc::new(Barrier::new(9));
    let measured = Arc::new(Barrier::new(9));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (pushed_out, done, measured) = (pushed_out.clone(), done.clone(), measured.clone());
            std::thread::spawn(move || {
                small(t);
                pushed_out.wait();
                for i in 0..10 {
                    assert!(fails(i).is_err());
                }
                done.wait();
                measured.wait();
            })
        })
        .collect();
    done.wait();
    // The large records are gone from memory; what the threads hold is
    // small (their names, their boxes and the small calls' buffers).
    let freed = before - LIVE.load(Relaxed);
    let json = json_bytes(guard.session_id());
    assert!(json < 1000, "{json} bytes of JSON kept");
    assert!(freed > 7 * 500_000, "freed only {freed} bytes of 4 MB");
    measured.wait();
    for t in threads {
        t.join().unwrap();
    }
}
