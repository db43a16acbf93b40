//! Regression: `-> Result<impl Trait, E>` whose body does not name `E` before the
//! end (here: only `Ok(..)`) fails to compile under `#[tool]`
//! (E0277 "the trait bound `std::io::Error: Deref` is not satisfied").
use std::fmt::Display;

#[backstep::tool]
fn opaque_ok(x: u32) -> Result<impl Display, std::io::Error> {
    Ok(x * 2)
}

fn main() {
    assert_eq!(opaque_ok(4).unwrap().to_string(), "8");
    let log = backstep::log();
    let call = log.by_tool("opaque_ok").next().unwrap();
    assert_eq!(call.inputs_json(), r#"{"x":4}"#);
    // The concrete type behind `impl Display` is visible inside the tool: `u32`.
    assert_eq!(call.output_json(), "8");
    assert_eq!(call.status(), backstep::Status::Ok);
    assert_eq!(call.error(), None);
}
