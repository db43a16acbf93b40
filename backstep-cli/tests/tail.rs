//! `backstep tail` following a log that another process is writing.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{agent_log, backstep, backstep_env, dir, ok_call};

const S: &str = "7f3a9c2e5b1d4f60";
const LIMIT: Duration = Duration::from_secs(30);

/// A running `backstep tail`, its output read line by line.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Tail {
    fn start(args: &[&str]) -> Tail {
        let mut child = Command::new(env!("CARGO_BIN_EXE_backstep"))
            .arg("tail")
            .args(args)
            .args(["--interval", "20"])
            .env("COLUMNS", "100")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Tail {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until `n` lines in all were printed.
    fn wait_lines(&mut self, n: usize) {
        let deadline = Instant::now() + LIMIT;
        while self.seen.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "tail printed {} lines, not {n}: {:#?}",
                    self.seen.len(),
                    self.seen
                ),
            }
        }
    }

    /// Waits for the exit code, and collects what else was printed.
    fn wait_exit(mut self) -> (i32, String) {
        let deadline = Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                return (status.code().unwrap(), self.seen.join("\n") + "\n");
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("tail did not exit; it printed {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| format!("{l}\n")).collect()
}

const ALL: &str = "\
19:00:00.000  ── session 7f3a9c2e5b1d4f60 (agent) started, pid 4242
19:00:00.000      0     -  plan            ok          1.25 ms   $0           {\"goal\":\"audit\"}
19:00:00.001      2     1  read_file       error       6.50 µs   $0           {\"path\":\"./a.rs\"}  No…
19:00:00.001      1     -  analyze         error      70.00 µs   $0           {\"path\":\"./a.rs\"}  No…
19:00:00.001      4     3  read_file       ok        500.00 µs   $0           {\"path\":\"./b.rs\"}
19:00:00.002      5     3  summarize       ok         12.50 ms   $0.0004      {\"path\":\"./b.rs\",\"tok…
19:00:00.001      3     -  analyze         ok         13.75 ms   $0           {\"path\":\"./b.rs\"}
19:00:00.016      6     -  search          panicked  250.00 ms   $0.01        {\"query\":\"rust cli\",\"…
19:00:00.270      7     -  fetch           cancelled    1.50 s   $0           {\"url\":\"https://examp…
19:00:01.800  ── session 7f3a9c2e5b1d4f60 ended:
                 8 calls (4 ok, 2 error, 1 panicked, 1 cancelled), $0.0104
";

#[test]
fn follows_a_growing_log_until_its_session_ends() {
    let d = dir("tail-follow");
    let path = d.join("live.jsonl");
    let log = lines(&agent_log(S));
    std::fs::write(&path, log[..3].concat()).unwrap();
    let mut tail = Tail::start(&[path.to_str().unwrap(), "--until-end"]);
    tail.wait_lines(3);
    // A line written in two pieces is printed once, whole.
    let (a, b) = log[3].split_at(40);
    append(&path, a);
    std::thread::sleep(Duration::from_millis(150));
    append(&path, b);
    tail.wait_lines(4);
    append(&path, &log[4..].concat());
    let (code, out) = tail.wait_exit();
    assert_eq!(code, 0);
    assert_eq!(out, ALL);
}

#[test]
fn prints_the_last_lines_then_stops_after_max_calls() {
    let d = dir("tail-max");
    let path = d.join("live.jsonl");
    let log = lines(&agent_log(S));
    std::fs::write(&path, log[..5].concat()).unwrap();
    let mut tail = Tail::start(&[path.to_str().unwrap(), "-n", "2", "--max-calls", "4"]);
    tail.wait_lines(2);
    append(&path, &log[5..].concat());
    let (code, out) = tail.wait_exit();
    assert_eq!(code, 0);
    let want: Vec<&str> = ALL.lines().skip(3).take(4).collect();
    assert_eq!(out, want.join("\n") + "\n");
}

#[test]
fn a_finished_log_with_until_end_prints_and_exits() {
    let d = dir("tail-done");
    let path = common::write(&d, "done.jsonl", &agent_log(S));
    let r = backstep(&["tail", &path, "-n", "3", "--until-end"], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let want: Vec<&str> = ALL.lines().skip(7).collect();
    assert_eq!(r.stdout, want.join("\n") + "\n");
    // Standard input is read to its end.
    let r = backstep(&["tail", "-"], Some(&agent_log(S)));
    assert_eq!((r.code, r.stdout.as_str()), (0, ALL));
}

#[test]
fn standard_input_prints_its_last_lines_once_it_closes() {
    let log = agent_log(S);
    // As `tail -n 2` on a pipe: the last 2 lines, at the end of the input.
    let r = backstep(&["tail", "-", "-n", "2"], Some(&log));
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let want: Vec<&str> = ALL.lines().skip(8).collect();
    assert_eq!(r.stdout, want.join("\n") + "\n");
    let r = backstep(&["tail", "-", "-n", "0"], Some(&log));
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    // --max-calls counts the calls printed from those last lines.
    let r = backstep(&["tail", "-", "-n", "4", "--max-calls", "2"], Some(&log));
    let want: Vec<&str> = ALL.lines().skip(6).take(2).collect();
    assert_eq!(r.stdout, want.join("\n") + "\n");
    // `-n all` prints every line (as it arrives).
    let r = backstep(&["tail", "-", "-n", "all"], Some(&log));
    assert_eq!((r.code, r.stdout.as_str()), (0, ALL));
    let r = backstep(&["tail", "--help"], None);
    assert!(
        r.stdout.contains("Standard input (`-`) is read until it closes, and then its last N lines are\nprinted, as `tail -n N` does on a pipe"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let d = dir("tail-bom");
    let path = common::write(&d, "bom.jsonl", &format!("\u{feff}{}", agent_log(S)));
    let r = backstep(&["tail", &path, "-n", "all", "--until-end"], None);
    assert_eq!((r.code, r.stderr.as_str(), r.stdout.as_str()), (0, "", ALL));
    let r = backstep(
        &["tail", "-", "-n", "all"],
        Some(&format!("\u{feff}{}", agent_log(S))),
    );
    assert_eq!((r.code, r.stderr.as_str(), r.stdout.as_str()), (0, "", ALL));
}

#[test]
fn costs_line_up_on_the_decimal_point() {
    // As in the tables: `$0.0004` over `$0.01` over `$0`, points in one column.
    let points: Vec<usize> = ALL
        .lines()
        .filter(|l| !l.contains("──") && !l.starts_with(' '))
        .map(|l| {
            let at = l.find('$').unwrap();
            let cost: String = l[at..].chars().take_while(|c| !c.is_whitespace()).collect();
            // In characters: `µs` takes two bytes.
            l[..at].chars().count() + cost.find('.').unwrap_or(cost.len())
        })
        .collect();
    assert_eq!(points.len(), 8);
    assert!(points.iter().all(|&p| p == points[0]), "{ALL}");
}

#[test]
fn a_replaced_log_is_read_from_its_start() {
    let d = dir("tail-replaced");
    let path = d.join("live.jsonl");
    let log = lines(&agent_log(S));
    std::fs::write(&path, log[..2].concat()).unwrap();
    let mut tail = Tail::start(&[path.to_str().unwrap(), "--until-end"]);
    tail.wait_lines(2);
    // A new run removes the file and writes it again (as the example agent does).
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, log.concat()).unwrap();
    let (code, out) = tail.wait_exit();
    assert_eq!(code, 0);
    let shown = out.replace(path.to_str().unwrap(), "live.jsonl");
    let first: Vec<&str> = ALL.lines().take(2).collect();
    assert_eq!(
        shown,
        format!(
            "{}\n── live.jsonl was replaced: reading it from the start\n{ALL}",
            first.join("\n")
        )
    );
}

#[test]
fn a_corrupt_line_stops_tail_with_its_place() {
    let d = dir("tail-corrupt");
    let log = lines(&agent_log(S));
    let text = format!("{}{{\"type\":\"call\",\n{}", log[..2].concat(), log[2]);
    let path = common::write(&d, "bad.jsonl", &text);
    let r = backstep(&["tail", &path], None);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.replace(&path, "bad.jsonl"),
        "backstep: error: bad.jsonl:3: not a JSON record: EOF while parsing a value at line 1 column 15\n"
    );
}

/// The tool column is as wide as the longest name read so far, at least 14
/// columns, and at most what the terminal leaves: names are whole when
/// there is room, cut (to 12 columns at least) when there is not.
#[test]
fn the_tool_column_follows_the_names_and_the_terminal() {
    let long = "generate_image_variations"; // 25 columns
    let log = [
        ok_call(S, 0, None, "plan", "0"),
        ok_call(S, 1, None, long, "0.01"),
        ok_call(S, 2, None, "plan", "0"),
    ]
    .join("\n")
        + "\n";
    let tail = |columns: &str, args: &[&str], input: Option<&str>| {
        let r = backstep_env(args, input, &[("COLUMNS", columns)]);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""));
        r.stdout
    };
    // Lines printed as they come: 14 columns for `plan`, then the column
    // widens for the long name, and stays so.
    let wide = "\
19:00:00.000      0     -  plan            ok          1.00 ms   $0           {}
19:00:00.000      1     -  generate_image_variations  ok          1.00 ms   $0.01        {}
19:00:00.000      2     -  plan                       ok          1.00 ms   $0           {}
";
    assert_eq!(tail("100", &["tail", "-", "-n", "all"], Some(&log)), wide);
    // The names already in the file set the width, printed or not.
    let d = dir("tail-tool-column");
    let path = common::write(&d, "long.jsonl", &log);
    assert_eq!(
        tail("100", &["tail", &path, "-n", "1", "--max-calls", "1"], None),
        "19:00:00.000      2     -  plan                       ok          1.00 ms   $0           {}\n"
    );
    // 80 columns leave 12 for the names (and 8 for the inputs).
    assert_eq!(
        tail("80", &["tail", "-", "-n", "all"], Some(&log)),
        "\
19:00:00.000      0     -  plan          ok          1.00 ms   $0           {}
19:00:00.000      1     -  generate_im…  ok          1.00 ms   $0.01        {}
19:00:00.000      2     -  plan          ok          1.00 ms   $0           {}
"
    );
    // In a replay's log, the `replayed` mark takes its room from the names.
    let replay = [
        common::replayed(ok_call(S, 0, None, long, "0.01")),
        ok_call(S, 1, None, "plan", "0"),
    ]
    .join("\n")
        + "\n";
    assert_eq!(
        tail("100", &["tail", "-", "-n", "all"], Some(&replay)),
        "\
19:00:00.000      0     -  generate_image_va…  ok          1.00 ms   $0.01        replayed  {}
19:00:00.000      1     -  plan                ok          1.00 ms   $0           {}
"
    );
    assert_eq!(
        tail("120", &["tail", "-", "-n", "all"], Some(&replay)),
        "\
19:00:00.000      0     -  generate_image_variations  ok          1.00 ms   $0.01        replayed  {}
19:00:00.000      1     -  plan                       ok          1.00 ms   $0           {}
"
    );
}

/// Columns a line takes on a terminal (`µs` is one).
fn columns(line: &str) -> usize {
    line.chars().count()
}

/// Numbers wider than the columns a line keeps for them (a seq or parent
/// past 99999, a cost of $1000 or more) take their room from the tool name
/// when it is as wide as the terminal lets it be: the line still fits, and
/// no number is cut.
#[test]
fn wide_numbers_take_their_room_from_the_name() {
    let inputs = r#"{"query":"unpaid invoices for november 2026"}"#;
    let line = |seq: u64, parent: Option<u64>, tool: &str, cost: &str| {
        common::call(
            S, seq, parent, tool, inputs, "null", "ok", None, 0, "1", cost,
        )
    };
    let log = [
        common::header(S, "agent", 4242, 0),
        line(
            99_998,
            None,
            "fetch_customer_invoices_from_billing_api",
            "0",
        ),
        line(100_000, None, "search", "0"),
        line(1_234_567, Some(1_234_566), "search", "0"),
        line(99_999, None, "search", "1234.5"),
        line(2, None, "search", "0"),
        common::end(S, 1_000, 5, 0, 0, 0, "1234.5"),
    ]
    .join("\n")
        + "\n";
    let d = dir("tail-wide-numbers");
    let path = common::write(&d, "wide.jsonl", &log);
    let r = backstep(
        &[
            "tail",
            &path,
            "-n",
            "all",
            "--until-end",
            "--color",
            "never",
        ],
        None,
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    // A wider seq or parent takes its columns from the name, so the status
    // stays put; a wider cost too, so its decimal point stays put (the
    // status and duration before it move left). The inputs start in one
    // column throughout.
    assert_eq!(
        r.stdout,
        "\
19:00:00.000  ── session 7f3a9c2e5b1d4f60 (agent) started, pid 4242
19:00:00.000  99998     -  fetch_customer_invoices_fro…  ok          1.00 ms   $0           {\"query…
19:00:00.000  100000     -  search                       ok          1.00 ms   $0           {\"query…
19:00:00.000  1234567 1234566  search                    ok          1.00 ms   $0           {\"query…
19:00:00.000  99999     -  search                      ok          1.00 ms  $1234.5         {\"query…
19:00:00.000      2     -  search                        ok          1.00 ms   $0           {\"query…
19:00:00.001  ── session 7f3a9c2e5b1d4f60 ended: 5 calls (5 ok, 0 error), $1234.5
"
    );
    for l in r.stdout.lines() {
        assert!(columns(l) <= 100, "{} columns: {l}", columns(l));
    }
    // On a terminal too narrow for a 12-column name and 8 of inputs, the
    // name keeps its 12 and the numbers are whole: the line is wider.
    let r = backstep_env(
        &["tail", &path, "-n", "3", "--until-end", "--color", "never"],
        None,
        &[("COLUMNS", "60")],
    );
    assert_eq!(
        r.stdout,
        "\
19:00:00.000  99999     -  search        ok          1.00 ms  $1234.5         {\"query…
19:00:00.000      2     -  search        ok          1.00 ms   $0           {\"query…
19:00:00.001  ── session 7f3a9c2e5b1d4f60 ended:
                 5 calls (5 ok, 0 error), $1234.5
"
    );
}

/// What someone watching an agent sees of the tool column: it widens as
/// longer names arrive, and narrows only where a line would otherwise not
/// fit the terminal: for that line, when its numbers outgrow their columns,
/// and from the first replayed call on, by the room the `replayed` mark
/// takes on every line.
#[test]
fn the_tool_column_narrows_only_where_a_line_would_not_fit() {
    let long = "fetch_customer_invoices_from_billing_api"; // 40 columns
    let log = [
        ok_call(S, 0, None, "plan", "0"),
        ok_call(S, 1, None, "search", "0"),
        ok_call(S, 2, None, "generate_image_variations", "0"),
        ok_call(S, 3, None, long, "0"),
        ok_call(S, 4, None, "plan", "1234.5"),
        ok_call(S, 5, None, "plan", "0"),
        common::replayed(ok_call(S, 6, None, "plan", "0")),
        ok_call(S, 7, None, "plan", "0"),
    ]
    .join("\n")
        + "\n";
    let r = backstep(&["tail", "-", "-n", "all"], Some(&log));
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert_eq!(
        r.stdout,
        "\
19:00:00.000      0     -  plan            ok          1.00 ms   $0           {}
19:00:00.000      1     -  search          ok          1.00 ms   $0           {}
19:00:00.000      2     -  generate_image_variations  ok          1.00 ms   $0           {}
19:00:00.000      3     -  fetch_customer_invoices_fro…  ok          1.00 ms   $0           {}
19:00:00.000      4     -  plan                        ok          1.00 ms  $1234.5         {}
19:00:00.000      5     -  plan                          ok          1.00 ms   $0           {}
19:00:00.000      6     -  plan                ok          1.00 ms   $0           replayed  {}
19:00:00.000      7     -  plan                ok          1.00 ms   $0           {}
"
    );
}

/// A session's start and end fit the terminal as the calls' lines do. One
/// too long for it becomes a heading (`── session … ended:`) with what it
/// says on lines indented under `session`, broken between clauses (the
/// counts, the cost) and, where a clause alone is too long, between its
/// parts; nothing is cut. Zero panicked and cancelled counts are left out,
/// as the tables leave out their columns; errors are always counted.
#[test]
fn session_lines_fit_the_terminal() {
    let name = "nightly-audit-of-the-billing-service-and-its-customer-invoices";
    let log = common::replay_log(S).replacen("\"agent\"", &format!("\"{name}\""), 1);
    let tail = |columns: &str| {
        let r = backstep_env(
            &["tail", "-", "-n", "all"],
            Some(&log),
            &[("COLUMNS", columns)],
        );
        assert_eq!((r.code, r.stderr.as_str()), (0, ""));
        r.stdout
    };
    let out = tail("100");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "19:00:00.000  ── session 7f3a9c2e5b1d4f60",
            &format!("                 ({name}) started, pid 5151"),
        ]
    );
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "19:00:00.001  ── session 7f3a9c2e5b1d4f60 ended:",
            "                 5 calls (4 ok, 1 error; 4 replayed), $0.0114 ($0.0104 replayed, not spent)",
        ]
    );
    for l in &lines {
        assert!(columns(l) <= 100, "{} columns: {l}\n{out}", columns(l));
    }
    // Narrower: the clauses go on lines of their own, the name is cut (it
    // is text), the numbers are whole.
    let out = tail("60");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "19:00:00.000  ── session 7f3a9c2e5b1d4f60",
            "                 (nightly-audit-of-the-billing-se…) started,",
            "                 pid 5151",
        ]
    );
    assert_eq!(
        lines[lines.len() - 3..],
        [
            "19:00:00.001  ── session 7f3a9c2e5b1d4f60 ended:",
            "                 5 calls (4 ok, 1 error; 4 replayed),",
            "                 $0.0114 ($0.0104 replayed, not spent)",
        ]
    );
    for l in lines
        .iter()
        .filter(|l| !l.contains("  ok  ") && !l.contains("  error  "))
    {
        assert!(columns(l) <= 60, "{} columns: {l}\n{out}", columns(l));
    }
    // With room, a session's start and end are a line each, and wrapped
    // they say the same words (the name aside, when cut).
    let wide = tail("300");
    assert_eq!(wide.lines().count(), 7, "{wide}");
    assert!(wide.ends_with("  ── session 7f3a9c2e5b1d4f60 ended: 5 calls (4 ok, 1 error; 4 replayed), $0.0114 ($0.0104 replayed, not spent)\n"), "{wide}");
    let ends = |text: &str| {
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let (start, _) = text.split_once("\n19:").unwrap();
        let (_, end) = text.rsplit_once("\n19:").unwrap();
        (words(start), words(end))
    };
    assert_eq!(ends(&tail("100")), ends(&wide));
    assert_eq!(ends(&tail("60")).1, ends(&wide).1);
}

/// `-n all` on a file measures what is already in it before it prints its
/// first line, as `-n N` measures the whole file: the tool column has one
/// width from the first line on, that of the longest name, less the room of
/// the `replayed` mark when a call was replayed. (Standard input is printed
/// as it arrives, so there the column widens on the way.)
#[test]
fn all_of_a_file_is_printed_in_the_columns_of_the_whole_file() {
    let long = "generate_image_variations"; // 25 columns
    let d = dir("tail-all-measured");
    let tail = |log: &[String], n: &str| {
        let path = common::write(&d, "late.jsonl", &(log.join("\n") + "\n"));
        let args = ["tail", &path, "-n", n, "--max-calls", "4"];
        let r = backstep(&args, None);
        assert_eq!((r.code, r.stderr.as_str()), (0, ""));
        r.stdout
    };
    let log = [
        ok_call(S, 0, None, "plan", "0"),
        ok_call(S, 1, None, "search", "0"),
        ok_call(S, 2, None, long, "0.01"),
        ok_call(S, 3, None, "plan", "0"),
    ];
    let all = tail(&log, "all");
    assert_eq!(
        all,
        "\
19:00:00.000      0     -  plan                       ok          1.00 ms   $0           {}
19:00:00.000      1     -  search                     ok          1.00 ms   $0           {}
19:00:00.000      2     -  generate_image_variations  ok          1.00 ms   $0.01        {}
19:00:00.000      3     -  plan                       ok          1.00 ms   $0           {}
"
    );
    assert_eq!(tail(&log, "4"), all);
    // A replayed call late in the file: every line keeps room for its mark.
    let replay = [
        ok_call(S, 0, None, "plan", "0"),
        ok_call(S, 1, None, long, "0.01"),
        common::replayed(ok_call(S, 2, None, "search", "0")),
        ok_call(S, 3, None, "plan", "0"),
    ];
    let all = tail(&replay, "all");
    assert_eq!(
        all,
        "\
19:00:00.000      0     -  plan                ok          1.00 ms   $0           {}
19:00:00.000      1     -  generate_image_va…  ok          1.00 ms   $0.01        {}
19:00:00.000      2     -  search              ok          1.00 ms   $0           replayed  {}
19:00:00.000      3     -  plan                ok          1.00 ms   $0           {}
"
    );
    assert_eq!(tail(&replay, "4"), all);
}
