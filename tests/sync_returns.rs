//! What sync tools record for their return value: `Result`s with every common
//! error type, `Option`, `()`, owned and borrowed values, coercions; and
//! panics.
//!
//! Every recorded call is checked field by field. Tests run in parallel and
//! share the process-wide log, so every tool has a name unique in this file
//! (or a unique input to find its call by).

use std::collections::BTreeMap;
use std::error::Error;
use std::io;

use anyhow::Context as _;
use backstep::Status;
use serde::Serialize;
use serde_json::{json, Value};

#[path = "sync_support/mod.rs"]
mod sync_support;
use sync_support::{assert_err, assert_err_value, assert_ok, assert_panicked, only, with_inputs};

const MISSING: &str = "/definitely/not/a/backstep/file";
const ENOENT: &str = "No such file or directory (os error 2)";

// ---------------------------------------------------------------------------
// Result with std::io::Error
// ---------------------------------------------------------------------------

#[backstep::tool]
fn ret_io(path: &str) -> Result<usize, io::Error> {
    Ok(std::fs::read_to_string(path)?.len())
}

#[backstep::tool]
fn ret_io_custom(kind: u8) -> io::Result<Vec<String>> {
    match kind {
        0 => Ok(vec!["a".into(), "b".into()]),
        1 => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "upstream timed out",
        )),
        _ => Err(io::Error::other(ParseFailed {
            source: "x".parse::<u8>().unwrap_err(),
        })),
    }
}

#[test]
fn result_with_io_error() {
    assert!(ret_io(MISSING).is_err());
    // The error's kind is its output, so a replay gives it back.
    assert_err_value(
        &only("ret_io"),
        json!({ "path": MISSING }),
        ENOENT,
        r#"{"kind":"NotFound"}"#,
    );

    assert_eq!(ret_io_custom(0).unwrap(), ["a", "b"]);
    assert!(ret_io_custom(1).is_err());
    assert!(ret_io_custom(2).is_err());
    assert_ok(
        &with_inputs("ret_io_custom", &json!({"kind": 0})),
        json!({"kind": 0}),
        json!(["a", "b"]),
    );
    assert_err_value(
        &with_inputs("ret_io_custom", &json!({"kind": 1})),
        json!({"kind": 1}),
        "upstream timed out",
        r#"{"kind":"TimedOut"}"#,
    );
    // An io::Error wrapping an error with a source: the whole chain.
    assert_err_value(
        &with_inputs("ret_io_custom", &json!({"kind": 2})),
        json!({"kind": 2}),
        "could not parse: invalid digit found in string",
        r#"{"kind":"Other"}"#,
    );
}

// ---------------------------------------------------------------------------
// anyhow
// ---------------------------------------------------------------------------

#[backstep::tool]
fn ret_anyhow_context(path: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).context("reading config")?;
    Ok(text)
}

#[backstep::tool]
fn ret_anyhow_layers(path: &str) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("opening {path}"))
        .context("loading settings")?;
    Ok(u32::try_from(text.len())?)
}

#[backstep::tool]
fn ret_anyhow_bail(n: u32) -> Result<u32, anyhow::Error> {
    if n > 10 {
        anyhow::bail!("{n} is more than 10");
    }
    let parsed: u32 = format!("{n}x").parse()?;
    Ok(parsed)
}

#[test]
fn anyhow_error_with_context_records_the_chain() {
    assert_eq!(
        format!("{:#}", ret_anyhow_context(MISSING).unwrap_err()),
        format!("reading config: {ENOENT}")
    );
    assert_err(
        &only("ret_anyhow_context"),
        json!({ "path": MISSING }),
        &format!("reading config: {ENOENT}"),
    );

    assert!(ret_anyhow_layers(MISSING).is_err());
    assert_err(
        &only("ret_anyhow_layers"),
        json!({ "path": MISSING }),
        &format!("loading settings: opening {MISSING}: {ENOENT}"),
    );
}

#[test]
fn anyhow_bail_and_question_mark() {
    assert!(ret_anyhow_bail(11).is_err());
    assert!(ret_anyhow_bail(3).is_err());
    assert_err(
        &with_inputs("ret_anyhow_bail", &json!({"n": 11})),
        json!({"n": 11}),
        "11 is more than 10",
    );
    assert_err(
        &with_inputs("ret_anyhow_bail", &json!({"n": 3})),
        json!({"n": 3}),
        "invalid digit found in string",
    );
}

// ---------------------------------------------------------------------------
// Box<dyn Error (+ Send + Sync)>
// ---------------------------------------------------------------------------

