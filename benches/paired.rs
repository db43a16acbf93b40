//! Issue 6's overhead ratios measured in paired rounds, which this machine's
//! drift does not move: criterion (`benches/overhead.rs`) times the floor and
//! `#[tool]` seconds apart, and the speed of a shared VM changes by tens of
//! percent in that time. Here each round times the plain function, the floor
//! and `#[tool]` back to back (a few milliseconds each, in an order that
//! rotates), on this thread's CPU clock; the ratio of the overheads
//! `(tool - plain) / (floor - plain)` is taken within each round, and the
//! median and quartiles over the rounds are reported.
//!
//! Pairs: the in-memory floor with `memory_limit(1000)`, then the file floor
//! with a log file and `memory_limit(1000)`, and that `#[tool]` with tracing's
//! `#[instrument(ret)]` to a file (the ratio: tracing's overhead over
//! `#[tool]`'s), each for the small and the large shape. `cargo bench --bench paired` prints them and writes
//! `target/backstep-bench/paired.json`, which `bench/table.py` reads.

use std::hint::black_box;
use std::time::Duration;

#[path = "common/mod.rs"]
mod common;
use common::*;

const ROUNDS: usize = 41;

/// The median and quartiles of `v`.
fn quartiles(mut v: Vec<f64>) -> [f64; 3] {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    [at(0.25), at(0.5), at(0.75)]
}

/// Times `calls` calls of each of `fs` per round, for [`ROUNDS`] rounds,
/// starting each round with the next function; the ratio of overheads
/// `(fs[2] - fs[0]) / (fs[1] - fs[0])` of every round, and the median times.
fn paired(
    calls: u64,
    fs: &mut [&mut dyn FnMut(); 3],
    after: &mut dyn FnMut(),
) -> (Vec<f64>, [f64; 3]) {
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut times: [Vec<f64>; 3] = Default::default();
    // One round to warm caches and the recorder's pools, not counted.
    for f in fs.iter_mut() {
        measure(calls, &mut **f);
    }
    after();
    for round in 0..ROUNDS {
        let mut t = [Duration::ZERO; 3];
        for k in 0..3 {
            let i = (round + k) % 3;
            t[i] = measure(calls, &mut *fs[i]);
        }
        after();
        let per = t.map(|d| d.as_secs_f64() * 1e9 / calls as f64);
        for i in 0..3 {
            times[i].push(per[i]);
        }
        let (plain, floor, tool) = (per[0], per[1], per[2]);
        if floor > plain {
            ratios.push((tool - plain) / (floor - plain));
        }
    }
    let medians = times.map(|v| quartiles(v)[1]);
    (ratios, medians)
}

fn main() {
    if filtered_out("paired") {
        return;
    }
    let doc = document();
    let mut buf = Vec::with_capacity(1024);
    let (floor_path, floor_file) = append_file("paired-floor.jsonl");
    let mut results = Vec::new();
    let mut report = |name: &str, (ratios, medians): (Vec<f64>, [f64; 3])| {
        let [q1, median, q3] = quartiles(ratios.clone());
        println!(
            "paired: {name:<18} plain {:>9.1} ns  floor {:>9.1} ns  tool {:>9.1} ns  overhead ratio {median:.2}x (quartiles {q1:.2}-{q3:.2}, {} rounds)",
            medians[0],
            medians[1],
            medians[2],
            ratios.len()
        );
        results.push(format!(
            r#""{name}":{{"median":{median},"q1":{q1},"q3":{q3},"rounds":{},"plain_ns":{},"floor_ns":{},"tool_ns":{}}}"#,
            ratios.len(),
            medians[0],
            medians[1],
            medians[2]
        ));
    };
    for file in [false, true] {
        let tool_log = if file {
            mode_file_bounded()
        } else {
            mode_memory_bounded();
            tool_log()
        };
        for small in [true, false] {
            let calls = if small { 20_000 } else { 100 };
            let mut plain = || {
                if small {
                    black_box(search_plain(black_box(QUERY), black_box(LIMIT)));
                } else {
                    black_box(index_plain(black_box(&doc), black_box(STRIDE)));
                }
            };
            let mut floor = || match (small, file) {
                (true, false) => drop(black_box(search_floor(
                    &mut buf,
                    black_box(QUERY),
                    black_box(LIMIT),
                ))),
                (false, false) => drop(black_box(index_floor(
                    &mut buf,
                    black_box(&doc),
                    black_box(STRIDE),
                ))),
                (true, true) => drop(black_box(search_floor_file(
                    &mut buf,
                    &floor_file,
                    black_box(QUERY),
                    black_box(LIMIT),
                ))),
                (false, true) => drop(black_box(index_floor_file(
                    &mut buf,
                    &floor_file,
                    black_box(&doc),
                    black_box(STRIDE),
                ))),
            };
            let mut tool = || {
                if small {
                    black_box(search_tool(black_box(QUERY), black_box(LIMIT)));
                } else {
                    black_box(index_tool(black_box(&doc), black_box(STRIDE)));
                }
            };
            // Both files emptied between rounds, outside the timing.
            let mut after = || {
                truncate(&floor_path);
                if file {
                    truncate(&tool_log);
                }
            };
            let name = format!(
                "{}/{}",
                if small { "small" } else { "large" },
                if file {
                    "tool_file_bounded"
                } else {
                    "tool_mem_bounded"
                }
            );
            report(
                &name,
                paired(calls, &mut [&mut plain, &mut floor, &mut tool], &mut after),
            );
            if file {
                // tracing against `#[tool]` to a file: how many times the
                // overhead of `#[tool]` tracing's is.
                let tracing_log = tracing_to_file();
                let mut traced = || {
                    if small {
                        black_box(search_traced(black_box(QUERY), black_box(LIMIT)));
                    } else {
                        black_box(index_traced(black_box(&doc), black_box(STRIDE)));
                    }
                };
                let mut after = || {
                    truncate(tracing_log);
                    truncate(&tool_log);
                };
                let name = format!("{}/tracing_file", if small { "small" } else { "large" });
                let calls = if small { 5_000 } else { 20 };
                report(
                    &name,
                    paired(calls, &mut [&mut plain, &mut tool, &mut traced], &mut after),
                );
            }
        }
    }
    let path = out_dir().join("paired.json");
    std::fs::write(&path, format!("{{{}}}\n", results.join(","))).expect("write paired.json");
    println!("paired: wrote {}", path.display());
}
