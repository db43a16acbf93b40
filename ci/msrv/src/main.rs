//! Every expansion shape of `#[tool]`, compiled by the MSRV toolchain.
#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;

use backstep::tool;

struct Agent;

impl Agent {
    const PRICE: f64 = 0.5;

    #[tool(cost = Self::PRICE, skip(key), redact(token))]
    fn method(&self, key: &str, token: &str, n: u32) -> Result<u32, std::io::Error> {
        let _ = (key, token);
        Ok(n)
    }
}

#[tool(name = "renamed", skip_output)]
fn value(x: &str) -> Vec<String> {
    vec![x.to_string()]
}

#[tool]
#[track_caller]
fn tracked(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n)
}

#[tool(live)]
fn borrowed(s: &str) -> &str {
    s
}

#[tool]
async fn asynchronous(n: u32) -> u32 {
    n + 1
}

#[tool]
fn future(n: u32) -> impl Future<Output = u32> + Send {
    async move { n }
}

#[tool(replay_ignore(id))]
fn boxed(id: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move { id })
}

#[tool]
fn never(n: u32) -> ! {
    panic!("{n}")
}

fn main() {
    let rec = backstep::testing::capture();
    let _ = Agent.method("k", "t", 1);
    let _ = value("v");
    let _ = tracked("1");
    let _ = borrowed("b");
    let _ = (asynchronous(1), future(2), boxed(3));
    if std::env::args().count() > 5 {
        never(0);
    }
    backstep::assert_called!(rec, "renamed");
}
