//! `#[tool(...)]` options (`name`, `cost`, `skip`, `skip_all`, `redact`,
//! `skip_output`) and how each kind of parameter is recorded, on sync tools.
//!
//! Every recorded call is checked field by field. Tests run in parallel and
//! share the process-wide log, so every tool has a name unique in this file
//! (or a unique input to find its call by).

use backstep::{Call, Cost, Status};
use serde::Serialize;
use serde_json::{json, Value};

#[path = "sync_support/mod.rs"]
mod sync_support;
use sync_support::{assert_ok, assert_ok_cost, only, with_inputs};

// ---------------------------------------------------------------------------
// name
// ---------------------------------------------------------------------------

#[backstep::tool(name = "opt.renamed/tool")]
fn opt_original_name(q: &str) -> usize {
    q.len()
}

#[test]
fn name_option_replaces_the_function_name() {
    assert_eq!(opt_original_name("abc"), 3);
    let call = only("opt.renamed/tool");
    assert_eq!(call.tool(), "opt.renamed/tool");
    assert_ok(&call, json!({"q": "abc"}), json!(3));
    assert_eq!(backstep::log().count("opt_original_name"), 0);
}

// ---------------------------------------------------------------------------
// cost
// ---------------------------------------------------------------------------

const PRICE: f64 = 0.0015;

#[backstep::tool(cost = 0.25)]
fn opt_cost_float(n: u8) -> u8 {
    n
}

#[backstep::tool(cost = 2)]
fn opt_cost_int(n: u8) -> u8 {
    n
}

#[backstep::tool(cost = PRICE * 2.0)]
fn opt_cost_const_expr(n: u8) -> u8 {
    n
}

#[backstep::tool(cost = 0.5f64)]
fn opt_cost_suffixed(n: u8) -> u8 {
    n
}

#[backstep::tool(cost = PRICE)]
fn opt_cost_const(n: u8) -> u8 {
    n
}

#[test]
fn cost_float_literal() {
    opt_cost_float(1);
    assert_ok_cost(&only("opt_cost_float"), json!({"n": 1}), json!(1), 0.25);
}

#[test]
fn cost_integer_literal() {
    opt_cost_int(1);
    let call = only("opt_cost_int");
    assert_ok_cost(&call, json!({"n": 1}), json!(1), 2.0);
    assert_eq!(call.cost().picodollars(), 2_000_000_000_000);
}

#[test]
fn cost_constant_expression() {
    opt_cost_const_expr(1);
    let call = only("opt_cost_const_expr");
    assert_ok_cost(&call, json!({"n": 1}), json!(1), 0.003);
    assert_eq!(call.cost().picodollars(), 3_000_000_000);
    opt_cost_const(2);
    assert_ok_cost(&only("opt_cost_const"), json!({"n": 2}), json!(2), 0.0015);
}

#[test]
fn cost_f64_suffixed_literal() {
    opt_cost_suffixed(1);
    assert_ok_cost(&only("opt_cost_suffixed"), json!({"n": 1}), json!(1), 0.5);
}

#[backstep::tool(cost = 0.002)]
fn opt_cost_added(tokens: u32) -> u32 {
    backstep::add_cost(f64::from(tokens) * 1e-6);
    opt_cost_added_child(tokens);
    backstep::add_cost(f64::from(tokens) * 1e-6);
    tokens
}

#[backstep::tool(cost = 0.1)]
fn opt_cost_added_child(tokens: u32) -> u32 {
    backstep::add_cost(0.05);
    tokens
}

#[test]
fn add_cost_adds_to_the_current_call_only() {
    opt_cost_added(500);
    let parent = only("opt_cost_added");
    let child = only("opt_cost_added_child");
    // 0.002 + 2 × 500 × 1e-6 = 0.003, exactly.
    assert_ok_cost(&parent, json!({"tokens": 500}), json!(500), 0.003);
    assert_eq!(parent.cost().picodollars(), 3_000_000_000);
    assert_eq!(child.cost(), Cost::from_usd(0.15));
    assert_eq!(child.parent(), Some(parent.seq()));
}

