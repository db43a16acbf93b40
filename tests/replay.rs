//! Deterministic replay and resume, end to end: a small agent runs in child
//! processes (replay is process-wide, chosen by environment variables), first
//! recording, then replayed or resumed from its log. Tool bodies write one
//! line per execution to `EXEC_LOG`, so "did not run again" is counted, not
//! assumed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use backstep::{tool, Log, Status};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------

/// Appends "what" to the execution log: proof that a tool body ran.
fn executed(what: &str) {
    if let Ok(path) = std::env::var("EXEC_LOG") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{what}").unwrap();
    }
}

#[tool(cost = 0.01)]
fn search(query: &str) -> Vec<String> {
    executed(&format!("search {query}"));
    vec![format!("{query}-a"), format!("{query}-b")]
}

#[tool]
fn fetch(url: &str) -> anyhow::Result<String> {
    executed(&format!("fetch {url}"));
    if url.contains("missing") {
        anyhow::bail!("404 Not Found: {url}");
    }
    Ok(format!("<html>{url}</html>"))
}

#[tool]
fn read_config(path: &str) -> std::io::Result<String> {
    executed(&format!("read_config {path}"));
    std::fs::read_to_string(path)
}

#[derive(Debug, Serialize, Deserialize, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("rate limited after {0} calls")]
    RateLimited(u32),
}

#[tool]
fn api(n: u32) -> Result<u32, ApiError> {
    executed(&format!("api {n}"));
    if n > 2 {
        Err(ApiError::RateLimited(n))
    } else {
        Ok(n * 10)
    }
}

/// `'static` in the output type is owned data: replayed, not run live.
#[tool]
fn boxed(
    n: u32,
) -> Result<std::borrow::Cow<'static, str>, Box<dyn std::error::Error + Send + Sync + 'static>> {
    executed(&format!("boxed {n}"));
    if n == 0 {
        return Err("zero is not allowed".into());
    }
    Ok(n.to_string().into())
}

#[tool]
fn flaky(n: u32) -> u32 {
    executed(&format!("flaky {n}"));
    assert!(n != 13, "flaky tool gave up on {n}");
    n
}

/// A clock: always runs, also during replay.
#[tool(live)]
fn clock() -> u64 {
    executed("clock");
    7
}

/// The request id differs on every run; it is left out of matching.
#[tool(replay_ignore(request_id))]
fn tagged(request_id: u32, q: &str) -> String {
    executed(&format!("tagged {q}"));
    format!("{q}#{request_id}")
}

