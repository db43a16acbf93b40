//! Issue 6: the reader. Generates a 1 M-call session log with real `#[tool]`
//! calls (in a child process, so its in-memory copy is gone), then times
//! `Log::open` + `stats_by_tool` (calls, errors, exact cost per tool) against
//! `jq` doing the same aggregation on the same file, and compares the sums:
//! jq adds floats, backstep adds integer picodollars.
//!
//! `cargo bench --bench reader` prints the figures and writes them to
//! `target/backstep-bench/reader.json` for `bench/compare.sh`. The jq row is
//! skipped when `jq` is not installed. `BACKSTEP_BENCH_CALLS=n` changes the
//! number of calls; `-- --generate-only` only writes the log, `-- --reuse`
//! reads the one already there.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use backstep::{tool, Cost, Log};

#[path = "common/mod.rs"]
mod common;
use common::*;

const GENERATE: &str = "BACKSTEP_BENCH_GENERATE";

const JQ_SELECT: &str = "select(.tool) | [.tool, .status, .cost_usd]";
const JQ_GROUP: &str = "group_by(.[0]) | map({tool: .[0][0], calls: length, \
     errors: (map(select(.[1] == \"error\")) | length), cost: (map(.[2]) | add)})";

#[tool(name = "search", cost = 0.003)]
fn search(query: &str, limit: usize) -> Vec<Hit> {
    search_plain(query, limit)
}

#[tool(name = "fetch", cost = 0.0001)]
fn fetch(url: &str) -> std::io::Result<usize> {
    if url.contains("/missing/") {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "404 Not Found",
        ))
    } else {
        Ok(url.len() * 1000)
    }
}

/// Priced per token, as a model call is: the costs that make float sums drift.
#[tool(name = "llm")]
fn llm(prompt: &str, max_tokens: u32) -> String {
    let input_tokens = prompt.len() as f64 * 7.0;
    backstep::add_cost(input_tokens * 0.15e-6 + f64::from(max_tokens) * 0.6e-6);
    format!(
        "A summary of {} characters in at most {max_tokens} tokens.",
        prompt.len()
    )
}

#[tool(name = "read_file")]
fn read_file(path: &str) -> std::io::Result<String> {
    if path.starts_with("secret/") {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "permission denied",
        ))
    } else {
        Ok("fn main() {}\n".repeat(3))
    }
}

/// The child: writes `calls` calls to `path`.
fn generate(path: &Path, calls: u64) {
    let _ = std::fs::remove_file(path);
    let _session = backstep::init()
        .log_file(path)
        .name("reader-bench")
        .enabled(true)
        .install();
    for i in 0..calls {
        match i % 4 {
            0 => drop(black_box(search(&format!("rust query {i}"), LIMIT))),
            1 if i % 40 == 1 => drop(black_box(fetch(&format!(
                "https://example.com/missing/{i}"
            )))),
            1 => drop(black_box(fetch(&format!("https://example.com/page/{i}")))),
            2 => drop(black_box(llm(
                &format!("Summarize document {i} for the report"),
                (i % 500) as u32 + 12,
            ))),
            3 if i % 12 == 3 => drop(black_box(read_file(&format!("secret/key_{i}.pem")))),
            _ => drop(black_box(read_file(&format!("src/module_{i}.rs")))),
        }
    }
}

/// One aggregation result per tool.
#[derive(Debug, Default)]
struct Row {
    calls: u64,
    errors: u64,
    exact: Option<Cost>,
    float: Option<f64>,
}

fn jq_available() -> bool {
    Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_jq(path: &Path) -> (Duration, String) {
    let script = format!("jq -c '{JQ_SELECT}' \"$1\" | jq -s -c '{JQ_GROUP}'");
    let start = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("sh")
        .arg(path)
        .output()
        .expect("run jq");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "jq failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        elapsed,
        String::from_utf8(out.stdout).expect("jq prints UTF-8"),
    )
}

