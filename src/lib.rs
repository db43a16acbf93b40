//! # backstep
//!
//! Record every tool call an AI agent makes — arguments, return value, status,
//! duration, cost and nesting — with one attribute, into a JSON Lines session
//! log that survives crashes and answers questions afterwards.
//!
//! ```
//! use backstep::tool;
//!
//! #[tool(cost = 0.003)]
//! fn generate_image(prompt: &str, width: u32) -> Result<String, std::io::Error> {
//!     Ok(format!("{width}px image of {prompt}"))
//! }
//!
//! generate_image("a lighthouse", 512).unwrap();
//!
//! let log = backstep::log();
//! let call = log.by_tool("generate_image").last().unwrap();
//! assert_eq!(call.input::<String>("prompt").unwrap(), "a lighthouse");
//! assert_eq!(call.output::<String>().unwrap(), "512px image of a lighthouse");
//! assert_eq!(call.status(), backstep::Status::Ok);
//! assert_eq!(call.cost(), backstep::Cost::from_usd(0.003));
//! ```
//!
//! Calls are kept in memory ([`log()`]); set `BACKSTEP_LOG=run.jsonl` (or use
//! [`init()`]) to also stream each call to a file as one line the moment it
//! finishes. Read a file back with [`Log::open`]. `BACKSTEP=off` turns
//! recording off; a tool call then costs one atomic load.
#![deny(missing_docs)]

pub use backstep_core::{
    add_cost, dump, init, is_enabled, log, set_enabled, Builder, Call, Cost, Log, LogError,
    Session, SessionEnd, SessionGuard, Status, ToolStats, ValueError, FORMAT_VERSION,
};
pub use backstep_core::{diff, CallDiff, Diff, ToolDelta};
pub use backstep_core::{
    json_diff, mode, replay_from, replay_unused, Divergence, DivergenceKind, Matching, Mode,
    PathDiff, ReplayedError,
};
pub use backstep_core::{LogReader, Record};

/// Records every call of the function it is put on.
///
/// ```
/// # use serde::Serialize;
/// use backstep::tool;
///
/// struct Client;
///
/// #[derive(Serialize)]
/// struct Hit { url: String }
///
/// #[tool(name = "search", cost = 0.01, skip(client), redact(api_key))]
/// fn web_search(client: &Client, api_key: &str, query: &str) -> Vec<Hit> {
///     vec![Hit { url: format!("https://example.com/?q={query}") }]
/// }
///
/// web_search(&Client, "sk-secret", "rust");
/// let log = backstep::log();
/// let call = log.by_tool("search").last().unwrap();
/// assert_eq!(call.inputs_json(), r#"{"api_key":"[redacted]","query":"rust"}"#);
/// ```
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `name = "search"` | the tool's name in the log (default: the function's name) |
/// | `cost = 0.003` | US dollars per call; a number or a constant `f64` expression. Add computed costs from the body with [`add_cost`] |
/// | `skip(a, b)` | leave these parameters out of `inputs` (they need not be `Serialize`) |
/// | `skip_all` | record no parameters |
/// | `redact(a)` | record this parameter as the string `"[redacted]"` |
/// | `skip_output` | do not record the return value (status and error text still are); the tool runs its body during replay |
/// | `live` | always run the body, also while replaying a log (a clock, a pure computation) |
/// | `replay_ignore(a)` | leave this (volatile) argument out when a replay compares a call with the recording |
/// | `crate = "path"` | where backstep is when it is not `::backstep` (a renamed dependency, a re-export) |
///
/// # What is recorded
///
/// - Parameters are serialized with `serde` when the call starts, before the
///   body can move or change them. `self` is never recorded. A parameter whose
///   type is not `Serialize` is a compile error naming it and suggesting `skip`.
/// - The return value is recorded when the function returns. For `Result`, `Ok`
///   gives status `ok` and the `Ok` value as output; `Err` gives status `error`
///   and the error's text (its `Display`, then each `source()`), which works for
///   `anyhow::Error`, `Box<dyn Error>`, `std::io::Error` and any error type,
///   `Serialize` or not. A return type that is not `Serialize` is a compile error
///   suggesting `skip_output`; an `impl Trait` return is recorded when its
///   concrete type is `Serialize`, else as `null`.
/// - A panic is recorded with status `panicked` and its message, then goes on
///   unwinding unchanged.
/// - `async fn`, and functions returning `impl Future` or
///   `Pin<Box<dyn Future>>` (what `#[async_trait]` makes), are recorded when the
///   future completes, with the awaited value; a future dropped before it
///   completes is recorded as `cancelled`.
/// - Calls made while another tool call runs (on the same thread, or inside
///   the same async task, also across `.await` on a multi-threaded runtime)
///   get it as their `parent`.
///
/// The function itself is unchanged: its signature, attributes, documentation,
/// `return`s, `?`s, coercions, borrowed returns and `#[track_caller]` behave as
/// written. A `const fn` cannot be recorded and is rejected.
///
/// In a generic function the error text follows the declared bounds: a
/// `Result<T, E>` whose `E` has no `Error`, `Display` or `Debug` bound records
/// the error as its type's name.
///
/// In a `#[track_caller]` function the body cannot be moved into a closure, so
/// its `return`s and `?`s are rewritten to record the call; a `return` hidden
/// inside a macro (`bail!`) there is recorded as `error` with a note saying the
/// value could not be seen.
pub use backstep_macros::tool;

#[cfg(feature = "insta")]
pub use backstep_core::assert_tool_snapshot;
pub use backstep_core::testing;
pub use backstep_core::{assert_called, assert_called_with, assert_not_called, assert_sequence};

#[doc(hidden)]
pub use backstep_core::{__private, __tool_list};
