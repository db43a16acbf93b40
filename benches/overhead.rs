//! Issue 6: the cost of `#[tool]` per call, side by side with a plain call, the
//! floor (hand-written serde_json) and tracing, for a small and a large call
//! shape, and with two threads. `bench/compare.sh` turns the results into one
//! table of ratios against the targets.
//!
//! Benchmark ids (`target/criterion/<group>/<id>/new/estimates.json`):
//! - `small/*`, `large/*`: `plain`, `floor_mem`, `floor_file`, `tool_off`,
//!   `tool_mem`, `tool_mem_bounded`, `tracing_file`, `tool_file`,
//!   `tool_file_bounded`, `tool_file_only` (`_bounded`:
//!   `init().memory_limit(1000)`, the newest 1,000 calls kept in memory;
//!   `_only`: `memory_limit(0)`, none; without either every call is);
//! - `tiny/plain`, `tiny/tool_off`: a `u64 -> u64` body of two instructions,
//!   where the cost of `#[tool]` with recording off is not lost in noise;
//! - `contention/*`: `plain`, `floor_mem`, `floor_file`, `tool_mem_bounded`,
//!   `tool_file_bounded`, `tool_file_only`, each `_1t` and `_2t` (the same
//!   number of small calls on one or two threads kept for the whole benchmark).
//!
//! Single-thread benchmarks are timed on the thread's CPU clock (see
//! `common::measure`; `BENCH_CLOCK=wall` for the wall clock); the two-thread
//! ones on the wall clock, as throughput is.
//!
//! The recorder is global and cannot drop a log file once installed, so every
//! benchmark sets its mode and the file ones run last. Unbounded in-memory
//! recording keeps every call: run one mode per process to keep memory down,
//! as `bench/compare.sh` does with criterion's filter.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};

#[path = "common/mod.rs"]
mod common;
use common::*;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Times `iters` calls of `f` (see [`measure`]), then empties `path` outside
/// the timing so a long run does not fill the disk.
fn measure_then_truncate(iters: u64, path: &Path, f: impl FnMut()) -> Duration {
    let elapsed = measure(iters, f);
    truncate(path);
    elapsed
}

/// Everything that does not install a backstep log file, for one shape.
fn unfiled(g: &mut Group<'_>, small: bool) {
    let doc = document();
    let (floor_path, floor_file) = append_file(if small {
        "floor-small.jsonl"
    } else {
        "floor-large.jsonl"
    });
    let mut buf = Vec::with_capacity(1024);

    g.bench_function("plain", |b| {
        b.iter_custom(|iters| measure(iters, || call_plain(small, &doc)));
    });
    g.bench_function("floor_mem", |b| {
        b.iter_custom(|iters| measure(iters, || call_floor(small, &mut buf, None, &doc)));
    });
    g.bench_function("floor_file", |b| {
        b.iter_custom(|iters| {
            measure_then_truncate(iters, &floor_path, || {
                call_floor(small, &mut buf, Some(&floor_file), &doc);
            })
        });
    });
    g.bench_function("tool_off", |b| {
        mode_off();
        b.iter_custom(|iters| measure(iters, || call_tool(small, &doc)));
    });
    g.bench_function("tool_mem", |b| {
        mode_memory();
        b.iter_custom(|iters| measure(iters, || call_tool(small, &doc)));
    });
    g.bench_function("tracing_file", |b| {
        let path = tracing_to_file();
        b.iter_custom(|iters| measure_then_truncate(iters, path, || call_traced(small, &doc)));
    });
}

/// `#[tool]` streaming to a file, for one shape: keeping every call in memory
/// too (the default), then only the newest `MEMORY_LIMIT`, then none.
fn filed(g: &mut Group<'_>, small: bool) {
    let doc = document();
    g.bench_function("tool_file", |b| {
        let path = mode_file();
        b.iter_custom(|iters| measure_then_truncate(iters, &path, || call_tool(small, &doc)));
    });
    g.bench_function("tool_file_bounded", |b| {
        let path = mode_file_bounded();
        b.iter_custom(|iters| measure_then_truncate(iters, &path, || call_tool(small, &doc)));
    });
    g.bench_function("tool_file_only", |b| {
        let path = mode_file_only();
        b.iter_custom(|iters| measure_then_truncate(iters, &path, || call_tool(small, &doc)));
    });
}

