//! BUG (limitation, not in the docs): `?` on a `ControlFlow` (stable since
//! Rust 1.55) inside a `#[track_caller]` tool fails to compile: "`?` cannot
//! be applied to `ControlFlow<String, u32>` in a `#[tool]` `#[track_caller]`
//! function". The same body without `#[track_caller]` compiles.
use std::ops::ControlFlow;

fn check(c: u32) -> ControlFlow<String, u32> {
    if c > 5 {
        ControlFlow::Break(format!("{c} is too big"))
    } else {
        ControlFlow::Continue(c)
    }
}

#[backstep::tool(skip_output)]
#[track_caller]
fn step(c: u32) -> ControlFlow<String, u32> {
    let v = check(c)?;
    ControlFlow::Continue(v + 1)
}

fn main() {
    assert_eq!(step(1), ControlFlow::Continue(2));
    assert_eq!(step(9), ControlFlow::Break("9 is too big".to_string()));
    let log = backstep::log();
    let calls: Vec<_> = log.by_tool("step").collect();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.status() == backstep::Status::Ok));
    assert!(calls.iter().all(|c| c.output_json() == "null"));
}
