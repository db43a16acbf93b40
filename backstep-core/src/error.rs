//! The errors backstep's API returns. Recording itself never returns errors:
//! it warns once on stderr and keeps going.

use std::fmt;
use std::path::PathBuf;

use crate::call::Call;

/// A recorded value could not be turned into the type asked for.
///
/// ```
/// # use backstep_core as backstep;
/// # let log = backstep::Log::from_jsonl(r#"{"type":"call","session":"s","seq":4,"parent":null,"tool":"search","inputs":{"n":1},"output":null,"status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":0,"cost_usd":0,"thread":"main"}"#).unwrap();
/// let err = log.get(4).unwrap().input::<String>("query").unwrap_err();
/// assert_eq!(err.to_string(), "call 4 (search) has no recorded input `query`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    message: String,
}

impl ValueError {
    pub(crate) fn new(call: &Call, what: &str, err: &dyn fmt::Display) -> ValueError {
        ValueError {
            message: format!("call {} ({}): `{what}`: {err}", call.seq(), call.tool()),
        }
    }

    pub(crate) fn missing(call: &Call, name: &str) -> ValueError {
        ValueError {
            message: format!(
                "call {} ({}) has no recorded input `{name}`",
                call.seq(),
                call.tool()
            ),
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

/// A session log could not be read.
///
/// ```
/// # use backstep_core as backstep;
/// let err = backstep::Log::from_jsonl("{\"type\":\"call\"}\nnot json\n{}").unwrap_err();
/// assert_eq!(err.to_string(), "<memory>:1: call record has no `duration_ms` field");
/// ```
#[derive(Debug)]
pub enum LogError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A line that is not the last one is not a valid backstep record.
    Corrupt {
        /// The file (`<memory>` for text given directly).
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            LogError::Corrupt {
                path,
                line,
                message,
            } => {
                write!(f, "{}:{line}: {message}", path.display())
            }
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io { source, .. } => Some(source),
            LogError::Corrupt { .. } => None,
        }
    }
}
