//! Issue 6's overhead ratios measured in paired rounds, which this machine's
//! drift moves far less: criterion (`benches/overhead.rs`) times the floor and
//! `#[tool]` seconds apart, and the speed of a shared VM changes by tens of
//! percent in that time. Here each round times the plain function, the floor
//! and `#[tool]` back to back (a few milliseconds each, in an order that
//! goes through all six), on this thread's CPU clock; the ratio of the overheads
//! `(tool - plain) / (floor - plain)` is taken within each round, and the
//! median and quartiles over the rounds are reported.
//!
//! Pairs, each for the small and the large shape: the in-memory floor with
//! `#[tool]` keeping every call (the default) and with the newest 1,000
//! calls (`memory_limit(1000)`), and for keeping every call a control: the
//! floor keeping a copy of each line, against the floor and `#[tool]`; the file
//! floor with `#[tool]` streaming to a log file and keeping the newest 1,000
//! calls, then keeping none (`memory_limit(0)`, as the floor and tracing);
//! and that last `#[tool]` with tracing's `#[instrument(ret)]` to a file (the
//! ratio: tracing's overhead over `#[tool]`'s), and tracing with the file
//! floor (a control: the most that ratio can be for any recorder that writes
//! a line per call). For the small shape, a control:
//! the file floor with each line padded with spaces to the length of a
//! `#[tool]` line, against the floor and against `#[tool]`, which shows what
//! the kernel charges for the longer line. Then two threads (see
//! [`paired_scaling`]): how `#[tool]` scales from one thread to two, over how
//! the floor does, in memory and to a file. `cargo bench --bench
//! paired` prints them and writes `target/backstep-bench/paired.json`, which
//! `bench/table.py` reads.

use std::fs::File;
use std::path::Path;
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
    medians: Vec<f64>,
    dropped: usize,
    /// Why a round is left out.
    dropped_because: &'static str,
    /// For two threads: the median of the plain function's own scaling.
    control: Option<f64>,
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
    Measured {
        ratios,
        medians: medians(times),
        dropped,
        dropped_because: "the baseline was not slower than the plain function",
        control: None,
    }
}

/// Returns the memory the allocator holds freed to the system (glibc keeps
/// it mapped, its pages touched): a pair run after a control that kept a
/// copy of every line would otherwise grow into it without a page fault.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory of glibc's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The median of each of `times`.
fn medians<const N: usize>(times: [Vec<f64>; N]) -> Vec<f64> {
    times
        .into_iter()
        .map(|v| quartiles(v).map_or(f64::NAN, |q| q[1]))
        .collect()
}

/// Rounds of two-thread scaling that count: a multiple of 6, the orders of
/// [`WILLIAMS`]. Rounds without the second core are left out, and more are
/// run in their place, up to [`MAX_SCALING_ROUNDS`] in all.
const SCALING_ROUNDS: usize = 48;
const MAX_SCALING_ROUNDS: usize = 4 * SCALING_ROUNDS;

/// The orders of a round of [`paired_scaling`]: a Williams square, in which
/// each of the six runs comes at each place once and right after each of
/// the others once, so what one run leaves behind (caches, the recorder's
/// memory) weighs on all of them alike.
const WILLIAMS: [[usize; 6]; 6] = [
    [0, 1, 5, 2, 4, 3],
    [1, 2, 0, 3, 5, 4],
    [2, 3, 1, 4, 0, 5],
    [3, 4, 2, 5, 1, 0],
    [4, 5, 3, 0, 2, 1],
    [5, 0, 4, 1, 3, 2],
];

/// Below this scaling of the plain function itself, a round did not have
/// the second core (this VM's comes and goes): it is left out.
const SECOND_CORE: f64 = 1.6;

