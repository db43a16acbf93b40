//! Compile-only proof that `#[tool]` adds no lint of clippy's `restriction`
//! group (CI runs `cargo clippy --all-targets -- -D warnings` over this file):
//! each function's own code is written to pass the group, so any warning here
//! comes from the expansion.
//!
//! The `allow`s below are for lints the file's own code triggers with or
//! without `#[tool]` (checked by removing the attribute), or for pairs of
//! restriction lints that contradict each other, so no code passes both.
#![deny(warnings)]
#![deny(clippy::restriction, clippy::pedantic, clippy::nursery)]
#![allow(
    clippy::blanket_clippy_restriction_lints,
    reason = "the point of this file is the whole group"
)]
#![allow(
    clippy::needless_return,
    clippy::separated_literal_suffix,
    clippy::pub_with_shorthand,
    reason = "each contradicts a restriction lint (implicit_return, unseparated_literal_suffix, pub_without_shorthand)"
)]
#![allow(
    clippy::single_call_fn,
    clippy::missing_inline_in_public_items,
    clippy::arbitrary_source_item_ordering,
    clippy::tests_outside_test_module,
    clippy::missing_docs_in_private_items,
    clippy::exhaustive_structs,
    clippy::min_ident_chars,
    reason = "the shape of a test file of small functions, with or without #[tool]"
)]
#![allow(
    clippy::question_mark_used,
    clippy::panic,
    clippy::float_arithmetic,
    clippy::absolute_paths,
    reason = "the functions' own `?`, `panic!`, cost arithmetic and paths: shapes #[tool] must handle"
)]

use core::future::Future;
use core::num::ParseIntError;
use core::pin::Pin;
extern crate alloc;
use alloc::boxed::Box;

use backstep::tool;
use serde::Serialize;

const PRICE: f64 = 0.25_f64;

/// A value.
#[tool]
fn value(left: u32, right: u32) -> u32 {
    return left.wrapping_add(right);
}

/// A `Result` with `?` and an early return.
#[tool(cost = 0.01_f64)]
fn parsed(text: &str) -> Result<u32, ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let number: u32 = text.parse::<u32>()?;
    return Ok(number.wrapping_add(1));
}

/// An `Option` with `?`.
#[tool(cost = 3)]
fn first(values: &[u8]) -> Option<u8> {
    let head: &u8 = values.first()?;
    return Some(*head);
}

/// Nothing returned.
#[tool]
fn unit(count: u8) {
    let _: u8 = count;
}

/// A borrow of an argument.
#[tool]
fn borrowed(text: &str) -> &str {
    return text.trim();
}

/// Every literal form of a cost, and a constant expression.
#[tool(cost = 0.000_000_000_001_f64)]
fn tiny_price(count: u8) -> u8 {
    return count;
}

#[tool(cost = 1_000_000)]
fn huge_price(count: u8) -> u8 {
    return count;
}

#[tool(cost = 1e-3_f64)]
fn exponent_price(count: u8) -> u8 {
    return count;
}

#[tool(cost = PRICE * 2.0_f64)]
fn const_price(count: u8) -> u8 {
    return count;
}

struct Secret {
    key: String,
}

/// The other options.
#[tool(name = "restriction_options", skip(secret), redact(token), skip_output)]
fn options(secret: &Secret, token: &str, query: &str) -> usize {
    return secret
        .key
        .len()
        .saturating_add(token.len())
        .saturating_add(query.len());
}

/// `live` and `replay_ignore`.
#[tool(live, replay_ignore(nonce))]
fn live(nonce: u64, query: &str) -> usize {
    return usize::try_from(nonce)
        .unwrap_or_default()
        .saturating_add(query.len());
}

/// `skip_all`.
#[tool(skip_all)]
fn skip_all(secret: &Secret) -> usize {
    return secret.key.len();
}

/// Generic over a serializable type.
#[tool]
fn generic<T: Serialize + Clone>(item: &T) -> T {
    return item.clone();
}

