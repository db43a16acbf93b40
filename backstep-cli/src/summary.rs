//! `backstep summary`: one pass over the log, in bounded memory.
//!
//! `errors` counts status `error` only (as the log's end line and
//! `Log::stats_by_tool` do); panicked and cancelled calls, and calls replayed
//! from a recording, have their own columns when the log has any.
//!
//! Memory: one line at a time, plus per tool and per session a few counters,
//! plus 4 bytes (an `f32` of milliseconds) per call for the p50/p95 durations:
//! about 14 MB for a 1 GB log of 300-byte lines.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use backstep_core::{Call, Cost, Record, SessionEnd, Status};

use crate::input::{check_stdin_once, one_line_error, Input};
use crate::out::{self, Cell, Col, Paint, Style, Table};
use crate::{Failure, Outcome};

/// Calls by status (in the order of `Status::index`), and how many of
/// them were answered from a recording.
#[derive(Clone, Copy, Default)]
struct Counts {
    calls: u64,
    by_status: [u64; 4],
    replayed: u64,
}

impl Counts {
    fn add(&mut self, c: &Call) {
        self.calls += 1;
        self.by_status[c.status().index()] += 1;
        self.replayed += u64::from(c.replayed());
    }
}

#[derive(Default)]
struct ToolAgg {
    counts: Counts,
    cost: Cost,
    max: Duration,
    /// Milliseconds, one per call: 4 bytes each.
    millis: Vec<f32>,
}

struct SessionAgg {
    id: String,
    name: Option<String>,
    pid: Option<u32>,
    started: Option<SystemTime>,
    end: Option<SessionEnd>,
    counts: Counts,
    cost: Cost,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
}

/// Everything `summary` prints, built one record at a time.
#[derive(Default)]
struct Aggregate {
    sessions: Vec<SessionAgg>,
    session_index: HashMap<String, usize>,
    tools: HashMap<String, ToolAgg>,
    counts: Counts,
    cost: Cost,
    /// `cost` in two parts: what the calls that ran cost, and what was
    /// recorded on replayed calls (answered from a recording: not spent).
    spent: Cost,
    replayed_cost: Cost,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
}

fn earliest(a: Option<SystemTime>, b: SystemTime) -> Option<SystemTime> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn latest(a: Option<SystemTime>, b: SystemTime) -> Option<SystemTime> {
    Some(a.map_or(b, |a| a.max(b)))
}

impl Aggregate {
    fn session(&mut self, id: &str) -> &mut SessionAgg {
        let i = match self.session_index.get(id) {
            Some(&i) => i,
            None => {
                self.sessions.push(SessionAgg {
                    id: id.to_string(),
                    name: None,
                    pid: None,
                    started: None,
                    end: None,
                    counts: Counts::default(),
                    cost: Cost::ZERO,
                    first: None,
                    last: None,
                });
                self.session_index
                    .insert(id.to_string(), self.sessions.len() - 1);
                self.sessions.len() - 1
            }
        };
        &mut self.sessions[i]
    }

    fn add(&mut self, record: Record) {
        match record {
            Record::Session(s) => {
                let started = s.started_at();
                if let Some(t) = started {
                    self.first = earliest(self.first, t);
                }
                let agg = self.session(s.id());
                agg.name = s.name().map(str::to_string);
                agg.pid = s.pid();
                agg.started = started;
            }
            Record::End { session, end } => {
                self.last = latest(self.last, end.ended_at());
                self.session(&session).end = Some(end);
            }
            Record::Call(c) => self.add_call(&c),
        }
    }

    fn add_call(&mut self, c: &Call) {
        // A replayed call carries the duration it took when recorded; in
        // this run it took next to no time, and must not stretch the span.
        let finished = if c.replayed() {
            c.started_at()
        } else {
            c.started_at() + c.duration()
        };
        self.counts.add(c);
        self.cost += c.cost();
        if c.replayed() {
            self.replayed_cost += c.cost();
        } else {
            self.spent += c.cost();
        }
        self.first = earliest(self.first, c.started_at());
        self.last = latest(self.last, finished);
        let s = self.session(c.session());
        s.counts.add(c);
        s.cost += c.cost();
        s.first = earliest(s.first, c.started_at());
        s.last = latest(s.last, finished);
        let t = match self.tools.get_mut(c.tool()) {
            Some(t) => t,
            None => self.tools.entry(c.tool().to_string()).or_default(),
        };
        t.counts.add(c);
        t.cost += c.cost();
        t.max = t.max.max(c.duration());
        #[allow(clippy::cast_possible_truncation)] // 4 bytes a call; 7 digits are plenty
        t.millis.push((c.duration().as_secs_f64() * 1e3) as f32);
    }
}

