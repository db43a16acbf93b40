//! Logs of replays: calls marked `"replayed": true` were answered from a
//! recording. They did not run, and their `cost_usd` and `duration_ms` are
//! the recorded ones: every command says so, and no total presents their
//! cost as spent or their durations as time this run took.

mod common;

use backstep::tool;
use common::{backstep, backstep_env, dir, replay_log, write};

const R: &str = "5e9a1c7b3d2f4a60";

fn log(name: &str) -> (std::path::PathBuf, String) {
    let d = dir(name);
    let path = write(&d, "replay.jsonl", &replay_log(R));
    (d, path)
}

#[test]
fn summary_counts_replayed_calls_and_their_cost_apart() {
    let (_d, path) = log("replayed-summary");
    let r = backstep(&["summary", &path], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    // The span is the replay's own 1 ms (its header to its end line), not
    // the 250 ms a replayed call took when it was recorded.
    assert_eq!(r.stdout.replace(&path, "replay.jsonl"), "file     replay.jsonl\nspan     2026-12-03 19:00:00.000000 → 19:00:00.001000 UTC (1.00 ms)\ncalls    5: 4 ok, 1 error, 0 panicked, 0 cancelled\nreplayed 4 of 5 calls: answered from the recording, not run (their durations are the recorded ones)\ncost     $0.0114: $0.001 spent, $0.0104 replayed from the recording (not spent)\n\nsession           name    pid  started (UTC)        duration  calls  errors  replayed     cost  end\n5e9a1c7b3d2f4a60  agent  5151  2026-12-03 19:00:00   1.00 ms      5       1         4  $0.0114  ended\n\ntool       calls  errors  replayed     cost  mean cost        p50        p95        max\nsearch         1       1         1  $0.01      $0.01    250.00 ms  250.00 ms  250.00 ms\nclock          1       0         0  $0.001     $0.001   100.00 µs  100.00 µs  100.00 µs\nsummarize      1       0         1  $0.0004    $0.0004   12.50 ms   12.50 ms   12.50 ms\nanalyze        1       0         1  $0         $0        13.75 ms   13.75 ms   13.75 ms\nplan           1       0         1  $0         $0         1.25 ms    1.25 ms    1.25 ms\n");
}

#[test]
fn calls_and_show_mark_replayed_calls() {
    let (_d, path) = log("replayed-calls");
    let r = backstep(&["calls", &path], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "seq  parent  tool       status  replayed   duration     cost  inputs             error\n  0       -  plan       ok      yes         1.25 ms  $0       {\"goal\":\"audit\"}\n  1       -  analyze    ok      yes        13.75 ms  $0       {\"path\":\"./b.rs\"}\n  2       1  summarize  ok      yes        12.50 ms  $0.0004  {\"path\":\"./b.rs\"}\n  3       -  search     error   yes       250.00 ms  $0.01    {\"query\":\"rust\"}   rate limited\n  4       -  clock      ok                100.00 µs  $0.001   {}\n\n5 calls, $0.0114 (4 replayed from the recording: $0.0104 of it not spent)\n");
    let r = backstep(&["calls", &path, "--tool", "clock"], None);
    assert_eq!(r.stdout, "seq  parent  tool   status   duration    cost  inputs\n  4       -  clock  ok      100.00 µs  $0.001  {}\n\n1 of 5 calls, $0.001\n");

    let r = backstep(&["calls", &path, "--tool", "plan"], None);
    assert!(
        r.stdout
            .ends_with("\n1 of 5 calls, $0 (1 replayed from the recording)\n"),
        "{}",
        r.stdout
    );

    let r = backstep(&["show", &path, "2"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "call #2 summarize  ok\nsession   5e9a1c7b3d2f4a60 (agent)\nstarted   2026-12-03 19:00:00.000210 UTC\nduration  12.50 ms\ncost      $0.0004\nreplayed  yes: answered from the recording, not run (its cost and duration are the recorded ones)\nthread    main\n\nparents (outermost first)\n  seq  parent  tool     status  replayed  duration  cost  inputs\n    1       -  analyze  ok      yes       13.75 ms    $0  {\"path\":\"./b.rs\"}\n\ninputs\n  {\n    \"path\": \"./b.rs\"\n  }\n\noutput\n  \"b\"\n\nchildren  none\n");
    let r = backstep(&["show", &path, "4"], None);
    assert!(!r.stdout.contains("replayed"), "{}", r.stdout);
}

#[test]
fn cost_shows_what_was_replayed_and_not_spent() {
    let (_d, path) = log("replayed-cost");
    let r = backstep(&["cost", &path], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "tool       calls     cost   share  replayed\nsearch         1  $0.01     87.7%   $0.01\nclock          1  $0.001     8.8%   $0\nsummarize      1  $0.0004    3.5%   $0.0004\nanalyze        1  $0         0.0%   $0\nplan           1  $0         0.0%   $0\n\ntotal          5  $0.0114  100.0%   $0.0104\n\nreplayed: the recorded cost of the calls answered from the recording, in the cost but not spent\n");
}

#[test]
fn tail_marks_replayed_calls() {
    let (_d, path) = log("replayed-tail");
    let r = backstep_env(
        &["tail", &path, "-n", "3", "--until-end"],
        None,
        &[("COLUMNS", "120")],
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "19:00:00.000      3     -  search          error     250.00 ms   $0.01        replayed  {\"query\":\"rust\"}  rate limited\n19:00:00.000      4     -  clock           ok        100.00 µs   $0.001       {}\n19:00:00.001  ── session 5e9a1c7b3d2f4a60 ended:\n                 5 calls (4 ok, 1 error; 4 replayed), $0.0114 ($0.0104 replayed, not spent)\n");
}

#[tool(cost = 0.0001)]
fn summarize(text: &str) -> usize {
    std::thread::sleep(std::time::Duration::from_millis(20));
    text.len()
}

#[tool]
fn plan(goal: &str) -> Vec<String> {
    vec![format!("{goal} a"), format!("{goal} b")]
}

/// A real replay, by the recorder: nothing spent, and the span is the
/// replay's own, though each replayed call says it took 20 ms.
#[test]
fn a_real_replay() {
    let d = dir("replayed-real");
    let recording = d.join("run.jsonl");
    let own = d.join("run.replay.jsonl");
    let agent = || {
        for step in plan("audit") {
            summarize(&step);
        }
    };
    {
        let _session = backstep::init()
            .log_file(&recording)
            .name("agent")
            .install();
        agent();
    }
    {
        let _session = backstep::init()
            .replay(&recording)
            .log_file(&own)
            .name("agent")
            .install();
        agent();
    }
    let r = backstep(&["summary", own.to_str().unwrap()], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[3],
        "replayed 3 of 3 calls: answered from the recording, not run (their durations are the recorded ones)"
    );
    assert_eq!(
        lines[4],
        "cost     $0.0002: $0 spent, $0.0002 replayed from the recording (not spent)"
    );
    // The replay took next to no time, though its replayed summaries say
    // they took 20 ms each: the span is the replay's own, the session's.
    let took = lines[1].rsplit('(').next().unwrap().trim_end_matches(')');
    let fast = match took.split_once(' ') {
        Some((n, "ms")) => n.parse::<f64>().unwrap() < 20.0,
        Some((_, "µs" | "ns")) => true,
        _ => false,
    };
    assert!(fast, "the span counts recorded durations: {}", lines[1]);
    assert!(lines[7].contains(&format!("  {took}  ")), "{}", r.stdout);
}
