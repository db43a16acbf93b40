#![deny(warnings)]
#![warn(clippy::pedantic)]
//! Compile-only proof that `#[tool]` is invisible to lints: every shape of
//! function it accepts, with every option, compiles here without a single
//! warning under `deny(warnings)` and `clippy::pedantic` (CI runs
//! `cargo clippy --workspace --all-targets -- -D warnings`).
//!
//! No `allow` in this file silences a lint caused by `#[tool]`: each `allow`
//! below is for a lint that the user's own code triggers with or without the
//! attribute (checked by removing `#[tool]` from the item), and says so.

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use async_trait::async_trait;
use backstep::tool;
use serde::Serialize;

// ---------------------------------------------------------------------------
// Bodies and parameters
// ---------------------------------------------------------------------------

/// A one-line body (`unused_braces` must not fire).
#[tool]
fn one_line(x: u8) -> u8 {
    x
}

/// A one-line body returning nothing.
#[tool]
fn one_line_unit(x: u8) {
    assert!(x < 200, "x is {x}");
}

/// `_x` parameters, and a `_` parameter (`used_underscore_binding` must not fire).
#[tool]
fn underscores(_x: u8, _: u16, y: u8) -> u8 {
    y
}

/// Only underscore parameters.
#[tool]
fn only_underscores(_unused: &str, _: u8) -> bool {
    true
}

/// `mut` parameters, changed by the body.
#[tool]
fn mut_params(mut items: Vec<u8>, mut n: u8) -> usize {
    n = n.saturating_add(1);
    items.push(n);
    items.len()
}

#[derive(Serialize, Clone, Copy)]
struct Point {
    x: i32,
    y: i32,
}

/// Patterns in parameters.
#[tool]
fn patterns((a, b): (u8, u8), Point { x, y }: Point, [first, .., last]: [u8; 3]) -> i64 {
    i64::from(a) + i64::from(b) + i64::from(x) + i64::from(y) + i64::from(first) + i64::from(last)
}

/// A reference pattern, and a `mut` binding inside a pattern.
#[tool]
fn ref_pattern(&(ref name, mut count): &(String, u32)) -> String {
    count += 1;
    format!("{name}{count}")
}

/// A `#[cfg]`-ed out parameter.
#[tool]
fn cfg_param(x: u8, #[cfg(any())] debug: bool) -> u8 {
    #[cfg(any())]
    let _ = debug;
    x
}

/// A raw identifier parameter.
#[tool]
fn raw_ident(r#type: &str) -> usize {
    r#type.len()
}

/// Nested items, closures and loops in the body.
#[tool]
fn nested_items(values: &[u32]) -> u32 {
    fn helper(v: u32) -> u32 {
        v * 2
    }
    const LIMIT: u32 = 100;
    let doubled: Vec<u32> = values.iter().map(|&v| helper(v)).collect();
    let mut total = 0;
    for v in doubled {
        if total > LIMIT {
            break;
        }
        total += v;
    }
    total
}

/// Early `return`, `?`, and `return` inside a closure of the body.
#[tool]
fn early_exits(text: &str) -> Result<u32, std::num::ParseIntError> {
    let pick = |s: &str| -> Option<u32> {
        if s.is_empty() {
            return None;
        }
        s.parse().ok()
    };
    if let Some(n) = pick(text) {
        return Ok(n);
    }
    let n: u32 = text.trim().parse()?;
    Ok(n + 1)
}

/// Parameters named like the expansion's own variables.
#[tool]
fn generated_names(
    __backstep_call: u8,
    __backstep_inputs: u8,
    __backstep_output: u8,
    __backstep_out: u8,
) -> u8 {
    7
}

/// The same, with the inline `#[track_caller]` expansion.
#[tool]
#[track_caller]
fn generated_names_tracked(
    __backstep_call: u8,
    __backstep_returned: u8,
    __backstep_value: u8,
    __backstep_residual: u8,
) -> Option<u8> {
    let v = Some(1_u8)?;
    Some(v)
}

/// A body that is only `todo!()`.
#[tool]
fn stub(x: u8) -> u8 {
    todo!("later {x}")
}

