//! Capture scopes: the calls one test made, kept apart from every other
//! test's, and the stubs and cassettes that answer tools inside a scope.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use crate::call::{Call, Status};
use crate::replay::{Replayer, Served};

/// A stub's answer: the `Ok` output, or the error's text and its value (the
/// JSON an `Err` of a `Deserialize` error type is rebuilt from).
pub(crate) type StubFn = Arc<dyn Fn(&Value) -> Result<Value, (String, Value)> + Send + Sync>;

/// What one capture scope holds.
#[derive(Default)]
pub(crate) struct Scope {
    pub(crate) calls: Mutex<Vec<Call>>,
    pub(crate) stubs: Mutex<HashMap<String, StubFn>>,
    pub(crate) cassette: Mutex<Option<Cassette>>,
}

/// A cassette: replayed when its file existed, else recorded into it.
pub(crate) enum Cassette {
    Replay(Box<Replayer>),
    Record(std::path::PathBuf),
}

/// How many scopes exist: when none, a tool call skips the thread-local look-up.
pub(crate) static SCOPES: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static CURRENT_SCOPE: RefCell<Option<Arc<Scope>>> = const { RefCell::new(None) };
}

/// The scope this thread is in now.
pub(crate) fn current() -> Option<Arc<Scope>> {
    if SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    CURRENT_SCOPE
        .try_with(|s| s.borrow().clone())
        .ok()
        .flatten()
}

/// Makes `scope` this thread's scope; returns the one it replaces.
pub(crate) fn enter(scope: Option<Arc<Scope>>) -> Option<Arc<Scope>> {
    CURRENT_SCOPE
        .try_with(|s| std::mem::replace(&mut *s.borrow_mut(), scope))
        .ok()
        .flatten()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Scope {
    /// Answers every call of `tool` in this scope with `f` (replacing a stub
    /// it had).
    pub(crate) fn add_stub(&self, tool: &str, f: StubFn) {
        lock(&self.stubs).insert(tool.to_string(), f);
    }

    pub(crate) fn push(&self, call: &Call) {
        lock(&self.calls).push(call.clone());
    }

    /// A stub's or the cassette's answer for this call, if the scope has one.
    pub(crate) fn answer(
        &self,
        tool: &str,
        seq: u64,
        inputs: &str,
        ignore: &[&str],
    ) -> Result<Option<Served>, Box<crate::replay::Divergence>> {
        let stub = lock(&self.stubs).get(tool).cloned();
        if let Some(stub) = stub {
            let value: Value = serde_json::from_str(inputs).unwrap_or(Value::Null);
            let (status, output, error) = match stub(&value) {
                Ok(v) => (Status::Ok, v.to_string(), None),
                Err((text, value)) => (Status::Error, value.to_string(), Some(text)),
            };
            let (json, split) = crate::call::join_json(inputs, &output);
            let call = Call {
                session: "stub".into(),
                seq,
                parent: None,
                tool: tool.to_string().into(),
                json,
                split,
                status,
                error,
                started_at: std::time::SystemTime::now(),
                duration: std::time::Duration::ZERO,
                cost: crate::cost::Cost::ZERO,
                thread: "".into(),
                replayed: true,
            };
            return Ok(Some(Served {
                call,
                descendants: Vec::new(),
                from_stub: true,
            }));
        }
        match &*lock(&self.cassette) {
            Some(Cassette::Replay(r)) => r.serve(tool, seq, inputs, ignore),
            _ => Ok(None),
        }
    }

    pub(crate) fn consume_live(&self, tool: &str) {
        if let Some(Cassette::Replay(r)) = &*lock(&self.cassette) {
            r.consume_live(tool);
        }
    }
}