#[backstep::tool]
fn ret_box_send_sync(kind: u8) -> Result<&'static str, Box<dyn Error + Send + Sync>> {
    match kind {
        0 => Ok("fine"),
        1 => Err("plain message".into()),
        _ => Err(Box::new(ParseFailed {
            source: "-".parse::<u8>().unwrap_err(),
        })),
    }
}

#[backstep::tool]
fn ret_box_dyn(path: &str) -> Result<usize, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    if text.is_empty() {
        return Err(format!("{path} is empty").into());
    }
    Ok(text.len())
}

#[test]
fn box_dyn_error_send_sync() {
    assert_eq!(ret_box_send_sync(0).unwrap(), "fine");
    assert!(ret_box_send_sync(1).is_err());
    assert!(ret_box_send_sync(2).is_err());
    assert_ok(
        &with_inputs("ret_box_send_sync", &json!({"kind": 0})),
        json!({"kind": 0}),
        json!("fine"),
    );
    assert_err(
        &with_inputs("ret_box_send_sync", &json!({"kind": 1})),
        json!({"kind": 1}),
        "plain message",
    );
    assert_err(
        &with_inputs("ret_box_send_sync", &json!({"kind": 2})),
        json!({"kind": 2}),
        "could not parse: invalid digit found in string",
    );
}

#[test]
fn box_dyn_error() {
    assert!(ret_box_dyn(MISSING).is_err());
    assert_err(
        &with_inputs("ret_box_dyn", &json!({ "path": MISSING })),
        json!({ "path": MISSING }),
        ENOENT,
    );
    let empty = std::env::temp_dir().join(format!("backstep-empty-{}", std::process::id()));
    std::fs::write(&empty, "").unwrap();
    let empty = empty.to_str().unwrap().to_string();
    assert!(ret_box_dyn(&empty).is_err());
    std::fs::remove_file(&empty).unwrap();
    assert_err(
        &with_inputs("ret_box_dyn", &json!({ "path": empty })),
        json!({ "path": empty }),
        &format!("{empty} is empty"),
    );
}

// ---------------------------------------------------------------------------
// thiserror, Debug-only and Serialize errors
// ---------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
#[error("could not parse")]
struct ParseFailed {
    #[source]
    source: std::num::ParseIntError,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    /// The source's text is part of the message: it must not be repeated.
    #[error("fetch failed: {0}")]
    Io(#[from] io::Error),
    /// The source's text is not in the message: it is appended.
    #[error("bad number")]
    Parse(#[source] std::num::ParseIntError),
    /// Three levels.
    #[error("request {id} failed")]
    Nested {
        id: u32,
        #[source]
        source: ParseFailed,
    },
    #[error("no source here")]
    Plain,
}

#[backstep::tool]
fn ret_thiserror(kind: u8) -> Result<u8, FetchError> {
    match kind {
        0 => {
            std::fs::read(MISSING)?;
            Ok(0)
        }
        1 => "q".parse::<u8>().map_err(FetchError::Parse),
        2 => Err(FetchError::Nested {
            id: 7,
            source: ParseFailed {
                source: "".parse::<u8>().unwrap_err(),
            },
        }),
        3 => Err(FetchError::Plain),
        n => Ok(n),
    }
}

#[test]
fn thiserror_enum_records_the_chain_once() {
    for k in 0..5 {
        let _ = ret_thiserror(k);
    }
    let get = |k: u8| with_inputs("ret_thiserror", &json!({ "kind": k }));
    assert_err(
        &get(0),
        json!({"kind": 0}),
        &format!("fetch failed: {ENOENT}"),
    );
    assert_err(
        &get(1),
        json!({"kind": 1}),
        "bad number: invalid digit found in string",
    );
    assert_err(
        &get(2),
        json!({"kind": 2}),
        "request 7 failed: could not parse: cannot parse integer from empty string",
    );
    assert_err(&get(3), json!({"kind": 3}), "no source here");
    assert_ok(&get(4), json!({"kind": 4}), json!(4));
}

#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`
struct DebugOnly {
    code: u32,
    reason: &'static str,
}

#[backstep::tool]
fn ret_debug_only(code: u32) -> Result<(), DebugOnly> {
    Err(DebugOnly {
        code,
        reason: "teapot",
    })
}

#[derive(Debug, Serialize)]
enum ApiError {
    RateLimited { retry_after: u32 },
    Unavailable,
}

#[backstep::tool]
fn ret_serialize_error(wait: u32) -> Result<u8, ApiError> {
    if wait == 0 {
        return Err(ApiError::Unavailable);
    }
    Err(ApiError::RateLimited { retry_after: wait })
}

#[backstep::tool]
fn ret_string_error(ok: bool) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(String::from("string error"))
    }
}