#[test]
fn repeated_calls_sum_exactly() {
    for i in 0..10 {
        opt_cost_sum(i);
    }
    let log = backstep::log();
    assert_eq!(log.count("opt_cost_sum"), 10);
    assert_eq!(log.cost_by_tool()["opt_cost_sum"], Cost::from_usd(0.03));
    let seqs: Vec<u64> = log.by_tool("opt_cost_sum").map(Call::seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let ns: Vec<u8> = log
        .by_tool("opt_cost_sum")
        .map(|c| c.input("n").unwrap())
        .collect();
    assert_eq!(ns, (0..10).collect::<Vec<u8>>());
}

#[backstep::tool(cost = 0.003)]
fn opt_cost_sum(n: u8) -> u8 {
    n
}

// ---------------------------------------------------------------------------
// skip, skip_all, redact
// ---------------------------------------------------------------------------

/// Not `Serialize`: only usable as a skipped parameter.
struct Client {
    base: String,
}

#[backstep::tool(skip(client))]
fn opt_skip_one(client: &Client, query: &str) -> String {
    format!("{}?q={query}", client.base)
}

#[backstep::tool(skip(client, verbose))]
fn opt_skip_two(client: Client, limit: u32, verbose: bool) -> String {
    format!("{}:{limit}:{verbose}", client.base)
}

#[test]
fn skip_leaves_parameters_out() {
    let c = Client {
        base: "https://x".into(),
    };
    assert_eq!(opt_skip_one(&c, "rust"), "https://x?q=rust");
    let call = only("opt_skip_one");
    assert_eq!(call.inputs_json(), r#"{"query":"rust"}"#);
    assert_ok(&call, json!({"query": "rust"}), json!("https://x?q=rust"));
    assert!(call.input::<String>("client").is_err());

    assert_eq!(opt_skip_two(c, 3, true), "https://x:3:true");
    assert_ok(
        &only("opt_skip_two"),
        json!({"limit": 3}),
        json!("https://x:3:true"),
    );
}

#[backstep::tool(skip(client), cost = 0)]
fn opt_skip_in_pattern((client, n): (Client, u8)) -> usize {
    client.base.len() + usize::from(n)
}

#[test]
fn skip_a_binding_of_a_pattern_and_zero_cost() {
    assert_eq!(opt_skip_in_pattern((Client { base: "xy".into() }, 1)), 3);
    let call = only("opt_skip_in_pattern");
    assert_eq!(call.inputs_json(), r#"{"n":1}"#);
    assert_ok_cost(&call, json!({"n": 1}), json!(3), 0.0);
    assert!(call.cost().is_zero());
}

#[backstep::tool(skip_all, cost = 1)]
fn opt_skip_all(client: Client, secret: &str, n: u32) -> u32 {
    u32::try_from(client.base.len() + secret.len()).unwrap() + n
}

#[test]
fn skip_all_records_no_parameters() {
    let c = Client { base: "ab".into() };
    assert_eq!(opt_skip_all(c, "xyz", 1), 6);
    let call = only("opt_skip_all");
    assert_eq!(call.inputs_json(), "{}");
    assert_ok_cost(&call, json!({}), json!(6), 1.0);
}

#[backstep::tool(redact(api_key))]
fn opt_redact(api_key: &str, query: &str) -> usize {
    api_key.len() + query.len()
}

#[derive(Serialize)]
struct Credentials {
    user: String,
    password: String,
}

#[backstep::tool(redact(creds, token), skip(client))]
fn opt_redact_many(client: &Client, creds: Credentials, token: Option<u64>, page: u8) -> String {
    format!(
        "{}/{}/{}/{page}",
        client.base,
        creds.user,
        token.unwrap_or(0)
    )
}

#[test]
fn redact_records_a_placeholder() {
    assert_eq!(opt_redact("sk-secret", "rust"), 13);
    let call = only("opt_redact");
    assert_eq!(
        call.inputs_json(),
        r#"{"api_key":"[redacted]","query":"rust"}"#
    );
    assert_ok(
        &call,
        json!({"api_key": "[redacted]", "query": "rust"}),
        json!(13),
    );
    assert!(!call.inputs_json().contains("sk-secret"));
}

#[test]
fn redact_and_skip_together() {
    let c = Client { base: "b".into() };
    let creds = Credentials {
        user: "ann".into(),
        password: "hunter2".into(),
    };
    assert_eq!(opt_redact_many(&c, creds, Some(77), 2), "b/ann/77/2");
    let call = only("opt_redact_many");
    assert_eq!(
        call.inputs_json(),
        r#"{"creds":"[redacted]","token":"[redacted]","page":2}"#
    );
    assert_ok(
        &call,
        json!({"creds": "[redacted]", "token": "[redacted]", "page": 2}),
        json!("b/ann/77/2"),
    );
    assert!(!call.inputs_json().contains("hunter2"));
}

// ---------------------------------------------------------------------------
// skip_output
// ---------------------------------------------------------------------------

/// Not `Serialize`.
#[derive(Debug, PartialEq)]
struct Handle(u32);

#[backstep::tool(skip_output)]
fn opt_skip_output_value(id: u32) -> Handle {
    Handle(id)
}

#[backstep::tool(skip_output, cost = 0.01)]
fn opt_skip_output_result(id: u32) -> Result<Handle, std::io::Error> {
    if id == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "id must not be zero",
        ));
    }
    Ok(Handle(id))
}

