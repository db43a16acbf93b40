//! `backstep cost`: exact cost sums grouped by tool, session, status or parent.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;

use backstep_core::{Call, Cost, Record, Status};

use crate::input::{check_stdin_once, one_line_error, Input, Numbered};
use crate::out::{self, Cell, Col, Paint, Style, Table};
use crate::{CostArgs, CostBy, Failure, Outcome};

struct Group {
    key: String,
    paint: Paint,
    sum: Sum,
}

/// What one group, or all the calls, add up to.
#[derive(Clone, Copy, Default)]
struct Sum {
    calls: u64,
    cost: Cost,
    /// The part of `cost` recorded on replayed calls (answered from a
    /// recording): in the log, but not spent by this run.
    replayed: Cost,
}

impl Sum {
    fn add(&mut self, c: &Call) {
        self.calls += 1;
        self.cost += c.cost();
        if c.replayed() {
            self.replayed += c.cost();
        }
    }
}

/// What a group gathers, by the index of its tool or session.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Tool(usize),
    Session(usize),
    Status(Status),
    /// The parent's session and seq (`None`: a top-level call).
    Parent(Option<(usize, u64)>),
}

/// The sums of `cost`, gathered one record at a time: a log is never held
/// whole in memory, only one entry per group, and for `--by parent` one per
/// call (a parent's line comes after its children's, so its tool is known
/// only at the end).
struct Sums {
    by: CostBy,
    total: Sum,
    /// Whether any call was replayed (its cost was recorded, not spent).
    any_replayed: bool,
    /// Session ids in the order they first appear, and their names.
    sessions: Numbered,
    session_names: Vec<Option<String>>,
    tools: Numbered,
    /// The tool of each call, by session and seq (`--by parent` only).
    tool_of: HashMap<(usize, u64), usize>,
    /// Calls and cost per key, and the keys in the order they first appear.
    sums: HashMap<Key, Sum>,
    order: Vec<Key>,
}

