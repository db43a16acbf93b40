//! What `#[tool]` expands to. Not public API: it may change in any release.

pub mod dispatch;
pub mod question;

pub use crate::runtime::{call_once, unreachable, Active, Inputs, Site, Traced};
pub use serde::Serialize;