#[test]
fn error_that_is_only_debug() {
    assert!(ret_debug_only(418).is_err());
    assert_err(
        &only("ret_debug_only"),
        json!({"code": 418}),
        r#"DebugOnly { code: 418, reason: "teapot" }"#,
    );
}

#[test]
fn serialize_error_enum_records_its_text() {
    assert!(ret_serialize_error(5).is_err());
    assert!(ret_serialize_error(0).is_err());
    // The error's text, and (being `Serialize`) its value, for replay.
    assert_err_value(
        &with_inputs("ret_serialize_error", &json!({"wait": 5})),
        json!({"wait": 5}),
        "RateLimited { retry_after: 5 }",
        r#"{"RateLimited":{"retry_after":5}}"#,
    );
    assert_err_value(
        &with_inputs("ret_serialize_error", &json!({"wait": 0})),
        json!({"wait": 0}),
        "Unavailable",
        r#""Unavailable""#,
    );
}

#[test]
fn string_error_and_unit_ok() {
    ret_string_error(true).unwrap();
    assert!(ret_string_error(false).is_err());
    let ok = with_inputs("ret_string_error", &json!({"ok": true}));
    assert_eq!(ok.output_json(), "null");
    assert_ok(&ok, json!({"ok": true}), Value::Null);
    assert_err_value(
        &with_inputs("ret_string_error", &json!({"ok": false})),
        json!({"ok": false}),
        "string error",
        r#""string error""#,
    );
}

// ---------------------------------------------------------------------------
// Option, (), owned and borrowed values, coercions
// ---------------------------------------------------------------------------

#[backstep::tool]
fn ret_option(n: i32) -> Option<i32> {
    (n > 0).then_some(n * 10)
}

#[test]
fn option_some_and_none() {
    assert_eq!(ret_option(4), Some(40));
    assert_eq!(ret_option(-4), None);
    assert_ok(
        &with_inputs("ret_option", &json!({"n": 4})),
        json!({"n": 4}),
        json!(40),
    );
    let none = with_inputs("ret_option", &json!({"n": -4}));
    assert_eq!(none.output_json(), "null");
    assert_ok(&none, json!({"n": -4}), Value::Null);
}

#[backstep::tool]
fn ret_unit(n: u8) {
    assert!(n < 100);
}

#[backstep::tool]
#[allow(clippy::unused_unit)] // the point of the test
fn ret_unit_explicit(n: u8) -> () {
    let _ = n;
}

#[test]
fn unit_is_null() {
    ret_unit(1);
    let call = only("ret_unit");
    assert_eq!(call.output_json(), "null");
    assert_ok(&call, json!({"n": 1}), Value::Null);
    ret_unit_explicit(2);
    assert_ok(&only("ret_unit_explicit"), json!({"n": 2}), Value::Null);
}

#[derive(Serialize)]
struct Report {
    title: String,
    tags: Vec<&'static str>,
    scores: BTreeMap<String, f32>,
    missing: Option<u8>,
}

#[backstep::tool]
fn ret_owned(title: String) -> Report {
    Report {
        title: title.to_uppercase(),
        tags: vec!["a", "b"],
        scores: BTreeMap::from([("x".to_string(), 0.5)]),
        missing: None,
    }
}

#[test]
fn owned_values() {
    assert_eq!(ret_owned("t".into()).title, "T");
    let call = only("ret_owned");
    assert_eq!(
        call.output_json(),
        r#"{"title":"T","tags":["a","b"],"scores":{"x":0.5},"missing":null}"#
    );
    assert_ok(
        &call,
        json!({"title": "t"}),
        json!({"title": "T", "tags": ["a", "b"], "scores": {"x": 0.5}, "missing": null}),
    );
}

#[backstep::tool]
fn ret_first_word(s: &str) -> &str {
    s.split(' ').next().unwrap_or("")
}

#[test]
fn str_borrowed_from_an_argument() {
    let text = String::from("hello big world");
    let w = ret_first_word(&text);
    assert!(std::ptr::eq(w.as_ptr(), text.as_ptr()));
    assert_eq!(w, "hello");
    assert_ok(
        &only("ret_first_word"),
        json!({"s": "hello big world"}),
        json!("hello"),
    );
}

struct Inventory {
    name: String,
    counts: Vec<u32>,
}

impl Inventory {
    #[backstep::tool(name = "ret_slot_mut")]
    fn slot(&mut self, i: usize) -> &mut u32 {
        &mut self.counts[i]
    }

