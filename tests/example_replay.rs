//! The main example, `examples/agent.rs`, replayed and resumed for real: it
//! runs as a child process (replay and resume are process-wide, chosen by
//! `BACKSTEP_REPLAY` / `BACKSTEP_RESUME`) on a small fixture tree.
//!
//! - Replay: record a run, delete the directory, replay: the printed report is
//!   byte-identical (durations included), nothing executes, no report is
//!   written and the recording is left untouched.
//! - Resume: SIGKILL a slow run (`--delay-ms`) with `analyze_file` in flight,
//!   resume it: same report and totals as an uninterrupted run, the tools that
//!   had finished do not run again (counted through `AGENT_EXEC_LOG`, one line
//!   per real execution), and the log holds one session with every call once.
//!
//! `cargo test` builds the example next to this test's binary:
//! `target/debug/deps/example_replay-…` → `target/debug/examples/agent`.
//! With a target filter (`cargo test --test example_replay`) cargo builds no
//! example: run `cargo build --example agent` first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use backstep::Log;

/// The example binary built by `cargo test`.
fn built_agent() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let debug = exe
        .parent() // deps
        .and_then(Path::parent) // debug (the profile directory)
        .expect("the test binary lives in <target>/<profile>/deps");
    let agent = debug
        .join("examples")
        .join(format!("agent{}", std::env::consts::EXE_SUFFIX));
    assert!(
        agent.is_file(),
        "{} is missing: `cargo test` builds the examples (`cargo build --example agent`)",
        agent.display()
    );
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/agent.rs");
    assert!(
        modified(&source) <= modified(&agent),
        "{} is older than {}: run `cargo build --example agent` (or a plain `cargo test`)",
        agent.display(),
        source.display()
    );
    agent
}

/// A fresh scratch directory holding a hard link to the example binary, so
/// that another build replacing `target/debug/examples/agent` mid-test (the
/// target directory is shared) cannot make the record and the replay two
/// programs. (A link, not a copy: a file being written by one test thread
/// cannot be executed while a child forked by another holds it open.)
fn scratch(name: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("example_replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let agent = dir.join(format!("agent{}", std::env::consts::EXE_SUFFIX));
    if std::fs::hard_link(built_agent(), &agent).is_err() {
        std::fs::copy(built_agent(), &agent).unwrap();
    }
    (dir, agent)
}

/// Starts `cmd`, retrying while the binary is "busy" (a copy made just now
/// may still be open in a child another test thread is forking).
fn spawn(cmd: &mut Command) -> std::process::Child {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            // ETXTBSY (26 on Linux and macOS); `ErrorKind::ExecutableFileBusy`
            // is newer than our MSRV.
            Err(e) if e.raw_os_error() == Some(26) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}")),
        }
    }
}