// ---------------------------------------------------------------------------
// Return types
// ---------------------------------------------------------------------------

/// `anyhow::Result` with `?` and `bail!`.
#[tool]
fn with_anyhow(text: &str) -> anyhow::Result<u64> {
    if text.is_empty() {
        anyhow::bail!("empty input");
    }
    let n: u64 = text.parse()?;
    Ok(n)
}

/// `io::Error`.
#[tool]
fn with_io_error(path: &str) -> Result<usize, io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.len())
}

/// `Option`, with `?` on an option.
#[tool]
fn with_option(values: &[u8]) -> Option<u8> {
    let first = values.first()?;
    first.checked_add(1)
}

/// `()` with an explicit `-> ()`-free signature and statements.
#[tool]
fn unit_with_statements(count: usize) {
    let mut v = Vec::with_capacity(count);
    v.push(count);
    assert!(!v.is_empty());
}

/// A `&str` borrowed from an argument.
#[tool]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() {
        a
    } else {
        b
    }
}

/// `&String` coerced to the declared `&str`.
#[tool]
fn coerced(names: &[String], i: usize) -> &str {
    if let Some(name) = names.get(i) {
        return name;
    }
    ""
}

/// Diverges.
#[tool]
fn never_returns(message: &str) -> ! {
    panic!("{message}")
}

/// `impl Trait` in argument and return position.
#[tool]
fn impl_traits(items: impl IntoIterator<Item = u8> + Serialize) -> impl Iterator<Item = u8> {
    items.into_iter().map(|x| x.wrapping_add(1))
}

/// An `impl Trait` return declared `Serialize`.
#[tool]
fn impl_serialize(n: u8) -> impl Serialize {
    vec![n; 2]
}

/// `impl Display` return.
#[tool]
fn impl_display(n: u8) -> impl Display {
    n
}

/// A boxed trait object returned through a coercion.
#[tool(skip_output)]
fn boxed_dyn(n: u8) -> Box<dyn Display> {
    Box::new(n)
}

// ---------------------------------------------------------------------------
// Generics
// ---------------------------------------------------------------------------

/// Generic, with a `where` clause.
#[tool]
fn generic<T, U>(t: T, u: &U) -> String
where
    T: Serialize + Display,
    U: Serialize + ?Sized,
{
    let _ = u;
    t.to_string()
}

/// Generic error type with a `Display` bound.
#[tool]
fn generic_result<T: Serialize + Copy, E: Display + Serialize>(r: Result<T, E>) -> Result<T, E> {
    r
}

/// A const generic parameter (arrays of any length are not `Serialize`).
#[tool(skip(values))]
fn const_generic<const N: usize>(values: [u8; N]) -> usize {
    values.len()
}

/// Lifetime and type parameters together.
#[tool]
fn with_lifetimes<'a, 'b, T>(
    items: &'a [T],
    fallback: &'b T,
    index: usize,
) -> (Option<&'a T>, &'b T)
where
    T: Serialize,
{
    (items.get(index), fallback)
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

const BASE_PRICE: f64 = 0.001;

struct Client {
    base: String,
}

/// Every option at once.
#[tool(name = "lints_all_options", cost = BASE_PRICE * 3.0, skip(client), redact(api_key), skip_output)]
fn all_options(client: &Client, api_key: &str, query: &str) -> Result<String, io::Error> {
    if query.is_empty() {
        return Err(io::Error::other("empty query"));
    }
    Ok(format!("{}/{query}?k={}", client.base, api_key.len()))
}

/// `skip_all`, and an integer cost.
#[tool(skip_all, cost = 2)]
fn skip_all(client: &Client, secret: &str) -> usize {
    client.base.len() + secret.len()
}

const fn price_of(units: u32) -> f64 {
    units as f64 * BASE_PRICE
}

/// `cost` as a call of a `const fn`, and `redact` on a parameter that is not
/// `Serialize`.
#[tool(cost = price_of(3), redact(client))]
#[inline]
#[doc(hidden)]
fn cost_const_fn(client: &Client, n: u8) -> usize {
    client.base.len() + usize::from(n)
}

/// `cost` as a path to a constant.
#[tool(cost = BASE_PRICE)]
fn cost_const(n: u8) -> u8 {
    n
}

/// `#[must_use]`, doc comments and `pub(crate)`.
#[must_use]
#[tool(name = "lints_must_use")]
pub(crate) fn must_use(n: u32) -> u32 {
    n + 1
}

/// `#[must_use]` below `#[tool]`.
#[tool]
#[must_use = "the sum is the point"]
pub(crate) fn must_use_below(a: u32, b: u32) -> u32 {
    a + b
}

// ---------------------------------------------------------------------------
// #[track_caller]
// ---------------------------------------------------------------------------

/// `#[track_caller]` with `?` and `return`.
#[track_caller]
#[tool(skip_output)]
fn tracked(text: &str) -> Result<&'static std::panic::Location<'static>, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(std::panic::Location::caller());
    }
    let n: u8 = text.parse()?;
    assert!(n < 200, "too large");
    Ok(std::panic::Location::caller())
}

