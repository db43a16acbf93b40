//! The `backstep` binary on hand-made logs: full output for the small ones,
//! exit codes for every case.

mod common;

use common::{agent_log, backstep, backstep_env, call, dir, end, header, ok_call, write};

const S: &str = "7f3a9c2e5b1d4f60";

fn agent(name: &str) -> (std::path::PathBuf, String) {
    let d = dir(name);
    let path = write(&d, "run.jsonl", &agent_log(S));
    (d, path)
}

/// Replaces the file's path in output, so expected texts do not depend on
/// where the target directory is.
fn rel(text: &str, path: &str) -> String {
    text.replace(path, "run.jsonl")
}

#[test]
fn summary_of_a_small_run() {
    let (_d, log) = agent("summary");
    let r = backstep(&["summary", &log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(rel(&r.stdout, &log), "file     run.jsonl\nspan     2026-12-03 19:00:00.000000 → 19:00:01.800000 UTC (1.80 s)\ncalls    8: 4 ok, 2 error, 1 panicked, 1 cancelled\ncost     $0.0104\n\nsession           name    pid  started (UTC)        duration  calls  errors  panicked  cancelled     cost  end\n7f3a9c2e5b1d4f60  agent  4242  2026-12-03 19:00:00    1.80 s      8       2         1          1  $0.0104  ended\n\ntool       calls  errors  panicked  cancelled     cost  mean cost        p50        p95        max\nsearch         1       0         1          0  $0.01      $0.01    250.00 ms  250.00 ms  250.00 ms\nsummarize      1       0         0          0  $0.0004    $0.0004   12.50 ms   12.50 ms   12.50 ms\nanalyze        2       1         0          0  $0         $0        70.00 µs   13.75 ms   13.75 ms\nread_file      2       1         0          0  $0         $0         6.50 µs  500.00 µs  500.00 µs\nfetch          1       0         0          1  $0         $0          1.50 s     1.50 s     1.50 s\nplan           1       0         0          0  $0         $0         1.25 ms    1.25 ms    1.25 ms\n");
}

#[test]
fn calls_lists_and_filters() {
    let (_d, log) = agent("calls");
    let r = backstep(&["calls", &log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "seq  parent  tool       status      duration     cost  inputs                  error\n  0       -  plan       ok           1.25 ms  $0       {\"goal\":\"audit\"}\n  1       -  analyze    error       70.00 µs  $0       {\"path\":\"./a.rs\"}       No such file or dire…\n  2       1  read_file  error        6.50 µs  $0       {\"path\":\"./a.rs\"}       No such file or dire…\n  3       -  analyze    ok          13.75 ms  $0       {\"path\":\"./b.rs\"}\n  4       3  read_file  ok         500.00 µs  $0       {\"path\":\"./b.rs\"}\n  5       3  summarize  ok          12.50 ms  $0.0004  {\"path\":\"./b.rs\",\"tok…\n  6       -  search     panicked   250.00 ms  $0.01    {\"query\":\"rust cli\",\"…  index out of bounds:…\n  7       -  fetch      cancelled     1.50 s  $0       {\"url\":\"https://examp…\n\n8 calls, $0.0104\n");

    let r = backstep(
        &["calls", &log, "--status", "error", "--status", "panicked"],
        None,
    );
    assert_eq!(r.stdout, "seq  parent  tool       status     duration   cost  inputs                   error\n  1       -  analyze    error      70.00 µs  $0     {\"path\":\"./a.rs\"}        No such file or direct…\n  2       1  read_file  error       6.50 µs  $0     {\"path\":\"./a.rs\"}        No such file or direct…\n  6       -  search     panicked  250.00 ms  $0.01  {\"query\":\"rust cli\",\"l…  index out of bounds: t…\n\n3 of 8 calls, $0.01\n");
    let r = backstep(
        &[
            "calls",
            &log,
            "--tool",
            "read_file",
            "--slower-than",
            "100us",
        ],
        None,
    );
    assert_eq!(r.stdout, "seq  parent  tool       status   duration  cost  inputs\n  4       3  read_file  ok      500.00 µs    $0  {\"path\":\"./b.rs\"}\n\n1 of 8 calls, $0\n");
    let r = backstep(&["calls", &log, "--min-cost", "$0.001"], None);
    assert_eq!(r.stdout, "seq  parent  tool    status     duration   cost  inputs                     error\n  6       -  search  panicked  250.00 ms  $0.01  {\"query\":\"rust cli\",\"lim…  index out of bounds: th…\n\n1 of 8 calls, $0.01\n");
    let r = backstep(&["calls", &log, "--tool", "nothing"], None);
    assert_eq!(
        r.stdout,
        "no call matches (8 calls in run.jsonl)\n".replace("run.jsonl", &log)
    );
}

#[test]
fn calls_json_prints_records_that_read_back() {
    let (_d, log) = agent("calls-json");
    let r = backstep(&["calls", &log, "--tool", "summarize", "--json"], None);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        call(
            S,
            5,
            Some(3),
            "summarize",
            r#"{"path":"./b.rs","tokens":2000}"#,
            r#"{"heading":"b","keywords":["main"]}"#,
            "ok",
            None,
            2_300,
            "12.5",
            "0.0004"
        ) + "\n"
    );
    // Piped back in through standard input.
    let all = backstep(&["calls", &log, "--json"], None);
    assert_eq!(all.stdout.lines().count(), 8);
    let again = backstep(&["calls", "-", "--json"], Some(&all.stdout));
    assert_eq!(again.stdout, all.stdout);
}

#[test]
fn show_prints_one_call_with_its_family() {
    let (_d, log) = agent("show");
    let r = backstep(&["show", &log, "5"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "call #5 summarize  ok\nsession   7f3a9c2e5b1d4f60 (agent)\nstarted   2026-12-03 19:00:00.002300 UTC\nduration  12.50 ms\ncost      $0.0004\nthread    main\n\nparents (outermost first)\n  seq  parent  tool     status  duration  cost  inputs\n    3       -  analyze  ok      13.75 ms    $0  {\"path\":\"./b.rs\"}\n\ninputs\n  {\n    \"path\": \"./b.rs\",\n    \"tokens\": 2000\n  }\n\noutput\n  {\n    \"heading\": \"b\",\n    \"keywords\": [\n      \"main\"\n    ]\n  }\n\nchildren  none\n");
    let r = backstep(&["show", &log, "3"], None);
    assert_eq!(r.stdout, "call #3 analyze  ok\nsession   7f3a9c2e5b1d4f60 (agent)\nstarted   2026-12-03 19:00:00.001600 UTC\nduration  13.75 ms\ncost      $0\nthread    main\n\nparents   none: a top-level call\n\ninputs\n  {\n    \"path\": \"./b.rs\"\n  }\n\noutput\n  {\n    \"lines\": 1\n  }\n\nchildren (2)\n  seq  parent  tool       status   duration     cost  inputs\n    4       3  read_file  ok      500.00 µs  $0       {\"path\":\"./b.rs\"}\n    5       3  summarize  ok       12.50 ms  $0.0004  {\"path\":\"./b.rs\",\"tokens\":2000}\n");
    let r = backstep(&["show", &log, "99"], None);
    assert_eq!(r.code, 2);
    assert_eq!(
        rel(&r.stderr, &log),
        "backstep: error: run.jsonl: no call with seq 99 (its calls have seq 0 to 7)\n"
    );
}

#[test]
fn cost_breakdowns_are_exact() {
    let (_d, log) = agent("cost");
    let mut all = String::new();
    for by in ["tool", "session", "status", "parent"] {
        let r = backstep(&["cost", &log, "--by", by], None);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "--by {by}");
        all += &format!("--by {by}\n{}", r.stdout);
    }
    assert_eq!(all, "--by tool\ntool       calls     cost   share\nsearch         1  $0.01     96.2%\nsummarize      1  $0.0004    3.8%\nanalyze        2  $0         0.0%\nread_file      2  $0         0.0%\nfetch          1  $0         0.0%\nplan           1  $0         0.0%\n\ntotal          8  $0.0104  100.0%\n--by session\nsession                   calls     cost   share\n7f3a9c2e5b1d4f60 (agent)      8  $0.0104  100.0%\n\ntotal                         8  $0.0104  100.0%\n--by status\nstatus     calls     cost   share\nok             4  $0.0004    3.8%\nerror          2  $0         0.0%\npanicked       1  $0.01     96.2%\ncancelled      1  $0         0.0%\n\ntotal          8  $0.0104  100.0%\n--by parent\nparent       calls     cost   share\n(top level)      5  $0.01     96.2%\n#3 analyze       2  $0.0004    3.8%\n#1 analyze       1  $0         0.0%\n\ntotal            8  $0.0104  100.0%\n");
}

fn changed_log() -> String {
    agent_log(S)
        .replace(
            r#"{"query":"rust cli","limit":3}"#,
            r#"{"query":"rust tui","limit":3}"#,
        )
        .replace(r#"{"lines":1}"#, r#"{"lines":2}"#)
}

#[test]
fn diff_exits_1_on_divergence_with_json_paths() {
    let (d, log) = agent("diff");
    let same = backstep(&["diff", &log, &log], None);
    assert_eq!(same.code, 0);
    assert_eq!(rel(&same.stdout, &log), "a: run.jsonl\nb: run.jsonl\n\nthe runs match: 8 calls with the same tools, inputs, outputs, statuses and errors\n\n                 a        b  b − a\ncalls            8        8      0\nerror            2        2      0\npanicked         1        1      0\ncancelled        1        1      0\ncost       $0.0104  $0.0104     $0\n");

    let other = write(&d, "other.jsonl", &changed_log());
    let r = backstep(&["diff", &log, &other], None);
    assert_eq!((r.code, r.stderr.as_str()), (1, ""));
    assert_eq!(rel(&r.stdout, &log).replace(&other, "other.jsonl"), "a: run.jsonl\nb: other.jsonl\n\nthe runs diverge at call #3 (calls paired by seq; the 3 calls before it match):\n  a: #3 analyze ok {\"path\":\"./b.rs\"}\n  b: #3 analyze ok {\"path\":\"./b.rs\"}\n  output:\n    .lines  1 → 2\n\n                 a        b  b − a\ncalls            8        8      0\nerror            2        2      0\npanicked         1        1      0\ncancelled        1        1      0\ncost       $0.0104  $0.0104     $0\n");

    let shorter: String = agent_log(S)
        .lines()
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    let shorter = write(&d, "shorter.jsonl", &shorter);
    let r = backstep(&["diff", &log, &shorter], None);
    assert_eq!(r.code, 1);
    assert_eq!(rel(&r.stdout, &log).replace(&shorter, "shorter.jsonl"), "a: run.jsonl\nb: shorter.jsonl\n\nthe runs diverge at call #3 (calls paired by seq; the 3 calls before it match):\n  a: #3 analyze ok {\"path\":\"./b.rs\"}\n  b: no call #3: b ends after 3 calls\n\n                       a   b     b − a\ncalls                  8   3        -5\nerror                  2   2         0\npanicked               1   0        -1\ncancelled              1   0        -1\ncost             $0.0104  $0  -$0.0104\n\nanalyze calls          2   1        -1\nfetch calls            1   0        -1\nread_file calls        2   1        -1\nsearch calls           1   0        -1\nsearch cost        $0.01  $0    -$0.01\nsummarize calls        1   0        -1\nsummarize cost   $0.0004  $0  -$0.0004\n");
}

#[test]
fn empty_log() {
    let d = dir("empty");
    let log = write(&d, "empty.jsonl", "");
    let r = backstep(&["summary", &log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        r.stdout.replace(&log, "empty.jsonl"),
        "file     empty.jsonl\ncalls    0\ncost     $0\n\nno sessions: the log holds no records\n"
    );
    let r = backstep(&["calls", &log], None);
    assert_eq!(
        r.stdout.replace(&log, "empty.jsonl"),
        "the log holds no calls (0 calls in empty.jsonl)\n"
    );
    assert_eq!(backstep(&["calls", &log, "--json"], None).stdout, "");
    assert_eq!(
        backstep(&["cost", &log], None).stdout,
        "no calls: total cost $0\n"
    );
    let r = backstep(&["diff", &log, &log], None);
    assert_eq!(r.code, 0);
    let r = backstep(&["show", &log, "0"], None);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.replace(&log, "empty.jsonl"),
        "backstep: error: empty.jsonl: no call with seq 0 (it holds no calls)\n"
    );
}

#[test]
fn cut_last_line_is_a_note() {
    let d = dir("cut");
    let text = agent_log(S);
    // Cut in the middle of the end line, as a crash would.
    let cut = write(&d, "cut.jsonl", &text[..text.len() - 30]);
    let r = backstep(&["summary", &cut], None);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stderr.replace(&cut, "cut.jsonl"),
        "backstep: note: cut.jsonl:10: last line is cut off (the program stopped while writing it); ignored it and kept the 8 calls before it\n"
    );
    assert!(r.stdout.contains("no end line"), "{}", r.stdout);
    for args in [
        vec!["calls", &cut],
        vec!["cost", &cut],
        vec!["show", &cut, "1"],
    ] {
        let r = backstep(&args, None);
        assert_eq!(r.code, 0, "{args:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn corrupt_middle_line_is_an_error_naming_file_and_line() {
    let d = dir("corrupt");
    let mut lines: Vec<String> = agent_log(S).lines().map(String::from).collect();
    let whole = lines[4].clone();
    lines[4] = whole.replacen("{", "{oops", 1);
    let bad = write(&d, "bad.jsonl", &(lines.join("\n") + "\n"));
    // A line cut short and later ended with a newline (a run killed while
    // writing it, then resumed) is skipped with a warning.
    lines[4] = whole[..50].to_string();
    let cut = write(&d, "cut.jsonl", &(lines.join("\n") + "\n"));
    for cmd in ["summary", "calls", "cost", "report"] {
        let mut args = vec![cmd, bad.as_str()];
        if cmd == "report" {
            args.extend(["-o", "/dev/null"]);
        }
        let r = backstep(&args, None);
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{cmd}");
        assert_eq!(
            r.stderr.replace(&bad, "bad.jsonl"),
            "backstep: error: bad.jsonl:5: not a JSON record: key must be a string at line 1 column 2\n",
            "{cmd}"
        );
        args[1] = cut.as_str();
        let r = backstep(&args, None);
        assert_eq!(r.code, 0, "{cmd}: {}", r.stderr);
        assert_eq!(
            r.stderr.replace(&cut, "cut.jsonl").lines().next().unwrap_or(""),
            "backstep: note: cut.jsonl:5: a line cut off when its run stopped (not a JSON record: EOF while parsing a value at line 1 column 50); ignored it",
            "{cmd}"
        );
    }
}

#[test]
fn what_is_not_a_log_is_a_one_line_error() {
    let d = dir("not-logs");
    let json = write(&d, "package.json", "{\n  \"name\": \"x\"\n}\n");
    let one = write(&d, "one.json", r#"{"name":"x","version":"1"}"#);
    let text = write(&d, "notes.txt", "hello\nworld\n");
    let binary = d.join("blob.bin");
    std::fs::write(&binary, [0x7f, b'E', b'L', b'F', 0xff, 0xfe, 0, 1, b'\n']).unwrap();
    let binary = binary.to_str().unwrap().to_string();
    let missing = d.join("missing.jsonl").to_str().unwrap().to_string();
    let dir_path = d.to_str().unwrap().to_string();
    let cases = [
        (json.as_str(), "package.json:1: not a backstep session log (a JSON object over 3 lines; a log holds one record per line)"),
        (one.as_str(), "one.json:1: not a backstep session log (no `type` field)"),
        (text.as_str(), "notes.txt:1: not a backstep session log (not JSON: expected value at line 1 column 1)"),
        (binary.as_str(), "blob.bin:1: not a backstep session log (binary data, not UTF-8 text)"),
        (missing.as_str(), "missing.jsonl: no such file"),
        (dir_path.as_str(), "not-logs: is a directory, not a session log file"),
    ];
    for (path, message) in cases {
        for cmd in ["summary", "calls", "cost", "tail"] {
            let r = backstep(&[cmd, path], None);
            assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{cmd} {path}");
            let shown = r
                .stderr
                .replace(&format!("{}/", d.display()), "")
                .replace(&dir_path, "not-logs");
            assert_eq!(
                shown,
                format!("backstep: error: {message}\n"),
                "{cmd} {path}"
            );
        }
    }
}

fn two_sessions() -> String {
    let a = "aaaa1111bbbb2222";
    let b = "cccc3333dddd4444";
    [
        header(a, "first", 1, 0),
        call(
            a,
            0,
            None,
            "search",
            r#"{"q":"one"}"#,
            "[1]",
            "ok",
            None,
            10,
            "2",
            "0.01",
        ),
        call(
            a,
            1,
            None,
            "fetch",
            r#"{"url":"u1"}"#,
            r#""page""#,
            "ok",
            None,
            3_000,
            "5",
            "0",
        ),
        end(a, 9_000, 2, 0, 0, 0, "0.01"),
        header(b, "second", 2, 60_000_000),
        call(
            b,
            0,
            None,
            "search",
            r#"{"q":"two"}"#,
            "[]",
            "ok",
            None,
            60_000_010,
            "3",
            "0.01",
        ),
        call(
            b,
            1,
            None,
            "fetch",
            r#"{"url":"u2"}"#,
            "null",
            "error",
            Some("timeout"),
            60_004_000,
            "30000",
            "0",
        ),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn two_sessions_in_one_file() {
    let d = dir("two-sessions");
    let log = write(&d, "two.jsonl", &two_sessions());
    let r = backstep(&["summary", &log], None);
    assert_eq!(r.code, 0);
    assert_eq!(rel(&r.stdout, &log).replace("two.jsonl", "run.jsonl"), "file     run.jsonl\nspan     2026-12-03 19:00:00.000000 → 19:01:30.004000 UTC (1m 30s)\ncalls    4: 3 ok, 1 error, 0 panicked, 0 cancelled\ncost     $0.02\n\nsession           name    pid  started (UTC)        duration  calls  errors   cost  end\naaaa1111bbbb2222  first     1  2026-12-03 19:00:00   9.00 ms      2       0  $0.01  ended\ncccc3333dddd4444  second    2  2026-12-03 19:01:00   30.00 s      2       1  $0.01  no end line\n\ntool    calls  errors   cost  mean cost      p50      p95      max\nsearch      2       0  $0.02      $0.01  2.00 ms  3.00 ms  3.00 ms\nfetch       2       1  $0         $0     5.00 ms  30.00 s  30.00 s\n");
    let r = backstep(&["calls", &log], None);
    assert_eq!(r.stdout, "session           seq  parent  tool    status  duration   cost  inputs        error\naaaa1111bbbb2222    0       -  search  ok       2.00 ms  $0.01  {\"q\":\"one\"}\naaaa1111bbbb2222    1       -  fetch   ok       5.00 ms  $0     {\"url\":\"u1\"}\ncccc3333dddd4444    0       -  search  ok       3.00 ms  $0.01  {\"q\":\"two\"}\ncccc3333dddd4444    1       -  fetch   error    30.00 s  $0     {\"url\":\"u2\"}  timeout\n\n4 calls, $0.02\n");
    // seq restarts per session: ambiguous without --session, a prefix picks one.
    let r = backstep(&["show", &log, "1"], None);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.replace(&log, "two.jsonl"),
        "backstep: error: two.jsonl: seq 1 is in 2 sessions (aaaa1111bbbb2222, cccc3333dddd4444): choose one with --session ID\n"
    );
    let r = backstep(&["show", &log, "1", "--session", "cccc"], None);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with("call #1 fetch  error\nsession   cccc3333dddd4444 (second)\n"),
        "{}",
        r.stdout
    );
    let r = backstep(&["calls", &log, "--session", "zz"], None);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.replace(&log, "two.jsonl"),
        "backstep: error: two.jsonl: no session `zz` (sessions: aaaa1111bbbb2222, cccc3333dddd4444)\n"
    );
    let r = backstep(&["cost", &log, "--by", "session"], None);
    assert_eq!(r.stdout, "session                    calls   cost   share\naaaa1111bbbb2222 (first)       2  $0.01   50.0%\ncccc3333dddd4444 (second)      2  $0.01   50.0%\n\ntotal                          4  $0.02  100.0%\n");
    // Each session against the other.
    let r = backstep(
        &[
            "diff",
            &log,
            &log,
            "--session-a",
            "aaaa",
            "--session-b",
            "cccc",
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout.replace(&log, "two.jsonl"), "a: two.jsonl (session aaaa1111bbbb2222)\nb: two.jsonl (session cccc3333dddd4444)\n\nthe runs diverge at call #0 (calls paired by seq; the first call):\n  a: #0 search ok {\"q\":\"one\"}\n  b: #0 search ok {\"q\":\"two\"}\n  inputs:\n    .q  \"one\" → \"two\"\n  output:\n    [0]  1 → (absent)\n\n           a      b  b − a\ncalls      2      2      0\nerror      0      1     +1\ncost   $0.01  $0.01     $0\n");
}

#[test]
fn a_hundred_thousand_calls() {
    let d = dir("100k");
    let mut text = String::with_capacity(100_000 * 260);
    text += &header("big", "stress", 1, 0);
    text.push('\n');
    for i in 0..100_000u64 {
        let tool = ["search", "fetch", "llm", "write"][(i % 4) as usize];
        let status = if i % 1000 == 999 { "error" } else { "ok" };
        let error = (status == "error").then_some("boom");
        let dur = format!("{}", 1 + i % 100);
        text += &call(
            "big",
            i,
            None,
            tool,
            &format!(r#"{{"i":{i}}}"#),
            "true",
            status,
            error,
            i * 10,
            &dur,
            "0.000001",
        );
        text.push('\n');
    }
    text += &end("big", 2_000_000, 100_000, 100, 0, 0, "0.1");
    text.push('\n');
    let log = write(&d, "big.jsonl", &text);
    let r = backstep(&["summary", &log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(rel(&r.stdout, &log).replace("big.jsonl", "run.jsonl"), "file     run.jsonl\nspan     2026-12-03 19:00:00.000000 → 19:00:02.000000 UTC (2.00 s)\ncalls    100000: 99900 ok, 100 error, 0 panicked, 0 cancelled\ncost     $0.1\n\nsession  name    pid  started (UTC)        duration   calls  errors  cost  end\nbig      stress    1  2026-12-03 19:00:00    2.00 s  100000     100  $0.1  ended\n\ntool    calls  errors    cost  mean cost       p50       p95        max\nfetch   25000       0  $0.025  $0.000001  50.00 ms  94.00 ms   98.00 ms\nllm     25000       0  $0.025  $0.000001  51.00 ms  95.00 ms   99.00 ms\nsearch  25000       0  $0.025  $0.000001  49.00 ms  93.00 ms   97.00 ms\nwrite   25000     100  $0.025  $0.000001  52.00 ms  96.00 ms  100.00 ms\n");
    let r = backstep(&["cost", &log], None);
    assert_eq!(r.stdout, "tool     calls    cost   share\nfetch    25000  $0.025   25.0%\nllm      25000  $0.025   25.0%\nsearch   25000  $0.025   25.0%\nwrite    25000  $0.025   25.0%\n\ntotal   100000  $0.1    100.0%\n");
    let r = backstep(&["calls", &log, "--status", "error", "--json"], None);
    assert_eq!(r.stdout.lines().count(), 100);
    let out = d.join("big.html");
    let r = backstep(&["report", &log, "-o", out.to_str().unwrap()], None);
    assert_eq!(r.code, 0);
}

#[test]
fn stdin_and_files_together() {
    let (d, log) = agent("stdin");
    let two = write(&d, "two.jsonl", &two_sessions());
    let r = backstep(
        &["cost", &log, "-", "--by", "session"],
        Some(&std::fs::read_to_string(&two).unwrap()),
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "session                    calls     cost   share\n7f3a9c2e5b1d4f60 (agent)       8  $0.0104   34.2%\naaaa1111bbbb2222 (first)       2  $0.01     32.9%\ncccc3333dddd4444 (second)      2  $0.01     32.9%\n\ntotal                         12  $0.0304  100.0%\n");
    let r = backstep(&["calls", "-", "-"], Some(""));
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (
            2,
            "backstep: error: `-` (standard input) can be given only once\n"
        )
    );
}

#[test]
fn tables_fit_the_width_and_colour_only_when_asked() {
    let (_d, log) = agent("width");
    let r = backstep_env(&["calls", &log], None, &[("COLUMNS", "80")]);
    assert_eq!(r.code, 0);
    for line in r.stdout.lines() {
        assert!(line.chars().count() <= 80, "{line:?} is wider than 80");
    }
    assert!(r.stdout.contains('…'), "{}", r.stdout);
    assert!(!r.stdout.contains('\x1b'));
    let r = backstep_env(
        &["--color", "always", "calls", &log],
        None,
        &[("COLUMNS", "100")],
    );
    assert!(r.stdout.contains("\x1b[31merror\x1b[0m"), "{}", r.stdout);
    // NO_COLOR wins over `auto` (and output to a pipe is never coloured anyway).
    let r = backstep_env(&["calls", &log], None, &[("NO_COLOR", "1")]);
    assert!(!r.stdout.contains('\x1b'));
}

#[test]
fn help_for_every_command() {
    let r = backstep(&["--help"], None);
    assert_eq!(r.code, 0);
    for cmd in ["summary", "calls", "show", "cost", "diff", "tail", "report"] {
        assert!(
            r.stdout.contains(&format!("  {cmd} ")),
            "{cmd} missing from\n{}",
            r.stdout
        );
        let h = backstep(&[cmd, "--help"], None);
        assert_eq!(h.code, 0, "{cmd}");
        assert!(h.stdout.contains("Usage: backstep "), "{cmd}: {}", h.stdout);
    }
    let r = backstep(&[], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage: backstep"), "{}", r.stderr);
    let r = backstep(&["sumary", "x"], None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("tip: a similar subcommand exists: 'summary'"),
        "{}",
        r.stderr
    );
    let r = backstep(&["calls", "x", "--status", "fine"], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("unknown status `fine`"), "{}", r.stderr);
    let r = backstep(&["--version"], None);
    assert_eq!(
        r.stdout,
        format!("backstep {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn diff_compares_values_too_deep_for_json_as_text() {
    let d = dir("diff-deep");
    let deep = |leaf: &str| format!(r#"{{"x":{}{leaf}{}}}"#, "[".repeat(200), "]".repeat(200));
    let line = |inputs: &str, output: &str| {
        call(S, 0, None, "nest", inputs, output, "ok", None, 0, "1", "0") + "\n"
    };
    let a = write(&d, "a.jsonl", &line(&deep("1"), "null"));
    let b = write(&d, "b.jsonl", &line(&deep("2"), "null"));
    let c = write(&d, "c.jsonl", &line(&deep("1"), &deep("true")));
    let names = |text: &str| {
        text.replace(&a, "a.jsonl")
            .replace(&b, "b.jsonl")
            .replace(&c, "c.jsonl")
    };
    let same = backstep(&["diff", &a, &a], None);
    assert_eq!(same.code, 0, "{}", same.stdout);
    let r = backstep(&["diff", &a, &b], None);
    assert_eq!(r.code, 1);
    assert_eq!(names(&r.stdout), "a: a.jsonl\nb: b.jsonl\n\nthe runs diverge at call #0 (calls paired by seq; the first call):\n  a: #0 nest ok {\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…\n  b: #0 nest ok {\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…\n  inputs (nested deeper than 128 levels: compared as text):\n    .  from character 206: …[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]… → …[[[[[[[[[[[[[[[[[[[[2]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]…\n\n        a   b  b − a\ncalls   1   1      0\ncost   $0  $0     $0\n");
    let r = backstep(&["diff", &a, &c], None);
    assert_eq!(r.code, 1);
    assert_eq!(names(&r.stdout), "a: a.jsonl\nb: c.jsonl\n\nthe runs diverge at call #0 (calls paired by seq; the first call):\n  a: #0 nest ok {\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…\n  b: #0 nest ok {\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…\n  output (nested deeper than 128 levels: compared as text):\n    .  from character 1: null → {\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[…\n\n        a   b  b − a\ncalls   1   1      0\ncost   $0  $0     $0\n");
}

#[test]
fn diff_of_a_run_cut_short_names_the_missing_call() {
    let (d, log) = agent("diff-cut");
    // Cut while #3 analyze was running: its nested calls #4 and #5 finished
    // (their lines are written), its own line never was.
    let cut: String = agent_log(S)
        .lines()
        .take(6)
        .map(|l| format!("{l}\n"))
        .collect();
    let cut = write(&d, "cut.jsonl", &cut);
    let r = backstep(&["diff", &log, &cut], None);
    assert_eq!(r.code, 1);
    assert_eq!(rel(&r.stdout, &log).replace(&cut, "cut.jsonl"), "a: run.jsonl\nb: cut.jsonl\n\nthe runs diverge at call #3 (calls paired by seq; the 3 calls before it match):\n  a: #3 analyze ok {\"path\":\"./b.rs\"}\n  b: no call #3, but its nested calls #4 and #5 are there: #3 was still running when b's log ended\n\n                     a        b   b − a\ncalls                8        5      -3\nerror                2        2       0\npanicked             1        0      -1\ncancelled            1        0      -1\ncost           $0.0104  $0.0004  -$0.01\n\nanalyze calls        2        1      -1\nfetch calls          1        0      -1\nsearch calls         1        0      -1\nsearch cost      $0.01       $0  -$0.01\n");
    let r = backstep(&["diff", &cut, &log], None);
    assert_eq!(r.code, 1);
    assert_eq!(
        rel(&r.stdout, &log)
            .replace(&cut, "cut.jsonl")
            .lines()
            .take(6)
            .collect::<Vec<_>>()
            .join("\n"),
        "a: cut.jsonl\nb: run.jsonl\n\nthe runs diverge at call #3 (calls paired by seq; the 3 calls before it match):\n  a: no call #3, but its nested calls #4 and #5 are there: #3 was still running when a's log ended\n  b: #3 analyze ok {\"path\":\"./b.rs\"}"
    );
}

#[test]
fn show_says_when_parent_links_loop() {
    let d = dir("show-loop");
    let log = common::looping_log(&d, S, 1);
    let r = backstep(&["show", &log, "3"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "call #3 selfish  ok\nsession   7f3a9c2e5b1d4f60\nstarted   2026-12-03 19:00:00.000030 UTC\nduration  1.00 ms\ncost      $0\nthread    main\n\nparents (outermost first)\n  … parent #3 again: the log's parent links loop\n\ninputs\n  {}\n\noutput\n  null\n\nchildren  none\n");
    let r = backstep(&["show", &log, "4"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "call #4 leaf  ok\nsession   7f3a9c2e5b1d4f60\nstarted   2026-12-03 19:00:00.000040 UTC\nduration  1.00 ms\ncost      $0\nthread    main\n\nparents (outermost first)\n  … parent #1 again: the log's parent links loop\n  seq  parent  tool     status  duration  cost  inputs\n    2       1  substep  ok       1.00 ms    $0  {}\n    1       2  step     ok       1.00 ms    $0  {}\n\ninputs\n  {}\n\noutput\n  null\n\nchildren  none\n");
}

#[test]
fn wide_characters_line_up_in_tables() {
    let d = dir("wide");
    let line = |seq: u64, tool: &str, inputs: &str, cost: &str| {
        call(
            S,
            seq,
            None,
            tool,
            inputs,
            "null",
            "ok",
            None,
            seq * 10,
            "2.5",
            cost,
        )
    };
    let log = write(
        &d,
        "wide.jsonl",
        &([
            line(0, "日本語ツール", r#"{"q":"東京の天気"}"#, "0.0125"),
            line(1, "emoji🚀", r#"{"q":"🚀🚀"}"#, "0.5"),
            line(2, "plain", r#"{"q":"x"}"#, "0"),
        ]
        .join("\n")
            + "\n"),
    );
    let r = backstep(&["calls", &log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "seq  parent  tool          status  duration     cost  inputs\n  0       -  日本語ツール  ok       2.50 ms  $0.0125  {\"q\":\"東京の天気\"}\n  1       -  emoji🚀       ok       2.50 ms  $0.5     {\"q\":\"🚀🚀\"}\n  2       -  plain         ok       2.50 ms  $0       {\"q\":\"x\"}\n\n3 calls, $0.5125\n");
    let r = backstep(&["cost", &log], None);
    assert_eq!(r.stdout, "tool          calls     cost   share\nemoji🚀           1  $0.5      97.6%\n日本語ツール      1  $0.0125    2.4%\nplain             1  $0         0.0%\n\ntotal             3  $0.5125  100.0%\n");
    // A narrow terminal: free text gives way (by columns, not characters),
    // down to 8 columns; tool names of 12 columns are kept; numbers are never
    // cut, and the lines are as wide as that takes.
    let narrow = "seq  parent  tool          status  duration     cost  inputs\n  0       -  日本語ツール  ok       2.50 ms  $0.0125  {\"q\":\"…\n  1       -  emoji🚀       ok       2.50 ms  $0.5     {\"q\":\"…\n  2       -  plain         ok       2.50 ms  $0       {\"q\":\"x…\n\n3 calls, $0.5125\n";
    for columns in ["48", "30"] {
        let r = backstep_env(&["calls", &log], None, &[("COLUMNS", columns)]);
        assert_eq!(r.stdout, narrow, "COLUMNS={columns}");
    }
}

#[test]
fn json_that_is_not_a_log_and_other_messages() {
    let d = dir("messages");
    let array = write(&d, "array.json", "[1,2,3]\n");
    let string = write(&d, "string.json", "\"hello\"\n");
    let pretty = write(&d, "pretty.json", "[\n  {\"type\": \"call\"},\n  2\n]\n");
    for (path, why) in [
        (&array, "array.json:1: not a backstep session log (a JSON array, not a log record)"),
        (&string, "string.json:1: not a backstep session log (a JSON string, not a log record)"),
        (&pretty, "pretty.json:1: not a backstep session log (a JSON array over 4 lines; a log holds one record per line)"),
    ] {
        for cmd in ["summary", "calls", "show", "tail"] {
            let mut args = vec![cmd, path.as_str()];
            if cmd == "show" {
                args.push("0");
            }
            let r = backstep(&args, None);
            assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{cmd} {path}");
            assert_eq!(
                r.stderr.replace(&format!("{}/", d.display()), ""),
                format!("backstep: error: {why}\n"),
                "{cmd} {path}"
            );
        }
    }
    // Standard input too.
    let r = backstep(&["calls", "-"], Some("[1,2,3]\n"));
    assert_eq!(
        r.stderr,
        "backstep: error: <stdin>:1: not a backstep session log (a JSON array, not a log record)\n"
    );

    // A byte order mark before the first line is skipped.
    let bom = write(&d, "bom.jsonl", &format!("\u{feff}{}", agent_log(S)));
    let plain = write(&d, "plain.jsonl", &agent_log(S));
    for cmd in ["summary", "calls", "cost"] {
        let r = backstep(&[cmd, &bom], None);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{cmd}");
        let want = backstep(&[cmd, &plain], None);
        assert_eq!(r.stdout.replace(&bom, &plain), want.stdout, "{cmd}");
    }
    let r = backstep(&["show", &bom, "0"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let r = backstep(&["diff", &bom, &plain], None);
    assert_eq!(r.code, 0, "{}", r.stdout);

    // A negative --min-cost, with or without `=`.
    let spaced = backstep(&["calls", &plain, "--min-cost", "-1"], None);
    let joined = backstep(&["calls", &plain, "--min-cost=-1"], None);
    assert_eq!((spaced.code, spaced.stderr.as_str()), (0, ""));
    assert_eq!(spaced.stdout, joined.stdout);
    assert!(
        spaced.stdout.ends_with("\n8 calls, $0.0104\n"),
        "{}",
        spaced.stdout
    );
    let r = backstep(&["calls", &plain, "--min-cost", "-$0.5", "--json"], None);
    assert_eq!(r.stdout.lines().count(), 8);
    let r = backstep(&["calls", &plain, "--min-cost", "--json"], None);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, "error: invalid value '--json' for '--min-cost <USD>': `--json` is not an amount of dollars (like 0.01)\n\nFor more information, try '--help'.\n");

    // --tool naming no tool of the log: a hint on stderr, exit 0.
    let r = backstep(&["calls", &plain, "--tool", "reed_file"], None);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout.replace(&plain, "run.jsonl"),
        "no call matches (8 calls in run.jsonl)\n"
    );
    assert_eq!(r.stderr.replace(&plain, "run.jsonl"), "backstep: note: no tool is named `reed_file` in run.jsonl; its tools are: analyze, fetch, plan, read_file, search, summarize\n");
    // A tool that is there but has no call passing the other filters: no hint.
    let r = backstep(
        &["calls", &plain, "--tool", "plan", "--status", "error"],
        None,
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
}

/// Two processes appending to one file interleave their lines, and each
/// writes a parent's line after its children's: `calls` and `cost` read the
/// file one record at a time, and still list the calls in start order,
/// session by session (in the order the sessions first appear), and name
/// each parent from its later line.
#[test]
fn interleaved_sessions_in_start_order() {
    let d = dir("interleaved");
    let c = ok_call;
    let lines = [
        header("bbbb2222", "second", 2, 0),
        c("bbbb2222", 1, Some(0), "fetch", "0.5"),
        header("aaaa1111", "first", 1, 0),
        c("aaaa1111", 1, Some(0), "search", "0.25"),
        c("bbbb2222", 0, None, "plan", "0"),
        c("aaaa1111", 0, None, "plan", "0"),
        c("aaaa1111", 2, None, "search", "0.125"),
    ];
    let log = write(&d, "mixed.jsonl", &(lines.join("\n") + "\n"));
    let r = backstep(&["calls", &log, "--tool", "plan", "--tool", "search"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let rows: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        rows[0].split_whitespace().collect::<Vec<_>>()[..3],
        ["session", "seq", "parent"]
    );
    let order: Vec<Vec<&str>> = rows[1..5]
        .iter()
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        order,
        [
            ["bbbb2222", "0", "-", "plan"],
            ["aaaa1111", "0", "-", "plan"],
            ["aaaa1111", "1", "0", "search"],
            ["aaaa1111", "2", "-", "search"],
        ]
    );
    assert_eq!(rows.last(), Some(&"4 of 5 calls, $0.375"));

    let r = backstep(&["calls", &log, "--session", "aaaa", "--json"], None);
    let seqs: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| {
            l.split("\"seq\":")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, ["0", "1", "2"]);

    let r = backstep(&["cost", &log, "--by", "parent"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "parent            calls    cost   share\nbbbb2222 #0 plan      1  $0.5     57.1%\naaaa1111 #0 plan      1  $0.25    28.6%\n(top level)           3  $0.125   14.3%\n\ntotal                 5  $0.875  100.0%\n");
}

/// "errors" counts status `error` only, as the log's end line,
/// `Log::stats_by_tool` and `calls --status error` do; panicked and cancelled
/// calls get their own columns when the log has any, so that each column
/// adds up to its figure on the `calls` line.
#[test]
fn errors_count_status_error_only_and_other_failures_have_columns() {
    let (_d, log) = agent("errors-column");
    let r = backstep(&["summary", &log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let words = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    let lines: Vec<String> = r.stdout.lines().map(words).collect();
    assert_eq!(lines[2], "calls 8: 4 ok, 2 error, 1 panicked, 1 cancelled");
    assert_eq!(
        lines[5],
        "session name pid started (UTC) duration calls errors panicked cancelled cost end"
    );
    assert_eq!(
        lines[6],
        "7f3a9c2e5b1d4f60 agent 4242 2026-12-03 19:00:00 1.80 s 8 2 1 1 $0.0104 ended"
    );
    assert_eq!(
        lines[8],
        "tool calls errors panicked cancelled cost mean cost p50 p95 max"
    );
    let tool = |name: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .clone()
    };
    // The cancelled fetch and the panicked search are not errors.
    assert_eq!(tool("fetch"), "fetch 1 0 0 1 $0 $0 1.50 s 1.50 s 1.50 s");
    assert_eq!(
        tool("search"),
        "search 1 0 1 0 $0.01 $0.01 250.00 ms 250.00 ms 250.00 ms"
    );
    assert_eq!(
        tool("analyze"),
        "analyze 2 1 0 0 $0 $0 70.00 µs 13.75 ms 13.75 ms"
    );

    // A log with errors only keeps the table it had: no empty columns.
    let d = dir("errors-only");
    let only = write(&d, "two.jsonl", &two_sessions());
    let r = backstep(&["summary", &only], None);
    assert!(
        r.stdout
            .contains("\ntool    calls  errors   cost  mean cost "),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("panicked  "), "{}", r.stdout);
}

/// Numbers are never cut or left out, however narrow the terminal: text
/// columns give way down to a minimum (8 columns for free text, 12 for tool
/// names), and a table that still does not fit is printed wider than the
/// terminal.
#[test]
fn narrow_terminals_never_hide_numbers() {
    let d = dir("narrow");
    let long = "generate_image_variations";
    let mut text = agent_log(S);
    text = text.replace("\"search\"", &format!("\"{long}\""));
    let log = write(&d, "run.jsonl", &text);
    let wide = |cmd: &[&str]| backstep_env(cmd, None, &[("COLUMNS", "250")]).stdout;
    for columns in ["50", "30", "20"] {
        let narrow = |cmd: &[&str]| {
            let r = backstep_env(cmd, None, &[("COLUMNS", columns)]);
            assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{cmd:?}");
            r.stdout
        };
        // summary has no free text to shorten but the tool names: the
        // output is the wide one, and with a long tool name the same at
        // every width, the name stopping at 12 columns.
        let plain = write(&d, "plain.jsonl", &agent_log(S));
        assert_eq!(
            narrow(&["summary", &plain]),
            wide(&["summary", &plain]),
            "COLUMNS={columns}"
        );
        assert_eq!(
            narrow(&["summary", &log]),
            backstep_env(&["summary", &log], None, &[("COLUMNS", "20")]).stdout
        );
        assert!(narrow(&["summary", &log]).contains("\ngenerate_im…      1 "));
        for cmd in [
            vec!["summary", log.as_str()],
            vec!["calls", log.as_str()],
            vec!["cost", log.as_str(), "--by", "parent"],
            vec!["show", log.as_str(), "5"],
            vec!["tail", log.as_str(), "-n", "all", "--until-end"],
        ] {
            let out = narrow(&cmd);
            for number in [
                "1.25 ms",
                "70.00 µs",
                "6.50 µs",
                "13.75 ms",
                "500.00 µs",
                "12.50 ms",
                "250.00 ms",
                "1.50 s",
                "$0.0104",
                "$0.0004",
                "$0.01",
            ] {
                let full = wide(&cmd).matches(number).count();
                assert_eq!(
                    out.matches(number).count(),
                    full,
                    "{cmd:?} at COLUMNS={columns}: {number} cut or left out:\n{out}"
                );
            }
            for line in out.lines() {
                assert!(
                    !line.contains(" … ") && !line.ends_with(" …"),
                    "{cmd:?} at COLUMNS={columns}: {line:?}"
                );
                assert!(
                    !line.contains("t…") || line.contains("{"),
                    "{cmd:?}: a name cut to one letter: {line:?}"
                );
            }
        }
        let calls = narrow(&["calls", &log]);
        assert!(
            calls.contains("  generate_im…  panicked   250.00 ms  $0.01    "),
            "{calls}"
        );
        assert!(calls.contains("  read_file  "), "{calls}");
    }
    assert_eq!(
        backstep_env(&["calls", &log, "--tool", "read_file"], None, &[("COLUMNS", "30")]).stdout,
        "seq  parent  tool       status   duration  cost  inputs    error\n  2       1  read_file  error     6.50 µs    $0  {\"path\"…  No such…\n  4       3  read_file  ok      500.00 µs    $0  {\"path\"…\n\n2 of 8 calls, $0\n"
    );
}