    #[backstep::tool(name = "ret_name_coerced")]
    fn name(&self) -> &str {
        &self.name
    }

    #[backstep::tool(name = "ret_largest")]
    fn largest(&self) -> Option<&u32> {
        self.counts.iter().max()
    }
}

#[test]
fn mut_borrow_from_mut_self() {
    let mut inv = Inventory {
        name: "inv".into(),
        counts: vec![1, 20, 3],
    };
    *inv.slot(1) += 1;
    assert_eq!(inv.counts, [1, 21, 3]);
    // The value at the moment it was returned.
    assert_ok(&only("ret_slot_mut"), json!({"i": 1}), json!(20));
}

#[test]
fn string_ref_coerced_to_str() {
    let inv = Inventory {
        name: "shelf".into(),
        counts: vec![4, 9],
    };
    assert_eq!(inv.name(), "shelf");
    assert_ok(&only("ret_name_coerced"), json!({}), json!("shelf"));
    assert_eq!(inv.largest(), Some(&9));
    assert_ok(&only("ret_largest"), json!({}), json!(9));
}

trait Shape {
    fn area(&self) -> f64;
}

struct Square(f64);
struct Circle(f64);

impl Shape for Square {
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

impl Shape for Circle {
    fn area(&self) -> f64 {
        3.0 * self.0 * self.0
    }
}

#[backstep::tool(skip_output)]
fn ret_boxed_dyn(kind: &str, size: f64) -> Box<dyn Shape> {
    if kind == "square" {
        Box::new(Square(size))
    } else {
        Box::new(Circle(size))
    }
}

#[backstep::tool(skip_output)]
fn ret_boxed_dyn_result(size: f64) -> Result<Box<dyn Shape>, String> {
    if size < 0.0 {
        return Err(format!("negative size {size}"));
    }
    Ok(Box::new(Square(size)))
}

#[test]
fn box_dyn_trait_coercion_with_skip_output() {
    assert!((ret_boxed_dyn("square", 2.0).area() - 4.0).abs() < f64::EPSILON);
    assert!((ret_boxed_dyn("circle", 1.0).area() - 3.0).abs() < f64::EPSILON);
    assert_ok(
        &with_inputs("ret_boxed_dyn", &json!({"kind": "square", "size": 2.0})),
        json!({"kind": "square", "size": 2.0}),
        Value::Null,
    );
    assert_ok(
        &with_inputs("ret_boxed_dyn", &json!({"kind": "circle", "size": 1.0})),
        json!({"kind": "circle", "size": 1.0}),
        Value::Null,
    );
    assert!(ret_boxed_dyn_result(1.0).is_ok());
    assert!(ret_boxed_dyn_result(-1.0).is_err());
    assert_ok(
        &with_inputs("ret_boxed_dyn_result", &json!({"size": 1.0})),
        json!({"size": 1.0}),
        Value::Null,
    );
    assert_err(
        &with_inputs("ret_boxed_dyn_result", &json!({"size": -1.0})),
        json!({"size": -1.0}),
        "negative size -1",
    );
}

#[backstep::tool]
fn ret_unserializable(n: u8) -> std::collections::HashMap<(u8, u8), u8> {
    std::collections::HashMap::from([((n, n), n)])
}

#[test]
fn value_that_fails_to_serialize_is_recorded_as_a_note() {
    assert_eq!(ret_unserializable(1).len(), 1);
    assert_ok(
        &only("ret_unserializable"),
        json!({"n": 1}),
        json!("<unserializable: key must be a string>"),
    );
}

// ---------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------

/// An output whose `Serialize` panics after writing part of it.
struct HalfSerialized(u32);

impl Serialize for HalfSerialized {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element(&self.0)?;
        panic!("serializing {} failed", self.0);
    }
}

#[backstep::tool]
fn panic_in_output_serialize(i: u32) -> HalfSerialized {
    HalfSerialized(i)
}

