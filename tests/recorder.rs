//! The recorder as a whole: concurrency, exact costs, the log file (streamed,
//! crash-safe, ended), environment switches and failures that must not stop
//! the program. Scenarios that need a fresh process (environment variables are
//! read once, a process gets killed) run this test binary again as a child.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use backstep::{tool, Cost, Log, Status};
use serde_json::json;

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("backstep-recorder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// Runs the `child` test of this binary with `scenario` and extra environment.
fn spawn_child(scenario: &str, envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("BACKSTEP_TEST_SCENARIO", scenario)
    .env_remove("BACKSTEP_LOG")
    .env_remove("BACKSTEP")
    .env_remove("BACKSTEP_SESSION")
    .env_remove("BACKSTEP_MEMORY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

#[tool(cost = 0.003)]
fn priced(i: u32) -> u32 {
    i
}

#[tool]
fn threaded(thread: usize, i: usize) -> usize {
    thread * 10_000 + i
}

#[tool]
fn hang_forever(reason: &str) {
    let _ = reason;
    loop {
        std::thread::park();
    }
}

#[tool]
fn echo(text: &str) -> String {
    text.to_string()
}

/// Call `i`'s text for [`echo`]: about `n` bytes, with characters JSON escapes.
fn echo_text(i: usize, n: usize) -> String {
    format!("{i}:{}", "é\"x\n".repeat(n / 5))
}

#[tool]
fn dumped(word: &str) -> usize {
    word.len()
}

#[tool(cost = 0.01)]
fn outer(n: u32) -> u32 {
    priced(n) + priced(n + 1)
}

#[tool]
fn refuses(word: &str) -> Result<u32, String> {
    backstep::add_cost(0.002);
    Err(format!("no {word}"))
}

/// The process that ran the body: a replayed call gives the recording's.
#[tool]
fn ran_in(i: u32) -> (u32, u32) {
    (i, std::process::id())
}

#[tool(cost = 0.5)]
fn costly(times: u32) -> u32 {
    for _ in 0..times {
        backstep::add_cost(4e6);
    }
    times
}

/// Two tools whose methods share a name: recorded under one name.
trait Tool {
    fn call(&self, input: &str) -> usize;
}

struct Search;
struct Delete;

impl Tool for Search {
    #[tool]
    fn call(&self, input: &str) -> usize {
        input.len()
    }
}

impl Tool for Delete {
    #[tool]
    fn call(&self, input: &str) -> usize {
        input.len() * 2
    }
}

/// Not a test of its own: the body of the child processes started above.
#[test]
#[ignore = "run by the other tests as a child process"]
fn child() {
    let scenario = std::env::var("BACKSTEP_TEST_SCENARIO").expect("started by a parent test");
    match scenario.as_str() {
        // 50 calls stream to BACKSTEP_LOG, then one call that never finishes.
        "crash" => {
            for i in 0..50 {
                priced(i);
            }
            println!("ready");
            hang_forever("waiting to be killed");
        }
        // A session started by the builder, ended by dropping its guard.
        "session" => {
            let path = std::env::var("OUT").unwrap();
            let guard = backstep::init()
                .log_file(&path)
                .name("recorder-test")
                .install();
            assert_eq!(guard.log_path(), Some(std::path::Path::new(&path)));
            priced(1);
            priced(2);
            drop(guard);
        }
        // Eight threads streaming to one file at once.
        "threads_to_file" => {
            let path = std::env::var("OUT").unwrap();
            let guard = backstep::init().log_file(&path).install();
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    std::thread::spawn(move || {
                        for i in 0..500 {
                            threaded(t, i);
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            drop(guard);
        }
        // Recording switched off by the environment.
        "off" => {
            assert!(!backstep::is_enabled());
            assert_eq!(priced(7), 7);
            assert!(backstep::log().is_empty());
            backstep::set_enabled(true);
            priced(8);
            assert_eq!(backstep::log().len(), 1);
        }
        // The log cannot be opened or written: warn once, keep calls in memory.
        "unwritable" => {
            for i in 0..10 {
                assert_eq!(priced(i), i);
            }
            let log = backstep::log();
            assert_eq!(log.len(), 10);
            assert_eq!(log.total_cost(), Cost::from_usd(0.03));
        }
        // Bounded memory: the newest calls in memory, every call in the file.
        "memory" => {
            for i in 0..12 {
                priced(i);
            }
            let log = backstep::log();
            let kept: Vec<u32> = log.iter().map(|c| c.input("i").unwrap()).collect();
            assert_eq!(kept, [7, 8, 9, 10, 11]);
            // Many times round the bounded memory: still the newest, in order.
            for i in 12..112 {
                priced(i);
            }
            let log = backstep::log();
            let kept: Vec<u32> = log.iter().map(|c| c.input("i").unwrap()).collect();
            assert_eq!(kept, [107, 108, 109, 110, 111]);
            let seqs: Vec<u64> = log.iter().map(backstep::Call::seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "{seqs:?}");
        }
        // BACKSTEP_MEMORY=3 and no file, with calls of very different
        // sizes, some failing, from two threads: each record pushed out
        // gives its buffer, session id and thread name to the next call of
        // its thread, and none of it may show in another call's record.
        "memory_reuse" => {
            let sizes = [0, 5000, 3, 70_000, 12, 700];
            let expect = |kept: &[(usize, usize, &str)]| {
                let log = backstep::log();
                assert_eq!(log.len(), kept.len());
                let session = log.iter().next().unwrap().session().to_string();
                for (c, &(i, n, thread)) in log.iter().zip(kept) {
                    let text = echo_text(i, n);
                    // Compared whole, reported short: the texts are long.
                    let inputs = serde_json::json!({ "text": text }).to_string();
                    assert!(
                        c.inputs_json() == inputs,
                        "call {i}: inputs {:.80}",
                        c.inputs_json()
                    );
                    let output = serde_json::to_string(&text).unwrap();
                    assert!(
                        c.output_json() == output,
                        "call {i}: output {:.80}",
                        c.output_json()
                    );
                    assert_eq!((c.thread(), c.session()), (thread, &*session), "call {i}");
                    assert_eq!(c.status(), Status::Ok);
                }
            };
            for i in 0..40 {
                let n = sizes[i % sizes.len()];
                assert_eq!(echo(&echo_text(i, n)), echo_text(i, n));
                if i % 7 == 0 {
                    assert!(refuses("x").is_err());
                }
            }
            expect(&[(37, 5000, "child"), (38, 3, "child"), (39, 70_000, "child")]);
            std::thread::Builder::new()
                .name("other".into())
                .spawn(move || {
                    for i in 40..42 {
                        echo(&echo_text(i, sizes[i % sizes.len()]));
                    }
                })
                .unwrap()
                .join()
                .unwrap();
            expect(&[(39, 70_000, "child"), (40, 12, "other"), (41, 700, "other")]);
            for i in 42..44 {
                echo(&echo_text(i, sizes[i % sizes.len()]));
            }
            expect(&[(41, 700, "other"), (42, 0, "child"), (43, 5000, "child")]);
            // A new session, with room for one more call: the calls stay in
            // order (memory was a ring starting mid-way), and the id a
            // pushed-out record held is not used again.
            let guard = backstep::init().memory_limit(4).install();
            echo(&echo_text(44, 3));
            echo(&echo_text(45, 3));
            let log = backstep::log();
            let texts: Vec<String> = log.iter().map(|c| c.input("text").unwrap()).collect();
            let want: Vec<String> = [(42, 0), (43, 5000), (44, 3), (45, 3)]
                .iter()
                .map(|&(i, n)| echo_text(i, n))
                .collect();
            let numbers: Vec<&str> = texts.iter().map(|t| &t[..t.find(':').unwrap()]).collect();
            assert_eq!(numbers, ["42", "43", "44", "45"]);
            assert!(texts == want, "the texts of the calls differ");
            let sessions: Vec<bool> = log
                .iter()
                .map(|c| c.session() == guard.session_id())
                .collect();
            assert_eq!(sessions, [false, false, true, true]);
        }
        // The same calls streamed to a file twice: keeping no call in
        // memory (`memory_limit(0)`), then keeping every call.
        "file_only" => {
            let path = std::env::var("OUT").unwrap();
            // Kept in memory (no file yet), until a limit of 0 lets it go.
            priced(1);
            assert_eq!(backstep::log().len(), 1);
            for limit in [0, usize::MAX] {
                let guard = backstep::init()
                    .log_file(&path)
                    .memory_limit(limit)
                    .install();
                assert_eq!(outer(5), 11);
                assert_eq!(refuses("x"), Err("no x".to_string()));
                // Over 4 KiB of inputs: the line goes out in parts.
                assert_eq!(dumped(&"y".repeat(5000)), 5000);
                let kept = backstep::log()
                    .iter()
                    .filter(|c| c.session() == guard.session_id())
                    .count();
                if limit == 0 {
                    assert!(backstep::log().is_empty());
                } else {
                    assert_eq!(kept, 5);
                }
                drop(guard);
            }
        }
        // Recording set up by the environment alone.
        "env_calls" => {
            assert_eq!(priced(1), 1);
            assert_eq!(priced(2), 2);
        }
        // Four threads whose first tool calls come at once, with no
        // install(): each call must see the replay the environment asks for.
        "env_threads" => {
            if std::env::var_os("SET_OFF").is_some() {
                backstep::set_enabled(false);
            }
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let handles: Vec<_> = (0..4)
                .map(|i| {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        ran_in(i).0
                    })
                })
                .collect();
            let mut got: Vec<u32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            got.sort_unstable();
            assert_eq!(got, [0, 1, 2, 3]);
        }
        // The same, asking for the mode first (which starts a replay the
        // environment asks for).
        "env_mode_calls" => {
            let replaying = backstep::mode() == backstep::Mode::Replay;
            assert_eq!(replaying, std::env::var_os("BACKSTEP_REPLAY").is_some());
            assert_eq!(priced(1), 1);
            assert_eq!(priced(2), 2);
            assert_eq!(
                backstep::log().iter().filter(|c| c.replayed()).count(),
                if replaying { 2 } else { 0 }
            );
        }
        // BACKSTEP_MEMORY=0 and no log file.
        "nowhere" => {
            for i in 0..3 {
                assert_eq!(priced(i), i);
            }
            assert!(backstep::log().is_empty());
        }
        // Two functions recording as one tool, each called twice.
        "twins" => {
            for _ in 0..2 {
                assert_eq!(Search.call("ab"), 2);
                assert_eq!(Delete.call("ab"), 4);
            }
            assert_eq!(backstep::log().by_tool("call").count(), 4);
        }
        // add_cost past what one call can hold: capped, said once.
        "cost_cap" => {
            assert_eq!(costly(2), 2);
            assert_eq!(costly(3), 3);
            assert_eq!(costly(5), 5);
            let costs: Vec<Cost> = backstep::log().iter().map(backstep::Call::cost).collect();
            let most = Cost::from_picodollars(i128::from(i64::MAX));
            assert_eq!(
                costs,
                [
                    Cost::from_usd(8_000_000.5),
                    most + Cost::from_usd(0.5),
                    most + Cost::from_usd(0.5),
                ]
            );
        }
        other => panic!("unknown scenario {other}"),
    }
}

#[test]
fn eight_threads_record_exactly_eight_thousand_calls() {
    let handles: Vec<_> = (0..8)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    for i in 0..1000 {
                        assert_eq!(threaded(t, i), t * 10_000 + i);
                    }
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let log = backstep::log();
    let calls: Vec<_> = log.by_tool("threaded").collect();
    assert_eq!(calls.len(), 8000);
    let seqs: HashSet<u64> = calls.iter().map(|c| c.seq()).collect();
    assert_eq!(seqs.len(), 8000, "every call has its own seq");
    let mut seen = HashSet::new();
    for c in &calls {
        let t: usize = c.input("thread").unwrap();
        let i: usize = c.input("i").unwrap();
        assert_eq!(c.output::<usize>().unwrap(), t * 10_000 + i);
        assert_eq!(c.thread(), format!("worker-{t}"));
        assert_eq!(c.parent(), None);
        assert_eq!(c.status(), Status::Ok);
        assert!(seen.insert((t, i)), "call ({t}, {i}) recorded twice");
    }
    // Within one thread, seqs follow call order.
    for t in 0..8 {
        let mine: Vec<_> = calls
            .iter()
            .filter(|c| c.thread() == format!("worker-{t}"))
            .map(|c| (c.seq(), c.input::<usize>("i").unwrap()))
            .collect();
        assert!(mine.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
    }
}

#[test]
fn a_thousand_calls_at_three_tenths_of_a_cent_cost_exactly_three_dollars() {
    for i in 0..1000 {
        priced(i + 1_000_000);
    }
    let log = backstep::log();
    let total: Cost = log
        .by_tool("priced")
        .filter(|c| c.input::<u32>("i").unwrap() >= 1_000_000)
        .map(backstep::Call::cost)
        .sum();
    assert_eq!(total, Cost::from_usd(3.0));
    assert_eq!(total.picodollars(), 3_000_000_000_000);
    assert_eq!(total.usd(), 3.0);
    assert_eq!(total.to_string(), "$3");
}

#[test]
fn dump_writes_a_log_that_reads_back_equal() {
    dumped("alpha");
    dumped("beta");
    let path = temp_path("dump.jsonl");
    backstep::dump(&path).unwrap();
    let back = Log::open(&path).unwrap();
    let mine: Vec<_> = back.by_tool("dumped").collect();
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0].inputs(), json!({"word": "alpha"}));
    assert_eq!(mine[0].output_json(), "5");
    assert_eq!(mine[1].inputs(), json!({"word": "beta"}));
    assert_eq!(mine[1].output_json(), "4");
    let live = backstep::log();
    let live_calls: Vec<_> = live.by_tool("dumped").collect();
    assert_eq!(mine[0].seq(), live_calls[0].seq());
    assert_eq!(mine[0].started_at(), {
        // the file keeps microseconds
        let t = live_calls[0].started_at();
        let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
        std::time::UNIX_EPOCH
            + std::time::Duration::from_micros(u64::try_from(d.as_micros()).unwrap())
    });
}

#[test]
fn killed_process_leaves_every_completed_call_in_the_log() {
    let path = temp_path("crash.jsonl");
    let mut proc = spawn_child("crash", &[("BACKSTEP_LOG", path.to_str().unwrap())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(proc.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before it was ready"
        );
        if line.trim_end().ends_with("ready") {
            break;
        }
    }
    proc.kill().unwrap(); // SIGKILL: no destructor, no flush, no end line
    proc.wait().unwrap();

    let log = Log::open(&path).unwrap();
    assert_eq!(
        log.len(),
        50,
        "the call in flight is not there, every finished one is"
    );
    for (i, c) in log.iter().enumerate() {
        assert_eq!(c.tool(), "priced");
        assert_eq!(c.seq(), i as u64);
        assert_eq!(c.inputs(), json!({ "i": i }));
        assert_eq!(c.output::<usize>().unwrap(), i);
        assert_eq!(c.status(), Status::Ok);
        assert_eq!(c.cost(), Cost::from_usd(0.003));
    }
    assert_eq!(log.total_cost(), Cost::from_usd(0.15));
    let session = &log.sessions()[0];
    assert_eq!(session.format(), Some(1));
    assert!(session.ended().is_none(), "a killed run has no end line");
    assert!(log.warnings().is_empty());

    // A kill in the middle of a write leaves a cut line: it is dropped with a warning.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(r#"{"type":"call","session":"x","seq":50,"par"#);
    std::fs::write(&path, &text).unwrap();
    let log = Log::open(&path).unwrap();
    assert_eq!(log.len(), 50);
    assert_eq!(log.warnings().len(), 1);
    assert!(
        log.warnings()[0].contains(":52: last line is cut off"),
        "{:?}",
        log.warnings()
    );

    // The next run appending to that file starts on a fresh line: both runs read back.
    let mut more = spawn_child("crash", &[("BACKSTEP_LOG", path.to_str().unwrap())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(more.stdout.take().unwrap());
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before it was ready"
        );
        if line.trim_end().ends_with("ready") {
            break;
        }
    }
    more.kill().unwrap();
    more.wait().unwrap();
    let both = Log::open(&path).unwrap();
    assert_eq!(both.sessions().len(), 2);
    assert_eq!(both.len(), 100);
    assert_eq!(both.warnings().len(), 1);
    assert!(
        both.warnings()[0].contains(":52: a line cut off when its run stopped"),
        "{:?}",
        both.warnings()
    );
}

#[test]
fn an_out_of_range_duration_is_an_error_naming_the_line() {
    let line = r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1e300,"cost_usd":0,"thread":"main"}"#;
    let err = Log::from_jsonl(&format!("{line}\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<memory>:1: `duration_ms` is out of range: 1e300"
    );
}

/// Runs `scenario` in a child writing its log to `path`; the file's text and
/// its lines as JSON (every line must be whole JSON).
fn child_log_lines(scenario: &str, path: &std::path::Path) -> (String, Vec<serde_json::Value>) {
    // Output captured: the child's own test harness lines must not mix
    // into this test binary's report.
    let out = spawn_child(scenario, &[("OUT", path.to_str().unwrap())])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is whole JSON"))
        .collect();
    (text, lines)
}

#[test]
fn a_session_log_has_a_header_the_calls_and_an_end_line() {
    let path = temp_path("session.jsonl");
    let (text, lines) = child_log_lines("session", &path);
    assert_eq!(lines.len(), 4, "{text}");
    let header = &lines[0];
    assert_eq!(header["type"], "session");
    assert_eq!(header["name"], "recorder-test");
    assert_eq!(header["format"], 1);
    assert_eq!(header["backstep_version"], env!("CARGO_PKG_VERSION"));
    assert!(header["pid"].as_u64().unwrap() > 0);
    let id = header["session"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    for (call, i) in lines[1..3].iter().zip([1, 2]) {
        assert_eq!(call["type"], "call");
        assert_eq!(call["session"], id);
        assert_eq!(call["tool"], "priced");
        assert_eq!(call["inputs"], json!({ "i": i }));
        assert_eq!(call["output"], i);
        assert_eq!(call["status"], "ok");
        assert_eq!(call["error"], serde_json::Value::Null);
        assert_eq!(call["parent"], serde_json::Value::Null);
        assert_eq!(call["cost_usd"], 0.003);
        assert_eq!(
            call["thread"], "child",
            "the test harness names the thread after the test"
        );
        let keys: Vec<&str> = call
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "cost_usd",
            "duration_ms",
            "error",
            "inputs",
            "output",
            "parent",
            "seq",
            "session",
            "started_at",
            "status",
            "thread",
            "tool",
            "type",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
    }
    let end = &lines[3];
    assert_eq!(end["type"], "end");
    assert_eq!(end["session"], id);
    assert_eq!(end["calls"], 2);
    assert_eq!(end["errors"], 0);
    assert_eq!(end["cost_usd"], 0.006);
    let log = Log::open(&path).unwrap();
    assert_eq!(log.sessions()[0].ended().unwrap().calls(), 2);
    assert_eq!(log.sessions()[0].name(), Some("recorder-test"));
}

#[test]
fn backstep_off_records_nothing_until_switched_on() {
    child_stderr("off", &[("BACKSTEP", "off")]);
}

/// Runs the `unwritable` scenario (ten calls that must all be kept in
/// memory) with `envs`; its stderr and the backstep warnings in it.
fn unwritable_warnings(envs: &[(&str, &str)]) -> (String, Vec<String>) {
    child_stderr("unwritable", envs)
}

/// Runs `scenario` with `envs`, which must succeed; its stderr, and the
/// backstep warnings in it.
fn child_stderr(scenario: &str, envs: &[(&str, &str)]) -> (String, Vec<String>) {
    let out = spawn_child(scenario, envs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let warnings = stderr
        .lines()
        .filter(|l| l.starts_with("backstep: warning:"))
        .map(str::to_string)
        .collect();
    (stderr, warnings)
}

fn assert_warns_once(log_path: &str, expected: &str) {
    let (stderr, warnings) = unwritable_warnings(&[("BACKSTEP_LOG", log_path)]);
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains(expected), "{stderr}");
}

#[test]
fn an_unopenable_log_path_warns_once_and_records_in_memory() {
    assert_warns_once(
        "/proc/backstep-cannot-create/run.jsonl",
        "cannot open the session log /proc/backstep-cannot-create/run.jsonl",
    );
}

#[test]
fn a_full_disk_warns_once_and_records_in_memory() {
    // /dev/full accepts the open and fails every write with ENOSPC.
    assert_warns_once("/dev/full", "cannot write to the session log /dev/full");
}

#[test]
fn bounded_memory_keeps_the_newest_calls_and_the_file_keeps_all() {
    let path = temp_path("memory.jsonl");
    child_stderr(
        "memory",
        &[
            ("BACKSTEP_MEMORY", "5"),
            ("BACKSTEP_LOG", path.to_str().unwrap()),
        ],
    );
    let file = Log::open(&path).unwrap();
    assert_eq!(file.len(), 112);
    assert_eq!(file.total_cost(), Cost::from_usd(0.336));
}

#[test]
fn bounded_memory_keeps_each_call_whole_whatever_the_call_it_pushed_out_held() {
    child_stderr("memory_reuse", &[("BACKSTEP_MEMORY", "3")]);
}

#[test]
fn a_switch_with_a_value_it_does_not_know_says_so_and_keeps_recording() {
    let (stderr, warnings) =
        unwritable_warnings(&[("BACKSTEP", "of"), ("BACKSTEP_MEMORY", "lots")]);
    assert_eq!(
        warnings,
        [
            r#"backstep: warning: BACKSTEP_MEMORY="lots" is not understood (expected a number of calls); every call is kept in memory"#,
            r#"backstep: warning: BACKSTEP="of" is not understood (expected `off` or `on`); recording stays on"#,
        ],
        "{stderr}"
    );
}

#[test]
fn eight_threads_streaming_to_one_file_write_whole_lines_after_one_header() {
    let path = temp_path("threads.jsonl");
    let (_, lines) = child_log_lines("threads_to_file", &path);
    assert_eq!(lines.len(), 1 + 4000 + 1);
    assert_eq!(lines[0]["type"], "session", "the header comes first");
    assert_eq!(lines[4001]["type"], "end");
    assert_eq!(lines[4001]["calls"], 4000);
    let seqs: HashSet<u64> = lines[1..4001]
        .iter()
        .map(|l| {
            assert_eq!(l["type"], "call");
            l["seq"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seqs.len(), 4000);
    assert_eq!(Log::open(&path).unwrap().len(), 4000);
}

/// The call lines of one session in `lines`, with `seq` and `parent` made
/// relative to the session's first seq, and the fields that differ from run
/// to run (`session`, `started_at`, `duration_ms`) taken out.
fn comparable(lines: &[serde_json::Value], session: &str) -> Vec<serde_json::Value> {
    let calls: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["type"] == "call" && l["session"] == session)
        .collect();
    let first = calls
        .iter()
        .map(|c| c["seq"].as_u64().unwrap())
        .min()
        .unwrap();
    calls
        .into_iter()
        .map(|c| {
            let mut c = c.clone();
            let o = c.as_object_mut().unwrap();
            for k in ["session", "started_at", "duration_ms"] {
                assert!(o.remove(k).is_some(), "{k} missing");
            }
            o["seq"] = json!(o["seq"].as_u64().unwrap() - first);
            if let Some(p) = o["parent"].as_u64() {
                o["parent"] = json!(p - first);
            }
            c
        })
        .collect()
}

#[test]
fn memory_limit_zero_streams_every_call_and_keeps_none_in_memory() {
    let path = temp_path("file-only.jsonl");
    let (text, lines) = child_log_lines("file_only", &path);
    // Two sessions: header, five calls, end line each.
    assert_eq!(lines.len(), 14, "{text}");
    let session = lines[0]["session"].as_str().unwrap();
    let calls = comparable(&lines, session);
    assert_eq!(
        calls,
        [
            json!({"type": "call", "seq": 1, "parent": 0, "tool": "priced",
                   "inputs": {"i": 5}, "output": 5, "status": "ok", "error": null,
                   "cost_usd": 0.003, "thread": "child"}),
            json!({"type": "call", "seq": 2, "parent": 0, "tool": "priced",
                   "inputs": {"i": 6}, "output": 6, "status": "ok", "error": null,
                   "cost_usd": 0.003, "thread": "child"}),
            json!({"type": "call", "seq": 0, "parent": null, "tool": "outer",
                   "inputs": {"n": 5}, "output": 11, "status": "ok", "error": null,
                   "cost_usd": 0.01, "thread": "child"}),
            json!({"type": "call", "seq": 3, "parent": null, "tool": "refuses",
                   "inputs": {"word": "x"}, "output": "no x", "status": "error",
                   "error": "no x", "cost_usd": 0.002, "thread": "child"}),
            json!({"type": "call", "seq": 4, "parent": null, "tool": "dumped",
                   "inputs": {"word": "y".repeat(5000)}, "output": 5000, "status": "ok",
                   "error": null, "cost_usd": 0, "thread": "child"}),
        ]
    );
    let end = &lines[6];
    assert_eq!(end["type"], "end");
    assert_eq!(end["session"], session);
    assert_eq!(end["calls"], 5);
    assert_eq!(end["errors"], 1);
    assert_eq!(end["cost_usd"], 0.018);
    // Keeping every call writes the very same lines.
    let kept = lines[7]["session"].as_str().unwrap();
    assert_ne!(kept, session);
    assert_eq!(comparable(&lines, kept), calls);
    assert_eq!(lines[13]["calls"], 5);
    assert_eq!(lines[13]["cost_usd"], 0.018);
    let log = Log::open(&path).unwrap();
    assert_eq!(log.len(), 10);
    assert_eq!(log.total_cost(), Cost::from_usd(0.036));
}

/// Runs `scenario` with `envs`; its stderr's backstep warnings.
fn child_warnings(scenario: &str, envs: &[(&str, &str)]) -> Vec<String> {
    child_stderr(scenario, envs).1
}

#[test]
fn memory_limit_zero_without_a_file_keeps_nothing_and_says_so_once() {
    // The child asserts that memory is empty after three calls.
    assert_eq!(
        child_warnings("nowhere", &[("BACKSTEP_MEMORY", "0")]),
        ["backstep: warning: memory_limit(0) (BACKSTEP_MEMORY=0) keeps no call in memory, and no log file is open: calls are counted in the session's totals, not kept (give a log file, BACKSTEP_LOG, to keep them)"]
    );
}

#[test]
fn a_replay_from_the_environment_does_not_append_to_the_recording() {
    let path = temp_path("env-replay.jsonl");
    let p = path.to_str().unwrap();
    assert_eq!(
        child_warnings("env_mode_calls", &[("BACKSTEP_LOG", p)]),
        [] as [String; 0]
    );
    let recorded = std::fs::read_to_string(&path).unwrap();
    assert_eq!(recorded.lines().count(), 3, "{recorded}");
    let replay = [("BACKSTEP_LOG", p), ("BACKSTEP_REPLAY", p)];
    assert_eq!(
        child_warnings("env_mode_calls", &replay),
        [format!("backstep: warning: not writing the replay's own log to {p}: it is the recording being replayed")]
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), recorded);
}

/// The calls of `path`'s last session: (inputs, output, replayed).
fn calls_of(path: &std::path::Path) -> Vec<(String, String, bool)> {
    let mut calls: Vec<(String, String, bool)> = Log::open(path)
        .unwrap()
        .last_session()
        .iter()
        .map(|c| {
            (
                c.inputs_json().to_string(),
                c.output_json().to_string(),
                c.replayed(),
            )
        })
        .collect();
    calls.sort();
    calls
}

#[test]
fn a_replay_the_environment_asks_for_starts_with_the_first_tool_call() {
    let path = temp_path("env-first-call.jsonl");
    let p = path.to_str().unwrap();
    let by_inputs = ("BACKSTEP_REPLAY_MATCH", "by_inputs");
    assert_eq!(
        child_warnings("env_threads", &[("BACKSTEP_LOG", p)]),
        [] as [String; 0]
    );
    let recorded = calls_of(&path);
    assert_eq!(recorded.len(), 4);
    assert!(recorded.iter().all(|(_, _, replayed)| !replayed));
    for (i, extra) in [None, Some(("BACKSTEP", "off")), Some(("SET_OFF", "1"))]
        .into_iter()
        .enumerate()
    {
        let own = temp_path(&format!("env-first-call-replay-{i}.jsonl"));
        let mut envs = vec![
            ("BACKSTEP_LOG", own.to_str().unwrap()),
            ("BACKSTEP_REPLAY", p),
            by_inputs,
        ];
        envs.extend(extra);
        let warnings = child_warnings("env_threads", &envs);
        // The same outputs (the recording's process id), every call answered
        // from the log, whichever thread came first.
        let replayed: Vec<(String, String, bool)> = recorded
            .iter()
            .map(|(i, o, _)| (i.clone(), o.clone(), true))
            .collect();
        assert_eq!(calls_of(&own), replayed, "{warnings:?}");
        match extra {
            None => assert_eq!(warnings, [] as [String; 0]),
            Some(_) => assert_eq!(
                warnings,
                ["backstep: warning: recording stays on during a replay (BACKSTEP=off, set_enabled(false) and enabled(false) are ignored until it ends): a tool that is not recorded cannot be answered from the log and would run live"]
            ),
        }
    }
}

#[test]
fn a_memory_limit_keeps_every_call_the_file_did_not_take() {
    for limit in ["0", "3"] {
        let (stderr, warnings) =
            unwritable_warnings(&[("BACKSTEP_MEMORY", limit), ("BACKSTEP_LOG", "/dev/full")]);
        assert_eq!(
            warnings,
            ["backstep: warning: cannot write to the session log /dev/full: No space left on device (os error 28); the calls it does not take are kept in memory (backstep::log(), backstep::dump())"],
            "{stderr}"
        );
        let (stderr, warnings) = unwritable_warnings(&[
            ("BACKSTEP_MEMORY", limit),
            ("BACKSTEP_LOG", "/proc/backstep-cannot-create/run.jsonl"),
        ]);
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(warnings[0].contains("recording in memory only"), "{stderr}");
    }
}

#[test]
fn add_cost_past_what_one_call_holds_is_capped_and_said_once() {
    let (stderr, warnings) = child_stderr("cost_cap", &[]);
    assert_eq!(
        warnings,
        ["backstep: warning: backstep::add_cost(4000000) took the cost added to one call past $9223372.036854775807, the most one call can record; the call records that much"],
        "{stderr}"
    );
}

#[test]
fn two_functions_recording_as_one_tool_are_said_to_be_indistinguishable() {
    let (stderr, warnings) = child_stderr("twins", &[]);
    // The lines of the two `#[tool]`s, each right below its `impl`.
    let source = std::fs::read_to_string(file!()).unwrap();
    let at = |item: &str| 2 + source.lines().position(|l| l == item).unwrap();
    let (search, delete) = (at("impl Tool for Search {"), at("impl Tool for Delete {"));
    assert_eq!(
        warnings,
        [format!("backstep: warning: two functions record their calls as tool `call` (`call` at tests/recorder.rs:{search} and `call` at tests/recorder.rs:{delete}): the log and the test assertions cannot tell them apart; give each its own #[tool(name = \"…\")]")],
        "{stderr}"
    );
}
