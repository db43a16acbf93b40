//! One recorded tool call, as held in memory and as read back from a log.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cost::Cost;
use crate::error::ValueError;

/// How a tool call ended.
///
/// ```
/// # use backstep_core as backstep;
/// use backstep::Status;
/// assert_eq!(Status::Error.as_str(), "error");
/// assert_eq!("panicked".parse::<Status>(), Ok(Status::Panicked));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The function returned normally (for a `Result`, with `Ok`).
    Ok,
    /// The function returned `Err`; the error's text is in [`Call::error`].
    Error,
    /// The function panicked; the panic message is in [`Call::error`].
    Panicked,
    /// The call's future was dropped before it completed (a timeout, `select!`).
    Cancelled,
}

impl Status {
    /// Every status, in the order of [`Status::index`].
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// use backstep::Status;
    /// let mut counts = [0u32; 4];
    /// for s in [Status::Ok, Status::Error, Status::Ok] {
    ///     counts[s.index()] += 1;
    /// }
    /// assert_eq!(counts, [2, 1, 0, 0]);
    /// assert_eq!(Status::ALL[1], Status::Error);
    /// ```
    pub const ALL: [Status; 4] = [
        Status::Ok,
        Status::Error,
        Status::Panicked,
        Status::Cancelled,
    ];

    /// The position of this status in [`Status::ALL`], for counting calls
    /// per status in an array.
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Status::Ok => 0,
            Status::Error => 1,
            Status::Panicked => 2,
            Status::Cancelled => 3,
        }
    }

    /// The name used in the log: `ok`, `error`, `panicked` or `cancelled`.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert_eq!(backstep::Status::Cancelled.as_str(), "cancelled");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Panicked => "panicked",
            Status::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        match s {
            "ok" => Ok(Status::Ok),
            "error" => Ok(Status::Error),
            "panicked" => Ok(Status::Panicked),
            "cancelled" => Ok(Status::Cancelled),
            other => Err(format!(
                "unknown status `{other}`: expected ok, error, panicked or cancelled"
            )),
        }
    }
}

/// One recorded call of a `#[tool]` function: what it was given, what it
/// returned, how it ended, how long it took and what it cost.
///
/// Calls come from a [`Log`](crate::Log): the live one ([`log()`](crate::log)) or
/// one read from a file ([`Log::open`](crate::Log::open)).
///
/// ```
/// # use backstep_core as backstep;
/// let log = backstep::Log::from_jsonl(concat!(
///     r#"{"type":"call","session":"s1","seq":0,"parent":null,"tool":"search","#,
///     r#""inputs":{"query":"rust","limit":3},"output":["a","b"],"status":"ok","error":null,"#,
///     r#""started_at":"2026-12-03T19:02:11.000000Z","duration_ms":1.5,"cost_usd":0.003,"thread":"main"}"#,
/// )).unwrap();
/// let call = log.replay(0).unwrap();
/// assert_eq!(call.tool(), "search");
/// assert_eq!(call.input::<String>("query").unwrap(), "rust");
/// assert_eq!(call.output::<Vec<String>>().unwrap(), ["a", "b"]);
/// assert_eq!(call.cost(), backstep::Cost::from_usd(0.003));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub(crate) session: Arc<str>,
    pub(crate) seq: u64,
    pub(crate) parent: Option<u64>,
    pub(crate) tool: Name,
    /// The inputs (a JSON object, one key per recorded parameter) and then
    /// the output (JSON text; `null` when nothing was returned or recorded)
    /// in one allocation: `json[..split]` and `json[split..]`. A `String`,
    /// not a `Box<str>`: with a memory limit, the buffer a call was
    /// serialized into becomes its record, and the record it pushes out
    /// gives its buffer to the next call (see `Recorder::record`).
    pub(crate) json: String,
    pub(crate) split: usize,
    pub(crate) status: Status,
    pub(crate) error: Option<String>,
    pub(crate) started_at: SystemTime,
    pub(crate) duration: Duration,
    pub(crate) cost: Cost,
    pub(crate) thread: Arc<str>,
    /// Served from a recorded log instead of running (replay, resume).
    pub(crate) replayed: bool,
}

