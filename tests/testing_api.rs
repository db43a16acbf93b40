//! The test API: capture scopes isolated under parallel `cargo test` (threads,
//! tasks, a multi-threaded runtime), every assertion passing and failing with
//! its exact message, stubs, cassettes and snapshots.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use backstep::testing::{capture, Capture};
use backstep::{
    assert_called, assert_called_with, assert_not_called, assert_sequence, tool, Cost, Status,
};
use serde_json::json;

static SEARCH_RAN: AtomicUsize = AtomicUsize::new(0);

#[tool(cost = 0.01)]
fn search(query: &str, limit: usize) -> Vec<String> {
    SEARCH_RAN.fetch_add(1, Ordering::Relaxed);
    (0..limit).map(|i| format!("{query}-{i}")).collect()
}

#[tool]
fn send_email(to: &str, subject: String, urgent: bool) -> anyhow::Result<u32> {
    if to.is_empty() {
        anyhow::bail!("no recipient");
    }
    Ok(u32::try_from(subject.len()).unwrap_or(0) + u32::from(urgent))
}

#[tool]
fn delete_file(path: &str) -> std::io::Result<()> {
    Err(std::io::Error::other(format!("refusing to delete {path}")))
}

#[tool(cost = 0.002)]
fn summarize(text: &str) -> String {
    text.chars().take(5).collect()
}

#[tool]
fn plan(goal: &str) -> usize {
    let hits = search(goal, 2);
    summarize(&hits.join(" ")).len()
}

struct Agent;

impl Agent {
    #[tool]
    fn fetch(&self, url: &str) -> String {
        format!("<{url}>")
    }
}

#[tool]
async fn ask(id: u32) -> u32 {
    tokio::task::yield_now().await;
    let found = search(&format!("task{id}"), 1);
    u32::try_from(found.len()).unwrap_or(0) + id
}

/// Asserts that `f` fails with a message starting with `start`.
#[track_caller]
fn fails_with(f: impl FnOnce() + std::panic::UnwindSafe, start: &str) {
    let msg = failure(f);
    assert!(msg.starts_with(start), "{msg}");
}

/// The panic message of `f`, which must panic.
fn failure(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("the assertion should have failed");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap()
}

