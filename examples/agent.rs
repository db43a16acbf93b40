//! A small agent that audits a source tree, every tool call recorded by backstep.
//!
//! ```text
//! cargo run --example agent                        # audit this repository
//! cargo run --example agent -- ../some/project     # audit another directory
//! cargo run --example agent -- . /tmp/report.md    # put the report elsewhere
//! cargo run --example agent -- --delay-ms 500      # slow: watch it, kill it, resume it
//! BACKSTEP_LOG=my.jsonl cargo run --example agent  # append to your own log
//! BACKSTEP_REPLAY=target/backstep-agent/run.jsonl cargo run --example agent   # replay it
//! BACKSTEP_RESUME=target/backstep-agent/run.jsonl cargo run --example agent   # resume it
//! ```
//!
//! No model, no network, no API key: a deterministic planner drives tools that
//! do real work on real files. The agent lists the tree (with file sizes),
//! asks for `README.md` and `CHANGELOG.md` without checking first (as a model
//! would), analyzes the largest text files (lines, to-do markers, a summary
//! priced per input token), tries a binary file if there is one, and writes
//! `target/backstep-agent/report.md`.
//!
//! Every access to the outside world goes through a `#[tool]` function
//! (`list_files`, `read_file`, `write_report`): the planner only sees what
//! the tools returned. So a replay (`BACKSTEP_REPLAY=<log>`) reproduces the
//! run from its log alone, with the directory gone, nothing executed, nothing
//! paid and no report written; a resume (`BACKSTEP_RESUME=<log>`) of a run that
//! was killed fast-forwards through the calls it had finished and carries on
//! live, appending to the same log.
//!
//! Logs: a recording goes to `target/backstep-agent/run.jsonl`, emptied at
//! start (or appended to `BACKSTEP_LOG`). A replay never touches the log it
//! replays: its own log goes to `<log>.replay.jsonl` (`run.jsonl` gives
//! `run.replay.jsonl`), emptied at start. A resume appends to the log it
//! resumes. At the end the log is read back with [`backstep::Log::open`] to
//! print calls, errors, cost and time per tool, the exact total cost, the
//! failed calls with the call they ran inside, and call 0 replayed from the
//! log; a replay prints exactly what the recorded run printed.
//!
//! `--delay-ms N` pauses N ms before each step (the listing, then each file),
//! and N ms more inside `analyze_file` once the file is read, so a person can
//! watch a run and kill it: killed in that second pause, `analyze_file` is in
//! flight (its `read_file` already logged) and runs again on resume.
//!
//! Debugging aid: with `AGENT_EXEC_LOG=<path>`, each tool body appends one line
//! `tool argument` to that file when it really executes (not when a replay or
//! resume answers it from the log): what ran, counted rather than assumed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::{fs, process::ExitCode, time::Duration};

use backstep::{tool, Mode};
use serde::{Deserialize, Serialize};

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

/// `--delay-ms`: how long [`pause`] sleeps. Not a tool argument, so a resumed
/// run need not pass the same value to match its recording.
static DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// One file of the listing, with its size: the planner needs nothing else.
#[derive(Serialize, Deserialize)]
struct Entry {
    path: String,
    bytes: u64,
}

#[derive(Serialize, Deserialize)]
struct Match {
    line: usize,
    text: String,
}

#[derive(Serialize, Deserialize)]
struct Summary {
    heading: Option<String>,
    keywords: Vec<String>,
    tokens: usize,
}

#[derive(Serialize, Deserialize)]
struct FileReport {
    lines: usize,
    markers: Vec<Match>,
    summary: Summary,
}

/// Debugging aid: appends `tool argument` to `$AGENT_EXEC_LOG` (one write of
/// one line) when a tool body really executes. Deliberately not a tool: it
/// records what ran, which a replay must not fake.
fn executed(tool: &str, arg: &Path) {
    let Some(path) = std::env::var_os("AGENT_EXEC_LOG").filter(|p| !p.is_empty()) else {
        return;
    };
    let line = format!("{tool} {}\n", arg.display());
    let file = fs::OpenOptions::new().create(true).append(true).open(path);
    if let Err(e) = file.and_then(|mut f| f.write_all(line.as_bytes())) {
        eprintln!("agent: cannot append to AGENT_EXEC_LOG: {e}");
    }
}

