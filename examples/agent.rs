//! A small agent that audits a source tree, every tool call recorded by backstep.
//!
//! ```text
//! cargo run --example agent                        # audit this repository
//! cargo run --example agent -- ../some/project     # audit another directory
//! cargo run --example agent -- . /tmp/report.md    # put the report elsewhere
//! BACKSTEP_LOG=my.jsonl cargo run --example agent  # append to your own log
//! ```
//!
//! No model, no network, no API key: a deterministic planner drives tools that
//! do real work on real files. The agent lists the tree, asks for `README.md` and
//! `CHANGELOG.md` without checking first (as a model would), analyzes the largest
//! text files (lines, to-do markers, a summary priced per input token), tries a
//! binary file if there is one, and writes `target/backstep-agent/report.md`.
//!
//! Every call goes to `target/backstep-agent/run.jsonl`, emptied at start. At
//! the end the file is read back with [`backstep::Log::open`] to print calls,
//! errors, cost and time per tool, the exact total cost, the failed calls with
//! the call they ran inside, and call 0 replayed from the log.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};
use std::{fs, process::ExitCode, time::Duration};

use backstep::tool;
use serde::Serialize;

/// What the summarizer charges per input token: $0.15 per million.
const PRICE_PER_TOKEN: f64 = 0.15e-6;
/// Files analyzed at most, so that a big tree still takes about a second.
const MAX_FILES: usize = 12;
/// `read_file` refuses files bigger than this.
const MAX_BYTES: u64 = 1 << 20;
/// Files the planner asks for without looking at the listing.
const GUESSES: [&str; 2] = ["README.md", "CHANGELOG.md"];
/// What `grep` looks for: any of these `|`-separated substrings.
const MARKERS: &str = "TODO|FIXME";
const BINARY_EXTENSIONS: &str = "png jpg jpeg gif ico pdf zip gz wasm ttf woff2";
/// Words too common to be keywords (words under four letters never are).
const STOPWORDS: &str = "about also been does each else false from have here impl into just \
    must none only option other over self some string struct such than that their them then \
    there they this true type what when where which will with would your";
const DEFAULT_LOG: &str = "target/backstep-agent/run.jsonl";
const DEFAULT_REPORT: &str = "target/backstep-agent/report.md";

#[derive(Serialize)]
struct Match {
    line: usize,
    text: String,
}

#[derive(Serialize)]
struct Summary {
    heading: Option<String>,
    keywords: Vec<String>,
    tokens: usize,
}

#[derive(Serialize)]
struct FileReport {
    lines: usize,
    markers: Vec<Match>,
    summary: Summary,
}

