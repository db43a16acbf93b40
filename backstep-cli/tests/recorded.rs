//! Every subcommand on a log written by the real recorder (`#[tool]`
//! functions in this process), as an agent would produce it.

mod common;

use backstep::tool;
use common::{backstep, dir};

#[tool]
fn list_files(dir: &str) -> Vec<String> {
    vec![
        format!("{dir}/a.rs"),
        format!("{dir}/b.rs"),
        format!("{dir}/missing.rs"),
    ]
}

#[tool]
fn read_file(path: &str) -> Result<String, std::io::Error> {
    if path.ends_with("missing.rs") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ));
    }
    Ok(format!("// {path}\nfn main() {{}}\n"))
}

#[tool(cost = 0.0001)]
fn summarize(path: &str, text: &str) -> usize {
    backstep::add_cost(text.len() as f64 * 0.15e-6);
    let _ = path;
    text.lines().count()
}

#[tool]
fn analyze(path: &str) -> Result<usize, std::io::Error> {
    let text = read_file(path)?;
    Ok(summarize(path, &text))
}

#[test]
fn every_command_on_a_recorded_log() {
    let d = dir("recorded");
    let log = d.join("run.jsonl");
    {
        let _session = backstep::init().log_file(&log).name("agent").install();
        for f in list_files("src") {
            let _ = analyze(&f);
        }
    }
    let log = log.to_str().unwrap();

    let r = backstep(&["summary", log], None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    assert!(
        r.stdout
            .contains("calls    9: 7 ok, 2 error, 0 panicked, 0 cancelled\n"),
        "{}",
        r.stdout
    );
    // 2 summaries: 0.0001 each, plus 0.15e-6 per byte of "// src/a.rs\nfn main() {}\n" (25 bytes).
    assert!(r.stdout.contains("cost     $0.0002075\n"), "{}", r.stdout);
    assert!(r.stdout.contains("  agent  "), "{}", r.stdout);

    let r = backstep(&["calls", log, "--status", "error"], None);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.contains("No such file") || l.contains("no such file"))
            .count(),
        2,
        "{}",
        r.stdout
    );

    let r = backstep(&["show", log, "1"], None);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.starts_with("call #1 analyze  ok\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("children (2)"), "{}", r.stdout);

    let r = backstep(&["cost", log, "--by", "parent"], None);
    assert_eq!(r.code, 0);
    let total = r.stdout.lines().find(|l| l.starts_with("total")).unwrap();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["total", "9", "$0.0002075", "100.0%"]
    );

    let r = backstep(&["diff", log, log], None);
    assert_eq!(r.code, 0, "{}", r.stdout);

    let r = backstep(&["tail", log, "-n", "all", "--until-end"], None);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 11, "{}", r.stdout); // header, 9 calls, end

    let html = d.join("run.html");
    let r = backstep(&["report", log, "-o", html.to_str().unwrap()], None);
    assert_eq!(r.code, 0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains(r#""tools":["list_files","#),
        "the data names the tools"
    );
}