thread_local! {
    /// Set while [`panic_location`] runs on this thread.
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    /// Where the last watched panic on this thread happened.
    static PANICKED_AT: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// The file and line where `f`, which must panic, panicked: what
/// `panicked at FILE:LINE` says. The panic hook is process-wide, so it is
/// installed once and only records panics of threads inside
/// `panic_location`; every other thread's panic (the tests run in parallel)
/// goes to the previous hook unchanged.
fn panic_location(f: impl FnOnce() + std::panic::UnwindSafe) -> (String, u32) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if WATCHING.with(Cell::get) {
                let at = info.location().map(|l| (l.file().to_string(), l.line()));
                PANICKED_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
    PANICKED_AT.with(|p| p.borrow_mut().take());
    WATCHING.with(|w| w.set(true));
    let result = std::panic::catch_unwind(f);
    WATCHING.with(|w| w.set(false));
    assert!(result.is_err(), "the assertion should have failed");
    PANICKED_AT
        .with(|p| p.borrow_mut().take())
        .expect("the panic hook saw the panic")
}

// --- isolation: 16 tests run in parallel, each sees exactly its own calls ---

macro_rules! isolated {
    ($($name:ident = $id:expr),* $(,)?) => {$(
        #[test]
        fn $name() {
            let rec = capture();
            let me = format!("iso{}", $id);
            for round in 0..3 {
                search(&me, round);
                std::thread::yield_now();
            }
            let calls = rec.of("search");
            assert_eq!(calls.len(), 3, "{}", rec.table());
            for (round, call) in calls.iter().enumerate() {
                assert_eq!(call.inputs(), json!({"query": me, "limit": round}));
            }
            assert_eq!(rec.calls().len(), 3);
            assert_eq!(rec.total_cost(), Cost::from_usd(0.03));
        }
    )*};
}

isolated! {
    isolated_01 = 1, isolated_02 = 2, isolated_03 = 3, isolated_04 = 4,
    isolated_05 = 5, isolated_06 = 6, isolated_07 = 7, isolated_08 = 8,
    isolated_09 = 9, isolated_10 = 10, isolated_11 = 11, isolated_12 = 12,
    isolated_13 = 13, isolated_14 = 14, isolated_15 = 15, isolated_16 = 16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_tasks_and_threads_given_the_scope_are_captured() {
    let rec = capture();
    // Awaited here: polled on this thread.
    assert_eq!(ask(1).await, 2);
    // Spawned onto worker threads: bound to the scope.
    let tasks: Vec<_> = (2..6).map(|id| tokio::spawn(rec.bind(ask(id)))).collect();
    for t in tasks {
        t.await.unwrap();
    }
    // A plain thread, given the scope.
    std::thread::spawn(rec.bind_fn(|| search("thread", 1)))
        .join()
        .unwrap();
    // An unbound task is not this test's.
    tokio::spawn(ask(99)).await.unwrap();

    assert_eq!(rec.count("ask"), 5, "{}", rec.table());
    assert_eq!(rec.count("search"), 6, "{}", rec.table());
    for ask_call in rec.of("ask") {
        let id: u32 = ask_call.input("id").unwrap();
        let kids = rec.children(&ask_call);
        assert_eq!(kids.len(), 1);
        assert_eq!(
            kids[0].inputs(),
            json!({"query": format!("task{id}"), "limit": 1})
        );
    }
    assert!(rec
        .of("ask")
        .iter()
        .all(|c| c.input::<u32>("id").unwrap() != 99));
    // The global log has every call, also the unbound one.
    assert!(backstep::log()
        .by_tool("ask")
        .any(|c| c.input::<u32>("id").unwrap() == 99));
}

// --- assertions: pass and fail, with their messages ---

fn sample() -> Capture {
    let rec = capture();
    plan("rust");
    let _ = send_email("a@example.com", "hello".into(), true);
    let _ = send_email("", "empty".into(), false);
    Agent.fetch("https://example.com");
    rec
}

const TABLE: &str = "captured calls (6):
     # parent  tool                 status    inputs                               output / error";

/// The whole table: numbered from 0 within the capture, whatever the process
/// numbering (other tests of this binary record in parallel), parents by
/// those numbers.
#[test]
fn the_table_numbers_the_captured_calls_from_zero() {
    assert_eq!(
        sample().table(),
        r#"captured calls (6):
     # parent  tool                 status    inputs                               output / error
     0      -  plan                 ok        {"goal":"rust"}                      5
     1      0  search               ok        {"query":"rust","limit":2}           ["rust-0","rust-1"]
     2      0  summarize            ok        {"text":"rust-0 rust-1"}             "rust-"
     3      -  send_email           ok        {"to":"a@example.com","subject":"he… 6
     4      -  send_email           error     {"to":"","subject":"empty","urgent"… no recipient
     5      -  fetch                ok        {"url":"https://example.com"}        "<https://example.com>"
"#
    );
    // A capture begun inside a tool call sees its calls, not it: their
    // parent is `outer`.
    let table = captured_inside();
    assert_eq!(
        table,
        r#"captured calls (3):
     # parent  tool                 status    inputs                               output / error
     0  outer  plan                 ok        {"goal":"go"}                        5
     1      0  search               ok        {"query":"go","limit":2}             ["go-0","go-1"]
     2      0  summarize            ok        {"text":"go-0 go-1"}                 "go-0 "
"#
    );
}

#[tool]
fn captured_inside() -> String {
    let rec = capture();
    plan("go");
    rec.table()
}

#[test]
fn counts_pass_and_fail_with_the_table() {
    let rec = sample();
    assert_called!(rec, search, times = 1);
    assert_called!(rec, send_email, times = 2);
    assert_called!(rec, "send_email");
    assert_called!(rec, Agent::fetch);
    assert_not_called!(rec, delete_file);
    assert_not_called!(rec, "rm_rf");

    let msg = failure(|| assert_called!(rec, search, times = 2));
    assert!(
        msg.starts_with(&format!(
            "expected `search` to be called 2 time(s), but it was called 1 time(s)\n{TABLE}"
        )),
        "{msg}"
    );
    assert!(
        msg.contains(r#"plan                 ok        {"goal":"rust"}                      5"#),
        "{msg}"
    );
    assert!(
        msg.contains(
            r#"send_email           error     {"to":"","subject":"empty","urgent"… no recipient"#
        ),
        "{msg}"
    );
    fails_with(
        || assert_not_called!(rec, summarize),
        "expected `summarize` not to be called, but it was called 1 time(s)\ncaptured calls (6):",
    );
    fails_with(
        || assert_called!(rec, delete_file),
        "expected `delete_file` to be called, but it was not\n",
    );
}

#[test]
fn called_with_matches_part_of_the_arguments_as_json() {
    let rec = sample();
    assert_called_with!(rec, send_email, to = "a@example.com");
    assert_called_with!(
        rec,
        send_email,
        to = String::from("a@example.com"),
        urgent = true
    );
    assert_called_with!(rec, search, limit = 2_u64);
    assert_called_with!(rec, "search", query = "rust");
    fails_with(|| assert_called_with!(rec, send_email, to = "b@example.com"), "expected a call of `send_email` with to = \"b@example.com\", but none of its 2 call(s) matched\ncaptured calls (6):");
    fails_with(
        || assert_called_with!(rec, delete_file, path = "/"),
        "expected a call of `delete_file` with path = \"/\", but it was never called\n",
    );
}

#[test]
fn called_with_a_name_no_call_has_lists_the_recorded_inputs() {
    #[tool]
    fn tick() -> u8 {
        1
    }
    let rec = sample();
    tick();
    fails_with(|| assert_called_with!(rec, search, qurey = "rust"), "expected a call of `search` with qurey = \"rust\", but no call of `search` has an input named `qurey`; its inputs are `query`, `limit`\ncaptured calls (7):");
    // Known names that do not match, together with unknown ones: only the
    // unknown ones are named, the inputs are in parameter order.
    let msg = failure(|| {
        assert_called_with!(rec, send_email, to = "x", subjet = "hi", urgnt = true);
    });
    assert!(
        msg.starts_with(
            "expected a call of `send_email` with to = \"x\", subjet = \"hi\", urgnt = true, but no call of `send_email` has an input named `subjet` or `urgnt`; its inputs are `to`, `subject`, `urgent`\n"
        ),
        "{msg}"
    );
    fails_with(|| assert_called_with!(rec, Agent::fetch, uri = "https://example.com"), "expected a call of `fetch` with uri = \"https://example.com\", but no call of `fetch` has an input named `uri`; its inputs are `url`\n");
    fails_with(|| assert_called_with!(rec, tick, n = 1), "expected a call of `tick` with n = 1, but no call of `tick` has an input named `n`; its calls have no recorded inputs\n");
    // A known name with a value no call had is a plain mismatch.
    fails_with(
        || assert_called_with!(rec, search, query = "go"),
        "expected a call of `search` with query = \"go\", but none of its 1 call(s) matched\n",
    );
}

#[test]
fn failures_point_at_the_line_of_the_assertion_in_the_test() {
    let rec = sample();
    // Each `panic_location` call is one line: `line!() - 1` is the assertion's line.
    let at = panic_location(|| assert_called!(rec, search, times = 2));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_called!(rec, "search", times = 2));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_called!(rec, delete_file));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_called!(rec, "rm_rf"));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_not_called!(rec, summarize));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_not_called!(rec, "plan"));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_called_with!(rec, search, query = "go"));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_called_with!(rec, "search", qurey = "rust"));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_sequence!(rec, [summarize, search]));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| assert_sequence!(rec, exact [plan, "search"]));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    // The methods, called directly.
    let at = panic_location(|| rec.assert_called("search", 5));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| rec.assert_called_at_least_once("rm_rf"));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| rec.assert_not_called("plan"));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| rec.assert_called_with("plan", &[("goal", json!("go"))]));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| rec.assert_sequence(&["summarize", "plan"]));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| rec.assert_exact_sequence(&["plan"]));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    let at = panic_location(|| drop(rec.nth("plan", 1)));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    drop(rec);
    // No capture active: the free `stub` points at its caller too.
    let at = panic_location(|| backstep::testing::stub("search", |_| json!([])));
    assert_eq!(at, (file!().to_string(), line!() - 1));
    assert_eq!(file!(), "tests/testing_api.rs");
}

