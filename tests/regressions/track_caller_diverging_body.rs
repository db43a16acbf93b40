//! Regression: a `#[track_caller]` tool whose body never falls off its end (a retry
//! loop that only leaves through `return`, or `todo!()`) makes the expansion
//! warn `unreachable statement` at `#[backstep::tool]`: the code recording
//! the tail value comes after a block of type `!`. Under `-D warnings` (or
//! `deny(unreachable_code)`, as here) valid code stops compiling.
#![deny(unreachable_code)]

#[backstep::tool]
#[track_caller]
fn retry(limit: u32) -> Result<u32, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        if attempt == 3 {
            return Ok(attempt);
        }
        if attempt > limit {
            return Err(format!("gave up after {limit}"));
        }
    }
}

#[backstep::tool]
#[track_caller]
#[allow(dead_code)]
fn unfinished(x: u32) -> u32 {
    let _ = x;
    todo!()
}

fn main() {
    assert_eq!(retry(5), Ok(3));
    assert_eq!(retry(1), Err("gave up after 1".to_string()));
    let log = backstep::log();
    let calls: Vec<_> = log.by_tool("retry").collect();
    assert_eq!(calls[0].output_json(), "3");
    assert_eq!(calls[0].status(), backstep::Status::Ok);
    assert_eq!(calls[1].status(), backstep::Status::Error);
    assert_eq!(calls[1].error(), Some("gave up after 1"));
}
