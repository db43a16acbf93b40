//! `backstep calls`, `show` and `diff`: the commands that look at calls one by one.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use backstep_core::{Call, Cost, Log, Record};

use crate::input::{check_stdin_once, one_line_error, pick_session, Input, Numbered};
use crate::out::{self, Cell, Col, Paint, Style, Table};
use crate::{CallsArgs, DiffArgs, Failure, Outcome, ShowArgs};

/// The calls table's columns, and one row per call. A `replayed` column
/// marks the calls answered from a recording, when there are any.
fn call_table(calls: &[&Call], with_session: bool) -> Table {
    let with_error = calls.iter().any(|c| c.error().is_some());
    let with_replayed = calls.iter().any(|c| c.replayed());
    let mut cols = Vec::new();
    if with_session {
        cols.push(Col::left("session").keep());
    }
    cols.extend([
        Col::right("seq"),
        Col::right("parent"),
        Col::left("tool"),
        Col::left("status").keep(),
    ]);
    if with_replayed {
        cols.push(Col::left("replayed").keep());
    }
    cols.extend([
        Col::right("duration"),
        Col::decimal("cost"),
        Col::flex("inputs"),
    ]);
    if with_error {
        cols.push(Col::flex("error"));
    }
    let mut t = Table::new(cols);
    for c in calls {
        let mut row: Vec<Cell> = Vec::new();
        if with_session {
            row.push(c.session().into());
        }
        row.extend([
            c.seq().to_string().into(),
            c.parent()
                .map_or_else(|| "-".to_string(), |p| p.to_string())
                .into(),
            c.tool().into(),
            Cell::painted(c.status().as_str(), Paint::status(c.status())),
        ]);
        if with_replayed {
            row.push(Cell::painted(
                if c.replayed() { "yes" } else { "" },
                Paint::Cyan,
            ));
        }
        row.extend([
            out::duration(c.duration()).into(),
            c.cost().to_string().into(),
            c.inputs_json().into(),
        ]);
        if with_error {
            row.push(Cell::painted(
                c.error().unwrap_or(""),
                Paint::status(c.status()),
            ));
        }
        t.row(row);
    }
    t
}

/// What `calls` reads from its logs, one record at a time: the calls that
/// pass the filters (a `--session` prefix included, resolved once every id is
/// known), not the whole log.
#[derive(Default)]
struct Found {
    /// The inputs' names, for messages: `a.jsonl, b.jsonl`.
    names: Vec<String>,
    /// Every session id, in the order first seen.
    ids: Numbered,
    /// The tools of every call, for the note on a `--tool` that names none.
    tools: BTreeSet<String>,
    /// Calls read, kept or not.
    total: usize,
    /// The kept calls, with the file and the rank of the session in it
    /// (the order a [`Log`] sorts calls in: its sessions as they first
    /// appear, then by seq).
    kept: Vec<(usize, usize, Call)>,
}

impl Found {
    fn read(a: &CallsArgs) -> Result<Found, Failure> {
        check_stdin_once(&a.files)?;
        let keep = |c: &Call| {
            a.session
                .as_deref()
                .map_or(true, |s| c.session().starts_with(s))
                && (a.tool.is_empty() || a.tool.iter().any(|t| t == c.tool()))
                && (a.status.is_empty() || a.status.contains(&c.status()))
                && a.min_cost.map_or(true, |m| c.cost() >= m)
                && a.slower_than.map_or(true, |d| c.duration() > d)
        };
        let mut found = Found::default();
        for (file, path) in a.files.iter().enumerate() {
            let input = Input::open(path)?;
            found.names.push(input.name.display().to_string());
            let mut reader = input.stream()?;
            // The rank of each session in this file, and in all of them.
            let mut ranks = Numbered::default();
            let mut rank = |id: &str, ids: &mut Numbered| {
                ids.number(id);
                ranks.number(id)
            };
            for record in &mut reader {
                match record.map_err(|e| Failure(one_line_error(&e)))? {
                    Record::Session(s) => {
                        rank(s.id(), &mut found.ids);
                    }
                    Record::End { session, .. } => {
                        rank(&session, &mut found.ids);
                    }
                    Record::Call(c) => {
                        let r = rank(c.session(), &mut found.ids);
                        found.total += 1;
                        if !found.tools.contains(c.tool()) {
                            found.tools.insert(c.tool().to_string());
                        }
                        if keep(&c) {
                            found.kept.push((file, r, c));
                        }
                    }
                }
            }
            for w in reader.warnings() {
                eprintln!("backstep: note: {w}");
            }
        }
        if let Some(wanted) = &a.session {
            let ids = found.ids.names().iter().map(String::as_str);
            let id = pick_session(ids, wanted, &found.names())?;
            found.kept.retain(|(_, _, c)| c.session() == id);
        }
        // The order of `Log::iter`: by file, session, then seq (stable). A
        // log is mostly in order already; when it is not, the keys are
        // sorted and the calls moved once each, not merged through a
        // scratch copy of half of them.
        let key = |(file, rank, c): &(usize, usize, Call)| (*file, *rank, c.seq());
        if !found.kept.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
            found.kept.sort_by_cached_key(key);
        }
        Ok(found)
    }

    fn names(&self) -> String {
        self.names.join(", ")
    }
}