#[test]
fn len_and_is_empty_count_every_captured_call() {
    let rec = capture();
    assert_eq!((rec.len(), rec.is_empty()), (0, true));
    plan("rust");
    assert_eq!((rec.len(), rec.is_empty()), (3, false));
    let _ = send_email("a@example.com", "hi".into(), false);
    assert_eq!(rec.len(), 4);
    assert_eq!(rec.len(), rec.calls().len());
    drop(rec);
    assert!(capture().is_empty());
}

#[test]
fn sequences_in_order_and_exact() {
    let rec = sample();
    assert_sequence!(rec, [plan, search, summarize]);
    assert_sequence!(rec, [plan, send_email, Agent::fetch]);
    assert_sequence!(rec, exact [plan, search, summarize, send_email, send_email, "fetch"]);
    fails_with(|| assert_sequence!(rec, [summarize, search]), "expected the calls [\"summarize\", \"search\"] in this order; after [\"summarize\"], `search` did not follow\n");
    fails_with(|| assert_sequence!(rec, exact [plan, search]), "expected exactly the calls [\"plan\", \"search\"], but got [\"plan\", \"search\", \"summarize\", \"send_email\", \"send_email\", \"fetch\"]\n");
}

#[test]
fn outputs_statuses_costs_and_children() {
    let rec = sample();
    let ok = rec.nth("send_email", 0);
    assert_eq!(ok.status(), Status::Ok);
    assert_eq!(ok.output::<u32>().unwrap(), 6);
    let err = rec.nth("send_email", 1);
    assert_eq!(
        (err.status(), err.error()),
        (Status::Error, Some("no recipient"))
    );
    assert_eq!(
        rec.nth("search", 0).output::<Vec<String>>().unwrap(),
        ["rust-0", "rust-1"]
    );
    let msg = failure(|| {
        let _ = rec.nth("search", 3);
    });
    assert!(
        msg.starts_with("expected a call #3 of `search`, but it was called 1 time(s)\n"),
        "{msg}"
    );

    assert_eq!(rec.total_cost(), Cost::from_usd(0.012));
    assert!(rec.total_cost() <= 0.05);
    assert!(rec.total_cost() > 0.01);
    assert_eq!(rec.cost_of("summarize"), 0.002);
    let plan_call = rec.nth("plan", 0);
    let kids: Vec<String> = rec
        .children(&plan_call)
        .iter()
        .map(|c| c.tool().to_string())
        .collect();
    assert_eq!(kids, ["search", "summarize"]);
}