/// Sleeps `--delay-ms`, to make a run slow enough to watch and kill.
fn pause() {
    let ms = DELAY_MS.load(Ordering::Relaxed);
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

/// Every file under `dir` with its size, sorted by path (relative to `dir`),
/// skipping `target` and hidden directories. Only an unreadable `dir` itself
/// is an error.
#[tool]
fn list_files(dir: &Path) -> io::Result<Vec<Entry>> {
    executed("list_files", dir);
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
                // Follows symbolic links; an unreadable entry counts as empty.
                let bytes = fs::metadata(entry.path()).map_or(0, |m| m.len());
                let path = rel.to_string_lossy().into_owned();
                files.push(Entry { path, bytes });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The file's text; an error for a missing, too large, binary or non-UTF-8 file.
#[tool]
fn read_file(path: &Path) -> io::Result<String> {
    executed("read_file", path);
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
    executed("count_lines", path);
    text.lines().count()
}

/// The lines (numbered from 1) containing any `|`-separated part of `pattern`.
#[tool(skip(text))]
fn grep(path: &Path, pattern: &str, text: &str) -> Vec<Match> {
    executed("grep", path);
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
    executed("summarize", path);
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
    executed("analyze_file", path);
    let text = read_file(path)?;
    pause(); // `--delay-ms`: killed here, this call is in flight, its read done
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
    executed("write_report", path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, report)?;
    Ok(report.len())
}

/// The planner: which files to analyze, in order, and why. The guesses first,
/// then the largest files `read_file` accepts that are not known to be binary,
/// then the first binary file. It sees only the listing `list_files` returned
/// (sizes included), never the disk, so a replay plans what the recording did.
fn plan(files: &[Entry]) -> Vec<(&str, &'static str)> {
    let is_binary = |f: &&Entry| {
        let ext = Path::new(&f.path).extension().unwrap_or_default();
        let ext = ext.to_ascii_lowercase();
        BINARY_EXTENSIONS.split(' ').any(|b| ext == b)
    };
    let binary = files.iter().find(is_binary);
    let mut texts: Vec<&Entry> = files.iter().filter(|f| !is_binary(f)).collect();
    texts.retain(|f| !GUESSES.contains(&f.path.as_str()) && f.bytes <= MAX_BYTES);
    texts.sort_by_key(|f| (std::cmp::Reverse(f.bytes), f.path.as_str()));
    let room = MAX_FILES - GUESSES.len() - usize::from(binary.is_some());
    let mut steps: Vec<_> = GUESSES.iter().map(|g| (*g, "guessed name")).collect();
    steps.extend(
        texts
            .into_iter()
            .take(room)
            .map(|f| (f.path.as_str(), "large")),
    );
    steps.extend(binary.map(|f| (f.path.as_str(), "binary?")));
    steps
}

fn run(root: &Path, report_path: &Path) -> Result<(), String> {
    println!("agent: auditing {}", root.display());
    pause();
    let files = list_files(root).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
    let steps = plan(&files);
    let (found, planned) = (files.len(), steps.len());
    println!("agent: {found} files found; the plan has {planned} steps:");
    let mut md = format!("# Audit of `{}`\n\n", root.display());
    md.push_str("| file | lines | markers | heading | keywords |\n|---|--:|--:|---|---|\n");
    let (mut markers, mut unreadable) = (String::new(), String::new());
    for (i, (rel, why)) in steps.iter().enumerate() {
        pause();
        print!("  [{:>2}/{}] {rel} ({why}): ", i + 1, steps.len());
        let _ = io::stdout().flush(); // seen while the step runs (`--delay-ms`)
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
    let log = backstep::log();
    if log
        .by_tool("write_report")
        .last()
        .is_some_and(backstep::Call::replayed)
    {
        let path = report_path.display();
        println!("agent: did not write {path}: write_report was answered from the log (the recorded run wrote {bytes} bytes)");
    } else {
        println!("agent: wrote {} ({bytes} bytes)", report_path.display());
    }
    Ok(())
}

/// Says how many of this process's calls were answered from the log
/// (`Call::replayed`) and how many really ran.
fn print_replayed(mode: Mode, log_path: Option<&Path>) {
    let log = backstep::log();
    let served = log.iter().filter(|c| c.replayed()).count();
    let live = || log.iter().filter(|c| !c.replayed());
    let paid: backstep::Cost = live().map(backstep::Call::cost).sum();
    let (total, ran) = (log.len(), live().count());
    match mode {
        Mode::Record => {}
        Mode::Replay if ran == 0 => println!(
            "\nagent: replay: all {total} calls were answered from the log: no tool was executed, nothing was paid"
        ),
        Mode::Replay => println!(
            "\nagent: replay: {served} of {total} calls were answered from the log; {ran} ran live (#[tool(live)]), costing {paid}"
        ),
        Mode::Resume => {
            let to = log_path.map_or(String::new(), |p| format!(", appended to {}", p.display()));
            println!(
                "\nagent: resume: {served} calls answered from the log (finished before the crash: not run or paid again), {ran} ran live{to}, costing {paid}"
            );
        }
    }
}

/// Prints what a session log holds: per tool, the total cost, the failed
/// calls and call 0. A replay prints exactly what its recording printed.
fn print_summary(log: &backstep::Log, source: &str) {
    let (calls, sessions) = (log.len(), log.sessions().len());
    println!("\nread back {source}: {calls} call(s) in {sessions} session(s)\n");
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

const USAGE: &str = "usage: agent [--delay-ms N] [DIR] [REPORT]";

/// `[--delay-ms N] [DIR] [REPORT]`: sets `DELAY_MS`, returns the directory
/// and the report path.
fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<(PathBuf, PathBuf), String> {
    let mut args = args.into_iter();
    let mut paths = Vec::new();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy().into_owned();
        let delay = match text.strip_prefix("--delay-ms") {
            Some("") => Some(args.next().map(|v| v.to_string_lossy().into_owned())),
            Some(v) => v.strip_prefix('=').map(|v| Some(v.to_string())),
            None => None,
        };
        match delay {
            Some(Some(v)) => {
                let ms = v
                    .parse()
                    .map_err(|_| format!("--delay-ms {v}: not a number of milliseconds"))?;
                DELAY_MS.store(ms, Ordering::Relaxed);
            }
            Some(None) => return Err("--delay-ms needs a number of milliseconds".into()),
            None if text.starts_with("--") => return Err(format!("unknown option {text}")),
            None => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.len() > 2 {
        return Err("too many arguments".into());
    }
    let mut paths = paths.into_iter();
    let root = paths.next().unwrap_or_else(|| ".".into());
    Ok((root, paths.next().unwrap_or_else(|| DEFAULT_REPORT.into())))
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

fn main() -> ExitCode {
    let (root, report) = match parse_args(std::env::args_os().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("agent: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Which log this run writes. The mode itself is chosen by backstep from
    // the environment (BACKSTEP_RESUME wins over BACKSTEP_REPLAY, as there).
    let (resume, replay) = (env_path("BACKSTEP_RESUME"), env_path("BACKSTEP_REPLAY"));
    let log_path = if let Some(recording) = &resume {
        recording.clone() // resume appends to the log it resumes: never emptied
    } else if let Some(recording) = &replay {
        // Never the recording itself: `run.jsonl` gives `run.replay.jsonl`.
        let own = recording.with_extension("replay.jsonl");
        let _ = fs::remove_file(&own); // this replay only
        own
    } else if let Some(path) = env_path("BACKSTEP_LOG") {
        path // BACKSTEP_LOG is the user's file: append to it
    } else {
        let _ = fs::remove_file(DEFAULT_LOG); // ours holds this run only (absent the first time)
        PathBuf::from(DEFAULT_LOG)
    };
    // With BACKSTEP_REPLAY (or BACKSTEP_RESUME) set, `install()` starts the
    // replay (resume) from the environment by itself: `log_file` is then the
    // replay's own log (a resume ignores it and appends to the log it resumes).
    let session = backstep::init()
        .log_file(&log_path)
        .name("agent")
        .on_divergence(|d| {
            let _ = io::stdout().flush();
            eprintln!("\nagent: stopped: this run no longer matches its recording\n{d}");
            std::process::exit(3);
        })
        .install();
    let mode = backstep::mode();
    let shown = |p: Option<&Path>| p.map_or("memory only".into(), |p| p.display().to_string());
    let (own_log, src) = (session.log_path().map(Path::to_path_buf), resume.or(replay));
    let src = shown(src.as_deref());
    match mode {
        Mode::Record => println!("agent: mode: record (tools run; calls go to {})", shown(own_log.as_deref())),
        Mode::Replay => println!(
            "agent: mode: replay of {src} (every tool answered from the log, none runs; this run's log: {})",
            shown(own_log.as_deref())
        ),
        Mode::Resume => println!("agent: mode: resume of {src} (finished calls answered from the log, the rest run live and are appended to it)"),
    }
    if !backstep::is_enabled() {
        eprintln!("agent: recording is off (BACKSTEP=off): the log will hold no calls");
    }
    let outcome = run(&root, &report);
    print_replayed(mode, own_log.as_deref());
    drop(session); // writes the end-of-session line with the totals
    if let Err(e) = &outcome {
        eprintln!("agent: error: {e}");
    }
    let (log, source) = match &own_log {
        Some(path) => match backstep::Log::open(path) {
            Ok(log) => (log, path.display().to_string()),
            Err(e) => {
                eprintln!("agent: cannot read the session log back: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => (backstep::log(), "the calls in memory".to_string()),
    };
    print_summary(&log, &source);
    ExitCode::from(u8::from(outcome.is_err()))
}
