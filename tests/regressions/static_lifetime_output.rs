//! Regression: a tool returning a type with a `'static` lifetime parameter
//! that is not `DeserializeOwned` (`Tag<'static>`, which borrows its field)
//! failed to compile ("implementation of `Deserialize` is not general
//! enough") once `'static` stopped counting as a borrow: the replay's
//! rebuilding code was generated for it. It is a borrow again (the tool runs
//! live during replay); `Cow<'static, str>` and `dyn Error + 'static` are
//! still rebuilt.
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Tag<'a> {
    name: &'a str,
}

#[backstep::tool]
fn tag(n: u32) -> Tag<'static> {
    Tag {
        name: if n > 1 { "many" } else { "one" },
    }
}

#[backstep::tool]
fn tag_result(n: u32) -> Result<Tag<'static>, Box<dyn std::error::Error + Send + Sync + 'static>> {
    Ok(tag(n))
}

fn main() {
    assert_eq!(tag(2), Tag { name: "many" });
    assert_eq!(tag_result(1).unwrap(), Tag { name: "one" });
    let log = backstep::log();
    let outputs: Vec<&str> = log.iter().map(backstep::Call::output_json).collect();
    assert_eq!(
        outputs,
        [r#"{"name":"many"}"#, r#"{"name":"one"}"#, r#"{"name":"one"}"#]
    );
}