impl Sums {
    fn new(by: CostBy) -> Sums {
        Sums {
            by,
            total: Sum::default(),
            any_replayed: false,
            sessions: Numbered::default(),
            session_names: Vec::new(),
            tools: Numbered::default(),
            tool_of: HashMap::new(),
            sums: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// The number of session `id`, which is added when new.
    fn session(&mut self, id: &str) -> usize {
        let i = self.sessions.number(id);
        if i == self.session_names.len() {
            self.session_names.push(None);
        }
        i
    }

    fn add(&mut self, record: Record) {
        match record {
            Record::Session(s) => {
                let i = self.session(s.id());
                // A later header of the same session (a resumed run) names it.
                self.session_names[i] = s.name().map(str::to_string);
            }
            Record::End { session, .. } => {
                self.session(&session);
            }
            Record::Call(c) => self.add_call(&c),
        }
    }

    fn add_call(&mut self, c: &Call) {
        let session = self.session(c.session());
        self.total.add(c);
        self.any_replayed |= c.replayed();
        let key = match self.by {
            CostBy::Tool => Key::Tool(self.tools.number(c.tool())),
            CostBy::Session => Key::Session(session),
            CostBy::Status => Key::Status(c.status()),
            CostBy::Parent => {
                let tool = self.tools.number(c.tool());
                self.tool_of.insert((session, c.seq()), tool);
                Key::Parent(c.parent().map(|p| (session, p)))
            }
        };
        self.sums
            .entry(key)
            .or_insert_with(|| {
                self.order.push(key);
                Sum::default()
            })
            .add(c);
    }

    /// The groups as the table shows them, and the title of its first column.
    fn groups(&self) -> (&'static str, Vec<Group>) {
        let (ids, tools) = (self.sessions.names(), self.tools.names());
        let several = ids.len() > 1;
        let group = |key: String, paint: Paint, k: &Key| Group {
            key,
            paint,
            sum: self.sums[k],
        };
        let mut groups: Vec<Group> = match self.by {
            CostBy::Status => Status::ALL
                .iter()
                .map(|&s| Key::Status(s))
                .filter(|k| self.sums.contains_key(k))
                .map(|k| {
                    let Key::Status(s) = k else { unreachable!() };
                    group(s.as_str().to_string(), Paint::status(s), &k)
                })
                .collect(),
            // Sessions in the order they first appear (a header, an end
            // line or a call), as a `Log` holds them.
            CostBy::Session => (0..ids.len())
                .map(Key::Session)
                .filter(|k| self.sums.contains_key(k))
                .map(|k| {
                    let Key::Session(i) = k else { unreachable!() };
                    let label = match &self.session_names[i] {
                        Some(name) => format!("{} ({name})", ids[i]),
                        None => ids[i].clone(),
                    };
                    group(label, Paint::Plain, &k)
                })
                .collect(),
            _ => self
                .order
                .iter()
                .map(|k| {
                    let label = match *k {
                        Key::Tool(t) => tools[t].clone(),
                        Key::Parent(None) => "(top level)".to_string(),
                        Key::Parent(Some((session, p))) => {
                            let tool = self
                                .tool_of
                                .get(&(session, p))
                                .map_or("(not in the log)", |&t| tools[t].as_str());
                            if several {
                                format!("{} #{p} {tool}", ids[session])
                            } else {
                                format!("#{p} {tool}")
                            }
                        }
                        Key::Session(_) | Key::Status(_) => unreachable!("grouped above"),
                    };
                    group(label, Paint::Plain, k)
                })
                .collect(),
        };
        if matches!(self.by, CostBy::Tool | CostBy::Parent) {
            groups.sort_by(|x, y| {
                (y.sum.cost, y.sum.calls)
                    .cmp(&(x.sum.cost, x.sum.calls))
                    .then_with(|| x.key.cmp(&y.key))
            });
        }
        let title = match self.by {
            CostBy::Tool => "tool",
            CostBy::Session => "session",
            CostBy::Status => "status",
            CostBy::Parent => "parent",
        };
        (title, groups)
    }
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
    check_stdin_once(&a.files)?;
    let mut sums = Sums::new(a.by);
    for path in &a.files {
        let mut reader = Input::open(path)?.stream()?;
        for record in &mut reader {
            sums.add(record.map_err(|e| Failure(one_line_error(&e)))?);
        }
        for w in reader.warnings() {
            eprintln!("backstep: note: {w}");
        }
    }
    let (title, groups) = sums.groups();
    let total = sums.total;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if total.calls == 0 {
        writeln!(out, "no calls: total cost $0")?;
        return Ok(ExitCode::SUCCESS);
    }
    // Session ids and statuses are never cut; tool names and parents only
    // down to a dozen columns.
    let key = match a.by {
        CostBy::Session | CostBy::Status => Col::left(title).keep(),
        CostBy::Tool | CostBy::Parent => Col::left(title),
    };
    let mut cols = vec![
        key,
        Col::right("calls"),
        Col::decimal("cost"),
        Col::right("share"),
    ];
    let replayed = sums.any_replayed;
    if replayed {
        cols.push(Col::decimal("replayed"));
    }
    let mut t = Table::new(cols);
    let row = |key: Cell, sum: Sum| {
        let mut cells = vec![
            key,
            sum.calls.to_string().into(),
            sum.cost.to_string().into(),
            share(sum.cost, total.cost).into(),
        ];
        if replayed {
            cells.push(sum.replayed.to_string().into());
        }
        cells
    };
    for g in &groups {
        t.row(row(Cell::painted(g.key.clone(), g.paint), g.sum));
    }
    t.gap();
    let mut last = row(Cell::painted("total", Paint::Bold), total);
    last[2] = Cell::painted(total.cost.to_string(), Paint::Bold);
    t.row(last);
    t.print(&mut out, style, out::width())?;
    if replayed {
        writeln!(
            out,
            "\n{}",
            style.paint(
                Paint::Dim,
                "replayed: the recorded cost of the calls answered from the recording, in the cost but not spent"
            )
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(session: &str, seq: u64, parent: &str, tool: &str, cost: &str) -> Record {
        Record::parse(&format!(
            r#"{{"type":"call","session":"{session}","seq":{seq},"parent":{parent},"tool":"{tool}","inputs":{{}},"output":null,"status":"ok","error":null,"started_at":"2026-12-04T05:00:00Z","duration_ms":1,"cost_usd":{cost},"thread":"main"}}"#
        ))
        .unwrap()
    }

    fn header(session: &str, name: &str) -> Record {
        Record::parse(&format!(
            r#"{{"type":"session","session":"{session}","name":"{name}","started_at":"2026-12-04T05:00:00Z","pid":1,"backstep_version":"0.1.0","format":1}}"#
        ))
        .unwrap()
    }

    fn table(by: CostBy, records: Vec<Record>) -> Vec<(String, u64, String)> {
        let mut sums = Sums::new(by);
        for r in records {
            sums.add(r);
        }
        sums.groups()
            .1
            .into_iter()
            .map(|g| (g.key, g.sum.calls, g.sum.cost.to_string()))
            .collect()
    }

    fn row(key: &str, calls: u64, cost: &str) -> (String, u64, String) {
        (key.to_string(), calls, cost.to_string())
    }

    /// Children's lines come before their parent's: the parent is named at
    /// the end, once its own line has been read.
    #[test]
    fn parents_are_named_from_lines_after_their_children() {
        let records = vec![
            call("s1", 1, "0", "search", "0.1"),
            call("s1", 2, "0", "search", "0.2"),
            call("s1", 0, "null", "plan", "0.03"),
            call("s1", 4, "3", "fetch", "0"),
        ];
        assert_eq!(
            table(CostBy::Parent, records),
            [
                row("#0 plan", 2, "$0.3"),
                row("(top level)", 1, "$0.03"),
                row("#3 (not in the log)", 1, "$0"),
            ]
        );
    }

    /// Sessions are listed in the order they first appear in, whatever
    /// the record, not in the order of their first calls: two processes
    /// appending to one file write their headers, then calls in any order.
    #[test]
    fn sessions_in_the_order_of_their_first_record() {
        let records = vec![
            header("a1", "one"),
            header("b2", "two"),
            call("b2", 0, "null", "y", "2"),
            call("a1", 0, "null", "x", "1"),
        ];
        assert_eq!(
            table(CostBy::Session, records),
            [row("a1 (one)", 1, "$1"), row("b2 (two)", 1, "$2")]
        );
    }

    /// With two sessions a parent is named with its session's id; a session
    /// is named by its header even when the header comes after its calls
    /// (a resumed run), and sessions keep the order they first appear in.
    #[test]
    fn sessions_in_order_of_appearance_named_by_any_header() {
        let records = || {
            vec![
                call("s2", 0, "null", "plan", "1"),
                call("s2", 1, "0", "search", "0.5"),
                header("s1", "first"),
                call("s1", 1, "0", "search", "0.25"),
                header("s2", "second"),
            ]
        };
        assert_eq!(
            table(CostBy::Session, records()),
            [row("s2 (second)", 2, "$1.5"), row("s1 (first)", 1, "$0.25")]
        );
        assert_eq!(
            table(CostBy::Parent, records()),
            [
                row("(top level)", 1, "$1"),
                row("s2 #0 plan", 1, "$0.5"),
                row("s1 #0 (not in the log)", 1, "$0.25"),
            ]
        );
    }
}
