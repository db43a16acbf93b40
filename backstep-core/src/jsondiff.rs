//! Where two JSON values differ, as paths (`.query`, `.items[2].name`).

use serde_json::Value;

/// One place where two JSON values differ.
#[derive(Clone, Debug, PartialEq)]
pub struct PathDiff {
    /// The path from the root: `.query`, `.items[2].name`; `.` for the root.
    pub path: String,
    /// The value on the left (recorded) side, `None` if absent there.
    pub left: Option<Value>,
    /// The value on the right (actual) side, `None` if absent there.
    pub right: Option<Value>,
}

fn key_path(path: &str, key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

fn walk(a: Option<&Value>, b: Option<&Value>, path: String, out: &mut Vec<PathDiff>) {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(x.get(k), y.get(k), key_path(&path, k), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(x.get(i), y.get(i), format!("{path}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(PathDiff {
            path: if path.is_empty() {
                ".".to_string()
            } else {
                path
            },
            left: a.cloned(),
            right: b.cloned(),
        }),
    }
}

/// Every path at which `left` and `right` differ, in key order. Object key
/// order never matters; `1` and `1.0` differ.
///
/// ```
/// # use backstep_core as backstep;
/// use serde_json::json;
/// let d = backstep::json_diff(&json!({"q": "rust", "n": [1, 2]}), &json!({"q": "go", "n": [1]}));
/// let paths: Vec<&str> = d.iter().map(|p| p.path.as_str()).collect();
/// assert_eq!(paths, [".n[1]", ".q"]);
/// ```
#[must_use]
pub fn json_diff(left: &Value, right: &Value) -> Vec<PathDiff> {
    let mut out = Vec::new();
    walk(Some(left), Some(right), String::new(), &mut out);
    out
}

/// A value shortened for one line of a report.
pub(crate) fn short(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_string(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 80 {
                let cut: String = s.chars().take(77).collect();
                format!("{cut}…")
            } else {
                s
            }
        }
    }
}