/// The nearest-rank percentile `p` (0–100) of sorted values.
fn percentile(sorted: &[f32], p: u32) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).clamp(1, n);
    Duration::from_secs_f64(f64::from(sorted[rank - 1]) / 1e3)
}

/// `total / n`, rounded to the picodollar.
fn mean(total: Cost, n: u64) -> Cost {
    if n == 0 {
        return Cost::ZERO;
    }
    let n = i128::from(n);
    let p = total.picodollars();
    // Round half away from zero: add (or subtract) half of n before dividing.
    let half = if p < 0 { -n } else { n };
    let rounded = (2 * p + half) / (2 * n);
    Cost::from_picodollars(rounded)
}

fn span_text(first: SystemTime, last: SystemTime) -> String {
    let (a, b) = (out::datetime(first), out::datetime(last));
    let b = if a[..10] == b[..10] {
        b[11..].to_string()
    } else {
        b
    };
    let took = last.duration_since(first).unwrap_or_default();
    format!("{a} → {b} UTC ({})", out::duration(took))
}

pub fn run(files: &[PathBuf], style: Style) -> Outcome {
    check_stdin_once(files)?;
    let mut agg = Aggregate::default();
    let mut names = Vec::new();
    for path in files {
        let input = Input::open(path)?;
        names.push(input.name.display().to_string());
        let mut reader = input.stream()?;
        for record in &mut reader {
            agg.add(record.map_err(|e| Failure(one_line_error(&e)))?);
        }
        for w in reader.warnings() {
            eprintln!("backstep: note: {w}");
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    print(&mut agg, &names, &mut out, style)?;
    Ok(ExitCode::SUCCESS)
}

fn print(
    agg: &mut Aggregate,
    names: &[String],
    out: &mut impl Write,
    style: Style,
) -> Result<(), Failure> {
    let width = out::width();
    let label = |s: &str| style.paint(Paint::Bold, &format!("{s:<9}"));
    // A file name is never cut; a list of several is cut after the first.
    let first = names
        .first()
        .map_or(0, |n| out::text_width(&out::one_line(n)));
    let files = out::shorten(
        &out::one_line(&names.join(", ")),
        width.saturating_sub(10).max(first),
    );
    writeln!(
        out,
        "{}{files}",
        label(if names.len() > 1 { "files" } else { "file" })
    )?;
    if let (Some(first), Some(last)) = (agg.first, agg.last) {
        writeln!(out, "{}{}", label("span"), span_text(first, last))?;
    }
    let [ok, error, panicked, cancelled] = agg.counts.by_status;
    let total = agg.counts.calls;
    let mut counts = format!("{total}");
    if total > 0 {
        let parts: Vec<String> = [
            (ok, "ok", Paint::Green),
            (error, "error", Paint::Red),
            (panicked, "panicked", Paint::Magenta),
            (cancelled, "cancelled", Paint::Yellow),
        ]
        .iter()
        .map(|&(n, what, paint)| {
            let text = format!("{n} {what}");
            if n > 0 && paint != Paint::Green {
                style.paint(paint, &text)
            } else {
                text
            }
        })
        .collect();
        counts = format!("{total}: {}", parts.join(", "));
    }
    writeln!(out, "{}{counts}", label("calls"))?;
    let replayed = agg.counts.replayed;
    if replayed > 0 {
        writeln!(
            out,
            "{}{replayed} of {total} calls: answered from the recording, not run (their durations are the recorded ones)",
            label("replayed")
        )?;
        writeln!(
            out,
            "{}{}: {} spent, {} replayed from the recording (not spent)",
            label("cost"),
            agg.cost,
            agg.spent,
            agg.replayed_cost
        )?;
    } else {
        writeln!(out, "{}{}", label("cost"), agg.cost)?;
    }
    if agg.sessions.is_empty() {
        writeln!(out, "\nno sessions: the log holds no records")?;
        return Ok(());
    }
    // The columns of counts: errors always, the other statuses and
    // replayed calls when the log has any.
    let shown = Shown {
        panicked: panicked > 0,
        cancelled: cancelled > 0,
        replayed: replayed > 0,
    };

    writeln!(out)?;
    let mut cols = vec![
        Col::left("session").keep(),
        Col::flex("name"),
        Col::right("pid"),
        Col::left("started (UTC)").keep(),
        Col::right("duration"),
        Col::right("calls"),
    ];
    cols.extend(shown.columns());
    cols.extend([Col::decimal("cost"), Col::left("end").keep()]);
    let mut t = Table::new(cols);
    for s in &agg.sessions {
        let start = s.started.or(s.first);
        let stop = s.end.as_ref().map(SessionEnd::ended_at).or(s.last);
        let took = match (start, stop) {
            (Some(a), Some(b)) => out::duration(b.duration_since(a).unwrap_or_default()),
            _ => "-".to_string(),
        };
        let end = match &s.end {
            Some(_) => Cell::new("ended"),
            None => Cell::painted("no end line", Paint::Yellow),
        };
        let mut row: Vec<Cell> = vec![
            s.id.clone().into(),
            s.name.clone().unwrap_or_else(|| "-".to_string()).into(),
            s.pid
                .map_or_else(|| "-".to_string(), |p| p.to_string())
                .into(),
            start
                .map_or_else(|| "-".to_string(), |t| out::datetime(t)[..19].to_string())
                .into(),
            took.into(),
            s.counts.calls.to_string().into(),
        ];
        row.extend(shown.cells(&s.counts));
        row.extend([s.cost.to_string().into(), end]);
        t.row(row);
    }
    t.print(out, style, width)?;

    if agg.tools.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut tools: Vec<(&String, &mut ToolAgg)> = agg.tools.iter_mut().collect();
    tools.sort_by(|a, b| {
        (b.1.cost, b.1.counts.calls)
            .cmp(&(a.1.cost, a.1.counts.calls))
            .then_with(|| a.0.cmp(b.0))
    });
    let mut cols = vec![Col::left("tool"), Col::right("calls")];
    cols.extend(shown.columns());
    cols.extend([
        Col::decimal("cost"),
        Col::decimal("mean cost"),
        Col::right("p50"),
        Col::right("p95"),
        Col::right("max"),
    ]);
    let mut t = Table::new(cols);
    for (name, tool) in tools {
        tool.millis.sort_by(f32::total_cmp);
        let mut row: Vec<Cell> = vec![name.as_str().into(), tool.counts.calls.to_string().into()];
        row.extend(shown.cells(&tool.counts));
        row.extend([
            tool.cost.to_string().into(),
            mean(tool.cost, tool.counts.calls).to_string().into(),
            out::duration(percentile(&tool.millis, 50)).into(),
            out::duration(percentile(&tool.millis, 95)).into(),
            out::duration(tool.max).into(),
        ]);
        t.row(row);
    }
    t.print(out, style, width)?;
    Ok(())
}

/// Which columns of counts the tables show after `calls`: `errors` (status
/// `error` only, as the log's end line counts them) always; `panicked`,
/// `cancelled` and `replayed` when the log has such calls.
struct Shown {
    panicked: bool,
    cancelled: bool,
    replayed: bool,
}

impl Shown {
    fn columns(&self) -> Vec<Col> {
        let mut cols = vec![Col::right("errors")];
        if self.panicked {
            cols.push(Col::right("panicked"));
        }
        if self.cancelled {
            cols.push(Col::right("cancelled"));
        }
        if self.replayed {
            cols.push(Col::right("replayed"));
        }
        cols
    }

    fn cells(&self, c: &Counts) -> Vec<Cell> {
        let count = |n: u64, paint: Paint| {
            if n > 0 {
                Cell::painted(n.to_string(), paint)
            } else {
                Cell::new(n.to_string())
            }
        };
        let [_, error, panicked, cancelled] = c.by_status;
        let mut cells = vec![count(error, Paint::status(Status::Error))];
        if self.panicked {
            cells.push(count(panicked, Paint::status(Status::Panicked)));
        }
        if self.cancelled {
            cells.push(count(cancelled, Paint::status(Status::Cancelled)));
        }
        if self.replayed {
            cells.push(Cell::new(c.replayed.to_string()));
        }
        cells
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f32> = (1..=100u8).map(f32::from).collect();
        assert_eq!(percentile(&v, 50), Duration::from_millis(50));
        assert_eq!(percentile(&v, 95), Duration::from_millis(95));
        assert_eq!(percentile(&[7.0], 95), Duration::from_millis(7));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn mean_cost_rounds_to_the_picodollar() {
        assert_eq!(
            mean(Cost::from_picodollars(10), 3),
            Cost::from_picodollars(3)
        );
        assert_eq!(
            mean(Cost::from_picodollars(11), 3),
            Cost::from_picodollars(4)
        );
        assert_eq!(
            mean(Cost::from_picodollars(-11), 3),
            Cost::from_picodollars(-4)
        );
        assert_eq!(mean(Cost::from_usd(0.03), 3), Cost::from_usd(0.01));
    }
}