#[backstep::tool(skip_output)]
fn opt_skip_output_panics(id: u32) -> Handle {
    panic!("no handle for {id}")
}

#[test]
fn skip_output_on_a_value() {
    assert_eq!(opt_skip_output_value(4), Handle(4));
    assert_ok(
        &only("opt_skip_output_value"),
        json!({"id": 4}),
        Value::Null,
    );
}

#[test]
fn skip_output_keeps_status_and_error() {
    assert_eq!(opt_skip_output_result(5).unwrap(), Handle(5));
    assert_eq!(
        opt_skip_output_result(0).unwrap_err().to_string(),
        "id must not be zero"
    );
    assert_ok_cost(
        &with_inputs("opt_skip_output_result", &json!({"id": 5})),
        json!({"id": 5}),
        Value::Null,
        0.01,
    );
    let err = with_inputs("opt_skip_output_result", &json!({"id": 0}));
    assert_eq!(err.output_json(), "null");
    assert_eq!(err.status(), Status::Error);
    assert_eq!(err.error(), Some("id must not be zero"));
    assert_eq!(err.cost(), Cost::from_usd(0.01));
    assert_eq!(err.parent(), None);
}

#[test]
fn skip_output_still_records_panics() {
    let payload = std::panic::catch_unwind(|| opt_skip_output_panics(9)).unwrap_err();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "no handle for 9");
    let call = only("opt_skip_output_panics");
    assert_eq!(call.inputs(), json!({"id": 9}));
    assert_eq!(call.output_json(), "null");
    assert_eq!(call.status(), Status::Panicked);
    assert_eq!(call.error(), Some("no handle for 9"));
}

#[backstep::tool(
    name = "opt_everything",
    cost = PRICE * 4.0,
    skip(client),
    redact(key),
    skip_output
)]
fn opt_all_options(client: &Client, key: &str, n: u32) -> Handle {
    Handle(u32::try_from(client.base.len() + key.len()).unwrap() + n)
}