/// `#[track_caller]` with a one-line body.
#[tool]
#[track_caller]
fn tracked_one_line(x: u8) -> u8 {
    x
}

/// `#[track_caller]` returning `()`.
#[tool]
#[track_caller]
fn tracked_unit(x: u8) {
    assert!(x < 100, "x is {x}");
}

/// `#[track_caller]` with `?` on an `Option`.
#[tool]
#[track_caller]
fn tracked_option(values: &[u8]) -> Option<u8> {
    let first = values.first()?;
    Some(*first)
}

/// `#[track_caller]` with an early `return;` in a `()` function.
#[tool]
#[track_caller]
fn tracked_unit_return(x: u8) {
    if x == 0 {
        return;
    }
    assert!(x < 100, "x is {x}");
}

/// `#[track_caller]` with an `impl Trait` return and `return`.
#[tool]
#[track_caller]
fn tracked_impl_display(x: u8) -> impl Display {
    if x == 0 {
        return "zero".to_string();
    }
    x.to_string()
}

/// `#[track_caller]` returning a borrow through a coercion.
#[tool]
#[track_caller]
fn tracked_borrowed(names: &[String], i: usize) -> &str {
    if let Some(name) = names.get(i) {
        return name;
    }
    ""
}

/// `#[track_caller]` with `?` in a `match`, in a closure and in an `async`
/// block of the body (only the first is the function's own).
#[tool]
#[track_caller]
fn tracked_nested_exits(text: &str) -> Result<u8, std::num::ParseIntError> {
    let parse =
        |s: &str| -> Result<u8, std::num::ParseIntError> { Ok(s.parse::<u8>()?.saturating_add(1)) };
    let later = async move {
        let n = text.len().to_string().parse::<u8>()?;
        Ok::<u8, std::num::ParseIntError>(n.saturating_add(1))
    };
    drop(later);
    let n = match text.len() {
        0 => return Ok(0),
        1 => parse(text)?,
        _ => text.parse::<u8>()?,
    };
    Ok(n)
}

/// `#[track_caller]` and `-> !`.
#[tool]
#[track_caller]
fn tracked_never(message: &str) -> ! {
    panic!("{message}")
}

// ---------------------------------------------------------------------------
// unsafe, extern "C"
// ---------------------------------------------------------------------------

/// Reads a byte.
///
/// # Safety
///
/// `p` must be valid for reads.
#[tool(skip(p))]
unsafe fn unsafe_read(p: *const u8) -> u8 {
    unsafe { *p }
}

#[tool]
extern "C" fn c_abi(x: i32) -> i32 {
    x.wrapping_add(1)
}

/// # Safety
///
/// Always safe; `unsafe` for the sake of the shape.
#[tool]
unsafe extern "C" fn unsafe_c_abi(x: i32) -> i32 {
    x.wrapping_sub(1)
}

// ---------------------------------------------------------------------------
// Methods: every receiver
// ---------------------------------------------------------------------------

#[derive(Clone, Serialize)]
struct Widget {
    size: u32,
}

impl Widget {
    const SCALE: u32 = 2;

