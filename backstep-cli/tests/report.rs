//! `backstep report`: the HTML file on its own, then loaded in a real headless
//! Chromium (Debian's `chromium`; `.ci/run` installs it): every call is in the
//! page, selecting a call shows its inputs, nothing is logged to the console,
//! and a screenshot goes to the test output directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{agent_log, backstep, call, dir, end, header, write};

const S: &str = "7f3a9c2e5b1d4f60";

fn report(log: &str, html: &Path) {
    let r = backstep(&["report", log, "-o", html.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn the_page_is_self_contained() {
    let d = dir("report-static");
    let log = write(&d, "run.jsonl", &agent_log(S));
    let html = d.join("run.html");
    report(&log, &html);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    // Nothing to fetch: no links, no external scripts or images, and a policy
    // that forbids any network access.
    for banned in [
        "<link",
        " src=",
        "href=",
        "url(",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!page.contains(banned), "the page contains {banned}");
    }
    let without_svg_ns = page.replace("\"http://www.w3.org/2000/svg\"", "");
    assert!(
        !without_svg_ns.contains("http://"),
        "a network address in the page"
    );
    assert!(
        !without_svg_ns.contains("https://") || without_svg_ns.matches("https://").count() == 1
    );
    assert!(page.contains("content=\"default-src 'none';"));
    // Standard output works too.
    let r = backstep(&["report", &log, "-o", "-"], None);
    assert_eq!(r.stdout, page);
}

/// The browser, if this machine has one.
fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// What one headless Chromium run gave: the DOM after the scripts ran (for
/// `--dump-dom`), and its log (console messages show as `CONSOLE` lines).
struct Page {
    dom: String,
    log: String,
}

fn chromium_run(exe: &Path, work: &Path, url: &str, mode: &[String]) -> Page {
    let profile = work.join("chromium-profile");
    // Files, not pipes: a page's DOM is megabytes, more than a pipe holds
    // while we wait for the browser to exit.
    let (out_path, log_path) = (work.join("chromium.out"), work.join("chromium.log"));
    let mut child = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(mode)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish with {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Page {
        dom: String::from_utf8_lossy(&std::fs::read(&out_path).unwrap()).into_owned(),
        log: String::from_utf8_lossy(&std::fs::read(&log_path).unwrap()).into_owned(),
    }
}

fn url(html: &Path, hash: &str) -> String {
    format!("file://{}{hash}", html.canonicalize().unwrap().display())
}

/// Loads the page with `hash`, checks it ran without a console message or
/// error, and gives the DOM.
fn dom(exe: &Path, work: &Path, html: &Path, hash: &str) -> String {
    let page = chromium_run(exe, work, &url(html, hash), &["--dump-dom".to_string()]);
    assert!(
        page.dom.contains("</html>"),
        "no DOM for {hash}: {}",
        page.log
    );
    for line in page.log.lines() {
        assert!(
            !line.contains(":CONSOLE") && !line.contains("Uncaught"),
            "the page logged to the console: {line}"
        );
    }
    let errors = between(&page.dom, "<pre id=\"errors\">", "</pre>");
    assert_eq!(errors, "", "the page reported errors");
    page.dom
}

fn screenshot(exe: &Path, work: &Path, html: &Path, hash: &str, png: &Path) {
    let _ = std::fs::remove_file(png);
    chromium_run(
        exe,
        work,
        &url(html, hash),
        &[format!("--screenshot={}", png.display())],
    );
    let bytes = std::fs::read(png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(bytes.len() > 10_000, "an empty screenshot?");
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

/// The side panel's text, tags removed.
fn detail(dom: &str) -> String {
    let html = between(dom, "<aside id=\"detail\">", "</aside>");
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The start tag of the row of call `seq`.
fn row_tag(dom: &str, seq: u64) -> &str {
    let at = dom
        .find(&format!("data-seq=\"{seq}\""))
        .expect("the row is drawn");
    let start = dom[..at].rfind('<').unwrap();
    let end = dom[at..].find('>').unwrap() + at;
    &dom[start..=end]
}

fn rows(dom: &str) -> usize {
    dom.matches("class=\"row grid").count()
}

#[test]
fn the_page_in_headless_chromium() {
    let Some(exe) = chromium() else {
        eprintln!(
            "SKIPPED: no Chromium at /usr/bin/chromium; install it (apt-get install -y chromium, as .ci/run does) to test the HTML report in a browser"
        );
        return;
    };
    let d = dir("report-chromium");

    // A small run: every call is a row; selecting one shows its inputs.
    let log = write(&d, "run.jsonl", &agent_log(S));
    let html = d.join("run.html");
    report(&log, &html);
    let page = dom(&exe, &d, &html, "#select=5");
    assert_eq!(rows(&page), 8);
    for seq in 0..8 {
        assert!(
            page.contains(&format!("data-seq=\"{seq}\"")),
            "call {seq} is not in the page"
        );
    }
    assert!(
        row_tag(&page, 5).contains("class=\"row grid selected\""),
        "call 5 is not selected"
    );
    assert!(!row_tag(&page, 4).contains("selected"));
    let panel = detail(&page);
    assert!(panel.starts_with("#5 summarizeok"), "{panel}");
    assert!(panel.contains("parent#3 analyze"), "{panel}");
    assert!(panel.contains("cost$0.0004"), "{panel}");
    assert!(
        panel.contains("inputs{\n  \"path\": \"./b.rs\",\n  \"tokens\": 2000\n}"),
        "{panel}"
    );
    assert!(
        panel.contains("output{\n  \"heading\": \"b\",\n  \"keywords\": [\n    \"main\"\n  ]\n}"),
        "{panel}"
    );
    // An error is shown with the call.
    let panel = detail(&dom(&exe, &d, &html, "#select=6"));
    assert!(
        panel.contains("errorindex out of bounds: the len is 0 but the index is 0"),
        "{panel}"
    );
    assert!(
        panel.contains("inputs{\n  \"query\": \"rust cli\",\n  \"limit\": 3\n}"),
        "{panel}"
    );
    screenshot(&exe, &d, &html, "#select=5", &d.join("report-small.png"));

    // 10,000 calls: only the rows in view are in the page, and any call can
    // still be selected (it is scrolled to).
    let mut text = header("big", "stress", 1, 0) + "\n";
    for i in 0..10_000u64 {
        let (parent, tool) = if i % 4 == 0 {
            (None, "step")
        } else {
            (
                Some(i - i % 4),
                ["search", "fetch", "llm"][(i % 4 - 1) as usize],
            )
        };
        let status = if i % 97 == 0 { "error" } else { "ok" };
        let error = (status == "error").then_some("boom");
        text += &call(
            "big",
            i,
            parent,
            tool,
            &format!(r#"{{"i":{i}}}"#),
            "[1,2]",
            status,
            error,
            i * 100,
            "0.08",
            "0.001",
        );
        text.push('\n');
    }
    text += &(end("big", 1_000_100, 10_000, 104, 0, 0, "10") + "\n");
    let big = write(&d, "big.jsonl", &text);
    let big_html = d.join("big.html");
    report(&big, &big_html);
    let page = dom(&exe, &d, &big_html, "#select=9999");
    let n = rows(&page);
    assert!((10..300).contains(&n), "{n} rows drawn for 10,000 calls");
    assert!(
        row_tag(&page, 9999).contains("selected"),
        "the selected call is not drawn"
    );
    let panel = detail(&page);
    assert!(panel.starts_with("#9999 llmok"), "{panel}");
    assert!(panel.contains("inputs{\n  \"i\": 9999\n}"), "{panel}");
    assert!(
        panel.contains("cumulative$10 (calls #0 to #9999)"),
        "{panel}"
    );
    assert!(page.contains("10000 calls"));
    screenshot(
        &exe,
        &d,
        &big_html,
        "#select=5000",
        &d.join("report-10k.png"),
    );

    // Two sessions: tabs, and `session=` picks one.
    let two = [
        header("aaaa1111bbbb2222", "first", 1, 0),
        call(
            "aaaa1111bbbb2222",
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
            "aaaa1111bbbb2222",
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
        header("cccc3333dddd4444", "second", 2, 60_000_000),
        call(
            "cccc3333dddd4444",
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
    ]
    .join("\n");
    let two = write(&d, "two.jsonl", &two);
    let two_html = d.join("two.html");
    report(&two, &two_html);
    let page = dom(&exe, &d, &two_html, "#select=1&session=aaaa");
    assert_eq!(page.matches("role=\"tab\"").count(), 2);
    assert_eq!(rows(&page), 2);
    let panel = detail(&page);
    assert!(panel.starts_with("#1 fetchok"), "{panel}");
    assert!(panel.contains("sessionaaaa1111bbbb2222 (first)"), "{panel}");
    let page = dom(&exe, &d, &two_html, "");
    assert_eq!(rows(&page), 1, "the last session is shown first");

    // Text from the log is text: markup in a tool name, inputs or an error
    // neither breaks the page nor runs.
    let evil = "</script><img src=x onerror=\\\"document.title='owned'\\\">";
    let hostile = [
        header(
            "evil",
            "x</script><script>document.title='owned'</script>",
            1,
            0,
        ),
        call(
            "evil",
            0,
            None,
            evil,
            r#"{"html":"</script><!--<script>"}"#,
            r#""<b>bold</b>""#,
            "error",
            Some("<script>alert(1)</script>\u{2028}"),
            10,
            "1",
            "0",
        ),
    ]
    .join("\n");
    let hostile = write(&d, "hostile.jsonl", &hostile);
    let hostile_html = d.join("hostile.html");
    report(&hostile, &hostile_html);
    let page = dom(&exe, &d, &hostile_html, "#select=0");
    assert!(!page.contains("<title>owned"), "a script from the log ran");
    assert!(
        !page.contains("<img src=\"x\""),
        "markup from the log was parsed"
    );
    let panel = detail(&page);
    assert!(
        panel.contains("\"html\": \"</script><!--<script>\""),
        "{panel}"
    );
    assert!(panel.contains("error<script>alert(1)</script>"), "{panel}");

    // No calls at all.
    let empty = write(&d, "empty.jsonl", "");
    let empty_html = d.join("empty.html");
    report(&empty, &empty_html);
    assert!(detail(&dom(&exe, &d, &empty_html, "")).contains("This log holds no calls."));
}

#[test]
fn calls_whose_parent_links_loop_are_in_the_page() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-loop");
    let line = |seq: u64, parent: Option<u64>, tool: &str| {
        call(
            S,
            seq,
            parent,
            tool,
            "{}",
            "null",
            "ok",
            None,
            seq * 10,
            "1",
            "0",
        )
    };
    // 1 → 2 → 1 and 3 → 3 (a hand-made log), 4 under the loop.
    let log = write(
        &d,
        "loop.jsonl",
        &([
            line(0, None, "plan"),
            line(1, Some(2), "step"),
            line(2, Some(1), "substep"),
            line(3, Some(3), "selfish"),
            line(4, Some(2), "leaf"),
        ]
        .join("\n")
            + "\n"),
    );
    let html = d.join("loop.html");
    report(&log, &html);
    // Selecting a call inside the loop unfolds its parents and ends.
    let page = dom(&exe, &d, &html, "#select=4");
    assert_eq!(rows(&page), 5, "every call is a row");
    for seq in 0..5 {
        assert!(
            page.contains(&format!("data-seq=\"{seq}\"")),
            "call {seq} is not in the page"
        );
    }
    assert!(row_tag(&page, 4).contains("selected"));
    // The first call of each loop is shown at the top level, marked.
    let marks: Vec<&str> = page
        .match_indices("class=\"lost\">")
        .map(|(at, m)| {
            let text = &page[at + m.len()..];
            &text[..text.find('<').unwrap()]
        })
        .collect();
    assert_eq!(
        marks,
        [
            "  (parent #2: the parent links loop)",
            "  (parent #3: the parent links loop)"
        ]
    );
    let panel = detail(&dom(&exe, &d, &html, "#select=1"));
    assert!(
        panel.contains(
            "parent#2 (the log's parent links loop back to this call: shown at the top level)"
        ),
        "{panel}"
    );
    let panel = detail(&dom(&exe, &d, &html, "#select=2"));
    assert!(panel.contains("parent#1 step"), "{panel}");
}
