//! Helpers shared by the `sync_*` behaviour tests: find one recorded call and
//! check it field by field.
//!
//! Tests in one binary run in parallel and share the process-wide log, so each
//! tool has a name unique in its file, or its call is found by its inputs.
#![allow(dead_code)] // each test file uses a different subset

use backstep::{Call, Cost, Status};
use serde_json::Value;

/// The single recorded call of `tool`.
#[track_caller]
pub fn only(tool: &str) -> Call {
    let calls: Vec<Call> = backstep::log().by_tool(tool).cloned().collect();
    assert_eq!(calls.len(), 1, "expected one call of `{tool}`: {calls:#?}");
    calls.into_iter().next().unwrap()
}

/// The single recorded call of `tool` whose inputs are exactly `inputs`.
#[track_caller]
pub fn with_inputs(tool: &str, inputs: &Value) -> Call {
    let calls: Vec<Call> = backstep::log()
        .by_tool(tool)
        .filter(|c| c.inputs() == *inputs)
        .cloned()
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "expected one call of `{tool}` with {inputs}: {calls:#?}"
    );
    calls.into_iter().next().unwrap()
}

/// The recorded output, parsed.
#[track_caller]
pub fn output(call: &Call) -> Value {
    serde_json::from_str(call.output_json()).expect("output is JSON")
}

/// A top-level call that returned normally with `out`, costing `usd` dollars.
#[track_caller]
pub fn assert_ok_cost(call: &Call, inputs: Value, out: Value, usd: f64) {
    assert_eq!(call.inputs(), inputs, "inputs of {call:?}");
    assert_eq!(output(call), out, "output of {call:?}");
    assert_eq!(call.status(), Status::Ok, "status of {call:?}");
    assert_eq!(call.error(), None, "error of {call:?}");
    assert_eq!(call.cost(), Cost::from_usd(usd), "cost of {call:?}");
    assert_eq!(call.parent(), None, "parent of {call:?}");
}

/// A top-level call without cost that returned normally with `out`.
#[track_caller]
pub fn assert_ok(call: &Call, inputs: Value, out: Value) {
    assert_ok_cost(call, inputs, out, 0.0);
}

/// A top-level call without cost that returned `Err` with the text `error`.
#[track_caller]
pub fn assert_err(call: &Call, inputs: Value, error: &str) {
    assert_err_value(call, inputs, error, "null");
}

/// Like [`assert_err`], for an error type that is `Serialize`: its value is
/// recorded as the output (so a replay can rebuild it).
#[track_caller]
pub fn assert_err_value(call: &Call, inputs: Value, error: &str, error_json: &str) {
    assert_eq!(call.inputs(), inputs, "inputs of {call:?}");
    assert_eq!(call.output_json(), error_json, "output of {call:?}");
    assert_eq!(call.status(), Status::Error, "status of {call:?}");
    assert_eq!(call.error(), Some(error), "error of {call:?}");
    assert_eq!(call.cost(), Cost::ZERO, "cost of {call:?}");
    assert_eq!(call.parent(), None, "parent of {call:?}");
}

/// A top-level call without cost that panicked with `message`.
#[track_caller]
pub fn assert_panicked(call: &Call, inputs: Value, message: &str) {
    assert_eq!(call.inputs(), inputs, "inputs of {call:?}");
    assert_eq!(call.output_json(), "null", "output of {call:?}");
    assert_eq!(call.status(), Status::Panicked, "status of {call:?}");
    assert_eq!(call.error(), Some(message), "error of {call:?}");
    assert_eq!(call.cost(), Cost::ZERO, "cost of {call:?}");
    assert_eq!(call.parent(), None, "parent of {call:?}");
}