    /// `Self` inside the body, a closure and a nested block.
    #[tool]
    fn by_ref(&self, factor: u32) -> u32 {
        let scale = || Self::SCALE * factor;
        self.size * scale()
    }

    #[tool]
    fn by_mut(&mut self, grow: u32) -> u32 {
        self.size += grow;
        self.size
    }

    #[tool]
    fn by_value(self, extra: u32) -> u32 {
        self.size + extra
    }

    #[tool]
    fn by_mut_value(mut self, extra: u32) -> Self {
        self.size += extra;
        self
    }

    #[tool]
    #[allow(clippy::boxed_local)] // the user's own signature: also without #[tool]
    fn by_box(self: Box<Self>, extra: u32) -> u32 {
        self.size + extra
    }

    #[tool]
    fn by_arc(self: Arc<Self>, extra: u32) -> u32 {
        self.size + extra
    }

    #[tool]
    fn by_rc(self: Rc<Self>, extra: u32) -> u32 {
        self.size + extra
    }

    #[tool]
    fn by_pin(self: Pin<&mut Self>, extra: u32) -> u32 {
        let this = self.get_mut();
        this.size += extra;
        this.size
    }

    /// An associated function returning `Self`.
    #[tool(skip_output)]
    fn new(size: u32) -> Self {
        Self { size }
    }

    /// An associated function returning `Option<Self>` built in a closure.
    #[tool(skip_output)]
    fn try_new(size: u32) -> Option<Self> {
        let make = |s| Self { size: s };
        (size > 0).then(|| make(size))
    }
}

/// A generic impl block.
struct Wrapper<T>(T);

impl<T: Serialize + Clone> Wrapper<T> {
    #[tool]
    fn get(&self, copies: usize) -> Vec<T> {
        vec![self.0.clone(); copies]
    }
}

// ---------------------------------------------------------------------------
// Traits
// ---------------------------------------------------------------------------

trait Shape {
    fn area(&self, scale: u32) -> u32;
    fn name(&self) -> String;

    /// A provided method recorded in the trait itself.
    #[tool(name = "lints_trait_default")]
    fn describe(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.name())
    }
}

impl Shape for Widget {
    #[tool(name = "lints_trait_area")]
    fn area(&self, scale: u32) -> u32 {
        self.size * self.size * scale
    }

    #[tool(name = "lints_trait_name")]
    fn name(&self) -> String {
        format!("widget {}", self.size)
    }
}

/// A foreign trait.
impl Display for Widget {
    #[tool(skip(f))]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}>", self.size)
    }
}

// ---------------------------------------------------------------------------
// Async
// ---------------------------------------------------------------------------

/// `async fn`.
#[tool]
async fn async_value(x: u32) -> u32 {
    tokio::task::yield_now().await;
    x + 1
}

/// `async fn` with a one-line body after an await-free statement.
#[tool]
async fn async_one_line(x: u32) -> u32 {
    async_value(x).await
}

/// `async fn` with `?`, `return` and a borrowed return.
#[tool]
async fn async_result<'a>(text: &'a str, other: &str, fail: bool) -> anyhow::Result<&'a str> {
    tokio::task::yield_now().await;
    if fail {
        anyhow::bail!("failed on {text} and {other}");
    }
    let n: usize = text.len().to_string().parse()?;
    if n == 0 {
        return Ok("");
    }
    Ok(&text[..1])
}

/// `async fn` with `mut` and `_` parameters.
#[tool]
async fn async_params(mut items: Vec<u8>, _unused: u8, (a, b): (u8, u8)) -> Vec<u8> {
    items.push(a);
    tokio::task::yield_now().await;
    items.push(b);
    items
}

/// `async fn` whose body starts with items (`items_after_statements`).
#[tool]
async fn async_items_first(x: u32) -> u32 {
    use std::ops::Add;
    const STEP: u32 = 1;
    fn helper(v: u32) -> u32 {
        v.add(STEP)
    }
    tokio::task::yield_now().await;
    helper(x)
}

