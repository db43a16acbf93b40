//! The runtime of [backstep](https://docs.rs/backstep): call records, the
//! session log format, the global recorder and queries.
//!
//! Depend on `backstep`, not on this crate: it re-exports everything public
//! here together with the `#[tool]` attribute.
#![deny(missing_docs)]
#![warn(clippy::pedantic)]
#![allow(clippy::module_name_repetitions)]

mod call;
mod cost;
mod diff;
mod error;
mod format;
mod jsondiff;
mod lines;
mod log;
mod reader;
mod recorder;
mod replay;
mod runtime;
mod scope;
mod session;
mod sink;
mod site;
pub mod testing;
mod time;

pub use __private::dispatch::ReplayedError;
pub use call::{Call, Status};
pub use cost::Cost;
pub use diff::{diff, CallDiff, Diff, ToolDelta};
pub use error::{LogError, ValueError};
pub use format::FORMAT_VERSION;
pub use jsondiff::{json_diff, PathDiff};
pub use log::{Log, ToolStats};
pub use reader::{LogReader, Record};
pub use recorder::{
    dump, init, is_enabled, log, mode, replay_from, replay_unused, set_enabled, Builder, Mode,
    SessionGuard,
};
pub use replay::{Divergence, DivergenceKind, Matching};
pub use runtime::add_cost;
pub use session::{Session, SessionEnd};

/// What `#[tool]` expands to. Not public API: it may change in any release.
#[doc(hidden)]
pub mod __private;
