//! Regression: a generic tool whose error type is bounded by `std::error::Error`
//! (without `'static`) fails to compile: E0310 "the parameter type `E` may
//! not live long enough" pointing at `#[backstep::tool]`.
#[derive(Debug, thiserror::Error)]
#[error("outer")]
struct Outer {
    #[source]
    inner: std::num::ParseIntError,
}

#[backstep::tool(skip(e))]
fn generic_err<E: std::error::Error>(e: E) -> Result<u8, E> {
    Err(e)
}

fn main() {
    let inner = "x".parse::<u8>().unwrap_err();
    assert!(generic_err(Outer { inner }).is_err());
    let log = backstep::log();
    let call = log.by_tool("generic_err").next().unwrap();
    assert_eq!(call.inputs_json(), "{}");
    assert_eq!(call.status(), backstep::Status::Error);
    // Documented: an error's text is its Display, then each source().
    assert_eq!(call.error(), Some("outer: invalid digit found in string"));
}