/// `async fn` left only through `return` inside a `loop`.
#[tool]
async fn async_loop_return(x: u32) -> u32 {
    let mut i = x;
    loop {
        if i > 3 {
            return i;
        }
        i = async_value(i).await;
    }
}

/// `async fn` ending in `todo!()`.
#[tool]
async fn async_stub(x: u32) -> u32 {
    tokio::task::yield_now().await;
    todo!("later {x}")
}

/// `async fn` returning `()`.
#[tool]
async fn async_unit(n: u8) {
    tokio::task::yield_now().await;
    assert!(n < 255, "n is {n}");
}

/// `async unsafe fn`.
///
/// # Safety
///
/// `p` must be valid for reads.
#[tool(skip(p))]
async unsafe fn async_unsafe(p: *const u8) -> u8 {
    tokio::task::yield_now().await;
    unsafe { *p }
}

/// `async fn` with an `impl Trait` argument and a coercion into a boxed
/// trait object in its `Ok`.
#[tool(skip_output)]
pub(crate) async fn async_boxed_dyn(
    value: impl Serialize + Display + Send + 'static,
) -> Result<Box<dyn Display + Send>, io::Error> {
    tokio::task::yield_now().await;
    if value.to_string().is_empty() {
        return Err(io::Error::other("empty"));
    }
    Ok(Box::new(value))
}

/// Generic `async fn` with a `where` clause.
#[tool]
async fn async_generic<T>(items: Vec<T>) -> Option<T>
where
    T: Serialize + Send,
{
    tokio::task::yield_now().await;
    items.into_iter().next()
}

/// `-> impl Future` whose output type is fixed inside the future.
#[tool]
fn impl_future_result(
    text: &str,
) -> impl Future<Output = Result<u32, std::num::ParseIntError>> + Send {
    let owned = text.trim().to_string();
    async move {
        tokio::task::yield_now().await;
        owned.parse::<u32>()
    }
}

/// `-> impl Future` with statements before the returned future.
#[tool]
fn impl_future(x: u32) -> impl Future<Output = u32> + Send {
    let y = x * 2;
    async move {
        tokio::task::yield_now().await;
        y + 1
    }
}

/// `-> Pin<Box<dyn Future + Send>>`.
#[tool]
fn boxed_future(x: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    let y = x * 3;
    Box::pin(async move {
        tokio::task::yield_now().await;
        y
    })
}

impl Widget {
    #[tool]
    async fn async_method(&self, extra: u32) -> u32 {
        tokio::task::yield_now().await;
        self.size + extra
    }

    #[tool]
    async fn async_method_mut(&mut self, extra: u32) -> u32 {
        tokio::task::yield_now().await;
        self.size += extra;
        self.size
    }

    #[tool]
    fn boxed_method(&self, extra: u32) -> Pin<Box<dyn Future<Output = u32> + Send + '_>> {
        let e = extra + 1;
        Box::pin(async move {
            tokio::task::yield_now().await;
            self.size + e
        })
    }
}

#[async_trait]
trait Fetch {
    async fn fetch(&self, id: u32) -> anyhow::Result<String>;
    async fn count(&self) -> usize;
}

#[async_trait]
impl Fetch for Widget {
    #[tool]
    #[allow(unused_variables)] // documents the order; the user's own attribute
    async fn fetch(&self, id: u32) -> anyhow::Result<String> {
        tokio::task::yield_now().await;
        if id == 0 {
            anyhow::bail!("no id");
        }
        Ok(format!("{}-{id}", self.size))
    }

    #[allow(unused_variables)] // the user's own attribute, above #[tool]
    #[tool(skip_output)]
    async fn count(&self) -> usize {
        tokio::task::yield_now().await;
        usize::try_from(self.size).unwrap_or(usize::MAX)
    }
}

/// Native `async fn` and `-> impl Future` in a trait.
trait Native {
    async fn native(&self, n: u32) -> u32;
    fn native_later(&self, n: u32) -> impl Future<Output = u32> + Send;
}

struct Adder(u32);

impl Native for Adder {
    #[tool]
    async fn native(&self, n: u32) -> u32 {
        tokio::task::yield_now().await;
        self.0 + n
    }

