//! Regression: `?` in a tool returning `Result<impl Serialize, E>` fails to compile
//! under `#[tool]` (E0277 "the trait bound `std::io::Error: Deref` is not satisfied").
use serde::Serialize;

#[backstep::tool]
fn opaque_read(path: &str) -> Result<impl Serialize, std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.len())
}

fn main() {
    assert!(opaque_read("/definitely/not/here").is_err());
    let log = backstep::log();
    let call = log.by_tool("opaque_read").next().unwrap();
    assert_eq!(call.inputs_json(), r#"{"path":"/definitely/not/here"}"#);
    assert_eq!(call.output_json(), r#"{"kind":"NotFound"}"#);
    assert_eq!(call.status(), backstep::Status::Error);
    assert_eq!(call.error(), Some("No such file or directory (os error 2)"));
}
