//! `backstep report`: one self-contained HTML file with the calls' timeline.
//!
//! The page (`report.html`: inline CSS and JavaScript, nothing loaded from the
//! network) reads its data from a `<script type="application/json">` element.
//! The data is JSON in which every `<` is written `\u003c`, so no text from
//! the log (`</script>`, `<!--`) can end that element early.
//!
//! The URL's hash holds what is shown, so that a view can be shared:
//! `#select=SEQ` (a call), `&session=ID` (with several sessions) and
//! `&zoom=FROM-TO` (the time range, in milliseconds after the session's
//! start).

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backstep_core::{Cost, Log, Status};

use crate::input::load_all;
use crate::{Failure, Outcome, ReportArgs};

const TEMPLATE: &str = include_str!("report.html");
const PLACEHOLDER: &str = "\"__BACKSTEP_DATA__\"";

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn epoch_micros(t: SystemTime) -> f64 {
    micros(t.duration_since(UNIX_EPOCH).unwrap_or_default())
}

fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::Value::String(s.to_string()).to_string());
}

fn json_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

fn status_code(s: Status) -> u8 {
    match s {
        Status::Ok => 0,
        Status::Error => 1,
        Status::Panicked => 2,
        Status::Cancelled => 3,
    }
}

/// A JSON number for a time in microseconds: three decimals (nanoseconds).
fn num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// The report's data: sessions, each with its cost in all, the part of it
/// spent and the part replayed (recorded on calls answered from a
/// recording: not spent, as `summary` splits it), and its calls as compact
/// arrays `[seq, parent, tool, status, start µs, duration µs, cost,
/// cumulative cost, cost as a number, thread, inputs, output, error,
/// replayed]`.
pub fn data(title: &str, logs: &[Log]) -> String {
    let mut tools: Vec<String> = Vec::new();
    let mut tool_index = std::collections::HashMap::<String, usize>::new();
    let mut out = String::with_capacity(1 << 16);
    out.push_str("{\"title\":");
    json_str(&mut out, title);
    let _ = write!(
        out,
        ",\"generator\":\"backstep {}\",\"sessions\":[",
        env!("CARGO_PKG_VERSION")
    );
    let mut first_session = true;
    for log in logs {
        for s in log.sessions() {
            let session = log.for_session(s.id());
            let calls = session.calls();
            let t0 = calls
                .iter()
                .map(backstep_core::Call::started_at)
                .chain(s.started_at())
                .min();
            let Some(t0) = t0.or_else(|| s.ended().map(backstep_core::SessionEnd::ended_at)) else {
                continue;
            };
            let t0us = epoch_micros(t0);
            let end = calls
                .iter()
                .map(|c| c.started_at() + c.duration())
                .chain(s.ended().map(backstep_core::SessionEnd::ended_at))
                .max()
                .unwrap_or(t0);
            if !first_session {
                out.push(',');
            }
            first_session = false;
            out.push_str("{\"id\":");
            json_str(&mut out, s.id());
            out.push_str(",\"name\":");
            json_opt_str(&mut out, s.name());
            out.push_str(",\"pid\":");
            match s.pid() {
                Some(p) => {
                    let _ = write!(out, "{p}");
                }
                None => out.push_str("null"),
            }
            let (mut spent, mut replayed) = (Cost::ZERO, Cost::ZERO);
            for c in calls {
                if c.replayed() {
                    replayed += c.cost();
                } else {
                    spent += c.cost();
                }
            }
            let _ = write!(
                out,
                ",\"ended\":{},\"t0\":{},\"span\":{},\"cost\":",
                s.ended().is_some(),
                num(t0us),
                num(micros(end.duration_since(t0).unwrap_or_default()))
            );
            json_str(&mut out, &session.total_cost().to_string());
            out.push_str(",\"spent\":");
            json_str(&mut out, &spent.to_string());
            out.push_str(",\"replayedCost\":");
            json_str(&mut out, &replayed.to_string());
            out.push_str(",\"calls\":[");
            let mut cumulative = Cost::ZERO;
            for (i, c) in calls.iter().enumerate() {
                cumulative += c.cost();
                let tool = *tool_index.entry(c.tool().to_string()).or_insert_with(|| {
                    tools.push(c.tool().to_string());
                    tools.len() - 1
                });
                if i > 0 {
                    out.push(',');
                }
                let parent = c
                    .parent()
                    .map_or_else(|| "null".to_string(), |p| p.to_string());
                let _ = write!(
                    out,
                    "[{},{parent},{tool},{},{},{},",
                    c.seq(),
                    status_code(c.status()),
                    num(epoch_micros(c.started_at()) - t0us),
                    num(micros(c.duration())),
                );
                json_str(&mut out, &c.cost().to_string());
                out.push(',');
                json_str(&mut out, &cumulative.to_string());
                let _ = write!(out, ",{},", c.cost().usd()); // f64 Display: no exponent
                json_str(&mut out, c.thread());
                out.push(',');
                out.push_str(c.inputs_json()); // JSON checked when the log was read
                out.push(',');
                out.push_str(c.output_json());
                out.push(',');
                json_opt_str(&mut out, c.error());
                let _ = write!(out, ",{}]", c.replayed());
            }
            out.push_str("]}");
        }
    }
    out.push_str("],\"tools\":");
    out.push_str(&serde_json::Value::from(tools).to_string());
    out.push('}');
    // `<` only occurs inside JSON strings, where `\u003c` means the same.
    out.replace('<', "\\u003c")
}

/// The whole page for `logs`.
pub fn page(title: &str, logs: &[Log]) -> String {
    debug_assert_eq!(TEMPLATE.matches(PLACEHOLDER).count(), 1);
    TEMPLATE.replacen(PLACEHOLDER, &data(title, logs), 1)
}

pub fn run(a: &ReportArgs) -> Outcome {
    let loaded = load_all(&a.files)?;
    let title = a.title.clone().unwrap_or_else(|| {
        loaded
            .iter()
            .map(|(n, _)| n.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    });
    let logs: Vec<Log> = loaded.into_iter().map(|(_, l)| l).collect();
    let html = page(&title, &logs);
    if a.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        out.write_all(html.as_bytes())?;
        out.flush()?;
    } else {
        std::fs::write(&a.output, html).map_err(|e| {
            Failure(format!(
                "{}: cannot write the report: {e}",
                a.output.display()
            ))
        })?;
        let calls: usize = logs.iter().map(Log::len).sum();
        eprintln!(
            "backstep: wrote {} ({calls} calls); open it in a browser",
            a.output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_cannot_close_the_data_element() {
        let line = r#"{"type":"call","session":"s","seq":0,"parent":null,"tool":"t</script><script>alert(1)</script>","inputs":{"x":"</SCRIPT><!--"},"output":"<b>","status":"ok","error":null,"started_at":"2026-01-01T00:00:00Z","duration_ms":1,"cost_usd":0,"thread":"main"}"#;
        let log = Log::from_jsonl(line).unwrap();
        let html = page("t</script>", &[log]);
        let start = html.find("id=\"data\"").unwrap();
        let data = &html[start..];
        let data = &data[data.find('>').unwrap() + 1..];
        let end = data.find("</script>").unwrap();
        let json = &data[..end];
        assert!(!json.contains('<'), "{json}");
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(v["title"], "t</script>");
        assert_eq!(v["tools"][0], "t</script><script>alert(1)</script>");
        assert_eq!(v["sessions"][0]["calls"][0][10]["x"], "</SCRIPT><!--");
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(1_796_324_531_000_001.0), "1796324531000001");
        assert_eq!(num(0.0004), "0");
    }
}
