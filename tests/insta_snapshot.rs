//! `backstep::assert_tool_snapshot!` (feature `insta`): a test's tool calls
//! pinned by insta. The snapshot is committed in `tests/snapshots/`; a change
//! in what is recorded fails this test.
#![cfg(feature = "insta")]

use backstep::tool;

#[tool(cost = 0.01)]
fn search(query: &str, limit: usize) -> Vec<String> {
    (0..limit).map(|i| format!("{query}-{i}")).collect()
}

#[tool]
fn fetch(url: &str) -> anyhow::Result<String> {
    anyhow::ensure!(!url.contains("missing"), "404 for {url}");
    Ok(format!("<html>{url}</html>"))
}

#[tool]
fn research(topic: &str) -> usize {
    search(topic, 2)
        .iter()
        .filter_map(|hit| fetch(hit).ok())
        .count()
        + usize::from(fetch("missing.html").is_ok())
}

#[test]
fn a_run_is_pinned_in_one_line() {
    let rec = backstep::testing::capture();
    assert_eq!(research("rust"), 2);
    backstep::assert_tool_snapshot!(rec);
    backstep::assert_tool_snapshot!("research_by_name", rec);
}