/// Every file under `dir` as sorted relative paths, skipping `target` and
/// hidden directories. Only an unreadable `dir` itself is an error.
#[tool]
fn list_files(dir: &Path) -> io::Result<Vec<String>> {
    let (mut files, mut pending) = (Vec::new(), vec![dir.to_path_buf()]);
    while let Some(current) = pending.pop() {
        let entries = match fs::read_dir(&current) {
            Ok(entries) => entries,
            Err(e) if current == dir => return Err(e),
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if name != "target" && !name.starts_with('.') {
                    pending.push(entry.path());
                }
            } else if let Ok(rel) = entry.path().strip_prefix(dir) {
                files.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The file's text; an error for a missing, too large, binary or non-UTF-8 file.
#[tool]
fn read_file(path: &Path) -> io::Result<String> {
    let size = fs::metadata(path)?.len();
    if size > MAX_BYTES {
        let msg = format!("{size} bytes, over the {MAX_BYTES}-byte limit");
        return Err(io::Error::other(msg));
    }
    let bytes = fs::read(path)?;
    if bytes.contains(&0) {
        let msg = "binary file (it contains NUL bytes)";
        return Err(io::Error::new(ErrorKind::InvalidData, msg));
    }
    String::from_utf8(bytes)
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
}

/// Number of lines. `text` is kept out of the log: `read_file`'s output has it.
#[tool(skip(text))]
fn count_lines(path: &Path, text: &str) -> usize {
    text.lines().count()
}

/// The lines (numbered from 1) containing any `|`-separated part of `pattern`.
#[tool(skip(text))]
fn grep(path: &Path, pattern: &str, text: &str) -> Vec<Match> {
    let needles: Vec<&str> = pattern.split('|').collect();
    let mut matches = Vec::new();
    for (line, content) in (1..).zip(text.lines()) {
        if needles.iter().any(|n| content.contains(n)) {
            let hit = shorten(content.trim(), 80);
            matches.push(Match { line, text: hit });
        }
    }
    matches
}

/// A paid, extractive summary: the first heading and the five most frequent
/// words. Billed per request (`cost`) plus per input token (`add_cost`).
#[tool(cost = 0.0001, skip(text))]
fn summarize(path: &Path, text: &str) -> Summary {
    let tokens = text.split_whitespace().count();
    backstep::add_cost(tokens as f64 * PRICE_PER_TOKEN);
    let is_heading = |l: &&str| l.starts_with("# ") || l.starts_with("//! ");
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next();
    let heading = lines.find(is_heading).or(first);
    let heading = heading.map(|l| shorten(l.trim_start_matches(['/', '!', '#', ' ']), 80));
    let stopwords: Vec<&str> = STOPWORDS.split_whitespace().collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let words = text.split(|c: char| !c.is_alphabetic());
    for word in words.filter(|w| w.len() >= 4) {
        let word = word.to_lowercase();
        if !stopwords.contains(&word.as_str()) {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keywords = ranked.into_iter().take(5).map(|(w, _)| w).collect();
    Summary {
        heading,
        keywords,
        tokens,
    }
}

/// Reads, counts, greps and summarizes one file; those calls are its children.
#[tool]
fn analyze_file(path: &Path) -> io::Result<FileReport> {
    let text = read_file(path)?;
    Ok(FileReport {
        lines: count_lines(path, &text),
        markers: grep(path, MARKERS, &text),
        summary: summarize(path, &text),
    })
}

/// Writes the report and returns its size. The report itself is in the file,
/// not in the log.
#[tool(skip(report))]
fn write_report(path: &Path, report: &str) -> io::Result<usize> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, report)?;
    Ok(report.len())
}

/// The planner: which files to analyze, in order, and why. The guesses first,
/// then the largest files `read_file` accepts that are not known to be binary,
/// then the first binary file.
fn plan<'a>(root: &Path, files: &'a [String]) -> Vec<(&'a str, &'static str)> {
    let is_binary = |f: &&String| {
        let ext = Path::new(f.as_str()).extension().unwrap_or_default();
        let ext = ext.to_ascii_lowercase();
        BINARY_EXTENSIONS.split(' ').any(|b| ext == b)
    };
    let size = |f: &String| fs::metadata(root.join(f)).map_or(0, |m| m.len());
    let binary = files.iter().find(is_binary);
    let mut texts: Vec<&String> = files.iter().filter(|f| !is_binary(f)).collect();
    texts.retain(|f| !GUESSES.contains(&f.as_str()) && size(f) <= MAX_BYTES);
    texts.sort_by_cached_key(|f| (std::cmp::Reverse(size(f)), *f));
    let room = MAX_FILES - GUESSES.len() - usize::from(binary.is_some());
    let mut steps: Vec<_> = GUESSES.iter().map(|g| (*g, "guessed name")).collect();
    steps.extend(texts.into_iter().take(room).map(|f| (f.as_str(), "large")));
    steps.extend(binary.map(|f| (f.as_str(), "binary?")));
    steps
}

fn run(root: &Path, report_path: &Path) -> Result<(), String> {
    println!("agent: auditing {}", root.display());
    let files = list_files(root).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
    let steps = plan(root, &files);
    let (found, planned) = (files.len(), steps.len());
    println!("agent: {found} files found; the plan has {planned} steps:");
    let mut md = format!("# Audit of `{}`\n\n", root.display());
    md.push_str("| file | lines | markers | heading | keywords |\n|---|--:|--:|---|---|\n");
    let (mut markers, mut unreadable) = (String::new(), String::new());
    for (i, (rel, why)) in steps.iter().enumerate() {
        print!("  [{:>2}/{}] {rel} ({why}): ", i + 1, steps.len());
        match analyze_file(&root.join(rel)) {
            Ok(r) => {
                let (lines, n, s) = (r.lines, r.markers.len(), &r.summary);
                let tokens = s.tokens;
                println!("{lines} lines, {tokens} tokens summarized, to-do markers: {n}");
                let heading = s.heading.as_deref().unwrap_or("").replace('|', "\\|");
                let keywords = s.keywords.join(", ");
                let _ = writeln!(md, "| `{rel}` | {lines} | {n} | {heading} | {keywords} |");
                for m in &r.markers {
                    let _ = writeln!(markers, "- `{rel}:{}` {}", m.line, m.text);
                }
            }
            Err(e) => {
                println!("FAILED: {e}");
                let _ = writeln!(unreadable, "- `{rel}`: {e}");
            }
        }
    }
    md += &format!("\n## Markers\n\n{markers}\n## Unreadable\n\n{unreadable}");
    let bytes = write_report(report_path, &md)
        .map_err(|e| format!("cannot write the report {}: {e}", report_path.display()))?;
    println!("agent: wrote {} ({bytes} bytes)", report_path.display());
    Ok(())
}

/// Reads the session log back and prints what it holds.
fn print_summary(log_path: &Path) -> Result<(), backstep::LogError> {
    let log = backstep::Log::open(log_path)?;
    let (path, calls, sessions) = (log_path.display(), log.len(), log.sessions().len());
    println!("\nread back {path}: {calls} call(s) in {sessions} session(s)\n");
    println!("tool           calls errors         cost       time");
    for (tool, s) in log.stats_by_tool() {
        let errors = s.errors + s.panicked + s.cancelled;
        let (calls, cost, time) = (s.calls, s.cost.to_string(), millis(s.duration));
        println!("{tool:<14} {calls:>5} {errors:>6} {cost:>12} {time:>10}");
    }
    let top = millis(log.total_duration());
    println!("(a tool's time includes its nested calls; top-level calls took {top})");
    println!("\ntotal cost: {}", log.total_cost());
    if log.iter().any(|c| !c.is_ok()) {
        println!("\nfailed calls (#seq, and the call they ran inside):");
    }
    for c in log.iter().filter(|c| !c.is_ok()) {
        let (seq, tool, inputs, status) = (c.seq(), c.tool(), c.inputs_json(), c.status());
        let inside = c.parent().map_or(String::new(), |p| format!(" (in #{p})"));
        let error = c.error().unwrap_or("-");
        println!("  {status} in #{seq} {tool}{inside} {inputs}: {error}");
    }
    if let Some(c) = log.replay(0) {
        let (tool, status, out) = (c.tool(), c.status(), c.output_json());
        println!("\ncall 0 replayed from the log: {tool} ({status})");
        println!("  inputs: {}", c.inputs_json());
        match c.error() {
            Some(error) => println!("  error: {error}"),
            None => println!("  output: {} ({} bytes)", shorten(out, 100), out.len()),
        }
    }
    Ok(())
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// At most `max` characters, ending with `…` when cut.
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let root = args.next().unwrap_or_else(|| ".".into());
    let report = args.next().unwrap_or_else(|| DEFAULT_REPORT.into());
    // BACKSTEP_LOG is the user's file: append to it. Ours holds this run only.
    let log_path = match std::env::var_os("BACKSTEP_LOG").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let _ = fs::remove_file(DEFAULT_LOG); // absent the first time
            PathBuf::from(DEFAULT_LOG)
        }
    };
    let session = backstep::init().log_file(&log_path).name("agent").install();
    if !backstep::is_enabled() {
        eprintln!("agent: recording is off (BACKSTEP=off): the log will hold no calls");
    }
    let outcome = run(&root, &report);
    drop(session); // writes the end-of-session line with the totals
    if let Err(e) = &outcome {
        eprintln!("agent: error: {e}");
    }
    if let Err(e) = print_summary(&log_path) {
        eprintln!("agent: cannot read the session log back: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::from(u8::from(outcome.is_err()))
}
