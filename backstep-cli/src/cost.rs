//! `backstep cost`: exact cost sums grouped by tool, session, status or parent.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use backstep_core::{Call, Cost, Status};

use crate::input::load_all;
use crate::out::{self, Cell, Col, Paint, Style, Table};
use crate::{CostArgs, CostBy, Outcome};

struct Group {
    key: String,
    paint: Paint,
    calls: u64,
    cost: Cost,
}

/// `12.3%` of `total`; `-` when nothing was spent.
fn share(part: Cost, total: Cost) -> String {
    if total.is_zero() {
        return "-".to_string();
    }
    #[allow(clippy::cast_precision_loss)]
    let pct = part.picodollars() as f64 / total.picodollars() as f64 * 100.0;
    format!("{pct:.1}%")
}

pub fn run(a: &CostArgs, style: Style) -> Outcome {
    let logs = load_all(&a.files)?;
    let calls: Vec<&Call> = logs.iter().flat_map(|(_, l)| l.iter()).collect();
    let sessions: Vec<&backstep_core::Session> =
        logs.iter().flat_map(|(_, l)| l.sessions()).collect();
    let several = sessions.len() > 1;
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut add = |key: String, paint: Paint, c: &Call| {
        let i = *index.entry(key.clone()).or_insert_with(|| {
            groups.push(Group {
                key,
                paint,
                calls: 0,
                cost: Cost::ZERO,
            });
            groups.len() - 1
        });
        groups[i].calls += 1;
        groups[i].cost += c.cost();
    };
    let title = match a.by {
        CostBy::Tool => {
            for c in &calls {
                add(c.tool().to_string(), Paint::Plain, c);
            }
            "tool"
        }
        CostBy::Session => {
            let names: HashMap<&str, Option<&str>> =
                sessions.iter().map(|s| (s.id(), s.name())).collect();
            for c in &calls {
                let key = match names.get(c.session()).copied().flatten() {
                    Some(n) => format!("{} ({n})", c.session()),
                    None => c.session().to_string(),
                };
                add(key, Paint::Plain, c);
            }
            "session"
        }
        CostBy::Status => {
            for s in [
                Status::Ok,
                Status::Error,
                Status::Panicked,
                Status::Cancelled,
            ] {
                for c in calls.iter().filter(|c| c.status() == s) {
                    add(s.as_str().to_string(), Paint::status(s), c);
                }
            }
            "status"
        }
        CostBy::Parent => {
            let tools: HashMap<(&str, u64), &str> = calls
                .iter()
                .map(|c| ((c.session(), c.seq()), c.tool()))
                .collect();
            for c in &calls {
                let key = match c.parent() {
                    None => "(top level)".to_string(),
                    Some(p) => {
                        let tool = tools
                            .get(&(c.session(), p))
                            .copied()
                            .unwrap_or("(not in the log)");
                        if several {
                            format!("{} #{p} {tool}", c.session())
                        } else {
                            format!("#{p} {tool}")
                        }
                    }
                };
                add(key, Paint::Plain, c);
            }
            "parent"
        }
    };
    if matches!(a.by, CostBy::Tool | CostBy::Parent) {
        groups.sort_by(|x, y| {
            (y.cost, y.calls)
                .cmp(&(x.cost, x.calls))
                .then_with(|| x.key.cmp(&y.key))
        });
    }
    let total: Cost = calls.iter().map(|c| c.cost()).sum();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if calls.is_empty() {
        writeln!(out, "no calls: total cost $0")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(vec![
        Col::flex(title),
        Col::right("calls"),
        Col::decimal("cost"),
        Col::right("share"),
    ]);
    for g in &groups {
        t.row(vec![
            Cell::painted(g.key.clone(), g.paint),
            g.calls.to_string().into(),
            g.cost.to_string().into(),
            share(g.cost, total).into(),
        ]);
    }
    t.gap();
    t.row(vec![
        Cell::painted("total", Paint::Bold),
        calls.len().to_string().into(),
        Cell::painted(total.to_string(), Paint::Bold),
        share(total, total).into(),
    ]);
    t.print(&mut out, style, out::width())?;
    Ok(ExitCode::SUCCESS)
}
