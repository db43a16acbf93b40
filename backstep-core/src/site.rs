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
    registered: AtomicBool,
}

/// Every site that has recorded a call.
static SITES: Mutex<Vec<&'static Site>> = Mutex::new(Vec::new());

impl Site {
    /// A tool function named `function`, defined `at` (`file:line`), whose
    /// calls are recorded as `tool`.
    #[must_use]
    pub const fn new(function: &'static str, tool: &'static str, at: &'static str) -> Site {
        Site {
            function,
            tool,
            at,
            registered: AtomicBool::new(false),
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

/// The tool name a function name stands for in a test assertion: the name
/// its calls are recorded under, when a function of that name has recorded
/// calls under exactly one name (`web_search` → `search`); else the function
/// name itself.
pub(crate) fn tool_of(function: &str) -> String {
    let sites = SITES.lock().unwrap_or_else(PoisonError::into_inner);
    let mut names = sites
        .iter()
        .filter(|s| s.function == function)
        .map(|s| s.tool);
    match (names.next(), names.next()) {
        (Some(tool), None) => tool.to_string(),
        _ => function.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_stands_for_the_name_it_records_under() {
        static RENAMED: Site = Site::new("site_test_web_search", "site_test_search", "a.rs:1");
        assert_eq!(tool_of("site_test_web_search"), "site_test_web_search");
        RENAMED.register();
        RENAMED.register();
        assert_eq!(tool_of("site_test_web_search"), "site_test_search");
        assert_eq!(tool_of("site_test_other"), "site_test_other");
        let sites = SITES.lock().unwrap();
        assert_eq!(
            sites.iter().filter(|s| std::ptr::eq(**s, &RENAMED)).count(),
            1,
            "registered once"
        );
    }

    #[test]
    fn a_function_name_recorded_under_two_names_stands_for_itself() {
        static A: Site = Site::new("site_test_call", "site_test_one", "a.rs:2");
        static B: Site = Site::new("site_test_call", "site_test_two", "a.rs:3");
        A.register();
        B.register();
        assert_eq!(tool_of("site_test_call"), "site_test_call");
    }
}