/// A small tree: text files (two with to-do markers), one binary file with a
/// text-like name (planned, fails to read), one image (planned as binary,
/// fails to read). `CHANGELOG.md` is missing, and the agent asks for it.
fn make_fixture(dir: &Path) {
    let files: [(&str, &[u8]); 6] = [
        (
            "README.md",
            b"# Fixture project\n\nA small tree for the agent to audit.\nTODO: document the build.\n",
        ),
        (
            "notes.txt",
            b"Release notes\n\nTODO: fix the flaky test\nFIXME: the cache never expires\nThe cache keeps entries forever.\n",
        ),
        (
            "src/main.rs",
            b"//! The fixture's binary.\n\nfn main() {\n    println!(\"hello from the fixture\");\n}\n",
        ),
        (
            "src/lib.rs",
            b"//! Helpers.\n\npub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n\npub fn sub(a: u32, b: u32) -> u32 {\n    a - b\n}\n",
        ),
        ("blob.dat", b"\x00\x01\x02binary\x00payload\xff\xfe"),
        ("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ];
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// The example, run in `cwd`, with no backstep setting inherited from the
/// environment running the tests.
fn agent(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd);
    for key in [
        "BACKSTEP",
        "BACKSTEP_LOG",
        "BACKSTEP_SESSION",
        "BACKSTEP_REPLAY",
        "BACKSTEP_RESUME",
        "BACKSTEP_REPLAY_MATCH",
        "AGENT_EXEC_LOG",
        "RUST_BACKTRACE",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `cmd` to the end, capturing its output.
fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn(cmd).wait_with_output().expect("run the example")
}

fn run_ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// The printed report: from the per-tool table through the totals, the
/// failed calls and call 0 (the end of the output).
fn report_section(stdout: &str) -> &str {
    let start = stdout
        .find("tool           calls errors")
        .unwrap_or_else(|| panic!("no per-tool table in:\n{stdout}"));
    &stdout[start..]
}

/// The per-step lines (`  [ 3/7] notes.txt (large): …`).
fn step_lines(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("  [")).collect()
}

/// The report section without the durations (for runs that really ran
/// twice, whose times cannot match): the time column and the top-level line.
fn without_times(section: &str) -> String {
    let mut out = String::new();
    for line in section.lines() {
        if line.starts_with("(a tool's time") {
            continue;
        }
        if line.ends_with(" ms") {
            let words: Vec<&str> = line.split_whitespace().collect();
            out += &words[..words.len() - 2].join(" ");
        } else {
            out += line;
        }
        out.push('\n');
    }
    out
}

fn lines_of(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => s.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// What identifies a call across runs: its tool and its `path`/`dir` input,
/// written like an `AGENT_EXEC_LOG` line.
fn exec_key(c: &backstep::Call) -> String {
    let inputs = c.inputs();
    let arg = inputs
        .get("path")
        .or_else(|| inputs.get("dir"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    format!("{} {arg}", c.tool())
}

/// Every call of a log by seq, with what must be the same in two runs of
/// the same program on the same tree.
fn calls_by_seq(log: &Log) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for c in log.iter() {
        let summary = format!(
            "parent={:?} tool={} inputs={} output={} status={} error={:?} cost={}",
            c.parent(),
            c.tool(),
            c.inputs_json(),
            c.output_json(),
            c.status(),
            c.error(),
            c.cost()
        );
        assert!(
            out.insert(c.seq(), summary).is_none(),
            "seq {} appears twice in the log",
            c.seq()
        );
    }
    out
}

#[test]
fn replay_reproduces_the_run_with_the_directory_deleted() {
    let (dir, bin) = scratch("replay");
    let project = dir.join("project");
    make_fixture(&project);
    let args = ["project", "project/AUDIT.md"];
    let recording = dir.join("target/backstep-agent/run.jsonl");
    let own_log = dir.join("target/backstep-agent/run.replay.jsonl");

    // Record, into the example's default log (relative to `dir`).
    let recorded = run_ok(
        agent(&bin, &dir)
            .args(args)
            .env("AGENT_EXEC_LOG", dir.join("exec-record.log")),
    );
    assert!(recorded.starts_with("agent: mode: record"), "{recorded}");
    assert!(
        project.join("AUDIT.md").is_file(),
        "the run wrote its report"
    );
    let rec = Log::open(&recording).unwrap();
    assert_eq!(rec.sessions().len(), 1);
    assert!(rec.iter().all(|c| !c.replayed()));
    // Some calls fail for real: the missing CHANGELOG.md and both binary files.
    let failed: Vec<String> = rec
        .by_tool("read_file")
        .filter(|c| !c.is_ok())
        .map(exec_key)
        .collect();
    assert_eq!(
        failed,
        [
            "read_file project/CHANGELOG.md",
            "read_file project/blob.dat",
            "read_file project/logo.png"
        ]
    );
    assert!(rec.total_cost() > backstep::Cost::ZERO);
    // The tool bodies ran: one line each in AGENT_EXEC_LOG.
    let executed = lines_of(&dir.join("exec-record.log"));
    assert_eq!(executed.len(), rec.len(), "{executed:#?}");
    let recording_bytes = std::fs::read(&recording).unwrap();

    // The directory is gone; replay on the same (now missing) path.
    std::fs::remove_dir_all(&project).unwrap();
    for round in 0..2 {
        let replayed = run_ok(
            agent(&bin, &dir)
                .args(args)
                .env("BACKSTEP_REPLAY", "target/backstep-agent/run.jsonl")
                .env("AGENT_EXEC_LOG", dir.join("exec-replay.log")),
        );
        assert_eq!(
            report_section(&replayed),
            report_section(&recorded),
            "round {round}: the replay printed another report\n--- recorded\n{recorded}\n--- replayed\n{replayed}"
        );
        assert_eq!(step_lines(&replayed), step_lines(&recorded));
        assert!(
            replayed.starts_with(
                "agent: mode: replay of target/backstep-agent/run.jsonl (every tool answered from the log, none runs; this run's log: target/backstep-agent/run.replay.jsonl)"
            ),
            "{replayed}"
        );
        let all = format!(
            "agent: replay: all {} calls were answered from the log: no tool was executed, nothing was paid",
            rec.len()
        );
        assert!(replayed.contains(&all), "{replayed}");
        assert!(
            replayed.contains(
                "agent: did not write project/AUDIT.md: write_report was answered from the log"
            ),
            "{replayed}"
        );

        // Nothing ran: no tool body, no report, not even its directory.
        assert!(lines_of(&dir.join("exec-replay.log")).is_empty());
        assert!(
            !project.exists(),
            "the replay created {}",
            project.display()
        );
        // The recording is untouched; the replay has its own log, emptied
        // at start (one session, even on the second round).
        assert_eq!(std::fs::read(&recording).unwrap(), recording_bytes);
        let rep = Log::open(&own_log).unwrap();
        assert_eq!(rep.sessions().len(), 1, "round {round}");
        assert!(rep.sessions()[0].ended().is_some());
        assert_eq!(rep.len(), rec.len());
        assert!(
            rep.iter().all(backstep::Call::replayed),
            "a call of the replay is not marked replayed"
        );
        // Call by call the replay's log mirrors the recording (same seqs,
        // nesting, inputs, outputs, errors, cost and duration).
        assert_eq!(calls_by_seq(&rep), calls_by_seq(&rec));
        for (a, b) in rec.iter().zip(rep.iter()) {
            assert_eq!(a.duration(), b.duration(), "call {}", a.seq());
        }
        let end = rep.sessions()[0].ended().unwrap();
        assert_eq!(end.calls(), rec.len() as u64);
        assert_eq!(end.cost(), rec.total_cost());
    }
    let _ = std::fs::remove_dir_all(&dir); // kept when the test fails
}

#[test]
fn replay_stops_with_a_report_when_the_run_diverges() {
    let (dir, bin) = scratch("diverge");
    make_fixture(&dir.join("project"));
    run_ok(agent(&bin, &dir).args(["project", "AUDIT.md"]));
    // Same recording, another directory: the very first call differs.
    let out = output(
        agent(&bin, &dir)
            .args(["elsewhere", "AUDIT.md"])
            .env("BACKSTEP_REPLAY", "target/backstep-agent/run.jsonl"),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for expected in [
        "agent: stopped: this run no longer matches its recording",
        "backstep replay diverged at call 0 (`list_files`): its inputs differ from the recording in target/backstep-agent/run.jsonl",
        r#"  recorded call 0: {"dir":"project"}"#,
        r#"  this run:       {"dir":"elsewhere"}"#,
        r#"  at .dir: recorded "project", now "elsewhere""#,
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    // It stopped at the first call: no step ran, nothing was printed as done.
    assert!(step_lines(&text(&out.stdout)).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// How long `--delay-ms` pauses in the killed run: twice per step, once
/// inside `analyze_file` after the read, where the test kills it.
const DELAY_MS: u64 = 250;

/// Runs the example with `--delay-ms` and SIGKILLs it at about half its calls
/// while `analyze_file` is in flight (its `read_file` logged, the rest not).
/// Returns the `AGENT_EXEC_LOG` lines written before the kill.
fn run_and_kill(bin: &Path, dir: &Path, args: &[&str], half: usize) -> Vec<String> {
    let log = dir.join("target/backstep-agent/run.jsonl");
    let exec = dir.join("exec-killed.log");
    let _ = std::fs::remove_file(&exec);
    let mut child = spawn(
        agent(bin, dir)
            .arg("--delay-ms")
            .arg(DELAY_MS.to_string())
            .args(args)
            .env("AGENT_EXEC_LOG", &exec)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "the run never reached the kill point"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it could be killed");
        }
        let ran = lines_of(&exec);
        let logged: Vec<String> = Log::open(&log)
            .map(|l| l.iter().map(exec_key).collect())
            .unwrap_or_default();
        // In the pause inside analyze_file: its read_file is the last thing
        // that ran and is logged; analyze_file itself is not.
        let in_pause = ran.last().is_some_and(|last| {
            let analyze = last.replacen("read_file ", "analyze_file ", 1);
            last.starts_with("read_file ") && logged.contains(last) && !logged.contains(&analyze)
        });
        if logged.len() >= half && in_pause {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return lines_of(&exec);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// An uninterrupted run of `agent project AUDIT.md` in `dir`, for reference:
/// its output, its report (then removed), its log (`uninterrupted.jsonl`)
/// and what it executed.
struct Reference {
    stdout: String,
    report: String,
    log: Log,
    executed: Vec<String>,
}

fn uninterrupted(bin: &Path, dir: &Path) -> Reference {
    let stdout = run_ok(
        agent(bin, dir)
            .args(["project", "AUDIT.md"])
            .env("BACKSTEP_LOG", "uninterrupted.jsonl")
            .env("AGENT_EXEC_LOG", dir.join("exec-uninterrupted.log")),
    );
    let report = std::fs::read_to_string(dir.join("AUDIT.md")).unwrap();
    std::fs::remove_file(dir.join("AUDIT.md")).unwrap();
    let log = Log::open(dir.join("uninterrupted.jsonl")).unwrap();
    let executed = lines_of(&dir.join("exec-uninterrupted.log"));
    assert_eq!(executed.len(), log.len());
    Reference {
        stdout,
        report,
        log,
        executed,
    }
}

#[test]
fn resume_after_sigkill_finishes_like_an_uninterrupted_run() {
    let (dir, bin) = scratch("resume");
    make_fixture(&dir.join("project"));
    let args = ["project", "AUDIT.md"];
    let log = dir.join("target/backstep-agent/run.jsonl");

    // The uninterrupted run, for reference (its own log; same report path).
    let Reference {
        stdout: clean_out,
        report: clean_report,
        log: clean,
        executed: clean_exec,
    } = uninterrupted(&bin, &dir);

    // A slow run, killed at about half its calls with a call in flight. The
    // kill lands in the pause inside analyze_file; should the test itself be
    // descheduled past that pause, try again.
    let mut attempt = 0;
    let (before, in_flight) = loop {
        attempt += 1;
        let _ = std::fs::remove_file(&log);
        let before = run_and_kill(&bin, &dir, &args, clean.len() / 2);
        let at_kill = Log::open(&log).unwrap();
        assert_eq!(at_kill.sessions().len(), 1);
        assert!(
            at_kill.sessions()[0].ended().is_none(),
            "killed: no end line"
        );
        assert!(at_kill.len() < clean.len(), "killed before the end");
        let logged: BTreeSet<String> = at_kill.iter().map(exec_key).collect();
        let in_flight: BTreeSet<String> = before
            .iter()
            .filter(|l| !logged.contains(*l))
            .cloned()
            .collect();
        if !in_flight.is_empty() || attempt == 3 {
            break (before, in_flight);
        }
    };
    assert_eq!(
        in_flight.len(),
        1,
        "one call (analyze_file) in flight at the kill: {in_flight:?}"
    );
    assert!(in_flight.iter().all(|l| l.starts_with("analyze_file ")));
    assert!(!dir.join("AUDIT.md").exists());

    // Resume: the same command, with BACKSTEP_RESUME and no delay.
    let resumed_out = run_ok(
        agent(&bin, &dir)
            .args(args)
            .env("BACKSTEP_RESUME", "target/backstep-agent/run.jsonl")
            .env("AGENT_EXEC_LOG", dir.join("exec-resumed.log")),
    );
    assert!(
        resumed_out.starts_with("agent: mode: resume of target/backstep-agent/run.jsonl"),
        "{resumed_out}"
    );
    let after = lines_of(&dir.join("exec-resumed.log"));

    // Counted executions: each tool call ran once, except the one in flight
    // at the kill, which ran before and again (at least once).
    let unique = |v: &[String]| v.iter().collect::<BTreeSet<_>>().len() == v.len();
    assert!(unique(&before) && unique(&after) && unique(&clean_exec));
    let again: BTreeSet<String> = after
        .iter()
        .filter(|l| before.contains(l))
        .cloned()
        .collect();
    assert_eq!(
        again, in_flight,
        "ran again after the resume (only the call in flight may)"
    );
    let ran: BTreeSet<&String> = before.iter().chain(&after).collect();
    assert_eq!(ran, clean_exec.iter().collect::<BTreeSet<_>>());
    assert!(after.len() < clean_exec.len(), "the resume fast-forwarded");

    // The same final report, and the same printed totals.
    let report = std::fs::read_to_string(dir.join("AUDIT.md")).unwrap();
    assert_eq!(report, clean_report);
    assert_eq!(
        without_times(report_section(&resumed_out)),
        without_times(report_section(&clean_out)),
        "--- uninterrupted\n{clean_out}\n--- resumed\n{resumed_out}"
    );
    assert_eq!(step_lines(&resumed_out), step_lines(&clean_out));

    // One session in the file: the crashed run's header, every call once
    // under the seq it has in an uninterrupted run, and an end line.
    let raw = std::fs::read_to_string(&log).unwrap();
    let count = |kind: &str| raw.lines().filter(|l| l.contains(kind)).count();
    assert_eq!(count(r#""type":"session""#), 1, "{raw}");
    assert_eq!(count(r#""type":"end""#), 1, "{raw}");
    assert!(
        !raw.contains(r#""replayed":true"#),
        "served calls are not written twice"
    );
    let resumed = Log::open(&log).unwrap();
    assert!(resumed.warnings().is_empty(), "{:?}", resumed.warnings());
    assert_eq!(resumed.sessions().len(), 1);
    assert_eq!(calls_by_seq(&resumed), calls_by_seq(&clean));
    let end = resumed.sessions()[0].ended().expect("an end line");
    let clean_end = clean.sessions()[0].ended().unwrap();
    assert_eq!(
        (end.calls(), end.errors(), end.cost()),
        (clean_end.calls(), clean_end.errors(), clean_end.cost())
    );

    // The resumed log is a recording like any other: it replays, with the
    // directory gone, to exactly what the resumed run printed.
    std::fs::remove_dir_all(dir.join("project")).unwrap();
    let replayed = run_ok(
        agent(&bin, &dir)
            .args(args)
            .env("BACKSTEP_REPLAY", "target/backstep-agent/run.jsonl"),
    );
    assert_eq!(report_section(&replayed), report_section(&resumed_out));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), raw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits for `path` to exist (the example creates its log when it starts).
fn wait_for(path: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn resume_of_a_run_killed_before_its_first_call_keeps_a_header() {
    let (dir, bin) = scratch("resume-empty");
    make_fixture(&dir.join("project"));
    let reference = uninterrupted(&bin, &dir);
    let log = dir.join("target/backstep-agent/run.jsonl");
    let exec = dir.join("exec-killed.log");

    // Killed in the pause before the listing: the log exists (created when
    // the session starts) and is empty, as after a kill during a first call.
    let mut child = spawn(
        agent(&bin, &dir)
            .args(["--delay-ms", "60000", "project", "AUDIT.md"])
            .env("AGENT_EXEC_LOG", &exec)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_for(&log, &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read(&log).unwrap(), b"");
    assert!(lines_of(&exec).is_empty());

    let out = run_ok(
        agent(&bin, &dir)
            .args(["project", "AUDIT.md"])
            .env("BACKSTEP_RESUME", "target/backstep-agent/run.jsonl"),
    );
    assert_eq!(
        without_times(report_section(&out)),
        without_times(report_section(&reference.stdout))
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("AUDIT.md")).unwrap(),
        reference.report
    );
    // A session starts with a header line (README, "The session log").
    let raw = std::fs::read_to_string(&log).unwrap();
    let first = raw.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(r#"{"type":"session""#),
        "the resumed log has no header; it starts with:\n{first}"
    );
    let resumed = Log::open(&log).unwrap();
    assert_eq!(resumed.sessions().len(), 1);
    assert_eq!(resumed.sessions()[0].name(), Some("agent"));
    assert!(resumed.sessions()[0].ended().is_some());
    assert_eq!(calls_by_seq(&resumed), calls_by_seq(&reference.log));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resume_of_a_finished_run_runs_nothing_and_adds_no_end_line() {
    let (dir, bin) = scratch("resume-finished");
    make_fixture(&dir.join("project"));
    let recorded = run_ok(agent(&bin, &dir).args(["project", "AUDIT.md"]));
    let log = dir.join("target/backstep-agent/run.jsonl");
    let before = std::fs::read_to_string(&log).unwrap();

    let out = run_ok(
        agent(&bin, &dir)
            .args(["project", "AUDIT.md"])
            .env("BACKSTEP_RESUME", "target/backstep-agent/run.jsonl")
            .env("AGENT_EXEC_LOG", dir.join("exec-resumed.log")),
    );
    // Everything was answered from the log (this part holds today).
    assert!(lines_of(&dir.join("exec-resumed.log")).is_empty());
    assert_eq!(report_section(&out), report_section(&recorded));
    // One session, one end line: nothing was left to append.
    let after = std::fs::read_to_string(&log).unwrap();
    let ends = after
        .lines()
        .filter(|l| l.contains(r#""type":"end""#))
        .count();
    assert_eq!(ends, 1, "the log after resuming a finished run:\n{after}");
    assert_eq!(after, before);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The example's whole run on the fixture, pinned as a snapshot (times,
/// session and thread left out by `Log::snapshot`). After an intended change
/// of the example, refresh it with `BACKSTEP_UPDATE_SNAPSHOTS=1 cargo test`.
#[test]
fn snapshot_of_the_example_run() {
    let (dir, bin) = scratch("snapshot");
    let tree = dir.join("tree");
    make_fixture(&tree);
    run_ok(agent(&bin, &tree).arg("."));
    let log = Log::open(tree.join("target/backstep-agent/run.jsonl")).unwrap();
    let actual = log.snapshot() + "\n";
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/agent_run.json");
    if std::env::var_os("BACKSTEP_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_default();
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or_else(|| actual.lines().count().min(expected.lines().count()));
        panic!(
            "the example's run no longer matches tests/snapshots/agent_run.json (first difference at line {}):\n  expected: {}\n  actual:   {}\n(refresh with BACKSTEP_UPDATE_SNAPSHOTS=1 if the change is intended)",
            first + 1,
            expected.lines().nth(first).unwrap_or("(end)"),
            actual.lines().nth(first).unwrap_or("(end)")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
