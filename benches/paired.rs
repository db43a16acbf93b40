//! Issue 6's overhead ratios measured in paired rounds, which this machine's
//! drift moves far less: criterion (`benches/overhead.rs`) times the floor and
//! `#[tool]` seconds apart, and the speed of a shared VM changes by tens of
//! percent in that time. Here each round times the plain function, the floor
//! and `#[tool]` back to back (a few milliseconds each, in an order that
//! goes through all six), on this thread's CPU clock; the ratio of the overheads
//! `(tool - plain) / (floor - plain)` is taken within each round, and the
//! median and quartiles over the rounds are reported.
//!
//! Pairs: the in-memory floor with `memory_limit(1000)`, then the file floor
//! with a log file and `memory_limit(1000)`, and that `#[tool]` with tracing's
//! `#[instrument(ret)]` to a file (the ratio: tracing's overhead over
//! `#[tool]`'s), each for the small and the large shape. `cargo bench --bench paired` prints them and writes
//! `target/backstep-bench/paired.json`, which `bench/table.py` reads.

use std::time::Duration;

#[path = "common/mod.rs"]
mod common;
use common::*;

/// Rounds per pair: a multiple of 6, so each of the six orders of the three
/// functions is used as often.
const ROUNDS: usize = 42;

/// The six orders in which a round runs the three functions.
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

/// The median and quartiles of `v` (`None` when it is empty).
fn quartiles(mut v: Vec<f64>) -> Option<[f64; 3]> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Some([at(0.25), at(0.5), at(0.75)])
}

/// What one pair measured: the per-round ratios, the median time per call of
/// each function, and the rounds left out (the baseline not slower than the
/// plain function: no overhead to divide by).
struct Measured {
    ratios: Vec<f64>,
    medians: [f64; 3],
    dropped: usize,
}

/// Times `calls` calls of each of `fs` per round, for [`ROUNDS`] rounds, each
/// round in the next of the six orders; the ratio of overheads
/// `(fs[2] - fs[0]) / (fs[1] - fs[0])` of every round.
fn paired(calls: u64, fs: &mut [&mut dyn FnMut(); 3], after: &mut dyn FnMut()) -> Measured {
    let mut ratios = Vec::with_capacity(ROUNDS);
    let mut times: [Vec<f64>; 3] = Default::default();
    // Not counted: enough calls to warm the caches and the recorder's pools
    // and to fill its memory (`MEMORY_LIMIT` calls), so every round that
    // counts replaces old records with records of the same shape.
    let warm = calls.max(MEMORY_LIMIT as u64 + 1);
    for f in fs.iter_mut() {
        measure(warm, &mut **f);
    }
    after();
    let mut dropped = 0;
    for round in 0..ROUNDS {
        let mut t = [Duration::ZERO; 3];
        for &i in &ORDERS[round % ORDERS.len()] {
            t[i] = measure(calls, &mut *fs[i]);
        }
        after();
        let per = t.map(|d| d.as_secs_f64() * 1e9 / calls as f64);
        for i in 0..3 {
            times[i].push(per[i]);
        }
        let (plain, base, candidate) = (per[0], per[1], per[2]);
        if base > plain {
            ratios.push((candidate - plain) / (base - plain));
        } else {
            dropped += 1;
        }
    }
    let medians = times.map(|v| quartiles(v).map_or(f64::NAN, |q| q[1]));
    Measured {
        ratios,
        medians,
        dropped,
    }
}

/// The commit measured (`git rev-parse --short HEAD`, `-dirty` when the tree
/// has changes), as `bench/compare.sh` records it.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head}-dirty")
    } else {
        head
    }
}

fn main() {
    if filtered_out("paired") {
        return;
    }
    let doc = document();
    let mut buf = Vec::with_capacity(1024);
    let (floor_path, floor_file) = append_file("paired-floor.jsonl");
    let mut results = Vec::new();
    let mut report = |name: &str, labels: [&str; 3], m: Measured| {
        let Some([q1, median, q3]) = quartiles(m.ratios.clone()) else {
            println!(
                "paired: {name}: every round left out ({} rounds had no overhead to divide by)",
                m.dropped
            );
            return;
        };
        let [a, b, c] = labels;
        println!(
            "paired: {name:<18} {a} {:>9.1} ns  {b} {:>9.1} ns  {c} {:>9.1} ns  ({c} - {a}) / ({b} - {a}) = {median:.3}x (quartiles {q1:.3}-{q3:.3}; {} rounds, {} left out)",
            m.medians[0],
            m.medians[1],
            m.medians[2],
            m.ratios.len(),
            m.dropped
        );
        results.push(format!(
            r#""{name}":{{"median":{median},"q1":{q1},"q3":{q3},"rounds":{},"dropped":{},"{a}_ns":{},"{b}_ns":{},"{c}_ns":{}}}"#,
            m.ratios.len(),
            m.dropped,
            m.medians[0],
            m.medians[1],
            m.medians[2]
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
            let mut plain = || call_plain(small, &doc);
            let mut floor = || call_floor(small, &mut buf, file.then_some(&floor_file), &doc);
            let mut tool = || call_tool(small, &doc);
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
                ["plain", "floor", "tool"],
                paired(calls, &mut [&mut plain, &mut floor, &mut tool], &mut after),
            );
            if file {
                // tracing against `#[tool]` to a file: the ratio is
                // tracing's overhead over `#[tool]`'s.
                let tracing_log = tracing_to_file();
                let mut traced = || call_traced(small, &doc);
                let mut after = || {
                    truncate(tracing_log);
                    truncate(&tool_log);
                };
                let name = format!("{}/tracing_file", if small { "small" } else { "large" });
                let calls = if small { 5_000 } else { 20 };
                report(
                    &name,
                    ["plain", "tool", "tracing"],
                    paired(calls, &mut [&mut plain, &mut tool, &mut traced], &mut after),
                );
            }
        }
    }
    let path = out_dir().join("paired.json");
    results.push(format!(r#""commit":"{}""#, commit()));
    std::fs::write(&path, format!("{{{}}}\n", results.join(","))).expect("write paired.json");
    println!("paired: wrote {}", path.display());
}
