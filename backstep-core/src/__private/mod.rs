//! What `#[tool]` expands to. Not public API: it may change in any release.

pub mod dispatch;
pub mod question;

pub use crate::runtime::{unreachable, Active, Inputs, Traced};
pub use crate::site::Site;
pub use serde::Serialize;

#[cfg(feature = "insta")]
pub use insta;