/// A tool's name: the `&'static str` a `#[tool]` call was given, or one
/// shared by every call of that tool read from a log (no allocation per call).
#[derive(Clone)]
pub(crate) enum Name {
    Static(&'static str),
    Shared(Arc<str>),
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Name::Static(s) => s,
            Name::Shared(s) => s,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        **self == **other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name::Shared(s.into())
    }
}

/// `inputs` and `output` as one buffer, for [`Call::json`] and [`Call::split`].
pub(crate) fn join_json(inputs: &str, output: &str) -> (String, usize) {
    let mut s = String::with_capacity(inputs.len() + output.len());
    s.push_str(inputs);
    s.push_str(output);
    (s, inputs.len())
}

impl Call {
    /// The id of the session (process run) that made this call.
    #[must_use]
    pub fn session(&self) -> &str {
        &self.session
    }

    /// The call's sequence number: unique and increasing within a session,
    /// assigned when the call starts (so a parent's is lower than its children's).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The `seq` of the tool call this one was made from (same thread, or same
    /// async task), or `None` for a top-level call.
    #[must_use]
    pub fn parent(&self) -> Option<u64> {
        self.parent
    }

    /// The tool's name: the function name, or `name = "…"` from the attribute.
    #[must_use]
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// The recorded arguments as JSON text: an object keyed by parameter name
    /// (skipped parameters absent, redacted ones `"[redacted]"`).
    #[must_use]
    pub fn inputs_json(&self) -> &str {
        &self.json[..self.split]
    }

    /// The recorded arguments as a JSON value (an object keyed by parameter name).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// # let log = backstep::Log::from_jsonl(r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t","inputs":{"n":1},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":0,"cost_usd":0,"thread":"main"}"#).unwrap();
    /// let call = log.replay(0).unwrap();
    /// assert_eq!(call.inputs()["n"], 1);
    /// ```
    #[must_use]
    pub fn inputs(&self) -> serde_json::Value {
        serde_json::from_str(self.inputs_json()).unwrap_or(serde_json::Value::Null)
    }

    /// One argument, deserialized into `T`.
    ///
    /// # Errors
    /// [`ValueError`] when the call has no recorded argument of that name (it
    /// was skipped, or the tool has no such parameter) or it does not fit `T`.
    pub fn input<T: DeserializeOwned>(&self, name: &str) -> Result<T, ValueError> {
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(self.inputs_json())
                .map_err(|e| ValueError::new(self, name, &e))?;
        let value = map
            .remove(name)
            .ok_or_else(|| ValueError::missing(self, name))?;
        serde_json::from_value(value).map_err(|e| ValueError::new(self, name, &e))
    }

    /// The recorded return value as JSON text (`null` when there is none: an
    /// error, a panic, `()` or `skip_output`). For a `Result`, this is the `Ok` value.
    #[must_use]
    pub fn output_json(&self) -> &str {
        &self.json[self.split..]
    }

    /// The recorded return value, deserialized into `T`.
    ///
    /// # Errors
    /// [`ValueError`] when the recorded output does not fit `T`.
    pub fn output<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        serde_json::from_str(self.output_json()).map_err(|e| ValueError::new(self, "output", &e))
    }

    /// How the call ended.
    #[must_use]
    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether the call ended with [`Status::Ok`].
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    /// The error's text (`Display`, then each `source()` not already in it,
    /// joined by `": "`) or the panic message; `None` for ok and cancelled calls.
    #[must_use]
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// When the call started (wall clock).
    #[must_use]
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// How long the call took; for async tools, from the first poll until the
    /// future completed (or was dropped).
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// What the call cost: the attribute's `cost` plus what
    /// [`add_cost`](crate::add_cost) added during the call.
    #[must_use]
    pub fn cost(&self) -> Cost {
        self.cost
    }

    /// The name of the thread the call started on (or `thread-N` for an unnamed one).
    #[must_use]
    pub fn thread(&self) -> &str {
        &self.thread
    }

    /// Whether the call was answered from a recorded log instead of running
    /// (replay or resume): its output, status, cost and duration are the
    /// recorded ones, and nothing was paid for it again.
    #[must_use]
    pub fn replayed(&self) -> bool {
        self.replayed
    }
}