#[test]
fn a_panicked_call_is_visible_with_its_message() {
    #[tool]
    fn explode(n: u8) -> u8 {
        assert!(n < 3, "too big: {n}");
        n
    }
    let rec = capture();
    let _ = std::panic::catch_unwind(|| explode(9));
    let call = rec.nth("explode", 0);
    assert_eq!(
        (call.status(), call.error()),
        (Status::Panicked, Some("too big: 9"))
    );
}

// --- stubs ---

#[test]
fn stubs_answer_without_running_the_tool_and_only_in_their_scope() {
    let before = SEARCH_RAN.load(Ordering::Relaxed);
    let rec = capture();
    rec.stub("search", |inputs| {
        json!([format!("stubbed {}", inputs["query"].as_str().unwrap())])
    });
    rec.stub_error("send_email", |inputs| {
        format!("smtp down for {}", inputs["to"].as_str().unwrap())
    });
    assert_eq!(search("rust", 5), ["stubbed rust"]);
    let err = send_email("a@example.com", "hi".into(), false).unwrap_err();
    assert_eq!(err.to_string(), "smtp down for a@example.com");
    // The nested call inside plan is stubbed too.
    assert_eq!(plan("go"), 5);
    assert_eq!(rec.count("search"), 2);
    assert_eq!(rec.nth("search", 0).output_json(), r#"["stubbed rust"]"#);
    assert!(rec.nth("search", 0).replayed());
    assert_eq!(
        rec.nth("send_email", 0).error(),
        Some("smtp down for a@example.com")
    );
    // Only this test's scope is stubbed; the body never ran here.
    drop(rec);
    let other = capture();
    backstep::testing::stub("summarize", |_| json!("free-function stub"));
    assert_eq!(summarize("anything"), "free-function stub");
    assert_eq!(search("live", 1), ["live-0"]);
    assert_eq!(other.count("search"), 1);
    assert!(SEARCH_RAN.load(Ordering::Relaxed) > before);
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, thiserror::Error)]
enum QuotaError {
    #[error("rate limited: retry in {0} s")]
    RateLimited(u32),
    #[error("quota spent")]
    Spent,
}

#[tool]
fn quota(user: &str) -> Result<u32, QuotaError> {
    if user.is_empty() {
        return Err(QuotaError::Spent);
    }
    Ok(100)
}