/// `#[track_caller]`, inline expansion: a `Result` with `?`.
#[tool]
#[track_caller]
fn tracked(text: &str) -> Result<u8, ParseIntError> {
    let number: u8 = text.parse::<u8>()?;
    return Ok(number);
}

/// `#[track_caller]` returning nothing.
#[tool]
#[track_caller]
fn tracked_unit(count: u8) {
    let _: u8 = count;
}

/// `-> !`.
#[tool]
fn never(message: &str) -> ! {
    core::panic!("{message}");
}

/// An `async fn`.
#[tool]
async fn fetched(url: String) -> usize {
    return url.len();
}

/// An `async fn` with `?`.
#[tool]
async fn fetched_parsed(text: String) -> Result<u8, ParseIntError> {
    let number: u8 = text.parse::<u8>()?;
    return Ok(number);
}

/// `-> impl Future`.
#[tool]
fn later(count: u8) -> impl Future<Output = u8> {
    return async move { return count };
}

/// `-> Pin<Box<dyn Future>>`, the `#[async_trait]` shape.
#[tool]
fn boxed(count: u8) -> Pin<Box<dyn Future<Output = u8> + Send>> {
    return Box::pin(async move { return count });
}

#[derive(Serialize)]
struct Counter {
    total: u32,
}

impl Counter {
    /// A method.
    #[tool]
    fn add(&mut self, extra: u32) -> u32 {
        self.total = self.total.wrapping_add(extra);
        return self.total;
    }

    /// An associated function with a cost from `Self`.
    #[tool(cost = Self::PRICE)]
    fn priced(extra: u32) -> u32 {
        return extra;
    }

    const PRICE: f64 = 0.5_f64;
}

#[test]
fn every_shape_runs() {
    let _session = backstep::init().install();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|error: std::io::Error| core::panic!("a runtime: {error}"));
    let secret: Secret = Secret {
        key: "k".to_owned(),
    };
    let mut counter: Counter = Counter { total: 1 };
    let sum: usize = [
        usize::try_from(value(1, 2)).unwrap_or_default(),
        usize::try_from(parsed("4").unwrap_or_default()).unwrap_or_default(),
        usize::from(first(&[5]).unwrap_or_default()),
        borrowed(" ab ").len(),
        usize::from(tiny_price(1)),
        usize::from(huge_price(1)),
        usize::from(exponent_price(1)),
        usize::from(const_price(1)),
        options(&secret, "t", "q"),
        live(1, "q"),
        skip_all(&secret),
        usize::from(generic(&7_u8)),
        usize::from(tracked("8").unwrap_or_default()),
        runtime.block_on(fetched("abc".to_owned())),
        usize::from(
            runtime
                .block_on(fetched_parsed("9".to_owned()))
                .unwrap_or_default(),
        ),
        usize::from(runtime.block_on(later(2))),
        usize::from(runtime.block_on(boxed(3))),
        usize::try_from(counter.add(2)).unwrap_or_default(),
        usize::try_from(Counter::priced(4)).unwrap_or_default(),
    ]
    .iter()
    .sum();
    unit(1);
    tracked_unit(1);
    let panicked: bool = std::panic::catch_unwind(|| never("stop")).is_err();
    assert!(panicked, "`never` panics");
    assert_eq!(sum, 64, "the tools return what their bodies do");
    let log = backstep::log();
    assert_eq!(
        log.len(),
        22,
        "every call is recorded (19 values, 2 units and the panic)"
    );
    // The literal prices, rewritten by the expansion, are the ones written.
    for (name, usd) in [
        ("parsed", 0.01_f64),
        ("first", 3.0_f64),
        ("tiny_price", 1e-12_f64),
        ("huge_price", 1e6_f64),
        ("exponent_price", 1e-3_f64),
        ("const_price", 0.5_f64),
        ("priced", 0.5_f64),
        ("value", 0.0_f64),
    ] {
        let costs: Vec<backstep::Cost> = log.by_tool(name).map(backstep::Call::cost).collect();
        assert_eq!(
            costs,
            [backstep::Cost::from_usd(usd)],
            "the cost of `{name}`"
        );
    }
}
