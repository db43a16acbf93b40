//! `backstep report`: the HTML file on its own, then loaded in a real headless
//! Chromium (Debian's `chromium`; `.ci/run` installs it): every call is in the
//! page, selecting a call shows its inputs, nothing is logged to the console,
//! the time axis zooms (`#zoom=`, the wheel, a drag), the layout holds in a
//! 1000×500 window, and screenshots go to the test output directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{agent_log, backstep, call, dir, end, header, replay_log, write};

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

/// The data the page draws from: the JSON in its `<script id="data">`.
fn page_data(page: &str) -> serde_json::Value {
    let json = between(
        page,
        "<script id=\"data\" type=\"application/json\">",
        "</script>",
    );
    serde_json::from_str(json).unwrap_or_else(|e| panic!("the page's data: {e}"))
}

/// A replay's report tells the calls answered from the recording apart, and
/// what was spent from what was only recorded (as `summary` splits it).
#[test]
fn the_data_tells_replayed_calls_and_their_cost_apart() {
    let d = dir("report-replayed-data");
    let log = write(&d, "replay.jsonl", &replay_log(S));
    let html = d.join("replay.html");
    report(&log, &html);
    let data = page_data(&std::fs::read_to_string(&html).unwrap());
    let session = &data["sessions"][0];
    assert_eq!(
        [
            &session["cost"],
            &session["spent"],
            &session["replayedCost"]
        ],
        ["$0.0114", "$0.001", "$0.0104"]
    );
    let calls: Vec<(u64, bool)> = session["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_u64().unwrap(), c[13].as_bool().unwrap()))
        .collect();
    assert_eq!(
        calls,
        [(0, true), (1, true), (2, true), (3, true), (4, false)]
    );
    // A log without a replay: everything spent, nothing replayed.
    let log = write(&d, "run.jsonl", &agent_log(S));
    report(&log, &html);
    let data = page_data(&std::fs::read_to_string(&html).unwrap());
    let session = &data["sessions"][0];
    assert_eq!(
        [
            &session["cost"],
            &session["spent"],
            &session["replayedCost"]
        ],
        ["$0.0104", "$0.0104", "$0"]
    );
    let calls = session["calls"].as_array().unwrap();
    assert!(calls.iter().all(|c| c[13] == false), "{calls:?}");
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

const WINDOW: &str = "1400,900";
/// A narrow, short window: the layout must still hold.
const NARROW: &str = "1000,500";

fn chromium_run(exe: &Path, work: &Path, url: &str, size: &str, mode: &[String]) -> Page {
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
        ])
        .arg(format!("--window-size={size}"))
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
    dom_at(exe, work, html, hash, WINDOW)
}