#[test]
fn a_stubbed_error_value_is_rebuilt_into_the_tools_error_type() {
    let rec = capture();
    rec.stub_error_value("quota", |inputs| {
        assert_eq!(inputs["user"], "ana");
        json!({"RateLimited": 30})
    });
    assert_eq!(quota("ana"), Err(QuotaError::RateLimited(30)));
    let call = rec.nth("quota", 0);
    assert_eq!(call.status(), Status::Error);
    assert_eq!(call.output_json(), r#"{"RateLimited":30}"#);
    assert_eq!(call.error(), Some(r#"{"RateLimited":30}"#));
    assert!(call.replayed());
}

// --- cassettes ---

static LOOKUP_RAN: AtomicUsize = AtomicUsize::new(0);

/// Only the cassette test calls this, so its execution count is exact.
#[tool]
fn lookup(key: &str, n: usize) -> Vec<String> {
    LOOKUP_RAN.fetch_add(1, Ordering::Relaxed);
    (0..n).map(|i| format!("{key}-{i}")).collect()
}

#[test]
fn a_cassette_records_the_first_run_and_replays_later_ones() {
    let path = std::env::temp_dir().join(format!("backstep-cassette-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    {
        let rec = backstep::testing::cassette(&path);
        assert_eq!(lookup("cassette", 2), ["cassette-0", "cassette-1"]);
        assert!(!rec.nth("lookup", 0).replayed());
    }
    assert_eq!(LOOKUP_RAN.load(Ordering::Relaxed), 1);
    assert_eq!(
        backstep::Log::open(&path).unwrap().len(),
        1,
        "the first run wrote the cassette"
    );
    {
        let rec = backstep::testing::cassette(&path);
        assert_eq!(lookup("cassette", 2), ["cassette-0", "cassette-1"]);
        assert!(rec.nth("lookup", 0).replayed());
    }
    assert_eq!(
        LOOKUP_RAN.load(Ordering::Relaxed),
        1,
        "the replay did not run the tool"
    );
    // A replay that asks for something else diverges.
    let msg = failure(|| {
        let _rec = backstep::testing::cassette(&path);
        lookup("different", 2);
    });
    assert!(msg.contains("diverged at call"), "{msg}");
    assert!(
        msg.contains(r#"at .key: recorded "cassette", now "different""#),
        "{msg}"
    );
    assert_eq!(LOOKUP_RAN.load(Ordering::Relaxed), 1);
    std::fs::remove_file(&path).unwrap();
}

// --- snapshots ---

#[test]
fn snapshot_is_stable_across_runs() {
    let first = sample().snapshot();
    let second = sample().snapshot();
    assert_eq!(first, second);
    // Keys in alphabetical order; times, session and thread left out.
    let expected = r#"[
  {
    "cost_usd": 0,
    "error": null,
    "inputs": {
      "goal": "rust"
    },
    "output": 5,
    "parent": null,
    "seq": 0,
    "status": "ok",
    "tool": "plan"
  },
  {
    "cost_usd": 0.01,
    "error": null,
    "inputs": {
      "limit": 2,
      "query": "rust"
    },
    "output": [
      "rust-0",
      "rust-1"
    ],
    "parent": 0,
    "seq": 1,
    "status": "ok",
    "tool": "search"
  },"#;
    assert!(first.starts_with(expected), "{first}");
    assert!(first.contains(r#""error": "no recipient","#), "{first}");
    assert!(
        !first.contains("started_at") && !first.contains("duration") && !first.contains("thread")
    );
}

// --- a failing test saves no cassette ---

#[tool]
fn page(url: &str) -> String {
    format!("<html>{url}</html>")
}

/// A directory under the system temp dir for one test's cassettes, not there yet.
fn cassette_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("backstep-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The names of the files in `dir`, sorted (none when it does not exist).
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_cassette_is_not_saved_when_its_test_fails() {
    let dir = cassette_dir("failed-cassette");
    let path = dir.join("x.jsonl");
    let msg = failure(|| {
        let rec = backstep::testing::cassette(&path);
        assert_eq!(page("a"), "<html>a</html>");
        rec.assert_called("page", 2);
    });
    assert!(
        msg.starts_with("expected `page` to be called 2 time(s), but it was called 1 time(s)\n"),
        "{msg}"
    );
    assert_eq!(
        files_in(&dir),
        Vec::<String>::new(),
        "no cassette, no partial file"
    );

    // The next run records again and, passing, saves the cassette.
    {
        let rec = backstep::testing::cassette(&path);
        assert_eq!(page("b"), "<html>b</html>");
        assert!(!rec.nth("page", 0).replayed(), "nothing to replay: it ran");
    }
    assert_eq!(files_in(&dir), ["x.jsonl"], "no temporary file left");
    let log = backstep::Log::open(&path).unwrap();
    let calls: Vec<(String, String, String, Status)> = log
        .into_iter()
        .map(|c| {
            let (tool, inputs, output) = (c.tool(), c.inputs_json(), c.output_json());
            (
                tool.to_string(),
                inputs.to_string(),
                output.to_string(),
                c.status(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [(
            "page".to_string(),
            r#"{"url":"b"}"#.to_string(),
            r#""<html>b</html>""#.to_string(),
            Status::Ok
        )]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run in a child process by `a_failed_cassette_says_on_stderr_it_was_not_saved`:
/// a test that fails while recording a cassette.
#[test]
#[ignore = "run in a child process by a_failed_cassette_says_on_stderr_it_was_not_saved"]
fn failing_cassette_child() {
    let Some(path) = std::env::var_os("BACKSTEP_TEST_CASSETTE") else {
        return;
    };
    let rec = backstep::testing::cassette(path);
    page("c");
    rec.assert_called("page", 2);
}

#[test]
fn a_failed_cassette_says_on_stderr_it_was_not_saved() {
    let dir = cassette_dir("failed-cassette-stderr");
    let path = dir.join("x.jsonl");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "failing_cassette_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BACKSTEP_TEST_CASSETTE", &path)
        .env_remove("BACKSTEP")
        .env_remove("BACKSTEP_LOG")
        .env_remove("BACKSTEP_REPLAY")
        .env_remove("BACKSTEP_RESUME")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child test fails: {stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("backstep:"))
        .collect();
    assert_eq!(
        said,
        [format!(
            "backstep: cassette {} not saved: the test failed",
            path.display()
        )],
        "{stderr}"
    );
    assert_eq!(files_in(&dir), Vec::<String>::new());
}

// --- a stub's answer that does not fit the tool's return type ---

#[test]
fn a_stub_error_that_does_not_fit_a_deserialize_error_type_says_so() {
    let rec = capture();
    rec.stub_error("quota", |_| "503".into());
    let msg = failure(|| {
        let _ = quota("ana");
    });
    assert_eq!(
        msg,
        "backstep: the stub of tool `quota` answered the error `\"503\"`, which does not fit \
         its error type `testing_api::QuotaError`: unknown variant `503`, expected \
         `RateLimited` or `Spent`; for an error type that implements \
         `Deserialize`, return a JSON value of `testing_api::QuotaError` from \
         `rec.stub_error_value(\"quota\", …)`"
    );
    // The same for a value of the wrong shape given to `stub_error_value`.
    rec.stub_error_value("quota", |_| json!({"RateLimited": "soon"}));
    let msg = failure(|| {
        let _ = quota("ana");
    });
    assert_eq!(
        msg,
        "backstep: the stub of tool `quota` answered the error `{\"RateLimited\":\"soon\"}`, \
         which does not fit its error type `testing_api::QuotaError`: invalid type: string \
         \"soon\", expected u32; for an error type that implements \
         `Deserialize`, return a JSON value of `testing_api::QuotaError` from \
         `rec.stub_error_value(\"quota\", …)`"
    );
    assert_eq!(rec.count("quota"), 2);
}

#[test]
fn a_stub_output_of_the_wrong_type_says_so() {
    let rec = capture();
    rec.stub("search", |_| json!("many"));
    let msg = failure(|| {
        let _ = search("rust", 2);
    });
    assert_eq!(
        msg,
        "backstep: the stub of tool `search` answered `\"many\"`, which does not fit its \
         output type `alloc::vec::Vec<alloc::string::String>`: invalid type: string \"many\", \
         expected a sequence; `rec.stub(\"search\", …)` must return a JSON \
         value of `alloc::vec::Vec<alloc::string::String>`"
    );
    assert_eq!(rec.nth("search", 0).output_json(), r#""many""#);
    // A long answer is cut to its first 80 characters.
    rec.stub("search", |_| json!({ "hits": "x".repeat(100) }));
    let msg = failure(|| {
        let _ = search("rust", 2);
    });
    assert_eq!(
        msg,
        format!(
            "backstep: the stub of tool `search` answered `{{\"hits\":\"{}…`, which does not fit \
             its output type `alloc::vec::Vec<alloc::string::String>`: invalid type: map, \
             expected a sequence; `rec.stub(\"search\", …)` must return a JSON value of \
             `alloc::vec::Vec<alloc::string::String>`",
            "x".repeat(70)
        )
    );
}

#[derive(Debug)]
struct PlainError;

impl std::fmt::Display for PlainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("plain")
    }
}

#[tool]
fn plain(n: u32) -> Result<u32, PlainError> {
    Ok(n)
}

#[test]
fn a_stub_error_for_an_error_type_it_cannot_build_says_so() {
    let rec = capture();
    rec.stub_error("plain", |_| "503".into());
    let msg = failure(|| {
        let _ = plain(1);
    });
    assert_eq!(
        msg,
        "backstep: the stub of tool `plain` cannot fail it: its error type \
         `testing_api::PlainError` is neither `Deserialize` nor built from a message \
         (`From<backstep::ReplayedError>`); derive `serde::Deserialize` for \
         `testing_api::PlainError` to stub its errors with \
         `rec.stub_error_value(\"plain\", …)`, or stub only its `Ok` answers, with `rec.stub`"
    );
    assert_eq!(rec.count("plain"), 1);
}

/// Recorded, but cannot be rebuilt from a recording.
#[derive(serde::Serialize)]
struct Receipt {
    id: u32,
}

#[tool]
fn receipt(id: u32) -> Receipt {
    Receipt { id }
}

#[test]
fn a_stub_of_a_tool_whose_return_type_it_cannot_build_says_so() {
    let rec = capture();
    rec.stub("receipt", |_| json!({"id": 7}));
    let msg = failure(|| {
        let _ = receipt(7);
    });
    assert_eq!(
        msg,
        "backstep: the stub of tool `receipt` cannot answer it: `testing_api::Receipt` does \
         not implement `serde::de::DeserializeOwned` (in a generic tool: its type parameters \
         are not declared `DeserializeOwned`; add that bound, e.g. `T: \
         serde::de::DeserializeOwned`); only a tool whose return type implements \
         `Deserialize` can be stubbed"
    );
    assert_eq!(rec.count("receipt"), 1);
}

#[tool(name = "shape")]
fn shape_as_text() -> String {
    "text".to_string()
}

#[tool(name = "shape")]
fn shape_as_numbers() -> Vec<u32> {
    vec![1]
}

#[test]
fn a_recorded_answer_that_does_not_fit_keeps_the_replay_message() {
    let dir = cassette_dir("cassette-shape");
    let path = dir.join("shape.jsonl");
    {
        let _rec = backstep::testing::cassette(&path);
        assert_eq!(shape_as_text(), "text");
    }
    let msg = failure(|| {
        let _rec = backstep::testing::cassette(&path);
        let _ = shape_as_numbers();
    });
    assert_eq!(
        msg,
        "backstep replay: cannot rebuild the return value of tool `shape` from the log: the \
         recorded output `\"text\"` does not fit `alloc::vec::Vec<u32>`: invalid type: string \
         \"text\", expected a sequence at line 1 column 6; mark the tool `#[tool(live)]` to \
         always run its body instead"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- a tool renamed with `name = …`, named by its function in assertions ---

#[tool(name = "web_search_renamed")]
fn web_search_fn(query: &str) -> usize {
    query.len()
}

#[tool(name = "delete_renamed")]
fn delete_fn(path: &str) -> bool {
    !path.is_empty()
}

/// Once a trap: `assert_not_called!(rec, delete_fn)` passed although
/// `delete_fn` ran, as its calls are recorded as `delete_renamed`. A path
/// whose function this capture saw record under another name now fails at
/// the assertion and gives the name to use; by string it works.
#[test]
fn a_path_to_a_renamed_tool_fails_and_gives_the_name_to_use() {
    let rec = capture();
    assert_not_called!(rec, delete_fn);
    web_search_fn("rust");
    web_search_fn("serde");
    assert!(delete_fn("/tmp/x"));
    assert_eq!(
        failure(|| assert_not_called!(rec, delete_fn)),
        "backstep: `delete_fn` names a function whose calls this capture recorded as `delete_renamed` (renamed with #[tool(name = …)]): name the tool by that string, as in assert_called!(rec, \"delete_renamed\")"
    );
    fails_with(
        || assert_called!(rec, web_search_fn, times = 2),
        "backstep: `web_search_fn` names a function whose calls this capture recorded as `web_search_renamed`",
    );
    fails_with(
        || assert_sequence!(rec, [web_search_fn, delete_fn]),
        "backstep: `web_search_fn` names a function",
    );
    assert_called!(rec, "web_search_renamed", times = 2);
    assert_called_with!(rec, "web_search_renamed", query = "serde");
    assert_sequence!(rec, exact["web_search_renamed", "web_search_renamed", "delete_renamed"]);
}

// --- paths that more than one function may answer to ---

mod fs {
    #[backstep::tool(name = "fs_delete")]
    pub fn delete(path: &str) -> bool {
        !path.is_empty()
    }
}

mod db {
    #[backstep::tool(name = "db_delete")]
    pub fn delete(id: u32) -> bool {
        id > 0
    }
}

/// The module in the path tells functions of one name apart: `db::delete`
/// is not taken for `fs::delete`, renamed, whose call the capture saw.
#[test]
fn a_path_with_modules_tells_functions_of_one_name_apart() {
    {
        let _earlier = capture();
        assert!(db::delete(1));
    }
    let rec = capture();
    assert!(fs::delete("/important"));
    assert_not_called!(rec, db::delete);
    assert_called!(rec, "fs_delete");
    fails_with(
        || assert_not_called!(rec, fs::delete),
        "backstep: `fs::delete` names a function whose calls this capture recorded as `fs_delete`",
    );
}

struct Pages;

impl Pages {
    #[tool(name = "fetch_page")]
    fn fetch(&self, url: &str) -> usize {
        url.len()
    }
}

#[tool(name = "fetch_any")]
fn fetch(url: &str) -> usize {
    url.len() + 1
}

/// A type's name in the path does not tell which `fetch` is meant: both
/// renamed tools the capture saw are named.
#[test]
fn a_path_through_a_type_names_every_renamed_tool_it_may_mean() {
    let rec = capture();
    assert_eq!(Pages.fetch("a"), 1);
    assert_eq!(fetch("a"), 2);
    assert_eq!(
        failure(|| assert_called!(rec, Pages::fetch)),
        "backstep: `Pages::fetch` names a function whose calls this capture recorded as `fetch_any`, `fetch_page` (renamed with #[tool(name = …)]): name the tool by that string, as in assert_called!(rec, \"fetch_any\")"
    );
    assert_called!(rec, "fetch_page", times = 1);
}

// --- a capture while recording is off ---

/// Run by the two tests below in a child process (recording is process-wide).
#[test]
#[ignore = "run in a child process by the recording-off tests"]
fn recording_off_child() {
    let Ok(how) = std::env::var("BACKSTEP_TEST_OFF") else {
        return;
    };
    let rec = capture();
    if how == "turned_off" {
        backstep::set_enabled(false);
    }
    let _ = delete_file("/");
    let msg = failure(|| assert_not_called!(rec, delete_file));
    println!("assertion: {msg}");
}

fn recording_off_child_output(how: &str, backstep_env: Option<&str>) -> (String, Vec<String>) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "recording_off_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("BACKSTEP_TEST_OFF", how)
    .env_remove("BACKSTEP")
    .env_remove("BACKSTEP_LOG")
    .env_remove("BACKSTEP_REPLAY")
    .env_remove("BACKSTEP_RESUME");
    if let Some(v) = backstep_env {
        cmd.env("BACKSTEP", v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness may print its "test … " on the same line.
    let assertion = stdout
        .split("assertion: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_default()
        .to_string();
    let warnings = stderr
        .lines()
        .filter(|l| l.starts_with("backstep: warning:"))
        .map(str::to_string)
        .collect();
    (assertion, warnings)
}

/// Under `BACKSTEP=off` a capture once saw nothing, and
/// `assert_not_called!` passed although the tool ran: a capture turns
/// recording on, and says so once.
#[test]
fn a_capture_turns_recording_on() {
    let (assertion, warnings) = recording_off_child_output("env", Some("off"));
    assert!(
        assertion
            .starts_with("expected `delete_file` not to be called, but it was called 1 time(s)"),
        "{assertion}"
    );
    assert_eq!(
        warnings,
        ["backstep: warning: recording was off (BACKSTEP=off or set_enabled(false)); a test capture turned it on, as it can only check the calls that are recorded"]
    );
}

/// Turned off while a capture runs, recording misses calls the capture
/// should see: its assertions fail and say why.
#[test]
fn a_capture_whose_recording_was_turned_off_cannot_be_checked() {
    let (assertion, warnings) = recording_off_child_output("turned_off", None);
    assert_eq!(
        assertion,
        "backstep: this capture cannot be checked: recording was turned off while it ran (set_enabled(false)), so the calls made then were not seen"
    );
    assert_eq!(warnings, [] as [String; 0]);
}