    #[tool]
    fn native_later(&self, n: u32) -> impl Future<Output = u32> + Send {
        let base = self.0;
        async move {
            tokio::task::yield_now().await;
            base * n
        }
    }
}

// ---------------------------------------------------------------------------
// Hygiene: user names shadowing what the expansion could use
// ---------------------------------------------------------------------------

mod shadowing {
    //! Names from the prelude and `std`/`core` shadowed by user items.

    use ::backstep::tool;
    use ::serde::Serialize;

    #[derive(Serialize)]
    pub struct Result;
    #[derive(Serialize)]
    pub struct Option;
    #[derive(Serialize)]
    pub struct Box;
    #[derive(Serialize)]
    pub struct Some;
    #[derive(Serialize)]
    pub struct Ok;
    #[derive(Serialize)]
    pub struct Err;
    #[derive(Serialize)]
    pub struct None;
    #[derive(Serialize)]
    pub struct Vec;
    #[derive(Serialize)]
    pub struct String;
    pub trait Sized {}
    pub trait Send {}
    pub trait Future {}
    pub trait Fn {}
    pub trait FnOnce {}
    impl Sized for Vec {}
    impl Send for Vec {}
    impl Future for Vec {}
    impl Fn for Vec {}
    impl FnOnce for Vec {}

    pub mod core {}
    pub mod std {}
    pub mod serde {}
    pub mod backstep {}

    /// Bounds naming the user's traits.
    #[tool]
    pub fn user_bounds<T>(t: T) -> T
    where
        T: Sized + Send + Future + Fn + FnOnce + ::serde::Serialize,
    {
        t
    }

    #[tool]
    pub fn returns_user_result(r: Result) -> Result {
        r
    }

    #[tool]
    pub fn returns_user_option(o: Option, s: Some) -> (Option, Some) {
        (o, s)
    }

    #[tool]
    pub fn returns_real_result(ok: bool) -> ::core::result::Result<Ok, Err> {
        if ok {
            ::core::result::Result::Ok(Ok)
        } else {
            ::core::result::Result::Err(Err)
        }
    }

    #[tool]
    pub fn returns_real_option(some: bool) -> ::core::option::Option<Box> {
        if some {
            ::core::option::Option::Some(Box)
        } else {
            ::core::option::Option::None
        }
    }

    #[tool]
    #[track_caller]
    pub fn tracked_real_result(n: u8) -> ::core::result::Result<u8, ::std::string::String> {
        if n == 0 {
            return ::core::result::Result::Err(::std::string::String::from("zero"));
        }
        let m = ::core::result::Result::<u8, ::std::string::String>::Ok(n)?;
        ::core::result::Result::Ok(m)
    }

    #[tool]
    pub async fn async_user_types(v: Vec, n: None) -> (Vec, None) {
        ::tokio::task::yield_now().await;
        (v, n)
    }

    #[tool]
    pub fn impl_future_user_types(s: String) -> impl ::core::future::Future<Output = String> {
        let t = s;
        async move { t }
    }

    #[tool]
    pub fn boxed_future_user_types(
        s: String,
    ) -> ::core::pin::Pin<
        ::std::boxed::Box<dyn ::core::future::Future<Output = String> + ::core::marker::Send>,
    > {
        ::std::boxed::Box::pin(async move { s })
    }
}

// ---------------------------------------------------------------------------
// Use them
// ---------------------------------------------------------------------------

