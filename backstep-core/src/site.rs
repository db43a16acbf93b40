//! Where a tool is defined: one `static` per `#[tool]` function, registered
//! on its first recorded call, so that a test assertion naming the function
//! (`assert_called!(rec, web_search)`) finds the calls of a tool renamed with
//! `name = "…"`, and two functions recording under one name are said to be
//! indistinguishable.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// One `#[tool]` function: its own name and the name its calls are recorded
/// under. Made by the expansion as a `static`; not public API.
#[derive(Debug)]
pub struct Site {
    function: &'static str,
    tool: &'static str,
    /// `file:line` of the `#[tool]`.
    at: &'static str,
    /// The module it is defined in (`module_path!()`).
    module: &'static str,
    registered: AtomicBool,
    /// Said that a replay runs its body again.
    warned_runs_again: AtomicBool,
}

/// Every site that has recorded a call.
static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());

impl Site {
    /// A tool function named `function`, defined `at` (`file:line`) in
    /// `module`, whose calls are recorded as `tool`.
    #[must_use]
    pub const fn new(
        function: &'static str,
        tool: &'static str,
        at: &'static str,
        module: &'static str,
    ) -> Site {
        Site {
            function,
            tool,
            at,
            module,
            registered: AtomicBool::new(false),
            warned_runs_again: AtomicBool::new(false),
        }
    }

    /// The name the tool's calls are recorded under.
    #[inline]
    pub(crate) fn tool(&self) -> &'static str {
        self.tool
    }

    /// Registers the site on its first recorded call: one relaxed load after.
    #[inline]
    pub(crate) fn register(&'static self) {
        if !self.registered.load(Ordering::Relaxed) {
            self.register_slow();
        }
    }

    #[cold]
    fn register_slow(&'static self) {
        let mut sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
        if self.registered.swap(true, Ordering::Relaxed) {
            return;
        }
        let twin = sites
            .iter()
            .find(|s| s.tool == self.tool && !std::ptr::eq(**s, self))
            .map(|s| (s.function, s.at));
        sites.push(self);
        drop(sites);
        if let Some((function, at)) = twin {
            eprintln!(
                "backstep: warning: two functions record their calls as tool `{}` (`{function}` at {at} and `{}` at {}): the log and the test assertions cannot tell them apart; give each its own #[tool(name = \"…\")]",
                self.tool, self.function, self.at
            );
        }
    }
}

impl Site {
    /// Says once, on stderr, that a replay runs this tool's body again, and
    /// `why` (its output is not in the log, or borrows).
    #[cold]
    pub(crate) fn warn_runs_again(&self, why: &str) {
        if !self.warned_runs_again.swap(true, Ordering::Relaxed) {
            eprintln!(
                "backstep: warning: tool `{}` runs its body again during this replay: {why} (mark it #[tool(live)] if that is meant)",
                self.tool
            );
        }
    }
}

/// Whether the function a test assertion names by `path` (`web_search`,
/// `agent::web_search`, `Agent::fetch`) may be one whose calls are recorded
/// as `tool`: a site of that name records as `tool`, in a module the path
/// names (when its other segments name modules at all; a type's do not).
pub(crate) fn may_record_as(path: &str, tool: &str) -> bool {
    let segments: Vec<&str> = path
        .split("::")
        .map(|s| s.split("::<").next().unwrap_or(s).trim())
        .filter(|s| !s.is_empty() && !matches!(*s, "crate" | "self" | "super"))
        .collect();
    let Some((&function, prefix)) = segments.split_last() else {
        return false;
    };
    let sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    let same: Vec<&Site> = sites
        .iter()
        .copied()
        .filter(|s| s.function == function)
        .collect();
    let in_module = |s: &&Site| s.module.split("::").collect::<Vec<_>>().ends_with(prefix);
    let names_modules = !prefix.is_empty() && same.iter().any(in_module);
    same.iter()
        .filter(|s| !names_modules || in_module(s))
        .any(|s| s.tool == tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_may_record_under_the_name_it_was_given() {
        static RENAMED: Site =
            Site::new("site_test_web_search", "site_test_search", "a.rs:1", "m::a");
        assert!(!may_record_as("site_test_web_search", "site_test_search"));
        RENAMED.register();
        RENAMED.register();
        assert!(may_record_as("site_test_web_search", "site_test_search"));
        assert!(may_record_as(
            "crate::a::site_test_web_search",
            "site_test_search"
        ));
        assert!(may_record_as(
            "Agent::site_test_web_search",
            "site_test_search"
        ));
        assert!(!may_record_as("site_test_web_search", "site_test_other"));
        let sites = SITES.lock().unwrap();
        assert_eq!(
            sites.iter().filter(|s| std::ptr::eq(**s, &RENAMED)).count(),
            1,
            "registered once"
        );
    }

    #[test]
    fn modules_in_the_path_choose_among_functions_of_one_name() {
        static A: Site = Site::new("site_test_call", "site_test_one", "a.rs:2", "m::fs");
        static B: Site = Site::new("site_test_call", "site_test_two", "a.rs:3", "m::db");
        A.register();
        B.register();
        assert!(may_record_as("fs::site_test_call", "site_test_one"));
        assert!(!may_record_as("fs::site_test_call", "site_test_two"));
        assert!(may_record_as("crate::db::site_test_call", "site_test_two"));
        // A type's name, not a module's: either may be meant.
        assert!(may_record_as("Agent::site_test_call", "site_test_one"));
        assert!(may_record_as("Agent::site_test_call", "site_test_two"));
    }
}