pub fn list(a: &CallsArgs, style: Style) -> Outcome {
    let found = Found::read(a)?;
    let calls: Vec<&Call> = found.kept.iter().map(|(_, _, c)| c).collect();
    let total = found.total;
    unknown_tools(&found, &a.tool);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if a.json {
        for c in &calls {
            out.write_all(c.to_jsonl().as_bytes())?;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    if calls.is_empty() {
        let why = if total == 0 {
            "the log holds no calls"
        } else {
            "no call matches"
        };
        writeln!(out, "{why} ({total} calls in {})", found.names())?;
        return Ok(ExitCode::SUCCESS);
    }
    let sessions: HashSet<&str> = calls.iter().map(|c| c.session()).collect();
    call_table(&calls, sessions.len() > 1).print(&mut out, style, out::width())?;
    let cost: Cost = calls.iter().map(|c| c.cost()).sum();
    let shown = calls.len();
    let mut footer = if shown == total {
        format!("{shown} calls, {cost}")
    } else {
        format!("{shown} of {total} calls, {cost}")
    };
    let replayed: Vec<&&Call> = calls.iter().filter(|c| c.replayed()).collect();
    if !replayed.is_empty() {
        let not_spent: Cost = replayed.iter().map(|c| c.cost()).sum();
        footer += &format!(" ({} replayed from the recording", replayed.len());
        if !not_spent.is_zero() {
            footer += &format!(": {not_spent} of it not spent");
        }
        footer.push(')');
    }
    writeln!(out, "\n{}", style.paint(Paint::Dim, &footer))?;
    Ok(ExitCode::SUCCESS)
}

/// Tools named in the log files, listed in a note.
const LISTED_TOOLS: usize = 20;

/// A note on standard error for each `--tool` that names no tool in the
/// logs at all (a typo, most likely), listing the tools that are there.
fn unknown_tools(found: &Found, wanted: &[String]) {
    let known = &found.tools;
    if known.is_empty() {
        return; // "the log holds no calls" says it all
    }
    let mut listed: Vec<String> = known
        .iter()
        .take(LISTED_TOOLS)
        .map(|t| out::one_line(t))
        .collect();
    if known.len() > LISTED_TOOLS {
        listed.push(format!("… ({} in all)", known.len()));
    }
    let whose = if found.names.len() > 1 {
        "their"
    } else {
        "its"
    };
    let mut noted = HashSet::new();
    for name in wanted {
        if !known.contains(name.as_str()) && noted.insert(name) {
            eprintln!(
                "backstep: note: no tool is named `{}` in {}; {whose} tools are: {}",
                out::one_line(name),
                found.names(),
                listed.join(", ")
            );
        }
    }
}

fn pretty(json: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v) => format!("{v:#}"),
        Err(_) => json.to_string(),
    }
}

