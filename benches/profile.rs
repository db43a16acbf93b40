//! N calls of one call shape in one mode, for a profiler: callgrind counts
//! instructions repeatably where timings are noisy.
//!
//! ```text
//! cargo bench --bench profile --no-run    # prints nothing useful; finds the binary:
//! valgrind --tool=callgrind target/release/deps/profile-* mem small 100000
//! ```
//!
//! Modes: `plain`, `floor_mem`, `floor_file`, `off`, `mem`, `mem_bounded`,
//! `file`, `file_bounded` (`_bounded`: the newest 1,000 calls in memory),
//! `file_only` (no call kept in memory), `tracing`;
//! shapes: `small`, `large`, `tiny` (`u64 -> u64`). Run by `cargo bench` without a mode, it does nothing.
//!
//! `profile open - N` parses the first N lines of the reader bench's log
//! (`target/backstep-bench/reader-1m.jsonl`, made by `cargo bench --bench reader`)
//! with `Log::from_jsonl` + `stats_by_tool`.

use std::hint::black_box;

#[path = "common/mod.rs"]
mod common;
use common::*;

const MODES: [&str; 11] = [
    "plain",
    "floor_mem",
    "floor_file",
    "off",
    "mem",
    "mem_bounded",
    "file",
    "file_bounded",
    "file_only",
    "tracing",
    "open",
];

/// Parses the first `lines` lines of the reader bench's log.
fn open(lines: u64) {
    use std::io::BufRead as _;
    let path = out_dir().join("reader-1m.jsonl");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo bench --bench reader` first",
            path.display()
        )
    });
    let mut text = String::new();
    let mut reader = std::io::BufReader::new(file);
    for _ in 0..lines {
        if reader.read_line(&mut text).unwrap_or(0) == 0 {
            break;
        }
    }
    let log = backstep::Log::from_jsonl(&text).expect("parse");
    let stats = black_box(log.stats_by_tool());
    println!(
        "profile: parsed {} calls of {} tools",
        log.len(),
        stats.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let Some(mode) = args.first().filter(|m| MODES.contains(&m.as_str())) else {
        println!(
            "profile: nothing to do (usage: profile {{{}}} [small|large] [calls])",
            MODES.join("|")
        );
        return;
    };
    let shape = args.get(1).map_or("small", String::as_str);
    let small = shape != "large";
    let calls: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    if mode == "open" {
        open(calls);
        return;
    }
    let doc = document();
    let (_, floor_file) = append_file("profile-floor.jsonl");
    let mut buf = Vec::with_capacity(1024);
    match mode.as_str() {
        "off" => mode_off(),
        "mem" => mode_memory(),
        "mem_bounded" => mode_memory_bounded(),
        "file" => {
            mode_file();
        }
        "file_bounded" => {
            mode_file_bounded();
        }
        "file_only" => {
            mode_file_only();
        }
        "tracing" => {
            tracing_to_file();
        }
        _ => {}
    }
    if shape == "tiny" {
        let tool = mode != "plain";
        for i in 0..calls {
            black_box(if tool {
                mix_tool(black_box(i))
            } else {
                mix_plain(black_box(i))
            });
        }
        println!("profile: {calls} calls, mode {mode}, shape tiny");
        return;
    }
    for _ in 0..calls {
        match (mode.as_str(), small) {
            ("plain", true) => drop(black_box(search_plain(black_box(QUERY), LIMIT))),
            ("plain", false) => drop(black_box(index_plain(black_box(&doc), STRIDE))),
            ("floor_mem", true) => drop(black_box(search_floor(&mut buf, QUERY, LIMIT))),
            ("floor_mem", false) => drop(black_box(index_floor(&mut buf, &doc, STRIDE))),
            ("floor_file", true) => drop(black_box(search_floor_file(
                &mut buf,
                &floor_file,
                QUERY,
                LIMIT,
            ))),
            ("floor_file", false) => drop(black_box(index_floor_file(
                &mut buf,
                &floor_file,
                &doc,
                STRIDE,
            ))),
            ("tracing", true) => drop(black_box(search_traced(black_box(QUERY), LIMIT))),
            ("tracing", false) => drop(black_box(index_traced(black_box(&doc), STRIDE))),
            (_, true) => drop(black_box(search_tool(black_box(QUERY), LIMIT))),
            (_, false) => drop(black_box(index_tool(black_box(&doc), STRIDE))),
        }
    }
    println!(
        "profile: {calls} calls, mode {mode}, shape {}",
        if small { "small" } else { "large" }
    );
}