#[test]
fn all_options_together() {
    let c = Client { base: "abc".into() };
    assert_eq!(opt_all_options(&c, "k", 1), Handle(5));
    let call = only("opt_everything");
    assert_eq!(call.inputs_json(), r#"{"key":"[redacted]","n":1}"#);
    assert_ok_cost(
        &call,
        json!({"key": "[redacted]", "n": 1}),
        Value::Null,
        0.006,
    );
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

#[backstep::tool]
fn param_tuple((a, b): (u8, u8), c: u8) -> u8 {
    a + b + c
}

#[backstep::tool]
fn param_nested_tuple((a, (b, c)): (u8, (u8, &str))) -> String {
    format!("{a}{b}{c}")
}

#[backstep::tool]
fn param_struct(Point { x, y }: Point) -> i32 {
    x * y
}

#[backstep::tool]
fn param_struct_renamed(Point { x: px, .. }: Point, &(m, n): &(i32, i32)) -> i32 {
    px + m + n
}

#[test]
fn tuple_and_struct_patterns_record_their_bindings() {
    assert_eq!(param_tuple((1, 2), 3), 6);
    let call = only("param_tuple");
    assert_eq!(call.inputs_json(), r#"{"a":1,"b":2,"c":3}"#);
    assert_ok(&call, json!({"a": 1, "b": 2, "c": 3}), json!(6));

    assert_eq!(param_nested_tuple((1, (2, "z"))), "12z");
    assert_ok(
        &only("param_nested_tuple"),
        json!({"a": 1, "b": 2, "c": "z"}),
        json!("12z"),
    );

    assert_eq!(param_struct(Point { x: 3, y: -4 }), -12);
    let call = only("param_struct");
    assert_eq!(call.inputs_json(), r#"{"x":3,"y":-4}"#);
    assert_ok(&call, json!({"x": 3, "y": -4}), json!(-12));

    assert_eq!(param_struct_renamed(Point { x: 1, y: 0 }, &(10, 20)), 31);
    assert_ok(
        &only("param_struct_renamed"),
        json!({"px": 1, "m": 10, "n": 20}),
        json!(31),
    );
}

#[backstep::tool]
fn param_wildcard(_: u8, kept: u8, _: &str) -> u8 {
    kept
}

#[backstep::tool]
fn param_underscore_name(_unused: u8, used: u8) -> u8 {
    used
}

#[test]
fn wildcard_is_not_recorded_and_underscore_name_is() {
    assert_eq!(param_wildcard(1, 2, "x"), 2);
    let call = only("param_wildcard");
    assert_eq!(call.inputs_json(), r#"{"kept":2}"#);
    assert_ok(&call, json!({"kept": 2}), json!(2));

    assert_eq!(param_underscore_name(7, 8), 8);
    let call = only("param_underscore_name");
    assert_eq!(call.inputs_json(), r#"{"_unused":7,"used":8}"#);
    assert_ok(&call, json!({"_unused": 7, "used": 8}), json!(8));
}

#[backstep::tool]
fn param_mut(mut n: u32, mut v: Vec<u32>, buf: &mut Vec<u32>) -> (u32, Vec<u32>) {
    n += 100;
    v.push(n);
    buf.push(n);
    buf.clear();
    (n, v)
}

#[backstep::tool]
fn param_moved(s: String) -> String {
    let moved = s;
    moved + "!"
}

#[test]
fn arguments_are_captured_before_the_body_changes_them() {
    let mut buf = vec![1, 2];
    assert_eq!(param_mut(1, vec![5], &mut buf), (101, vec![5, 101]));
    assert!(buf.is_empty());
    assert_ok(
        &only("param_mut"),
        json!({"n": 1, "v": [5], "buf": [1, 2]}),
        json!([101, [5, 101]]),
    );
    assert_eq!(param_moved("hi".into()), "hi!");
    assert_ok(&only("param_moved"), json!({"s": "hi"}), json!("hi!"));
}

#[backstep::tool]
fn param_raw_ident(r#type: &str, r#match: u8) -> String {
    format!("{type}{match}", type = r#type, match = r#match)
}

#[backstep::tool(name = "param_raw_skip", skip(r#type), redact(r#match))]
fn param_raw_ident_options(r#type: &str, r#match: u8, r#loop: bool) -> bool {
    !r#type.is_empty() && r#match > 0 && r#loop
}

#[test]
fn raw_identifiers_are_recorded_without_prefix() {
    assert_eq!(param_raw_ident("kind", 1), "kind1");
    let call = only("param_raw_ident");
    assert_eq!(call.inputs_json(), r#"{"type":"kind","match":1}"#);
    assert_ok(&call, json!({"type": "kind", "match": 1}), json!("kind1"));
    assert_eq!(call.input::<String>("type").unwrap(), "kind");

    assert!(param_raw_ident_options("k", 1, true));
    assert_ok(
        &only("param_raw_skip"),
        json!({"match": "[redacted]", "loop": true}),
        json!(true),
    );
}

#[backstep::tool]
#[allow(clippy::non_minimal_cfg)] // `cfg(all())` is the always-true cfg under test
fn param_cfg(
    #[cfg(any())] removed: NotSerialize,
    #[cfg(all())] kept: u8,
    #[allow(unused_variables)] unused: u8,
    last: u8,
) -> u8 {
    #[cfg(any())]
    let _ = removed;
    kept + last
}

#[backstep::tool(redact(secret), skip(gone))]
#[allow(clippy::non_minimal_cfg)]
fn param_cfg_options(#[cfg(all())] secret: &str, #[cfg(any())] gone: NotSerialize, n: u8) -> usize {
    secret.len() + usize::from(n)
}

/// Would not compile if the `#[cfg(any())]` parameter were recorded.
#[allow(dead_code)]
struct NotSerialize;

#[test]
fn cfg_attributes_on_parameters() {
    assert_eq!(param_cfg(1, 2, 3), 4);
    let call = only("param_cfg");
    assert_eq!(call.inputs_json(), r#"{"kept":1,"unused":2,"last":3}"#);
    assert_ok(&call, json!({"kept": 1, "unused": 2, "last": 3}), json!(4));

    assert_eq!(param_cfg_options("abc", 1), 4);
    assert_ok(
        &only("param_cfg_options"),
        json!({"secret": "[redacted]", "n": 1}),
        json!(4),
    );
}

#[backstep::tool]
fn param_values(
    text: &str,
    maybe: Option<&str>,
    nothing: Option<u8>,
    nested: &&str,
    float: f64,
    slice: &[i16],
) -> usize {
    text.len() + maybe.map_or(0, str::len) + usize::from(nothing.unwrap_or(0)) + nested.len()
        - slice.len()
        + usize::from(float > 1.0)
}

#[test]
fn parameter_values_are_serialized_exactly() {
    let text = "quote \" backslash \\ newline \n é ☃";
    assert_eq!(
        param_values(text, Some("m"), None, &"nn", 1.5, &[-1, 2]),
        text.len() + 1 + 2 - 2 + 1
    );
    let call = only("param_values");
    assert_eq!(
        call.inputs_json(),
        r#"{"text":"quote \" backslash \\ newline \n é ☃","maybe":"m","nothing":null,"nested":"nn","float":1.5,"slice":[-1,2]}"#
    );
    assert_eq!(call.input::<String>("text").unwrap(), text);
    assert_ok(
        &call,
        json!({"text": text, "maybe": "m", "nothing": null, "nested": "nn", "float": 1.5, "slice": [-1, 2]}),
        json!(text.len() + 1 + 2 - 2 + 1),
    );
}

#[backstep::tool]
fn param_unserializable(map: std::collections::HashMap<(u8, u8), u8>, n: u8) -> u8 {
    n + u8::try_from(map.len()).unwrap()
}

#[test]
fn argument_that_fails_to_serialize_is_recorded_as_a_note() {
    assert_eq!(
        param_unserializable(std::collections::HashMap::from([((1, 2), 3)]), 1),
        2
    );
    let call = only("param_unserializable");
    assert_eq!(
        call.inputs_json(),
        r#"{"map":"<unserializable: key must be a string>","n":1}"#
    );
    assert_ok(
        &call,
        json!({"map": "<unserializable: key must be a string>", "n": 1}),
        json!(2),
    );
}