#[test]
fn an_output_that_panics_while_serialized_leaves_nothing_in_the_record() {
    assert!(std::panic::catch_unwind(|| panic_in_output_serialize(7)).is_err());
    let call = only("panic_in_output_serialize");
    assert_panicked(&call, json!({ "i": 7 }), "serializing 7 failed");
    // The record's JSON is whole, so its line in a log reads back.
    assert_eq!(call.inputs_json(), r#"{"i":7}"#);
    let mut text = Vec::new();
    backstep::log().write_jsonl(&mut text).unwrap();
    let back = backstep::Log::from_jsonl(std::str::from_utf8(&text).unwrap()).unwrap();
    let read = back.get(call.seq()).unwrap();
    assert_eq!(
        (read.inputs_json(), read.output_json()),
        (r#"{"i":7}"#, "null")
    );
}

/// An error whose `Display` re-raises a panic with `resume_unwind`, which
/// runs no panic hook.
#[derive(Debug)]
struct Reraised;

impl std::fmt::Display for Reraised {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::panic::resume_unwind(Box::new("display failed"))
    }
}

#[backstep::tool]
fn caught_then_reraised(i: u32) -> Result<u32, Reraised> {
    // The body catches a panic of its own and goes on.
    assert!(std::panic::catch_unwind(|| panic!("caught inside the body")).is_err());
    if i > 0 {
        return Err(Reraised);
    }
    Ok(i)
}

#[test]
fn a_panic_the_body_caught_is_not_taken_for_its_values() {
    assert!(std::panic::catch_unwind(|| caught_then_reraised(9)).is_err());
    let call = only("caught_then_reraised");
    assert_panicked(
        &call,
        json!({ "i": 9 }),
        "panic message unavailable (raised by `resume_unwind`, or another panic hook replaced backstep's)",
    );
}

#[backstep::tool]
fn panic_str(n: u8) -> u8 {
    if n > 0 {
        panic!("static message");
    }
    n
}

#[backstep::tool]
fn panic_string(n: u8) -> Result<u8, io::Error> {
    if n > 0 {
        panic!("x {}", n);
    }
    Ok(n)
}

#[backstep::tool]
fn panic_unwrap(v: Option<u8>) -> u8 {
    v.unwrap()
}

#[backstep::tool]
fn panic_any_payload(n: u8) -> u8 {
    std::panic::panic_any(n)
}

#[test]
fn panic_with_str_payload() {
    let payload = std::panic::catch_unwind(|| panic_str(1)).unwrap_err();
    assert_eq!(*payload.downcast_ref::<&str>().unwrap(), "static message");
    assert_panicked(&only("panic_str"), json!({"n": 1}), "static message");
}

#[test]
fn panic_with_formatted_string_payload() {
    let payload = std::panic::catch_unwind(|| panic_string(1)).unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "x 1");
    assert_panicked(&only("panic_string"), json!({"n": 1}), "x 1");
}

#[test]
fn panic_from_unwrap() {
    let payload = std::panic::catch_unwind(|| panic_unwrap(None)).unwrap_err();
    let msg = "called `Option::unwrap()` on a `None` value";
    assert_eq!(*payload.downcast_ref::<&str>().unwrap(), msg);
    assert_panicked(&only("panic_unwrap"), json!({ "v": null }), msg);
}

#[test]
fn panic_with_non_string_payload_propagates_unchanged() {
    let payload = std::panic::catch_unwind(|| panic_any_payload(42)).unwrap_err();
    assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
    assert_panicked(&only("panic_any_payload"), json!({"n": 42}), "Box<dyn Any>");
}

#[backstep::tool]
fn panic_inner(n: u8) -> u8 {
    panic!("inner {n}")
}

#[backstep::tool]
fn panic_outer(n: u8) -> u8 {
    panic_inner(n) + 1
}

#[test]
fn panic_through_nested_tools_records_both() {
    let payload = std::panic::catch_unwind(|| panic_outer(3)).unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "inner 3");
    let outer = only("panic_outer");
    let inner = only("panic_inner");
    assert_panicked(&outer, json!({"n": 3}), "inner 3");
    assert_eq!(inner.inputs(), json!({"n": 3}));
    assert_eq!(inner.status(), Status::Panicked);
    assert_eq!(inner.error(), Some("inner 3"));
    assert_eq!(inner.parent(), Some(outer.seq()));
    assert!(outer.seq() < inner.seq());
}

#[backstep::tool]
fn panic_earlier(n: u8) -> u8 {
    panic!("earlier unrelated panic {n}")
}

#[backstep::tool]
fn panic_resumed(n: u8) -> u8 {
    let worker = std::thread::spawn(move || -> u8 { panic!("worker failed {n}") });
    match worker.join() {
        Ok(v) => v,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

#[test]
fn resumed_panic_is_recorded_with_its_own_message() {
    let _ = std::panic::catch_unwind(|| panic_earlier(1)).unwrap_err();
    assert_panicked(
        &only("panic_earlier"),
        json!({"n": 1}),
        "earlier unrelated panic 1",
    );
    let payload = std::panic::catch_unwind(|| panic_resumed(2)).unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "worker failed 2");
    assert_panicked(&only("panic_resumed"), json!({"n": 2}), "worker failed 2");
}
