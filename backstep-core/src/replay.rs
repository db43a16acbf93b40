//! Deterministic replay: serve `#[tool]` calls from a recorded log instead of
//! running them, and stop loudly when the run stops matching the recording.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::call::Call;
use crate::jsondiff::{json_diff, short, PathDiff};
use crate::log::Log;

/// How a call of the replayed run is paired with a recorded call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Matching {
    /// Each tool's calls are served in recorded order, and each must have the
    /// recorded inputs. Recorded calls left unused at the end are an error.
    #[default]
    Strict,
    /// A call is served by the first unused recorded call of that tool with
    /// equal inputs, in any order (for agents that reorder parallel calls).
    /// Unused recorded calls are reported but not an error.
    ByInputs,
}

/// How a run went wrong against its recording.
#[derive(Clone, Debug, PartialEq)]
pub enum DivergenceKind {
    /// The call's inputs differ from the recorded call it was paired with.
    InputsDiffer {
        /// Where the recorded and actual inputs differ.
        paths: Vec<PathDiff>,
        /// A later recorded call of the tool (its `seq`) whose inputs are
        /// exactly these: the run makes the tool's calls in another order.
        reordered: Option<u64>,
    },
    /// The run called a tool more often than the recording has calls of it.
    Exhausted,
    /// The recording has calls the run never made.
    Unused {
        /// The recorded calls left over (tool, seq, inputs).
        calls: Vec<(String, u64, String)>,
    },
}

/// The report of a replay divergence: what the run did, what the recording
/// says, and where they differ.
///
/// ```
/// # use backstep_core as backstep;
/// # let d = backstep::Divergence::example();
/// // Printed when a replay stops:
/// println!("{d}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The log being replayed.
    pub source: PathBuf,
    /// The tool called (empty for [`DivergenceKind::Unused`]).
    pub tool: String,
    /// The position of the call in the replayed run (its `seq`).
    pub call: u64,
    /// The call's actual inputs (JSON).
    pub actual: Option<Value>,
    /// The recorded call it was compared with (`seq`, inputs), or the nearest
    /// recorded call of that tool.
    pub recorded: Option<(u64, Value)>,
    /// What went wrong.
    pub kind: DivergenceKind,
}