fn indented(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    for line in text.lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

pub fn show(a: &ShowArgs, style: Style) -> Outcome {
    let input = Input::open(&a.file)?;
    let name = input.name.display().to_string();
    let mut log = input.load()?;
    if let Some(wanted) = &a.session {
        let id = pick_session(log.sessions().iter().map(|s| s.id()), wanted, &name)?;
        log = log.for_session(&id);
    }
    let hits: Vec<&Call> = log.iter().filter(|c| c.seq() == a.seq).collect();
    let call = match hits.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let range = match (
                log.iter().map(Call::seq).min(),
                log.iter().map(Call::seq).max(),
            ) {
                (Some(lo), Some(hi)) => format!("its calls have seq {lo} to {hi}"),
                _ => "it holds no calls".to_string(),
            };
            return Err(Failure(format!(
                "{name}: no call with seq {} ({range})",
                a.seq
            )));
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|c| c.session()).collect();
            return Err(Failure(format!(
                "{name}: seq {} is in {} sessions ({}): choose one with --session ID",
                a.seq,
                many.len(),
                ids.join(", ")
            )));
        }
    };
    let log = log.for_session(call.session());
    let session = log.sessions().first();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let width = out::width();
    let label = |s: &str| style.paint(Paint::Bold, &format!("{s:<10}"));
    let title = format!("call #{} {}", call.seq(), out::one_line(call.tool()));
    writeln!(
        out,
        "{}  {}",
        style.paint(Paint::Bold, &title),
        style.paint(Paint::status(call.status()), call.status().as_str())
    )?;
    let session_text = match session.and_then(|s| s.name()) {
        Some(n) => format!("{} ({})", call.session(), out::one_line(n)),
        None => call.session().to_string(),
    };
    writeln!(out, "{}{session_text}", label("session"))?;
    writeln!(
        out,
        "{}{} UTC",
        label("started"),
        out::datetime(call.started_at())
    )?;
    writeln!(
        out,
        "{}{}",
        label("duration"),
        out::duration(call.duration())
    )?;
    writeln!(out, "{}{}", label("cost"), call.cost())?;
    if call.replayed() {
        writeln!(
            out,
            "{}{}: answered from the recording, not run (its cost and duration are the recorded ones)",
            label("replayed"),
            style.paint(Paint::Cyan, "yes")
        )?;
    }
    writeln!(out, "{}{}", label("thread"), out::one_line(call.thread()))?;

    // Parents, outermost first; a parent whose line is missing (it was still
    // running when the log ended) ends the chain, and so does one already in
    // it (a loop in a hand-made or corrupt log).
    let mut chain: Vec<&Call> = Vec::new();
    let mut seen = std::collections::HashSet::from([call.seq()]);
    let mut missing = None;
    let mut looped = None;
    let mut next = call.parent();
    while let Some(p) = next {
        if !seen.insert(p) {
            looped = Some(p);
            break;
        }
        match log.get(p) {
            Some(parent) => {
                chain.push(parent);
                next = parent.parent();
            }
            None => {
                missing = Some(p);
                break;
            }
        }
    }
    chain.reverse();
    writeln!(out)?;
    if chain.is_empty() && missing.is_none() && looped.is_none() {
        writeln!(out, "{}none: a top-level call", label("parents"))?;
    } else {
        writeln!(
            out,
            "{}",
            style.paint(Paint::Bold, "parents (outermost first)")
        )?;
        if let Some(p) = missing {
            writeln!(
                out,
                "  #{p} is not in the log (it was still running when the log ended)"
            )?;
        }
        if let Some(p) = looped {
            writeln!(out, "  … parent #{p} again: the log's parent links loop")?;
        }
        if !chain.is_empty() {
            call_table(&chain, false)
                .indent(2)
                .print(&mut out, style, width)?;
        }
    }

    writeln!(out, "\n{}", style.paint(Paint::Bold, "inputs"))?;
    indented(&mut out, &pretty(call.inputs_json()))?;
    writeln!(out, "\n{}", style.paint(Paint::Bold, "output"))?;
    indented(&mut out, &pretty(call.output_json()))?;
    if let Some(e) = call.error() {
        writeln!(out, "\n{}", style.paint(Paint::Bold, "error"))?;
        indented(&mut out, &out::safe_block(e))?;
    }
    // A call naming itself as its parent (a loop, noted above) is not its own child.
    let children: Vec<&Call> = log
        .children(call.seq())
        .filter(|c| c.seq() != call.seq())
        .collect();
    writeln!(out)?;
    if children.is_empty() {
        writeln!(out, "{}none", label("children"))?;
    } else {
        writeln!(
            out,
            "{}",
            style.paint(Paint::Bold, &format!("children ({})", children.len()))
        )?;
        call_table(&children, false)
            .indent(2)
            .print(&mut out, style, width)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(a: &DiffArgs) -> Outcome {
    check_stdin_once(&[a.a.clone(), a.b.clone()])?;
    let load = |path: &PathBuf, session: &Option<String>| -> Result<(String, Log), Failure> {
        let input = Input::open(path)?;
        let name = input.name.display().to_string();
        let log = input.load()?;
        Ok(match session {
            Some(wanted) => {
                let id = pick_session(log.sessions().iter().map(|s| s.id()), wanted, &name)?;
                (format!("{name} (session {id})"), log.for_session(&id))
            }
            None => (name, log),
        })
    };
    let (name_a, log_a) = load(&a.a, &a.session_a)?;
    let (name_b, log_b) = load(&a.b, &a.session_b)?;
    let d = backstep_core::diff(&log_a, &log_b);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "a: {name_a}\nb: {name_b}\n\n{d}")?;
    Ok(if d.diverges() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