fn dom_at(exe: &Path, work: &Path, html: &Path, hash: &str, size: &str) -> String {
    let page = chromium_run(
        exe,
        work,
        &url(html, hash),
        size,
        &["--dump-dom".to_string()],
    );
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

fn screenshot(exe: &Path, work: &Path, html: &Path, hash: &str, size: &str, png: &Path) {
    let _ = std::fs::remove_file(png);
    chromium_run(
        exe,
        work,
        &url(html, hash),
        size,
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

/// A report of 10,000 calls, #i starting at i × 100 µs and lasting 80 µs;
/// each fourth call a top-level `step`, the three after it nested in it.
fn big_report(d: &Path) -> PathBuf {
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
    let big = write(d, "big.jsonl", &text);
    let big_html = d.join("big.html");
    report(&big, &big_html);
    big_html
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
    screenshot(
        &exe,
        &d,
        &html,
        "#select=5",
        WINDOW,
        &d.join("report-small.png"),
    );

    // 10,000 calls: only the rows in view are in the page, and any call can
    // still be selected (it is scrolled to).
    let big_html = big_report(&d);
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
        WINDOW,
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
    let log = common::looping_log(&d, S, 2);
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

/// A copy of the report at `html` with `script` run after the page's own (its
/// policy allows inline scripts): the script writes its findings, as JSON, in
/// `<pre id="probe">`.
fn probed(html: &Path, name: &str, script: &str) -> PathBuf {
    let page = std::fs::read_to_string(html).unwrap();
    assert_eq!(page.matches("</body>").count(), 1);
    let page = page.replacen(
        "</body>",
        &format!("<pre id=\"probe\"></pre><script>{script}</script></body>"),
        1,
    );
    let out = html.with_file_name(name);
    std::fs::write(&out, page).unwrap();
    out
}

fn probe_result(dom: &str) -> serde_json::Value {
    let text = between(dom, "<pre id=\"probe\">", "</pre>")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("the probe gave {text:?}: {e}"));
    assert!(v.get("error").is_none(), "the probe failed: {}", v["error"]);
    v
}

/// The seqs of the rows in the page, each with whether its bar is drawn.
fn drawn_bars(dom: &str) -> Vec<(u64, bool)> {
    let starts: Vec<usize> = dom
        .match_indices("<div class=\"row grid")
        .map(|m| m.0)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &at)| {
            let end = starts.get(k + 1).copied().unwrap_or(dom.len());
            let row = &dom[at..end];
            let seq = between(row, "data-seq=\"", "\"").parse().unwrap();
            (seq, row.contains("class=\"track\"><div class=\"bar "))
        })
        .collect()
}

/// The labels on the time axis.
fn ticks(dom: &str) -> Vec<String> {
    dom.match_indices("<span class=\"tick")
        .map(|(at, _)| {
            let text = &dom[at..];
            let text = &text[text.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn the_time_axis_zooms_to_the_range_in_the_url() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-zoom");
    let big_html = big_report(&d);
    // 504.05 ms to 505.05 ms: calls #5040 (504.00 to 504.08 ms) to #5050
    // (505.00 to 505.08 ms) overlap it, #5039 ends at 503.98 ms.
    let page = dom(&exe, &d, &big_html, "#select=5045&zoom=504.05-505.05");
    let bars = drawn_bars(&page);
    assert!(bars.len() > 20, "{} rows drawn", bars.len());
    assert!(bars.iter().any(|&(seq, _)| seq < 5040));
    assert!(bars.iter().any(|&(seq, _)| seq > 5050));
    for (seq, drawn) in bars {
        assert_eq!(
            drawn,
            (5040..=5050).contains(&seq),
            "the bar of #{seq} (drawn: {drawn})"
        );
    }
    assert!(row_tag(&page, 5045).contains("selected"));
    assert!(detail(&page).starts_with("#5045 searchok"));
    // The axis is labelled for that millisecond only.
    let labels = ticks(&page);
    assert!(labels.len() >= 3, "{labels:?}");
    for label in &labels {
        let ms: f64 = label
            .strip_suffix(" ms")
            .unwrap_or_else(|| panic!("{labels:?}"))
            .parse()
            .unwrap();
        assert!((504.05..=505.05).contains(&ms), "{labels:?}");
    }
    assert!(page.contains("data-from=\"504.05\" data-to=\"505.05\""));
    assert!(
        page.contains("<span id=\"zoominfo\">504.05–505.05 ms (×1040)</span>"),
        "{}",
        between(&page, "<span id=\"zoominfo\">", "</span>")
    );
    assert!(page.contains("cumulative cost $5.04 → $5.05 in view"));
    screenshot(
        &exe,
        &d,
        &big_html,
        "#select=5045&zoom=504.05-505.05",
        WINDOW,
        &d.join("report-10k-zoomed.png"),
    );

    // Unzoomed, every row has its bar and the axis spans the whole second.
    let page = dom(&exe, &d, &big_html, "#select=5045");
    assert!(drawn_bars(&page).iter().all(|&(_, drawn)| drawn));
    assert_eq!(ticks(&page).first().map(String::as_str), Some("0"));
    assert!(
        ticks(&page).contains(&"1.0 s".to_string()),
        "{:?}",
        ticks(&page)
    );
    assert!(page.contains("<span id=\"zoominfo\"></span>"));

    // A range that is not one is reported, and the whole session shown.
    let page = chromium_run(
        &exe,
        &d,
        &url(&big_html, "#zoom=9-3"),
        WINDOW,
        &["--dump-dom".to_string()],
    );
    assert!(
        page.dom
            .contains("zoom=9-3: not a range FROM-TO in milliseconds, FROM &lt; TO"),
        "{}",
        between(&page.dom, "<pre id=\"errors\">", "</pre>")
    );
    assert!(drawn_bars(&page.dom).iter().all(|&(_, drawn)| drawn));
}

/// The boxes of the parts of the page, as `[left, top, right, bottom]`.
const LAYOUT_PROBE: &str = r#"
(function () {
  var box = function (e) { var b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  var id = function (name) { return box(document.getElementById(name)); };
  document.getElementById("probe").textContent = JSON.stringify({
    window: [innerWidth, innerHeight],
    page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
    chart: id("chart"), axis: id("axis"), detail: id("detail"), scroller: id("scroller"),
    track: box(document.querySelector(".row.selected .track")), head: id("head")
  });
})();
"#;

fn rect(v: &serde_json::Value, name: &str) -> [f64; 4] {
    corners(&v[name]).unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// A box `[left, top, right, bottom]` from the JSON array of a probe.
fn corners(v: &serde_json::Value) -> Option<[f64; 4]> {
    let r: Vec<f64> = v.as_array()?.iter().map(|x| x.as_f64().unwrap()).collect();
    Some([r[0], r[1], r[2], r[3]])
}

fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

#[test]
fn the_layout_holds_in_a_narrow_window() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-narrow");
    let log = write(&d, "run.jsonl", &agent_log(S));
    let html = d.join("run.html");
    report(&log, &html);
    let probe = probed(&html, "run-probe.html", LAYOUT_PROBE);
    for (size, side_by_side) in [(NARROW, false), (WINDOW, true)] {
        let v = probe_result(&dom_at(&exe, &d, &probe, "#select=5", size));
        let (w, h) = size.split_once(',').unwrap();
        let (w, h): (f64, f64) = (w.parse().unwrap(), h.parse().unwrap());
        // Headless Chromium's `--dump-dom` leaves room for a browser's
        // toolbars: the page is that much shorter.
        let height = v["window"][1].as_f64().unwrap();
        assert!(
            v["window"][0] == w && height <= h && height > h - 200.0,
            "{v}"
        );
        // Nothing sticks out of the window, nothing is drawn over the detail
        // panel, and both have room.
        assert!(v["page"] == v["window"], "the page scrolls: {v}");
        let detail = rect(&v, "detail");
        for part in ["chart", "axis", "scroller", "track", "head"] {
            assert!(
                !overlap(rect(&v, part), detail),
                "{part} over the panel at {size}: {v}"
            );
        }
        assert!(detail[2] <= w && detail[3] <= height, "{v}");
        assert!(
            detail[2] - detail[0] >= 380.0 && detail[3] - detail[1] >= 100.0,
            "{v}"
        );
        assert_eq!(detail[0] >= rect(&v, "scroller")[2], side_by_side, "{v}");
        let (axis, track) = (rect(&v, "axis"), rect(&v, "track"));
        assert!(axis[2] - axis[0] >= 300.0, "the timeline is {v}");
        assert_eq!((axis[0], axis[2]), (track[0], track[2]), "{v}");
        let chart = rect(&v, "chart");
        assert!(chart[0] >= axis[0] && chart[2] <= axis[2], "{v}");
        let scroller = rect(&v, "scroller");
        assert!(scroller[3] - scroller[1] >= 100.0, "{v}");
        let track = rect(&v, "track");
        assert!(
            track[1] >= rect(&v, "head")[3] && track[3] <= scroller[3],
            "the selected call is out of view: {v}"
        );
    }
    screenshot(
        &exe,
        &d,
        &html,
        "#select=5",
        NARROW,
        &d.join("report-1000x500.png"),
    );
    let big_html = big_report(&d);
    screenshot(
        &exe,
        &d,
        &big_html,
        "#select=5000&zoom=499.5-500.5",
        NARROW,
        &d.join("report-10k-1000x500.png"),
    );
}

/// Zooms with the wheel, pans, drags a range, resets, zooms to the selected
/// call: the view after each, and how long each frame took to draw.
const ZOOM_PROBE: &str = r#"
(function () {
  var out = { load: performance.now() }, axis = document.getElementById("axis");
  var done = function () { document.getElementById("probe").textContent = JSON.stringify(out); };
  try {
    var view = function () { return [Number(axis.dataset.from), Number(axis.dataset.to)]; };
    var r = axis.getBoundingClientRect(), y = r.top + r.height / 2;
    var x = function (f) { return r.left + f * r.width; };
    out.full = view();
    out.frames = [];
    // An event, and the time the page takes to handle it and lay out again.
    var timed = function (target, event) {
      var t0 = performance.now();
      target.dispatchEvent(event);
      void document.body.offsetHeight;
      out.frames.push(performance.now() - t0);
    };
    var wheel = function (target, f, init) {
      timed(target, new WheelEvent("wheel", Object.assign({ clientX: x(f), clientY: y, bubbles: true, cancelable: true }, init)));
    };
    for (var k = 0; k < 10; k++) wheel(axis, 0.5, { deltaY: -100 });
    out.wheelIn = view();
    for (k = 0; k < 5; k++) wheel(axis, 0.5, { deltaX: 100 });
    out.panned = view();
    var track = document.querySelector(".row.selected .track");
    wheel(track, 0.5, { deltaY: -100 });
    out.plainWheelOverCalls = view();
    wheel(track, 0.5, { deltaY: -100, ctrlKey: true });
    out.ctrlWheelOverCalls = view();
    for (k = 0; k < 30; k++) wheel(axis, 0.1, { deltaY: 100 });
    out.wheelOut = view();
    wheel(axis, 0.5, { deltaY: -300 });
    var pointer = function (type, f) {
      timed(axis, new PointerEvent(type, { clientX: x(f), clientY: y, button: 0, buttons: 1, pointerId: 1, bubbles: true }));
    };
    out.beforeDrag = view();
    pointer("pointerdown", 0.25);
    pointer("pointermove", 0.5);
    pointer("pointermove", 0.75);
    out.brush = !document.getElementById("brush").hidden;
    pointer("pointerup", 0.75);
    out.dragged = view();
    out.info = document.getElementById("zoominfo").textContent;
    out.resetEnabled = !document.getElementById("zoomreset").disabled;
    timed(axis, new MouseEvent("dblclick", { bubbles: true }));
    out.reset = view();
    out.resetDisabled = document.getElementById("zoomreset").disabled;
    timed(document, new KeyboardEvent("keydown", { key: "z", bubbles: true }));
    out.zoomToCall = view();
    // The URL follows once the zooming stops.
    setTimeout(function () {
      try {
        out.hash = location.hash;
        // (Not timed: past the page's load, the clock is the headless
        // browser's virtual one.)
        document.dispatchEvent(new KeyboardEvent("keydown", { key: "0", bubbles: true }));
        out.zero = view();
      } catch (e) { out.error = String(e && e.stack || e); }
      done();
    }, 600);
  } catch (e) { out.error = String(e && e.stack || e); done(); }
})();
"#;

fn range(v: &serde_json::Value, name: &str) -> (f64, f64) {
    let r = v[name]
        .as_array()
        .unwrap_or_else(|| panic!("no {name} in {v}"));
    (r[0].as_f64().unwrap(), r[1].as_f64().unwrap())
}

fn close(a: f64, b: f64, within: f64) -> bool {
    (a - b).abs() <= within
}

#[test]
fn zooming_by_hand_is_quick_with_10000_calls() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-zoom-by-hand");
    let big_html = big_report(&d);
    let probe = probed(&big_html, "big-probe.html", ZOOM_PROBE);
    let v = probe_result(&dom(&exe, &d, &probe, "#select=5000"));
    // The whole session: 1000.1 ms and the 4% margin.
    let full = range(&v, "full");
    assert_eq!(full.0, 0.0);
    assert!(close(full.1, 1040.104, 0.001), "{v}");
    // Ten wheel notches in at the middle: e^-2 of the width, around it.
    let (a, b) = range(&v, "wheelIn");
    assert!(close((a + b) / 2.0, full.1 / 2.0, 1.0), "{v}");
    assert!(close((b - a) / full.1, (-2f64).exp(), 0.01), "{v}");
    // Sideways: the same width, later.
    let (pa, pb) = range(&v, "panned");
    assert!(close(pb - pa, b - a, 0.01) && pa > a + (b - a), "{v}");
    // Over the calls, the plain wheel scrolls them; with ctrl, it zooms.
    assert_eq!(v["plainWheelOverCalls"], v["panned"], "{v}");
    let (ca, cb) = range(&v, "ctrlWheelOverCalls");
    assert!(close((cb - ca) / (pb - pa), (-0.2f64).exp(), 0.01), "{v}");
    // Out again, no further than the whole session.
    assert_eq!(v["wheelOut"], v["full"], "{v}");
    // A drag over the middle half zooms to it.
    assert_eq!(v["brush"], true);
    let (ba, bb) = range(&v, "beforeDrag");
    let (da, db) = range(&v, "dragged");
    let w = bb - ba;
    assert!(
        close(da, ba + w / 4.0, w / 100.0) && close(db, ba + w * 3.0 / 4.0, w / 100.0),
        "{v}"
    );
    assert!(v["info"].as_str().unwrap().ends_with(" ms (×4)"), "{v}");
    assert_eq!(v["resetEnabled"], true);
    // A double click, or 0, shows the whole session again.
    assert_eq!(v["reset"], v["full"]);
    assert_eq!(v["resetDisabled"], true);
    assert_eq!(v["zero"], v["full"]);
    // z: the selected call, #5000, 500 ms to 500.08 ms, and the URL says so.
    let (za, zb) = range(&v, "zoomToCall");
    assert!(za < 500.0 && zb > 500.08 && zb - za < 0.2, "{v}");
    assert_eq!(v["hash"], format!("#select=5000&zoom={za}-{zb}"), "{v}");
    // Quick, with room for a loaded test machine (the tests run at once):
    // the page is ready in a few seconds at most, a zoom is usually drawn
    // well within a frame, and none freezes the page.
    let load = v["load"].as_f64().unwrap();
    assert!(load < 5000.0, "the page took {load} ms to load");
    let mut frames: Vec<f64> = v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(frames.len(), 54);
    frames.sort_by(f64::total_cmp);
    let (median, slowest) = (frames[frames.len() / 2], frames[frames.len() - 1]);
    eprintln!("zoom: median {median} ms, slowest {slowest} ms, load {load} ms");
    assert!(
        median < 30.0,
        "a zoom takes {median} ms to draw: {frames:?}"
    );
    assert!(
        slowest < 300.0,
        "a zoom took {slowest} ms to draw: {frames:?}"
    );
}

/// The header's items, as `label value` (tags removed).
fn stats(dom: &str) -> Vec<String> {
    between(dom, "<div class=\"stats\" id=\"stats\">", "</div>")
        .split("</span>")
        .map(|item| {
            let mut text = String::new();
            let mut in_tag = false;
            for c in item.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Each row's seq, with whether it is tagged `replayed`, its bar striped and
/// its cost dimmed as not spent.
fn replayed_rows(dom: &str) -> Vec<(u64, bool, bool, bool)> {
    let starts: Vec<usize> = dom
        .match_indices("<div class=\"row grid")
        .map(|m| m.0)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &at)| {
            let end = starts.get(k + 1).copied().unwrap_or(dom.len());
            let row = &dom[at..end];
            (
                between(row, "data-seq=\"", "\"").parse().unwrap(),
                row.contains("<span class=\"tag\">replayed</span>"),
                row.contains(" replayed\" title=\""),
                row.contains("class=\"num unspent\""),
            )
        })
        .collect()
}

/// The header counts calls as `summary` does: errors (status `error`)
/// always, panicked and cancelled calls apart when there are any.
#[test]
fn the_header_counts_calls_as_summary_does() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-counts");
    let log = write(&d, "run.jsonl", &agent_log(S));
    let html = d.join("run.html");
    report(&log, &html);
    let page = dom(&exe, &d, &html, "");
    assert_eq!(
        stats(&page),
        [
            "session 7f3a9c2e5b1d4f60 (agent)",
            "started 2026-12-03 19:00:00.000000 UTC",
            "span 1.80 s",
            "calls 8",
            "errors 2",
            "panicked 1",
            "cancelled 1",
            "total cost $0.0104",
            "end ended"
        ]
    );
    // In their statuses' colours, as summary paints them.
    for (what, n, status) in [("errors", 2, 1), ("panicked", 1, 2), ("cancelled", 1, 3)] {
        let item = format!("<span>{what} <b class=\"st-{status}\">{n}</b></span>");
        assert!(page.contains(&item), "no {item}");
    }
    // Nothing replayed: no call is tagged, and the legend has no replayed key.
    assert!(replayed_rows(&page)
        .iter()
        .all(|r| *r == (r.0, false, false, false)));
    assert!(page.contains("<span id=\"legend-replayed\" hidden=\"\">"));
    assert!(page.contains("<span id=\"chartlabel\">cumulative cost → $0.0104</span>"));

    // A session without a panic or a cancelled call shows only its errors.
    let two = [
        header("aaaa1111bbbb2222", "one", 1, 0),
        call(
            "aaaa1111bbbb2222",
            0,
            None,
            "search",
            "{}",
            "null",
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
            "{}",
            "null",
            "ok",
            None,
            3_000,
            "5",
            "0",
        ),
    ]
    .join("\n");
    let two = write(&d, "ok.jsonl", &two);
    report(&two, &html);
    let page = dom(&exe, &d, &html, "");
    assert_eq!(
        stats(&page)[3..],
        [
            "calls 2",
            "errors 0",
            "total cost $0.01",
            "end no end line (crashed or still running)"
        ]
    );
}

/// What `calls` and `show` say of a replayed call, the page says too: its
/// row is tagged, its bar striped (its duration is the recorded one), its
/// cost dimmed; the header splits the cost into spent and replayed.
#[test]
fn replayed_calls_are_marked_and_their_cost_not_spent() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-replayed");
    let log = write(&d, "replay.jsonl", &replay_log(S));
    let html = d.join("replay.html");
    report(&log, &html);
    let page = dom(&exe, &d, &html, "#select=2");
    assert_eq!(
        stats(&page),
        [
            "session 7f3a9c2e5b1d4f60 (agent)",
            "started 2026-12-03 19:00:00.000000 UTC",
            "span 250.30 ms",
            "calls 5",
            "errors 1",
            "replayed 4",
            "total cost $0.0114",
            "spent $0.001",
            "replayed, not spent $0.0104",
            "end ended"
        ]
    );
    assert_eq!(
        replayed_rows(&page),
        [
            (0, true, true, true),
            (1, true, true, true),
            (2, true, true, true),
            (3, true, true, true),
            (4, false, false, false)
        ]
    );
    assert!(page.contains("<span id=\"legend-replayed\"><i class=\"replayed\"></i>replayed</span>"));
    assert!(page.contains(
        "<span id=\"chartlabel\">cumulative cost → $0.0114 <span class=\"whole\">($0.0104 replayed, not spent)</span></span>"
    ));
    let panel = detail(&page);
    assert!(panel.starts_with("#2 summarizeok"), "{panel}");
    assert!(
        panel.contains("cost$0.0004replayedyes: answered from the recording, not run (its cost and duration are the recorded ones)cumulative"),
        "{panel}"
    );
    // A parent lists its replayed children as such.
    let panel = detail(&dom(&exe, &d, &html, "#select=1"));
    assert!(
        panel.contains("nested calls (1)ok#2 summarize · 12.50 ms · $0.0004 · replayed"),
        "{panel}"
    );
    // The live call is not marked replayed.
    let panel = detail(&dom(&exe, &d, &html, "#select=4"));
    assert!(!panel.contains("replayed"), "{panel}");
    // `replayed` in the filter keeps the replayed calls.
    let probe = probed(
        &html,
        "replay-probe.html",
        r#"
(function () {
  var f = document.getElementById("filter");
  f.value = "replayed";
  f.dispatchEvent(new Event("input"));
  document.getElementById("probe").textContent = JSON.stringify({
    count: document.getElementById("count").textContent,
    rows: Array.prototype.map.call(document.querySelectorAll(".row"), function (r) { return Number(r.dataset.seq); })
  });
})();
"#,
    );
    let v = probe_result(&dom(&exe, &d, &probe, ""));
    assert_eq!(v["count"], "4 of 5 calls");
    assert_eq!(v["rows"], serde_json::json!([0, 1, 2, 3]));
    screenshot(
        &exe,
        &d,
        &html,
        "#select=2",
        WINDOW,
        &d.join("report-replayed.png"),
    );
}

/// The lines a value of the detail panel takes, as laid out, and whether
/// anything sticks out of the panel.
const WRAP_PROBE: &str = r##"
(function () {
  var out;
  try {
    var cell = function (label) {
      var tds = document.querySelectorAll("#detail td.v");
      for (var k = 0; k < tds.length; k++) if (tds[k].previousSibling.textContent === label) return tds[k];
      throw new Error("no " + label + " in the panel");
    };
    // The text of each line the cell's text is laid out in, by the top of
    // each character's box.
    var lines = function (td) {
      var text = td.firstChild, got = [], top = null, range = document.createRange();
      for (var i = 0; i < text.data.length; i++) {
        range.setStart(text, i);
        range.setEnd(text, i + 1);
        var r = range.getClientRects();
        if (r.length && (top === null || r[0].top > top + 1)) { got.push(""); top = r[0].top; }
        got[got.length - 1] += text.data.charAt(i);
      }
      return got;
    };
    var td = cell("replayed"), aside = document.getElementById("detail");
    out = {
      replayed: lines(td),
      thread: lines(cell("thread")),
      wordBreak: getComputedStyle(td).wordBreak,
      overflows: aside.scrollWidth > aside.clientWidth
    };
  } catch (e) {
    out = { error: String(e) };
  }
  document.getElementById("probe").textContent = JSON.stringify(out);
})();
"##;

/// The detail panel's prose (what a replayed call is) wraps between words;
/// a long name without spaces (a thread's) is still broken to fit the panel.
#[test]
fn the_detail_panel_wraps_prose_between_words() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-wrap");
    let thread = "thread_pool_worker_0123456789abcdef0123456789abcdef0123456789";
    let log = replay_log(S).replacen(r#""thread":"main""#, &format!(r#""thread":"{thread}""#), 1);
    // The first call of the log: #0, replayed.
    assert!(log.contains(thread));
    let log = write(&d, "replay.jsonl", &log);
    let html = d.join("replay.html");
    report(&log, &html);
    let probe = probed(&html, "wrap-probe.html", WRAP_PROBE);
    // Beside the calls the panel is 390 pixels wide: the values wrap. In a
    // narrower window it is below them, as wide as the window.
    for (size, wraps) in [(WINDOW, true), (NARROW, false)] {
        let v = probe_result(&dom_at(&exe, &d, &probe, "#select=0", size));
        let lines: Vec<&str> = v["replayed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        // Its lines are each broken after a space (kept on the line).
        assert_eq!(lines.len() > 1, wraps, "{v}");
        assert_eq!(
            lines.concat(),
            "yes: answered from the recording, not run (its cost and duration are the recorded ones)"
        );
        for l in &lines[..lines.len() - 1] {
            assert!(l.ends_with(' '), "a word cut at the end of {l:?}: {v}");
        }
        assert_ne!(v["wordBreak"], "break-all", "{v}");
        // The thread's name, wider than the panel beside the calls, is
        // broken where it must be.
        let thread_lines = v["thread"].as_array().unwrap();
        assert_eq!(thread_lines.len() > 1, wraps, "{v}");
        assert_eq!(v["overflows"], false, "{v}");
    }
}

/// The boxes of the time axis's parts: the chart's label (and the lines it
/// is laid out in), the chart, the tick labels.
const AXIS_PROBE: &str = r##"
(function () {
  var out;
  try {
    var box = function (e) { var b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
    var label = document.getElementById("chartlabel"), range = document.createRange(), tops = {};
    range.selectNodeContents(label);
    Array.prototype.forEach.call(range.getClientRects(), function (r) { tops[Math.round(r.top)] = true; });
    var whole = label.querySelector(".whole");
    out = {
      label: box(label), chart: box(document.getElementById("chart")), axis: box(document.getElementById("axis")),
      ticks: Array.prototype.map.call(document.querySelectorAll("#axis .tick"), box),
      text: label.textContent, lines: Object.keys(tops).length,
      replayedLines: whole ? whole.getClientRects().length : 0,
      cut: label.scrollWidth > label.clientWidth
    };
  } catch (e) {
    out = { error: String(e) };
  }
  document.getElementById("probe").textContent = JSON.stringify(out);
})();
"##;

/// The chart's label says the whole cost, and on a replay what of it was
/// replayed; however long, it is never drawn over the chart or the tick
/// labels of the time axis: at 1280 pixels the timeline is at its narrowest
/// beside the detail panel, and the label takes two lines, the replayed part
/// whole on the second.
#[test]
fn the_chart_label_never_covers_the_chart() {
    let Some(exe) = chromium() else {
        eprintln!("SKIPPED: no Chromium at /usr/bin/chromium");
        return;
    };
    let d = dir("report-chart-label");
    let paid = |seq: u64, cost: &str| {
        call(
            S,
            seq,
            None,
            "generate_image",
            "{}",
            "null",
            "ok",
            None,
            seq * 200_000,
            "100",
            cost,
        )
    };
    let replay = [
        header(S, "agent", 4242, 0),
        common::replayed(paid(0, "10")),
        common::replayed(paid(1, "0.005")),
        end(S, 500_000, 2, 0, 0, 0, "10.005"),
    ];
    let live = [
        header(S, "agent", 4242, 0),
        paid(0, "12345.6789"),
        paid(1, "0.00000001"),
        end(S, 500_000, 2, 0, 0, 0, "12345.67890001"),
    ];
    let cases = [
        (
            &replay,
            "cumulative cost → $10.005 ($10.005 replayed, not spent)",
        ),
        (&live, "cumulative cost → $12345.67890001"),
    ];
    for (k, (lines, text)) in cases.into_iter().enumerate() {
        let log = write(&d, &format!("run{k}.jsonl"), &(lines.join("\n") + "\n"));
        let html = d.join(format!("run{k}.html"));
        report(&log, &html);
        let probe = probed(&html, &format!("run{k}-probe.html"), AXIS_PROBE);
        for size in ["1280,800", WINDOW, NARROW] {
            let v = probe_result(&dom_at(&exe, &d, &probe, "", size));
            assert_eq!(v["text"], text, "{v}");
            let (label, chart, axis) = (rect(&v, "label"), rect(&v, "chart"), rect(&v, "axis"));
            assert!(
                !overlap(label, chart),
                "the label over the chart at {size}: {v}"
            );
            assert!(
                label[3] <= chart[1],
                "the label below the chart's top at {size}: {v}"
            );
            let ticks = v["ticks"].as_array().unwrap();
            assert!(ticks.len() >= 3, "{v}");
            for tick in ticks {
                let tick = corners(tick).unwrap();
                assert!(
                    !overlap(label, tick),
                    "the label over a tick at {size}: {v}"
                );
                assert!(
                    !overlap(chart, tick),
                    "the chart over a tick at {size}: {v}"
                );
            }
            // All of it inside the axis, nothing cut.
            assert!(
                label[0] >= axis[0] && label[2] <= axis[2] && chart[3] <= axis[3],
                "{v}"
            );
            assert_eq!(v["cut"], false, "{v}");
            if size == "1280,800" && k == 0 {
                assert_eq!(
                    (&v["lines"], &v["replayedLines"]),
                    (&2.into(), &1.into()),
                    "{v}"
                );
            }
        }
    }
    screenshot(
        &exe,
        &d,
        &d.join("run0.html"),
        "",
        "1280,800",
        &d.join("report-chart-label-1280.png"),
    );
}