impl Divergence {
    /// A sample divergence, for documentation.
    #[doc(hidden)]
    #[must_use]
    pub fn example() -> Divergence {
        let recorded = serde_json::json!({"query": "rust", "limit": 3});
        let actual = serde_json::json!({"query": "rust async", "limit": 3});
        Divergence {
            source: "run.jsonl".into(),
            tool: "search".into(),
            call: 7,
            kind: DivergenceKind::InputsDiffer {
                paths: json_diff(&recorded, &actual),
                reordered: None,
            },
            recorded: Some((7, recorded)),
            actual: Some(actual),
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = self.source.display();
        match &self.kind {
            DivergenceKind::InputsDiffer { paths, reordered } => {
                writeln!(
                    f,
                    "backstep replay diverged at call {} (`{}`): its inputs differ from the recording in {src}",
                    self.call, self.tool
                )?;
                if let Some((seq, inputs)) = &self.recorded {
                    writeln!(f, "  recorded call {seq}: {}", short(Some(inputs)))?;
                }
                writeln!(f, "  this run:       {}", short(self.actual.as_ref()))?;
                for p in paths {
                    writeln!(
                        f,
                        "  at {}: recorded {}, now {}",
                        p.path,
                        short(p.left.as_ref()),
                        short(p.right.as_ref())
                    )?;
                }
                match reordered {
                    // `replay_ignore` would pair the call with the wrong
                    // recorded one and hand back its output.
                    Some(seq) => write!(
                        f,
                        "  (recorded call {seq} of `{}` has exactly these inputs: this run makes its calls in another order, as parallel calls do; pair calls by inputs with BACKSTEP_REPLAY_MATCH=by_inputs or init().matching(Matching::ByInputs))",
                        self.tool
                    ),
                    None => write!(f, "  (the program changed since the recording, or an input is volatile: exclude it with #[tool(replay_ignore(arg))])"),
                }
            }
            DivergenceKind::Exhausted => {
                writeln!(
                    f,
                    "backstep replay diverged at call {} (`{}`): the recording in {src} has no more calls of `{}`",
                    self.call, self.tool, self.tool
                )?;
                writeln!(f, "  this run:       {}", short(self.actual.as_ref()))?;
                match &self.recorded {
                    Some((seq, inputs)) => write!(
                        f,
                        "  last recorded call of `{}`: {seq}: {}",
                        self.tool,
                        short(Some(inputs))
                    ),
                    None => write!(f, "  the recording has no call of `{}` at all", self.tool),
                }
            }
            DivergenceKind::Unused { calls } => {
                write!(
                    f,
                    "backstep replay: {} recorded call(s) in {src} were never made by this run:",
                    calls.len()
                )?;
                for (tool, seq, inputs) in calls.iter().take(20) {
                    write!(f, "\n  call {seq} `{tool}` {inputs}")?;
                }
                if calls.len() > 20 {
                    write!(f, "\n  … and {} more", calls.len() - 20)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Divergence {}

/// A recorded call handed to a tool instead of running it, with the calls
/// that were made inside it.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) call: Call,
    pub(crate) descendants: Vec<Call>,
    /// Made up by a test stub, not read from a log: a rebuild failure blames the stub.
    pub(crate) from_stub: bool,
}

struct State {
    calls: Vec<Call>,
    /// Where each recorded seq is in `calls`.
    seq_index: HashMap<u64, usize>,
    used: Vec<bool>,
    by_tool: HashMap<String, Vec<usize>>,
    by_parent: HashMap<u64, Vec<usize>>,
}

impl State {
    /// Marks recorded call `i` and everything made inside it used, and
    /// returns them.
    fn use_up(&mut self, i: usize) -> Served {
        let mut descendants = Vec::new();
        let mut stack = vec![i];
        self.used[i] = true;
        while let Some(j) = stack.pop() {
            let seq = self.calls[j].seq();
            if let Some(kids) = self.by_parent.get(&seq).cloned() {
                for k in kids {
                    if !self.used[k] {
                        self.used[k] = true;
                        descendants.push(k);
                        stack.push(k);
                    }
                }
            }
        }
        descendants.sort_by_key(|&k| self.calls[k].seq());
        Served {
            call: self.calls[i].clone(),
            descendants: descendants
                .into_iter()
                .map(|k| self.calls[k].clone())
                .collect(),
            from_stub: false,
        }
    }
}

/// The recording being replayed, and which of its calls were used.
pub(crate) struct Replayer {
    pub(crate) source: PathBuf,
    pub(crate) matching: Matching,
    /// `resume`: past the end of a tool's recorded calls, and for a call
    /// the recording never finished, run live.
    pub(crate) resume: bool,
    /// The recorded session (resume appends to it).
    pub(crate) session: Option<crate::session::Session>,
    state: Mutex<State>,
}

fn without(inputs: &Value, ignore: &[&str]) -> Value {
    match inputs {
        Value::Object(m) if !ignore.is_empty() => Value::Object(
            m.iter()
                .filter(|(k, _)| !ignore.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Replayer {
    /// Loads the last session of the log at `path`.
    pub(crate) fn load(path: &Path, matching: Matching, resume: bool) -> Result<Replayer, String> {
        let log = Log::open(path).map_err(|e| e.to_string())?;
        let log = log.last_session();
        let session = log.sessions().first().cloned();
        // Cancelled calls are served too: as futures that never complete.
        let calls: Vec<Call> = log.calls().to_vec();
        if calls.is_empty() && !resume {
            // Every call would diverge at once; say what is wrong instead.
            return Err("it holds no recorded calls (was the run recorded to this file?)".into());
        }
        let mut by_tool: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_parent: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, c) in calls.iter().enumerate() {
            by_tool.entry(c.tool().to_string()).or_default().push(i);
            if let Some(p) = c.parent() {
                by_parent.entry(p).or_default().push(i);
            }
        }
        let used = vec![false; calls.len()];
        let seq_index = calls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.seq(), i))
            .collect();
        Ok(Replayer {
            source: path.to_path_buf(),
            matching,
            resume,
            session,
            state: Mutex::new(State {
                calls,
                seq_index,
                used,
                by_tool,
                by_parent,
            }),
        })
    }

    /// Pairs a call with a recorded one. `Ok(None)`: run it live (resume, past
    /// the recording).
    pub(crate) fn serve(
        &self,
        tool: &str,
        call_no: u64,
        inputs: &str,
        ignore: &[&str],
    ) -> Result<Option<Served>, Box<Divergence>> {
        let actual: Value = serde_json::from_str(inputs).unwrap_or(Value::Null);
        let actual_cmp = without(&actual, ignore);
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Resuming, the run numbers its calls as the recorded run did (for
        // the same program). A position the recording has no line for was
        // still running when the recorded run died (one of two parallel
        // calls, say), or comes after where it stopped: that call runs live.
        // One whose recorded call at this position is unused, but that does
        // not match it, is a program that changed: it diverges.
        let recorded_here = st.seq_index.get(&call_no).copied();
        if self.resume && recorded_here.is_none() {
            return Ok(None);
        }
        let unused_here = recorded_here.is_some_and(|j| !st.used[j]);
        let candidates: Vec<usize> = st
            .by_tool
            .get(tool)
            .map(|v| v.iter().copied().filter(|&i| !st.used[i]).collect())
            .unwrap_or_default();
        let diverge = |kind: DivergenceKind, recorded: Option<&Call>| {
            Box::new(Divergence {
                source: self.source.clone(),
                tool: tool.to_string(),
                call: call_no,
                actual: Some(actual.clone()),
                recorded: recorded.map(|c| (c.seq(), c.inputs())),
                kind,
            })
        };
        let recorded_inputs = |c: &Call| without(&c.inputs(), ignore);
        let pick = match self.matching {
            Matching::Strict => match candidates.first() {
                None => None,
                Some(&i) => {
                    let rec = recorded_inputs(&st.calls[i]);
                    if rec != actual_cmp {
                        let paths = json_diff(&rec, &actual_cmp);
                        let reordered = candidates[1..]
                            .iter()
                            .find(|&&j| recorded_inputs(&st.calls[j]) == actual_cmp)
                            .map(|&j| st.calls[j].seq());
                        return Err(diverge(
                            DivergenceKind::InputsDiffer { paths, reordered },
                            Some(&st.calls[i]),
                        ));
                    }
                    Some(i)
                }
            },
            Matching::ByInputs => {
                match candidates
                    .iter()
                    .copied()
                    .find(|&i| recorded_inputs(&st.calls[i]) == actual_cmp)
                {
                    Some(i) => Some(i),
                    None if candidates.is_empty() || (self.resume && !unused_here) => None,
                    None => {
                        // The nearest recorded call: fewest differing paths.
                        let nearest = candidates
                            .iter()
                            .copied()
                            .min_by_key(|&i| {
                                json_diff(&recorded_inputs(&st.calls[i]), &actual_cmp).len()
                            })
                            .unwrap_or(candidates[0]);
                        let paths = json_diff(&recorded_inputs(&st.calls[nearest]), &actual_cmp);
                        return Err(diverge(
                            DivergenceKind::InputsDiffer {
                                paths,
                                reordered: None,
                            },
                            Some(&st.calls[nearest]),
                        ));
                    }
                }
            }
        };
        let Some(i) = pick else {
            // Resuming past a tool's recorded calls: live, as above.
            if self.resume && !unused_here {
                return Ok(None);
            }
            let last = st
                .by_tool
                .get(tool)
                .and_then(|v| v.last())
                .map(|&i| st.calls[i].clone());
            return Err(diverge(DivergenceKind::Exhausted, last.as_ref()));
        };
        Ok(Some(st.use_up(i)))
    }

    /// A `live` tool ran instead of being served: its recorded call (the
    /// first unused one of that tool) is used up, so it does not count as
    /// missing at the end. The calls made inside it are served one by one.
    /// Returns whether there was one.
    pub(crate) fn consume_live(&self, tool: &str) -> bool {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = st
            .by_tool
            .get(tool)
            .and_then(|v| v.iter().copied().find(|&i| !st.used[i]));
        if let Some(i) = next {
            st.used[i] = true;
        }
        next.is_some()
    }

    /// The recorded calls never served, as a divergence (or `None`).
    pub(crate) fn unused(&self) -> Option<Divergence> {
        let st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let calls: Vec<(String, u64, String)> = st
            .calls
            .iter()
            .zip(&st.used)
            .filter(|(_, used)| !**used)
            .map(|(c, _)| (c.tool().to_string(), c.seq(), c.inputs_json().to_string()))
            .collect();
        (!calls.is_empty()).then(|| Divergence {
            source: self.source.clone(),
            tool: String::new(),
            call: 0,
            actual: None,
            recorded: None,
            kind: DivergenceKind::Unused { calls },
        })
    }
}