#[tool(cost = 0.002)]
async fn summarize(text: String) -> String {
    executed("summarize");
    tokio::task::yield_now().await;
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A borrowed output cannot be rebuilt from a log: such a tool runs live in
/// a replay (it can only compute from its arguments).
#[tool]
fn first_word(text: &str) -> &str {
    executed("first_word");
    text.split_whitespace().next().unwrap_or("")
}

/// Serialize but not Deserialize: recorded, but not rebuildable.
#[derive(Serialize)]
struct Receipt {
    id: u32,
}

#[tool]
fn receipt(id: u32) -> Receipt {
    executed("receipt");
    Receipt { id }
}

/// A tool that calls tools: replayed, its children are not called again.
#[tool]
fn research(topic: &str) -> usize {
    executed(&format!("research {topic}"));
    let hits = search(topic);
    hits.iter()
        .map(|h| fetch(h).map(|p| p.len()).unwrap_or(0))
        .sum()
}

/// Runs the agent and prints what it saw, one line per step.
fn run_agent(variant: &str) -> Vec<String> {
    let mut out = Vec::new();
    let first = if variant == "inputs" {
        "golang"
    } else {
        "rust"
    };
    out.push(format!("search: {:?}", search(first)));
    out.push(format!("research: {}", research("replay")));
    let (a, b) = if variant == "reorder" {
        ("b.html", "a.html")
    } else {
        ("a.html", "b.html")
    };
    out.push(format!("fetch: {:?}", fetch(a).map_err(|e| e.to_string())));
    out.push(format!("fetch: {:?}", fetch(b).map_err(|e| e.to_string())));
    out.push(format!(
        "fetch: {:?}",
        fetch("missing.html").map_err(|e| e.to_string())
    ));
    out.push(format!(
        "config: {:?}",
        read_config("/nonexistent/agent.toml").map_err(|e| format!("{:?}: {e}", e.kind()))
    ));
    out.push(format!("api: {:?} {:?}", api(1), api(5)));
    out.push(format!(
        "boxed: {:?} {:?}",
        boxed(3).map_err(|e| e.to_string()),
        boxed(0).map_err(|e| e.to_string())
    ));
    let caught = std::panic::catch_unwind(|| flaky(13)).unwrap_err();
    out.push(format!("flaky: {:?}", caught.downcast_ref::<String>()));
    out.push(format!("clock: {}", clock()));
    out.push(format!(
        "tagged: {}",
        tagged(std::process::id(), "q").split('#').next().unwrap()
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    out.push(format!(
        "summary: {}",
        rt.block_on(summarize("one two three four".into()))
    ));
    out.push(format!(
        "first word: {}",
        first_word("borrowed from the caller")
    ));
    if variant == "receipt" {
        out.push(format!("receipt: {}", receipt(9).id));
    }
    if variant != "missing" {
        out.push(format!("search: {:?}", search("last")));
    }
    if variant == "extra" {
        out.push(format!("search: {:?}", search("one more")));
    }
    out
}

/// Slow tools that the timeout scenario cancels.
#[tool]
async fn slow(ms: u64) -> u64 {
    executed(&format!("slow {ms}"));
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    ms
}

#[tool]
fn slow_future(ms: u64) -> impl std::future::Future<Output = u64> {
    executed(&format!("slow_future {ms}"));
    async move {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        ms
    }
}

/// A `skip_output` value is not in the log: it runs during replay.
#[tool(skip_output)]
fn token(user: &str) -> String {
    executed(&format!("token {user}"));
    format!("secret-for-{user}")
}

/// Tool calls cut short by `timeout`, then one that completes.
fn run_timeouts() -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let ms = std::time::Duration::from_millis(20);
    rt.block_on(async {
        vec![
            format!(
                "slow: {:?}",
                tokio::time::timeout(ms, slow(60_000)).await.ok()
            ),
            format!(
                "slow_future: {:?}",
                tokio::time::timeout(ms, slow_future(60_000)).await.ok()
            ),
            format!(
                "slow: {:?}",
                tokio::time::timeout(ms * 50, slow(1)).await.ok()
            ),
            format!("token: {}", token("ana")),
            format!("audit: {:?}", audit("done")),
        ]
    })
}

/// A `skip_output` tool with no output: nothing is missing from the log, so
/// replay answers it without running it.
#[tool(skip_output)]
fn audit(event: &str) {
    executed(&format!("audit {event}"));
}

/// Steps for the resume scenario: each announces itself, then works a while.
#[tool]
fn step(i: u32) -> u32 {
    executed(&format!("step {i}"));
    println!("start {i}");
    std::thread::sleep(std::time::Duration::from_millis(40));
    i * i
}

/// An argument whose `Serialize` panics when `bad`.
#[derive(Debug)]
struct Fragile {
    bad: bool,
    n: u32,
}

impl Serialize for Fragile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        assert!(!self.bad, "cannot serialize fragile {}", self.n);
        s.serialize_u32(self.n)
    }
}

#[tool]
fn handle(tag: &str, item: Fragile) -> u32 {
    executed(&format!("handle {tag}"));
    item.n * 10
}

/// A call whose argument panics as it is recorded, then calls of the same tool.
fn run_fragile() -> Vec<String> {
    let first = std::panic::catch_unwind(|| handle("a", Fragile { bad: true, n: 1 }));
    vec![
        format!("first panicked: {}", first.is_err()),
        format!("second: {}", handle("b", Fragile { bad: false, n: 2 })),
        format!("third: {}", handle("c", Fragile { bad: false, n: 3 })),
    ]
}

#[tool]
fn run_steps(n: u32) -> u32 {
    (0..n).map(step).sum()
}

/// A model call; the one named by `HANG` never finishes (the recorded run
/// is killed while it runs).
#[tool(cost = 0.01)]
async fn llm(prompt: String, ms: u64) -> String {
    executed(&format!("llm {prompt}"));
    if std::env::var("HANG").is_ok_and(|h| h == prompt) {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    format!("answer to {prompt}")
}

/// Three steps of two model calls at once: a slow plan and a fast critique.
fn run_parallel(variant: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = Vec::new();
        for step in 0..3 {
            let critique = if variant == "changed" && step == 0 {
                "critique 0, reworded".to_string()
            } else {
                format!("critique {step}")
            };
            let (plan, critique) = tokio::join!(llm(format!("plan {step}"), 60), llm(critique, 5));
            out.push(format!("{plan} | {critique}"));
        }
        out
    })
}

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