/// `#[tool]` in memory keeping only the newest `MEMORY_LIMIT` calls, for one
/// shape (after every unbounded in-memory bench: the limit is global).
fn bounded(g: &mut Group<'_>, small: bool) {
    let doc = document();
    g.bench_function("tool_mem_bounded", |b| {
        mode_memory_bounded();
        b.iter_custom(|iters| measure(iters, || call_tool(small, &doc)));
    });
}

/// Times `calls` of `f` on `threads` threads kept for the whole benchmark.
fn threaded<F>(g: &mut Group<'_>, id: &str, threads: u64, f: &F, after: impl Fn())
where
    F: Fn(&mut Vec<u8>) + Sync,
{
    g.bench_function(id, |b| {
        std::thread::scope(|s| {
            let workers = Workers::new(s, threads, f);
            b.iter_custom(|iters| {
                let t = workers.run(iters);
                after();
                t
            });
            workers.stop();
        });
    });
}

/// The same number of small calls on one thread and on two: the floors, then
/// `#[tool]` in memory and to a file with `memory_limit(MEMORY_LIMIT)`, so
/// memory stays flat whatever the number of calls, and to a file with
/// `memory_limit(0)`.
fn contention(g: &mut Group<'_>, phase: &str) {
    let tool = |_: &mut Vec<u8>| {
        black_box(search_tool(black_box(QUERY), black_box(LIMIT)));
    };
    match phase {
        "bounded" => {
            mode_memory_bounded();
            for threads in [1, 2] {
                threaded(
                    g,
                    &format!("tool_mem_bounded_{threads}t"),
                    threads,
                    &tool,
                    || {},
                );
            }
        }
        "file" => {
            for mode in ["tool_file_bounded", "tool_file_only"] {
                let path = if mode == "tool_file_only" {
                    mode_file_only()
                } else {
                    mode_file_bounded()
                };
                for threads in [1, 2] {
                    threaded(g, &format!("{mode}_{threads}t"), threads, &tool, || {
                        truncate(&path);
                    });
                }
            }
        }
        _ => {
            let (path, file) = append_file("floor-contention.jsonl");
            let plain = |_: &mut Vec<u8>| {
                black_box(search_plain(black_box(QUERY), black_box(LIMIT)));
            };
            let floor_mem = |buf: &mut Vec<u8>| {
                black_box(search_floor(buf, black_box(QUERY), black_box(LIMIT)));
            };
            let floor_file = |buf: &mut Vec<u8>| {
                black_box(search_floor_file(
                    buf,
                    &file,
                    black_box(QUERY),
                    black_box(LIMIT),
                ));
            };
            for threads in [1, 2] {
                threaded(g, &format!("plain_{threads}t"), threads, &plain, || {});
                threaded(
                    g,
                    &format!("floor_mem_{threads}t"),
                    threads,
                    &floor_mem,
                    || {},
                );
                threaded(
                    g,
                    &format!("floor_file_{threads}t"),
                    threads,
                    &floor_file,
                    || {
                        truncate(&path);
                    },
                );
            }
        }
    }
}

/// Recording off, around a body too small to hide anything.
fn tiny(c: &mut Criterion) {
    let mut g = c.benchmark_group("tiny");
    g.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            measure(iters, || {
                black_box(mix_plain(black_box(7)));
            })
        });
    });
    g.bench_function("tool_off", |b| {
        mode_off();
        b.iter_custom(|iters| {
            measure(iters, || {
                black_box(mix_tool(black_box(7)));
            })
        });
    });
    g.finish();
}

fn all(c: &mut Criterion) {
    tiny(c);
    // Every call kept in memory, then the newest `MEMORY_LIMIT` only, then the
    // log file (which no later bench in this process can do without).
    for phase in ["memory", "bounded", "file"] {
        for (name, small) in [("small", true), ("large", false)] {
            let mut g = c.benchmark_group(name);
            if !small {
                // ~1 ms per traced call: keep a 3 s measurement possible.
                g.sample_size(20);
            }
            match phase {
                "memory" => unfiled(&mut g, small),
                "bounded" => bounded(&mut g, small),
                _ => filed(&mut g, small),
            }
            g.finish();
        }
        let mut g = c.benchmark_group("contention");
        // Every sample wakes the threads: flat sampling keeps samples long.
        g.sampling_mode(SamplingMode::Flat);
        contention(&mut g, phase);
        g.finish();
    }
}

criterion_group!(benches, all);
criterion_main!(benches);