#[test]
fn sync_shapes_run() {
    assert_eq!(one_line(3), 3);
    one_line_unit(1);
    assert_eq!(underscores(1, 2, 3), 3);
    assert!(only_underscores("x", 0));
    assert_eq!(mut_params(vec![1], 1), 2);
    assert_eq!(patterns((1, 2), Point { x: 3, y: 4 }, [5, 6, 7]), 22);
    assert_eq!(ref_pattern(&("n".to_string(), 1)), "n2");
    assert_eq!(cfg_param(4), 4);
    assert_eq!(raw_ident("abc"), 3);
    assert_eq!(nested_items(&[1, 2]), 6);
    assert_eq!(generated_names(1, 2, 3, 4), 7);
    assert_eq!(generated_names_tracked(1, 2, 3, 4), Some(1));
    assert!(std::panic::catch_unwind(|| stub(1)).is_err());
    assert_eq!(early_exits("5"), Ok(5));
    assert!(with_anyhow("").is_err());
    assert!(with_io_error("/nonexistent/backstep/lints").is_err());
    assert_eq!(with_option(&[1]), Some(2));
    unit_with_statements(2);
    assert_eq!(longest("ab", "c"), "ab");
    assert_eq!(coerced(&["xy".to_string()], 0), "xy");
    assert!(std::panic::catch_unwind(|| never_returns("expected")).is_err());
    assert_eq!(impl_traits(vec![1, 2]).collect::<Vec<u8>>(), [2, 3]);
    let _ = impl_serialize(1);
    assert_eq!(impl_display(4).to_string(), "4");
    assert_eq!(boxed_dyn(5).to_string(), "5");
    assert_eq!(generic(1, "u"), "1");
    assert_eq!(generic_result::<u8, String>(Ok(1)), Ok(1));
    assert_eq!(const_generic([0; 4]), 4);
    assert_eq!(with_lifetimes(&[1, 2], &0, 1), (Some(&2), &0));
}

#[test]
fn options_methods_and_traits_run() {
    use shadowing as s;

    let client = Client {
        base: "https://x".into(),
    };
    assert!(all_options(&client, "k", "q").is_ok());
    assert_eq!(backstep::log().count("lints_all_options"), 1);
    assert_eq!(skip_all(&client, "s"), 10);
    assert_eq!(cost_const(1), 1);
    assert_eq!(cost_const_fn(&client, 1), 10);
    assert_eq!(must_use(1), 2);
    assert_eq!(must_use_below(1, 2), 3);
    assert!(tracked("").is_ok());
    assert!(tracked("x").is_err());
    assert_eq!(tracked_one_line(1), 1);
    tracked_unit(1);
    assert_eq!(tracked_option(&[4]), Some(4));
    tracked_unit_return(0);
    assert_eq!(tracked_impl_display(0).to_string(), "zero");
    assert_eq!(tracked_borrowed(&["a".to_string()], 0), "a");
    assert_eq!(tracked_nested_exits("7"), Ok(8));
    assert!(std::panic::catch_unwind(|| tracked_never("expected")).is_err());
    let byte = 7u8;
    // SAFETY: `byte` is a live local.
    assert_eq!(unsafe { unsafe_read(std::ptr::from_ref(&byte)) }, 7);
    assert_eq!(c_abi(1), 2);
    // SAFETY: always safe.
    assert_eq!(unsafe { unsafe_c_abi(1) }, 0);

    let mut w = Widget::new(2);
    assert_eq!(w.by_ref(3), 12);
    assert_eq!(w.by_mut(1), 3);
    assert_eq!(w.clone().by_value(1), 4);
    assert_eq!(w.clone().by_mut_value(1).size, 4);
    assert_eq!(Box::new(w.clone()).by_box(1), 4);
    assert_eq!(Arc::new(w.clone()).by_arc(1), 4);
    assert_eq!(Rc::new(w.clone()).by_rc(1), 4);
    assert_eq!(Pin::new(&mut w).by_pin(1), 4);
    assert!(Widget::try_new(0).is_none());
    assert_eq!(Wrapper(1u8).get(2), [1, 1]);
    assert_eq!(w.area(1), 16);
    assert_eq!(w.describe("a "), "a widget 4");
    assert_eq!(w.to_string(), "<4>");

    let _ = s::user_bounds(s::Vec);
    let _ = s::returns_user_result(s::Result);
    let _ = s::returns_user_option(s::Option, s::Some);
    assert!(s::returns_real_result(false).is_err());
    assert!(s::returns_real_option(true).is_some());
    assert!(s::tracked_real_result(0).is_err());
}

