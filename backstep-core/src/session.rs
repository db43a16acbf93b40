//! What a log knows about one session (one run of a program).

use std::sync::Arc;
use std::time::SystemTime;

use crate::cost::Cost;

/// One session: a run of a program, from its header line to its end line.
///
/// A session whose program crashed has no end line: [`Session::ended`] is `None`.
///
/// ```
/// # use backstep_core as backstep;
/// let log = backstep::Log::from_jsonl(concat!(
///     r#"{"type":"session","session":"s1","name":"demo","started_at":"2026-12-03T19:00:00.000000Z","pid":7,"backstep_version":"0.1.0","format":1}"#,
/// )).unwrap();
/// let s = &log.sessions()[0];
/// assert_eq!((s.id(), s.name(), s.pid()), ("s1", Some("demo"), Some(7)));
/// assert!(s.ended().is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub(crate) id: Arc<str>,
    pub(crate) name: Option<String>,
    pub(crate) started_at: Option<SystemTime>,
    pub(crate) pid: Option<u32>,
    pub(crate) backstep_version: Option<String>,
    pub(crate) format: Option<u32>,
    pub(crate) end: Option<SessionEnd>,
}

/// The totals written on a session's end line.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionEnd {
    pub(crate) ended_at: SystemTime,
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) panicked: u64,
    pub(crate) cancelled: u64,
    pub(crate) cost: Cost,
}

impl Session {
    /// The session id every call line of this session carries.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The name given with [`Builder::name`](crate::Builder::name) or `BACKSTEP_SESSION`.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// When the session started; `None` if the log has calls but no header for it.
    #[must_use]
    pub fn started_at(&self) -> Option<SystemTime> {
        self.started_at
    }
    /// The process id of the run.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }
    /// The version of backstep that wrote the session.
    #[must_use]
    pub fn backstep_version(&self) -> Option<&str> {
        self.backstep_version.as_deref()
    }
    /// The log format version of the header (currently 1).
    #[must_use]
    pub fn format(&self) -> Option<u32> {
        self.format
    }
    /// The end-of-session totals, if the session ended normally.
    #[must_use]
    pub fn ended(&self) -> Option<&SessionEnd> {
        self.end.as_ref()
    }
}

impl SessionEnd {
    /// When the session ended.
    #[must_use]
    pub fn ended_at(&self) -> SystemTime {
        self.ended_at
    }
    /// How many calls the session recorded.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls
    }
    /// How many of them ended with `error`.
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.errors
    }
    /// How many panicked.
    #[must_use]
    pub fn panicked(&self) -> u64 {
        self.panicked
    }
    /// How many were cancelled.
    #[must_use]
    pub fn cancelled(&self) -> u64 {
        self.cancelled
    }
    /// The session's total cost.
    #[must_use]
    pub fn cost(&self) -> Cost {
        self.cost
    }
}