#[allow(clippy::cast_precision_loss, clippy::too_many_lines)]
fn main() {
    let calls: u64 = std::env::var("BACKSTEP_BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    if let Some(path) = std::env::var_os(GENERATE) {
        generate(Path::new(&path), calls);
        return;
    }
    if filtered_out("reader") || !measuring("reader") {
        return;
    }
    let flag = |f: &str| std::env::args().any(|a| a == f);
    let path = out_dir().join("reader-1m.jsonl");
    if !(flag("--reuse") && path.exists()) {
        let start = Instant::now();
        let status = Command::new(std::env::current_exe().expect("own path"))
            .env(GENERATE, &path)
            .status()
            .expect("generate the log");
        assert!(status.success(), "generating the log failed");
        println!(
            "reader: generated {calls} calls in {:.1} s: {}",
            start.elapsed().as_secs_f64(),
            path.display()
        );
    }
    if flag("--generate-only") {
        return;
    }
    let bytes = std::fs::metadata(&path).expect("the generated log").len();
    let mb = bytes as f64 / 1e6;

    // backstep: best of three (the file is in the page cache for every run,
    // as for jq after it).
    let mut best = Duration::MAX;
    let mut stats = BTreeMap::new();
    for _ in 0..3 {
        let start = Instant::now();
        let log = Log::open(&path).expect("open the generated log");
        stats = log.stats_by_tool();
        drop(log);
        best = best.min(start.elapsed());
    }
    let ours = best.as_secs_f64();
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (tool, s) in &stats {
        let r = rows.entry(tool.clone()).or_default();
        r.calls = s.calls;
        r.errors = s.errors;
        r.exact = Some(s.cost);
    }
    let total: u64 = rows.values().map(|r| r.calls).sum();
    println!(
        "reader: {total} calls, {mb:.0} MB\n  backstep Log::open + stats_by_tool: {ours:.3} s, {:.0} MB/s",
        mb / ours
    );

    let mut jq_json = "null".to_string();
    let mut drift_json = Vec::new();
    let mut counts_match = true;
    if jq_available() {
        let (t, out) = run_jq(&path);
        let theirs = t.as_secs_f64();
        let groups: Vec<serde_json::Value> =
            serde_json::from_str(out.trim()).expect("jq's output is a JSON array");
        for g in &groups {
            let r = rows
                .entry(g["tool"].as_str().expect("tool").to_string())
                .or_default();
            counts_match &= r.calls == g["calls"].as_u64().expect("calls")
                && r.errors == g["errors"].as_u64().expect("errors");
            r.float = g["cost"].as_f64();
        }
        println!(
            "  jq (select | group_by):             {theirs:.3} s, {:.0} MB/s: backstep is {:.1}x faster; calls and errors {}",
            mb / theirs,
            theirs / ours,
            if counts_match { "match" } else { "DIFFER" }
        );
        println!(
            "  {:<10} {:>8} {:>7} {:>22} {:>24} {:>10}",
            "tool", "calls", "errors", "backstep (exact)", "jq (f64 sum)", "drift"
        );
        for (tool, r) in &rows {
            let exact = r.exact.unwrap_or(Cost::ZERO);
            let exact_text = exact.to_string().trim_start_matches('$').to_string();
            let float = r.float.unwrap_or(f64::NAN);
            let float_text = format!("{float}");
            let drift = float - exact.usd();
            let drifts = float_text != exact_text;
            println!(
                "  {tool:<10} {:>8} {:>7} {exact_text:>22} {float_text:>24} {:>10}",
                r.calls,
                r.errors,
                if drifts {
                    format!("{drift:+.1e}")
                } else {
                    "none".into()
                }
            );
            let mut d = String::new();
            let _ = write!(
                d,
                "{{\"tool\":\"{tool}\",\"exact\":\"{exact_text}\",\"jq\":\"{float_text}\",\"drifts\":{drifts}}}"
            );
            drift_json.push(d);
        }
        jq_json = format!(
            "{{\"seconds\":{theirs:.3},\"mb_per_s\":{:.1},\"speedup\":{:.2},\"counts_match\":{counts_match},\"costs\":[{}]}}",
            mb / theirs,
            theirs / ours,
            drift_json.join(",")
        );
    } else {
        println!("  jq: not installed, skipped");
    }

    let text = format!(
        "{{\"calls\":{total},\"bytes\":{bytes},\"seconds\":{ours:.3},\"mb_per_s\":{:.1},\"jq\":{jq_json}}}\n",
        mb / ours
    );
    std::fs::write(out_dir().join("reader.json"), text).expect("write reader.json");
}