#[test]
#[ignore = "run by the other tests as a child process"]
fn child() {
    let scenario = std::env::var("SCENARIO").expect("started by a parent test");
    let variant = std::env::var("VARIANT").unwrap_or_default();
    let mut builder = backstep::init().name(scenario.clone());
    if variant == "enabled_false" {
        builder = builder.enabled(false);
    }
    let _session = builder.install();
    if variant == "set_enabled_false" {
        backstep::set_enabled(false);
    }
    match scenario.as_str() {
        "agent" => {
            for line in run_agent(&variant) {
                println!("{line}");
            }
        }
        "steps" => {
            println!("total {}", run_steps(20));
            if variant == "more" {
                println!("more {}", step(20) + step(21));
            }
        }
        "parallel" => {
            for line in run_parallel(&variant) {
                println!("{line}");
            }
        }
        "timeouts" => {
            for line in run_timeouts() {
                println!("{line}");
            }
        }
        "fragile" => {
            for line in run_fragile() {
                println!("{line}");
            }
        }
        other => panic!("unknown scenario {other}"),
    }
    // Totals the way the example prints them, from the run's own log.
    let log = backstep::log().last_session();
    println!(
        "calls {} replayed {} cost {} mode {:?}",
        log.len(),
        log.iter().filter(|c| c.replayed()).count(),
        log.total_cost(),
        backstep::mode()
    );
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("backstep-replay-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn path(&self, f: &str) -> PathBuf {
        self.0.join(f)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(scenario: &str, variant: &str, envs: &[(&str, &Path)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SCENARIO", scenario)
    .env("VARIANT", variant)
    .env_remove("BACKSTEP_LOG")
    .env_remove("BACKSTEP_REPLAY")
    .env_remove("BACKSTEP_RESUME")
    .env_remove("BACKSTEP_REPLAY_MATCH")
    .env_remove("BACKSTEP");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

fn run(scenario: &str, variant: &str, envs: &[(&str, &Path)]) -> Output {
    command(scenario, variant, envs).output().unwrap()
}

/// The agent's own lines from a child's stdout (the harness adds its own).
fn report(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.strip_prefix("test child ... ").unwrap_or(l).to_string())
        .filter(|l| {
            !l.starts_with("running ")
                && !l.starts_with("test ")
                && !l.is_empty()
                && l != "ok"
                && !l.contains("test result")
        })
        .collect()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn record(dir: &Dir) -> (PathBuf, Vec<String>) {
    let log = dir.path("run.jsonl");
    let out = run(
        "agent",
        "",
        &[
            ("BACKSTEP_LOG", &log),
            ("EXEC_LOG", &dir.path("exec-record.txt")),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (log, report(&out))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The warnings backstep printed on a child's stderr.
fn warnings(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with("backstep: warning:"))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn replay_reproduces_the_run_without_running_any_tool() {
    let dir = Dir::new("same");
    let (log, recorded) = record(&dir);
    assert_eq!(
        lines(&dir.path("exec-record.txt")).len(),
        19,
        "every tool ran once when recording"
    );
    assert!(
        recorded.last().unwrap().ends_with("mode Record"),
        "{recorded:#?}"
    );
    // The io::Error's kind, which the replay must give back too.
    assert!(
        recorded.contains(
            &r#"config: Err("NotFound: No such file or directory (os error 2)")"#.to_string()
        ),
        "{recorded:#?}"
    );

    let own = dir.path("replay-own.jsonl");
    let out = run(
        "agent",
        "",
        &[
            ("BACKSTEP_REPLAY", &log),
            ("BACKSTEP_LOG", &own),
            ("EXEC_LOG", &dir.path("exec-replay.txt")),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let replayed = report(&out);
    // Same outputs, errors (anyhow, io, serde enum, Box<dyn Error>), panic and
    // async result; the totals differ only in what was replayed and the mode.
    assert_eq!(
        replayed[..replayed.len() - 1],
        recorded[..recorded.len() - 1]
    );
    assert_eq!(
        recorded.last().unwrap(),
        "calls 19 replayed 0 cost $0.032 mode Record"
    );
    assert_eq!(
        replayed.last().unwrap(),
        "calls 19 replayed 17 cost $0.032 mode Replay"
    );
    // Only the `live` clock and the borrowed-output tool executed, and the
    // latter, not asked to be live, said so (once).
    assert_eq!(lines(&dir.path("exec-replay.txt")), ["clock", "first_word"]);
    let said = warnings(&out);
    assert_eq!(
        said,
        ["backstep: warning: tool `first_word` runs its body again during this replay: its output type holds a borrow (a reference or a lifetime), which a log cannot give back (mark it #[tool(live)] if that is meant)"]
    );

    // The replay's own log mirrors the recording, marked replayed.
    let original = Log::open(&log).unwrap();
    let mirror = Log::open(&own).unwrap();
    assert_eq!(mirror.len(), original.len());
    for (a, b) in original.iter().zip(mirror.iter()) {
        assert_eq!(
            (a.seq(), a.parent(), a.tool()),
            (b.seq(), b.parent(), b.tool())
        );
        assert_eq!(a.output_json(), b.output_json(), "{}", a.tool());
        assert_eq!(a.status(), b.status());
        assert_eq!(a.error(), b.error());
        assert_eq!(a.cost(), b.cost());
        assert_eq!(
            b.replayed(),
            !["clock", "first_word"].contains(&b.tool()),
            "{}",
            b.tool()
        );
        if b.tool() != "tagged" {
            assert_eq!(a.inputs(), b.inputs());
        }
    }
    let err = mirror.by_tool("api").nth(1).unwrap();
    assert_eq!(err.status(), Status::Error);
    assert_eq!(err.output_json(), r#"{"RateLimited":5}"#);
    assert_eq!(err.error(), Some("rate limited after 5 calls"));
    let panicked = mirror.by_tool("flaky").next().unwrap();
    assert_eq!(panicked.status(), Status::Panicked);
    assert_eq!(panicked.error(), Some("flaky tool gave up on 13"));
    // research's children come from the recording, renumbered under it.
    let research = mirror.by_tool("research").next().unwrap();
    let kids: Vec<&str> = mirror
        .children(research.seq())
        .map(backstep::Call::tool)
        .collect();
    assert_eq!(kids, ["search", "fetch", "fetch"]);
}

/// Turning recording off during a replay would let the tools run live (a
/// call that is not recorded is not answered from the log): it is refused,
/// with one warning, however it is asked for.
#[test]
fn recording_cannot_be_turned_off_during_a_replay() {
    let dir = Dir::new("off");
    let (log, recorded) = record(&dir);
    for (how, variant, env) in [
        ("BACKSTEP=off", "", Some(("BACKSTEP", Path::new("off")))),
        ("set_enabled(false)", "set_enabled_false", None),
        ("enabled(false)", "enabled_false", None),
    ] {
        let exec = dir.path(&format!("exec-{variant}.txt"));
        let mut envs: Vec<(&str, &Path)> = vec![("BACKSTEP_REPLAY", &log), ("EXEC_LOG", &exec)];
        envs.extend(env);
        let out = run("agent", variant, &envs);
        assert!(out.status.success(), "{how}: {}", stderr(&out));
        let replayed = report(&out);
        assert_eq!(
            replayed[..replayed.len() - 1],
            recorded[..recorded.len() - 1],
            "{how}"
        );
        assert_eq!(
            replayed.last().unwrap(),
            "calls 19 replayed 17 cost $0.032 mode Replay",
            "{how}"
        );
        // Only the `live` clock and the borrowed-output tool executed.
        assert_eq!(lines(&exec), ["clock", "first_word"], "{how}");
        let err = stderr(&out);
        let warnings: Vec<&str> = err
            .lines()
            .filter(|l| l.contains("recording stays on during a replay"))
            .collect();
        assert_eq!(warnings.len(), 1, "{how}: {err}");
        assert!(
            warnings[0].starts_with("backstep: warning: recording stays on during a replay (BACKSTEP=off, set_enabled(false) and enabled(false) are ignored until it ends)"),
            "{how}: {}",
            warnings[0]
        );
    }
}

fn assert_diverges(variant: &str, matching: &str, expected: &[&str]) {
    let dir = Dir::new(&format!("{variant}-{matching}"));
    let (log, _) = record(&dir);
    let mut cmd = command("agent", variant, &[("BACKSTEP_REPLAY", &log)]);
    cmd.env("BACKSTEP_REPLAY_MATCH", matching);
    let out = cmd.output().unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "a diverging replay must fail: {err}");
    for e in expected {
        assert!(err.contains(e), "missing {e:?} in:\n{err}");
    }
}

#[test]
fn different_inputs_stop_the_replay_with_the_paths_that_differ() {
    assert_diverges(
        "inputs",
        "strict",
        &[
            "backstep replay diverged at call 0 (`search`): its inputs differ from the recording in",
            r#"  recorded call 0: {"query":"rust"}"#,
            r#"  this run:       {"query":"golang"}"#,
            r#"  at .query: recorded "rust", now "golang""#,
        ],
    );
}

#[test]
fn an_extra_call_stops_the_replay() {
    assert_diverges(
        "extra",
        "strict",
        &[
            "(`search`): the recording in",
            "has no more calls of `search`",
            r#"  this run:       {"query":"one more"}"#,
            r#"  last recorded call of `search`: 18: {"query":"last"}"#,
        ],
    );
}

#[test]
fn a_missing_call_is_reported_at_the_end() {
    assert_diverges(
        "missing",
        "strict",
        &[
            "backstep replay: 1 recorded call(s) in",
            r#"were never made by this run:"#,
            r#"  call 18 `search` {"query":"last"}"#,
        ],
    );
}

#[test]
fn reordered_calls_diverge_under_strict_matching() {
    assert_diverges(
        "reorder",
        "strict",
        &[
            "(`fetch`): its inputs differ from the recording",
            r#"  at .url: recorded "a.html", now "b.html""#,
            // Not `replay_ignore`, which would hand back a.html's page.
            "  (recorded call 6 of `fetch` has exactly these inputs: this run makes its calls in another order, as parallel calls do; pair calls by inputs with BACKSTEP_REPLAY_MATCH=by_inputs or init().matching(Matching::ByInputs))",
        ],
    );
}

#[test]
fn reordered_calls_replay_under_by_inputs_matching() {
    let dir = Dir::new("reorder-by-inputs");
    let (log, recorded) = record(&dir);
    let mut cmd = command(
        "agent",
        "reorder",
        &[
            ("BACKSTEP_REPLAY", &log),
            ("EXEC_LOG", &dir.path("exec.txt")),
        ],
    );
    cmd.env("BACKSTEP_REPLAY_MATCH", "by_inputs");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let replayed = report(&out);
    assert_eq!(
        replayed[2], recorded[3],
        "b.html's recorded answer, now asked first"
    );
    assert_eq!(replayed[3], recorded[2]);
    assert_eq!(lines(&dir.path("exec.txt")), ["clock", "first_word"]);
}

#[test]
fn an_output_that_cannot_be_rebuilt_stops_with_the_tool_and_type() {
    let dir = Dir::new("receipt");
    let log = dir.path("run.jsonl");
    let out = run("agent", "receipt", &[("BACKSTEP_LOG", &log)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        "agent",
        "receipt",
        &[
            ("BACKSTEP_REPLAY", &log),
            ("EXEC_LOG", &dir.path("exec.txt")),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "backstep replay: cannot rebuild the return value of tool `receipt` from the log: `replay::Receipt` does not implement `serde::de::DeserializeOwned` (in a generic tool: its type parameters are not declared `DeserializeOwned`; add that bound, e.g. `T: serde::de::DeserializeOwned`); mark the tool `#[tool(live)]` to always run its body instead"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!lines(&dir.path("exec.txt")).contains(&"receipt".to_string()));
}

#[test]
fn unused_calls_under_by_inputs_are_a_warning_not_a_failure() {
    let dir = Dir::new("missing-by-inputs");
    let (log, _) = record(&dir);
    let mut cmd = command("agent", "missing", &[("BACKSTEP_REPLAY", &log)]);
    cmd.env("BACKSTEP_REPLAY_MATCH", "by_inputs");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("backstep: warning: backstep replay: 1 recorded call(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_recording_is_a_clear_error_not_a_live_run() {
    let dir = Dir::new("no-log");
    let out = run(
        "agent",
        "",
        &[
            ("BACKSTEP_REPLAY", &dir.path("nope.jsonl")),
            ("EXEC_LOG", &dir.path("exec.txt")),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("backstep: cannot replay"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nope.jsonl"), "{}", stderr(&out));
    assert!(lines(&dir.path("exec.txt")).is_empty(), "no tool may run");
}

#[test]
fn resume_finishes_a_killed_run_without_redoing_finished_calls() {
    let dir = Dir::new("resume");
    let log = dir.path("steps.jsonl");
    let exec = dir.path("exec.txt");
    let mut child = command("steps", "", &[("BACKSTEP_LOG", &log), ("EXEC_LOG", &exec)])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "child ended early"
        );
        if line.trim_end().ends_with("start 10") {
            break; // step 10 is in flight
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = Log::open(&log).unwrap();
    assert_eq!(before.len(), 10, "steps 0..9 finished before the kill");

    let out = run(
        "steps",
        "",
        &[("BACKSTEP_RESUME", &log), ("EXEC_LOG", &exec)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = report(&out);
    let expected_total: u32 = (0..20).map(|i| i * i).sum();
    assert!(
        printed.contains(&format!("total {expected_total}")),
        "{printed:?}"
    );

    // Executions: 0..9 once (first run), 10 twice (in flight at the kill:
    // at-least-once), 11..19 once (resumed run).
    let exec = lines(&exec);
    for i in 0..20 {
        let n = exec.iter().filter(|l| **l == format!("step {i}")).count();
        assert_eq!(
            n,
            if i == 10 { 2 } else { 1 },
            "step {i} ran {n} times: {exec:?}"
        );
    }

    // One complete session: the header of the first run, every call once, an end line.
    let after = Log::open(&log).unwrap();
    assert_eq!(after.sessions().len(), 1);
    let session = &after.sessions()[0];
    assert_eq!(session.id(), before.sessions()[0].id());
    let end = session.ended().expect("the resumed run wrote the end line");
    assert_eq!(end.calls(), 21);
    let mut seqs: Vec<u64> = after.iter().map(backstep::Call::seq).collect();
    seqs.dedup();
    assert_eq!(
        seqs,
        (0..21).collect::<Vec<u64>>(),
        "seq 0 is run_steps, then the 20 steps"
    );
    let outer = after.get(0).unwrap();
    assert_eq!(
        (outer.tool(), outer.output::<u32>().unwrap()),
        ("run_steps", expected_total)
    );
    assert_eq!(after.children(0).count(), 20);
    let header_lines = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""type":"session""#))
        .count();
    assert_eq!(header_lines, 1);
}

#[test]
fn calls_cancelled_by_a_timeout_are_cancelled_again_in_the_replay() {
    let dir = Dir::new("timeouts");
    let log = dir.path("run.jsonl");
    let out = run(
        "timeouts",
        "",
        &[
            ("BACKSTEP_LOG", &log),
            ("EXEC_LOG", &dir.path("exec-record.txt")),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let recorded = report(&out);
    assert_eq!(
        recorded[..4],
        [
            "slow: None",
            "slow_future: None",
            "slow: Some(1)",
            "token: secret-for-ana"
        ]
    );
    let statuses = |path: &Path| -> Vec<(String, Status, bool)> {
        Log::open(path)
            .unwrap()
            .iter()
            .map(|c| (c.tool().to_string(), c.status(), c.replayed()))
            .collect()
    };
    let s = |t: &str, st: Status, r: bool| (t.to_string(), st, r);
    assert_eq!(
        statuses(&log),
        [
            s("slow", Status::Cancelled, false),
            s("slow_future", Status::Cancelled, false),
            s("slow", Status::Ok, false),
            s("token", Status::Ok, false),
            s("audit", Status::Ok, false),
        ]
    );

    let replay_log = dir.path("replay.jsonl");
    let exec = dir.path("exec.txt");
    let out = run(
        "timeouts",
        "",
        &[
            ("BACKSTEP_REPLAY", &log),
            ("BACKSTEP_LOG", &replay_log),
            ("EXEC_LOG", &exec),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(report(&out)[..5], recorded[..5]);
    // No slow body ran: the timeouts fired on futures that never complete.
    // The skip_output tool ran: its value is not in the log; and said so.
    assert_eq!(lines(&exec), ["token ana"]);
    let said = warnings(&out);
    assert_eq!(
        said,
        ["backstep: warning: tool `token` runs its body again during this replay: its output is not in the log (`skip_output`) (mark it #[tool(live)] if that is meant)"]
    );
    assert_eq!(
        statuses(&replay_log),
        [
            s("slow", Status::Cancelled, true),
            s("slow_future", Status::Cancelled, true),
            s("slow", Status::Ok, true),
            s("token", Status::Ok, false),
            s("audit", Status::Ok, true),
        ]
    );
    assert!(!stderr(&out).contains("never made"), "{}", stderr(&out));
}

#[test]
fn resuming_a_finished_run_with_live_tools_leaves_its_log_as_it_was() {
    let dir = Dir::new("resume-live");
    let (log, recorded) = record(&dir);
    let before = std::fs::read_to_string(&log).unwrap();
    let exec = dir.path("exec.txt");
    let out = run(
        "agent",
        "",
        &[("BACKSTEP_RESUME", &log), ("EXEC_LOG", &exec)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        report(&out)[..recorded.len() - 1],
        recorded[..recorded.len() - 1]
    );
    // `clock` is live and `first_word` borrows: both ran again, and neither
    // was written a second time.
    assert_eq!(lines(&exec), ["clock", "first_word"]);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);
}

#[test]
fn resuming_past_a_live_tool_writes_each_call_once() {
    let dir = Dir::new("resume-live-cut");
    let (log, recorded) = record(&dir);
    // Keep the header and the calls up to `clock`, as if killed after it.
    let text = std::fs::read_to_string(&log).unwrap();
    let cut: Vec<&str> = text.lines().collect();
    let clock_at = cut
        .iter()
        .position(|l| l.contains(r#""tool":"clock""#))
        .unwrap();
    std::fs::write(&log, cut[..=clock_at].join("\n") + "\n").unwrap();
    let out = run("agent", "", &[("BACKSTEP_RESUME", &log)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        report(&out)[..recorded.len() - 1],
        recorded[..recorded.len() - 1]
    );
    let after = Log::open(&log).unwrap();
    let seqs: Vec<u64> = after.iter().map(backstep::Call::seq).collect();
    let mut unique = seqs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), seqs.len(), "a seq written twice: {seqs:?}");
    let end = after.sessions()[0].ended().expect("an end line");
    assert_eq!(end.calls() as usize, after.len());
    assert_eq!(after.by_tool("clock").count(), 1);
}

#[test]
fn a_call_whose_argument_panics_uses_up_its_recorded_call() {
    let dir = Dir::new("fragile");
    let log = dir.path("run.jsonl");
    let recorded = run("fragile", "", &[("BACKSTEP_LOG", &log)]);
    assert!(recorded.status.success(), "{}", stderr(&recorded));
    let calls = Log::open(&log).unwrap();
    let statuses: Vec<(String, Status)> = calls
        .iter()
        .map(|c| (c.inputs_json().to_string(), c.status()))
        .collect();
    assert_eq!(
        statuses,
        [
            (r#"{"tag":"a"}"#.to_string(), Status::Panicked),
            (r#"{"tag":"b","item":2}"#.to_string(), Status::Ok),
            (r#"{"tag":"c","item":3}"#.to_string(), Status::Ok),
        ]
    );

    // The argument panics again in the replay, before the call can be
    // answered: its recorded call is used up, and the next ones are served.
    let out = run(
        "fragile",
        "",
        &[
            ("BACKSTEP_REPLAY", &log),
            ("EXEC_LOG", &dir.path("exec-replay.txt")),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        report(&out),
        [
            "first panicked: true",
            "second: 20",
            "third: 30",
            "calls 3 replayed 2 cost $0 mode Replay",
        ]
    );
    assert!(lines(&dir.path("exec-replay.txt")).is_empty());
    assert_eq!(warnings(&out), Vec::<String>::new());

    // Resumed, the finished run's log keeps its three calls: the one that
    // panicked again is already there, and is not written twice.
    let out = run("fragile", "", &[("BACKSTEP_RESUME", &log)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seqs: Vec<u64> = Log::open(&log).unwrap().iter().map(|c| c.seq()).collect();
    assert_eq!(seqs, [0, 1, 2]);
}

#[test]
fn an_empty_recording_is_a_clear_error_not_a_divergence_at_call_0() {
    let dir = Dir::new("empty-log");
    let log = dir.path("empty.jsonl");
    std::fs::write(&log, "").unwrap();
    let out = run(
        "agent",
        "",
        &[
            ("BACKSTEP_REPLAY", &log),
            ("EXEC_LOG", &dir.path("exec.txt")),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "backstep: cannot replay {}: it holds no recorded calls (was the run recorded to this file?)",
            log.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(lines(&dir.path("exec.txt")).is_empty(), "no tool may run");
}

/// Records the parallel scenario and kills it while `plan 1` runs, once
/// `critique 1`, started after it, has its line.
fn record_parallel_killed(dir: &Dir) -> (PathBuf, PathBuf) {
    let log = dir.path("parallel.jsonl");
    let exec = dir.path("exec.txt");
    let mut child = command(
        "parallel",
        "",
        &[
            ("BACKSTEP_LOG", &log),
            ("EXEC_LOG", &exec),
            ("HANG", Path::new("plan 1")),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains(r#""prompt":"critique 1""#)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "critique 1 never finished"
        );
        assert!(child.try_wait().unwrap().is_none(), "the child ended early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = Log::open(&log).unwrap();
    let recorded: Vec<(u64, String)> = before
        .iter()
        .map(|c| (c.seq(), c.input::<String>("prompt").unwrap()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        recorded,
        [
            (0, "plan 0".into()),
            (1, "critique 0".into()),
            (3, "critique 1".into())
        ],
        "plan 1 (seq 2) was running at the kill"
    );
    (log, exec)
}

/// A call still running when the recorded run died has no line: resuming,
/// it runs live, and is not paired with the next recorded call of its tool
/// (which started after it), under either matching.
#[test]
fn resume_runs_again_a_call_that_was_running_at_the_kill() {
    for matching in ["strict", "by_inputs"] {
        let dir = Dir::new(&format!("parallel-{matching}"));
        let (log, exec) = record_parallel_killed(&dir);
        std::fs::write(&exec, "").unwrap();
        let out = run(
            "parallel",
            "",
            &[
                ("BACKSTEP_RESUME", &log),
                ("BACKSTEP_REPLAY_MATCH", Path::new(matching)),
                ("EXEC_LOG", &exec),
            ],
        );
        assert!(out.status.success(), "{matching}: {}", stderr(&out));
        let printed = report(&out);
        assert_eq!(
            printed[..3],
            [
                "answer to plan 0 | answer to critique 0",
                "answer to plan 1 | answer to critique 1",
                "answer to plan 2 | answer to critique 2",
            ],
            "{matching}"
        );
        // Only what had not finished ran: plan 1, and step 2.
        assert_eq!(
            lines(&exec),
            ["llm plan 1", "llm plan 2", "llm critique 2"],
            "{matching}"
        );
        // One session, each call once under its own seq, and the cost of
        // six calls.
        let after = Log::open(&log).unwrap();
        assert_eq!(after.sessions().len(), 1, "{matching}");
        let mut calls: Vec<(u64, String)> = after
            .iter()
            .map(|c| (c.seq(), c.input::<String>("prompt").unwrap()))
            .collect();
        calls.sort();
        assert_eq!(
            calls,
            [
                (0, "plan 0".to_string()),
                (1, "critique 0".to_string()),
                (2, "plan 1".to_string()),
                (3, "critique 1".to_string()),
                (4, "plan 2".to_string()),
                (5, "critique 2".to_string()),
            ],
            "{matching}"
        );
        let end = after.sessions()[0].ended().expect("an end line");
        assert_eq!(
            (end.calls(), end.cost()),
            (6, backstep::Cost::from_usd(0.06)),
            "{matching}"
        );
    }
}

/// A resume that diverges leaves the log it resumes as it was: the diverged
/// call is not written there (a later resume would be served it), and costs
/// nothing (its body never ran).
///
/// Under `by_inputs` too: the changed call's position has an unused recorded
/// call it does not match, so it is not taken for one the recording lost.
/// And the killed run gets no end line, as it did not finish.
#[test]
fn a_resume_that_diverges_writes_no_call_into_the_log() {
    for matching in ["strict", "by_inputs"] {
        let dir = Dir::new(&format!("parallel-diverged-{matching}"));
        let (log, exec) = record_parallel_killed(&dir);
        let before = lines(&log);
        std::fs::write(&exec, "").unwrap();
        let out = run(
            "parallel",
            "changed",
            &[
                ("BACKSTEP_RESUME", &log),
                ("BACKSTEP_REPLAY_MATCH", Path::new(matching)),
                ("EXEC_LOG", &exec),
            ],
        );
        assert!(!out.status.success(), "{matching}");
        assert!(
            stderr(&out).contains("backstep replay diverged at call 1 (`llm`): its inputs differ"),
            "{matching}: {}",
            stderr(&out)
        );
        assert_eq!(lines(&log), before, "{matching}");
        assert!(Log::open(&log).unwrap().sessions()[0].ended().is_none());
        // Nothing was paid again: the changed call did not run.
        assert!(
            !lines(&exec).iter().any(|l| l.contains("reworded")),
            "{:?}",
            lines(&exec)
        );
    }
}

/// Resuming a run that had ended and making new calls: the session gets a
/// new end line that counts them (the reader takes the last).
#[test]
fn resuming_a_finished_run_that_makes_more_calls_ends_it_again() {
    let dir = Dir::new("resume-more");
    let log = dir.path("steps.jsonl");
    let exec = dir.path("exec.txt");
    let out = run("steps", "", &[("BACKSTEP_LOG", &log), ("EXEC_LOG", &exec)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = Log::open(&log).unwrap();
    assert_eq!(
        before.sessions()[0]
            .ended()
            .map(backstep::SessionEnd::calls),
        Some(21)
    );

    let out = run(
        "steps",
        "more",
        &[("BACKSTEP_RESUME", &log), ("EXEC_LOG", &exec)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        report(&out).contains(&format!("more {}", 20 * 20 + 21 * 21)),
        "{:?}",
        report(&out)
    );
    let after = Log::open(&log).unwrap();
    assert_eq!(after.sessions().len(), 1);
    assert_eq!(after.len(), 23);
    let end = after.sessions()[0].ended().expect("an end line");
    assert_eq!(end.calls(), 23);
    assert_eq!(end.cost(), after.total_cost());
    // Only the two new steps ran.
    assert_eq!(
        lines(&exec)[20..],
        ["step 20".to_string(), "step 21".to_string()]
    );
}