#[tokio::test]
async fn async_shapes_run() {
    assert_eq!(async_value(1).await, 2);
    assert_eq!(async_one_line(1).await, 2);
    assert_eq!(async_result("abc", "d", false).await.unwrap(), "a");
    assert!(async_result("abc", "d", true).await.is_err());
    assert_eq!(async_params(vec![], 0, (1, 2)).await, [1, 2]);
    async_unit(1).await;
    assert_eq!(async_items_first(1).await, 2);
    assert_eq!(async_loop_return(1).await, 4);
    assert!(tokio::spawn(async_stub(1)).await.is_err());
    let byte = 9u8;
    // SAFETY: `byte` outlives the future.
    assert_eq!(unsafe { async_unsafe(std::ptr::from_ref(&byte)) }.await, 9);
    assert_eq!(impl_future(1).await, 3);
    assert!(async_boxed_dyn(1).await.is_ok());
    assert_eq!(async_generic(vec![1, 2]).await, Some(1));
    assert_eq!(impl_future_result(" 4 ").await, Ok(4));
    assert_eq!(Adder(1).native(1).await, 2);
    assert_eq!(Adder(2).native_later(2).await, 4);
    assert_eq!(boxed_future(1).await, 3);
    let mut w = Widget::new(1);
    assert_eq!(w.async_method(1).await, 2);
    assert_eq!(w.async_method_mut(1).await, 2);
    assert_eq!(w.boxed_method(1).await, 4);
    assert_eq!(w.fetch(1).await.unwrap(), "2-1");
    assert!(w.fetch(0).await.is_err());
    assert_eq!(w.count().await, 2);
    let _ = shadowing::async_user_types(shadowing::Vec, shadowing::None).await;
    let _ = shadowing::impl_future_user_types(shadowing::String).await;
    let _ = shadowing::boxed_future_user_types(shadowing::String).await;
}

// ---------------------------------------------------------------------------
// Regressions: items that once warned or failed to compile only because of
// `#[tool]` (each compiles cleanly without it); now they must stay clean.
// ---------------------------------------------------------------------------

#[allow(dead_code)] // compile-only items, never called (also without #[tool])
mod regressions {
    use backstep::tool;

    /// Was: `warning: unreachable statement` (rustc `unreachable_code`),
    /// pointing at `#[tool]`: the inline `#[track_caller]` expansion puts the
    /// recording after the body, and this body is left only by `return`.
    #[tool]
    #[track_caller]
    pub fn tracked_loop_return(x: u8) -> u8 {
        let mut i = x;
        loop {
            if i > 3 {
                return i;
            }
            i += 1;
        }
    }

    /// Was: `unreachable_code` and `clippy::diverging_sub_expression` (both
    /// warn by default) on a `#[track_caller]` stub.
    #[tool]
    #[track_caller]
    pub fn tracked_stub(x: u8) -> u8 {
        todo!("later {x}")
    }

    /// Was: `unreachable_code` on a `#[track_caller]` function that always panics.
    #[tool]
    #[track_caller]
    pub fn tracked_always_panics(x: u8) {
        panic!("always {x}")
    }

    /// Was a compile error: "an inner attribute is not permitted in this
    /// context": the body's inner attributes are emitted before the `fn`.
    #[tool]
    pub fn inner_attribute(x: u8) -> u8 {
        #![allow(clippy::needless_pass_by_value)]
        x
    }

    /// Was a compile error: the same in an `async fn`.
    #[tool]
    pub async fn inner_attribute_async(x: u8) -> u8 {
        #![allow(clippy::needless_pass_by_value)]
        tokio::task::yield_now().await;
        x
    }

    /// Was `clippy::items_after_statements` (pedantic): the body's first
    /// statement, an item, came after the expansion's own.
    ///
    /// # Panics
    ///
    /// Always.
    #[tool]
    pub fn never_starts_with_an_item(x: u8) -> ! {
        const K: u8 = 1;
        panic!("{}", x.wrapping_add(K))
    }

    /// Was a compile error (E0658, "the `!` type is experimental"): the
    /// expansion wrote the return type `!` as a type.
    ///
    /// # Panics
    ///
    /// When `port` is 0.
    #[tool]
    pub async fn async_never(port: u16) -> ! {
        loop {
            tokio::task::yield_now().await;
            assert!(port != 0, "port 0");
        }
    }
}