/// Two-thread scaling in paired rounds. `runs` time a number of calls
/// (split over the threads, wall clock) of: the plain function, the floor
/// and `#[tool]`, each on one thread then on two. After a warm-up, a timed
/// run of each sizes its runs to about 15 ms (waking the threads costs tens
/// of microseconds, which must not weigh on the fast ones). Each round runs
/// all six in the next order of [`WILLIAMS`]. The ratio of a round is
/// `#[tool]`'s scaling over the floor's, `(tool_1t / tool_2t) / (floor_1t /
/// floor_2t)`; the plain function's own scaling is the control: a round
/// where it is below [`SECOND_CORE`] is left out, and another one is run.
fn paired_scaling(
    runs: &mut [&mut dyn FnMut(u64) -> Duration; 6],
    after: &mut dyn FnMut(),
) -> Measured {
    // Enough to fill the recorder's memory with records of this shape.
    let warm = MEMORY_LIMIT as u64 + 1;
    let calls = runs.each_mut().map(|run| {
        run(warm);
        let t = run(warm).as_secs_f64().max(1e-6);
        ((warm as f64 * 0.015 / t) as u64).clamp(1_000, 10_000_000)
    });
    after();
    let mut ratios = Vec::with_capacity(SCALING_ROUNDS);
    let mut controls = Vec::with_capacity(MAX_SCALING_ROUNDS);
    let mut times: [Vec<f64>; 6] = Default::default();
    let mut dropped = 0;
    for round in 0..MAX_SCALING_ROUNDS {
        if ratios.len() == SCALING_ROUNDS {
            break;
        }
        let mut t = [0.0; 6];
        for &i in &WILLIAMS[round % WILLIAMS.len()] {
            t[i] = runs[i](calls[i]).as_secs_f64() * 1e9 / calls[i] as f64;
        }
        after();
        for i in 0..6 {
            times[i].push(t[i]);
        }
        let control = t[0] / t[1];
        controls.push(control);
        if control >= SECOND_CORE {
            ratios.push((t[4] / t[5]) / (t[2] / t[3]));
        } else {
            dropped += 1;
        }
    }
    Measured {
        ratios,
        medians: medians(times),
        dropped,
        dropped_because: "the plain function did not scale: no second core",
        control: quartiles(controls).map(|q| q[1]),
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

/// Two-thread scaling of the small shape in paired rounds ([`paired_scaling`]),
/// with the recorder as it is set up now (in memory, or `file`).
fn scaling(
    file: bool,
    doc: &str,
    floor_path: &Path,
    floor_file: &File,
    tool_log: &Path,
) -> Measured {
    let plain = |_: &mut Vec<u8>| call_plain(true, doc);
    let floor = |buf: &mut Vec<u8>| call_floor(true, buf, file.then_some(floor_file), doc);
    let tool = |_: &mut Vec<u8>| call_tool(true, doc);
    std::thread::scope(|s| {
        let workers = [
            Workers::new(s, 1, &plain),
            Workers::new(s, 2, &plain),
            Workers::new(s, 1, &floor),
            Workers::new(s, 2, &floor),
            Workers::new(s, 1, &tool),
            Workers::new(s, 2, &tool),
        ];
        let [p1, p2, f1, f2, t1, t2] = &workers;
        let m = paired_scaling(
            &mut [
                &mut |n| p1.run(n),
                &mut |n| p2.run(n),
                &mut |n| f1.run(n),
                &mut |n| f2.run(n),
                &mut |n| t1.run(n),
                &mut |n| t2.run(n),
            ],
            &mut || {
                // Only the file pair writes either file.
                if file {
                    truncate(floor_path);
                    truncate(tool_log);
                }
            },
        );
        for w in workers {
            w.stop();
        }
        m
    })
}

/// `x` as JSON: `null` when there is none or it is not finite (which JSON
/// cannot hold).
fn num(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or_else(|| "null".to_string(), |x| x.to_string())
}

/// Every pair, by the name `cargo bench -- FILTER` matches.
const NAMES: [&str; 20] = [
    "small/tool_mem",
    "large/tool_mem",
    "small/floor_mem_kept",
    "small/tool_mem_vs_kept",
    "large/floor_mem_kept",
    "large/tool_mem_vs_kept",
    "small/tool_mem_bounded",
    "large/tool_mem_bounded",
    "contention/tool_mem_bounded",
    "small/tool_file_bounded",
    "large/tool_file_bounded",
    "small/tool_file_only",
    "small/floor_file_padded",
    "small/tool_file_only_vs_padded",
    "small/tracing_file",
    "small/tracing_vs_floor",
    "large/tool_file_only",
    "large/tracing_file",
    "large/tracing_vs_floor",
    "contention/tool_file_only",
];

/// Which of the pairs `cargo bench -- FILTER` asks for: all of them (`None`)
/// with no filter or with the word `paired`, else those whose name
/// (`small/tool_mem_bounded`, `contention/tool_file_bounded`, ...) contains
/// one of its words (an empty list when it names none of them).
fn wanted() -> Option<Vec<&'static str>> {
    let words = filter_words();
    if words.is_empty() || words.iter().any(|w| w == "paired") {
        return None;
    }
    Some(
        NAMES
            .into_iter()
            .filter(|n| words.iter().any(|w| n.contains(w.as_str())))
            .collect(),
    )
}

fn main() {
    if !measuring("paired") {
        return;
    }
    let only = wanted();
    if only.as_ref().is_some_and(Vec::is_empty) {
        // A filter for another bench's benchmarks, or a typo: say so, as
        // silence reads like a run that measured nothing.
        println!(
            "paired: no pair's name contains {} (pairs: {})",
            filter_words().join(" or "),
            NAMES.join(", ")
        );
        return;
    }
    let every = only.is_none();
    let wanted = |name: &str| only.as_ref().map_or(true, |o| o.contains(&name));
    let doc = document();
    let mut buf = Vec::with_capacity(1024);
    let (floor_path, floor_file) = append_file("paired-floor.jsonl");
    let mut results = Vec::new();
    // The length the padded control's lines were padded to.
    let mut padded_len = None;
    let mut report = |name: &str, labels: &[&str], ratio: &str, m: Measured| {
        let times: Vec<String> = labels
            .iter()
            .zip(&m.medians)
            .map(|(l, t)| format!("{l} {t:.1} ns"))
            .collect();
        let control = m
            .control
            .map(|c| format!("; plain 1t/2t {c:.3}x"))
            .unwrap_or_default();
        let quartiles = quartiles(m.ratios.clone());
        match quartiles {
            Some([q1, median, q3]) => println!(
                "paired: {name:<28} {}  {ratio} = {median:.3}x (quartiles {q1:.3}-{q3:.3}; {} rounds, {} left out{control})",
                times.join("  "),
                m.ratios.len(),
                m.dropped,
            ),
            None => println!(
                "paired: {name:<28} {}  every round left out ({} rounds: {}{control})",
                times.join("  "),
                m.dropped,
                m.dropped_because,
            ),
        }
        let [q1, median, q3] = quartiles.map_or([None; 3], |q| q.map(Some));
        let mut fields = vec![
            format!(
                r#""median":{},"q1":{},"q3":{}"#,
                num(median),
                num(q1),
                num(q3)
            ),
            format!(r#""rounds":{},"dropped":{}"#, m.ratios.len(), m.dropped),
        ];
        fields.extend(
            labels
                .iter()
                .zip(&m.medians)
                .map(|(l, &t)| format!(r#""{l}_ns":{}"#, num(Some(t)))),
        );
        if let Some(c) = m.control {
            fields.push(format!(r#""control":{}"#, num(Some(c))));
        }
        results.push(format!(r#""{name}":{{{}}}"#, fields.join(",")));
    };
    for (mode, file) in [
        ("tool_mem", false),
        // The controls of keeping every call, once both shapes' judged pairs
        // ran: memory they free would otherwise be reused, with its pages
        // already touched, by the pairs after them.
        ("tool_mem_controls", false),
        ("tool_mem_bounded", false),
        ("tool_file_bounded", true),
        ("tool_file_only", true),
    ] {
        let tool_log = match mode {
            "tool_mem" | "tool_mem_controls" => {
                mode_memory();
                tool_log()
            }
            "tool_mem_bounded" => {
                mode_memory_bounded();
                tool_log()
            }
            "tool_file_bounded" => mode_file_bounded(),
            _ => mode_file_only(),
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
            let shape = if small { "small" } else { "large" };
            let name = format!("{shape}/{mode}");
            if mode != "tool_mem_controls" && wanted(&name) {
                report(
                    &name,
                    &["plain", "floor", "tool"],
                    "(tool - plain) / (floor - plain)",
                    paired(calls, &mut [&mut plain, &mut floor, &mut tool], &mut after),
                );
            }
            // A control for memory that keeps every call: the memory floor
            // keeping a copy of each line, against the floor and against
            // `#[tool]` (both keep every call of the rounds, so both take
            // memory that only grows).
            let name = format!("{shape}/floor_mem_kept");
            let versus = format!("{shape}/tool_mem_vs_kept");
            if mode == "tool_mem_controls" && (wanted(&name) || wanted(&versus)) {
                let mut kept_buf = Vec::with_capacity(1024);
                let mut kept_lines = Vec::new();
                let mut kept = || call_floor_kept(small, &mut kept_buf, &mut kept_lines, &doc);
                if wanted(&name) {
                    report(
                        &name,
                        &["plain", "floor", "kept"],
                        "(kept - plain) / (floor - plain)",
                        paired(calls, &mut [&mut plain, &mut floor, &mut kept], &mut after),
                    );
                }
                if wanted(&versus) {
                    report(
                        &versus,
                        &["plain", "kept", "tool"],
                        "(tool - plain) / (kept - plain)",
                        paired(calls, &mut [&mut plain, &mut kept, &mut tool], &mut after),
                    );
                }
                drop(kept_lines);
                give_back_freed_memory();
            }
            // A control for the small shape: the file floor with its lines
            // padded to the length of `#[tool]`'s, alone (against the floor)
            // and against `#[tool]`.
            let name = format!("{shape}/floor_file_padded");
            let versus = format!("{shape}/tool_file_only_vs_padded");
            if small && mode == "tool_file_only" && (wanted(&name) || wanted(&versus)) {
                call_tool(small, &doc);
                let len = last_line_len(&tool_log);
                padded_len = Some(len);
                let mut padded_buf = Vec::with_capacity(1024);
                let mut padded = || {
                    drop(std::hint::black_box(search_floor_file_padded(
                        &mut padded_buf,
                        &floor_file,
                        len,
                        std::hint::black_box(QUERY),
                        std::hint::black_box(LIMIT),
                    )));
                };
                if wanted(&name) {
                    report(
                        &name,
                        &["plain", "floor", "padded"],
                        "(padded - plain) / (floor - plain)",
                        paired(
                            calls,
                            &mut [&mut plain, &mut floor, &mut padded],
                            &mut after,
                        ),
                    );
                }
                if wanted(&versus) {
                    report(
                        &versus,
                        &["plain", "padded", "tool"],
                        "(tool - plain) / (padded - plain)",
                        paired(calls, &mut [&mut plain, &mut padded, &mut tool], &mut after),
                    );
                }
            }
            // tracing against `#[tool]` streaming to a file and keeping
            // nothing in memory, as tracing's JSON writer does: the ratio is
            // tracing's overhead over `#[tool]`'s.
            let name = format!("{shape}/tracing_file");
            let control = format!("{shape}/tracing_vs_floor");
            if mode == "tool_file_only" && (wanted(&name) || wanted(&control)) {
                let tracing_log = tracing_to_file();
                let mut traced = || call_traced(small, &doc);
                let mut after = || {
                    truncate(tracing_log);
                    truncate(&tool_log);
                };
                let calls = if small { 5_000 } else { 20 };
                if wanted(&name) {
                    report(
                        &name,
                        &["plain", "tool", "tracing"],
                        "(tracing - plain) / (tool - plain)",
                        paired(calls, &mut [&mut plain, &mut tool, &mut traced], &mut after),
                    );
                }
                // A control: tracing against the file floor, which does less
                // than any recorder can. Its ratio is the most that tracing's
                // overhead can be over any recorder's that writes a line per
                // call to this file system.
                let mut after = || {
                    truncate(tracing_log);
                    truncate(&floor_path);
                };
                if wanted(&control) {
                    report(
                        &control,
                        &["plain", "floor", "tracing"],
                        "(tracing - plain) / (floor - plain)",
                        paired(
                            calls,
                            &mut [&mut plain, &mut floor, &mut traced],
                            &mut after,
                        ),
                    );
                }
            }
        }
        // Two threads: in memory, and to a file with nothing kept in memory.
        let name = format!("contention/{mode}");
        if matches!(mode, "tool_mem" | "tool_mem_controls" | "tool_file_bounded") || !wanted(&name)
        {
            continue;
        }
        report(
            &name,
            &[
                "plain_1t", "plain_2t", "floor_1t", "floor_2t", "tool_1t", "tool_2t",
            ],
            "(tool_1t / tool_2t) / (floor_1t / floor_2t)",
            scaling(file, &doc, &floor_path, &floor_file, &tool_log),
        );
    }
    if !every {
        println!("paired: a filtered run, so paired.json is left as it was");
        return;
    }
    let path = out_dir().join("paired.json");
    if let Some(len) = padded_len {
        results.push(format!(r#""padded_len":{len}"#));
    }
    results.push(format!(r#""commit":"{}""#, commit()));
    std::fs::write(&path, format!("{{{}}}\n", results.join(","))).expect("write paired.json");
    println!("paired: wrote {}", path.display());
}
