//! `backstep summary`: one pass over the log, in bounded memory.
//!
//! Memory: one line at a time, plus per tool and per session a few counters,
//! plus 4 bytes (an `f32` of milliseconds) per call for the p50/p95 durations:
//! about 14 MB for a 1 GB log of 300-byte lines.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use backstep_core::{Call, Cost, Record, SessionEnd};

use crate::input::{check_stdin_once, one_line_error, Input};
use crate::out::{self, Cell, Col, Paint, Style, Table};
use crate::{Failure, Outcome};

#[derive(Default)]
struct ToolAgg {
    calls: u64,
    failed: u64,
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
    calls: u64,
    failed: u64,
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
    by_status: [u64; 4],
    cost: Cost,
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
                    calls: 0,
                    failed: 0,
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
        let failed = u64::from(!c.is_ok());
        let finished = c.started_at() + c.duration();
        self.by_status[c.status().index()] += 1;
        self.cost += c.cost();
        self.first = earliest(self.first, c.started_at());
        self.last = latest(self.last, finished);
        let s = self.session(c.session());
        s.calls += 1;
        s.failed += failed;
        s.cost += c.cost();
        s.first = earliest(s.first, c.started_at());
        s.last = latest(s.last, finished);
        let t = match self.tools.get_mut(c.tool()) {
            Some(t) => t,
            None => self.tools.entry(c.tool().to_string()).or_default(),
        };
        t.calls += 1;
        t.failed += failed;
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
    let files = out::shorten(&out::one_line(&names.join(", ")), width.saturating_sub(10));
    writeln!(
        out,
        "{}{files}",
        label(if names.len() > 1 { "files" } else { "file" })
    )?;
    if let (Some(first), Some(last)) = (agg.first, agg.last) {
        writeln!(out, "{}{}", label("span"), span_text(first, last))?;
    }
    let [ok, error, panicked, cancelled] = agg.by_status;
    let total = ok + error + panicked + cancelled;
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
    writeln!(out, "{}{}", label("cost"), agg.cost)?;
    if agg.sessions.is_empty() {
        writeln!(out, "\nno sessions: the log holds no records")?;
        return Ok(());
    }

    writeln!(out)?;
    let mut t = Table::new(vec![
        Col::left("session").keep(),
        Col::flex("name"),
        Col::right("pid"),
        Col::left("started (UTC)").keep(),
        Col::right("duration"),
        Col::right("calls"),
        Col::right("errors"),
        Col::decimal("cost"),
        Col::flex("end"),
    ]);
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
        t.row(vec![
            s.id.clone().into(),
            s.name.clone().unwrap_or_else(|| "-".to_string()).into(),
            s.pid
                .map_or_else(|| "-".to_string(), |p| p.to_string())
                .into(),
            start
                .map_or_else(|| "-".to_string(), |t| out::datetime(t)[..19].to_string())
                .into(),
            took.into(),
            s.calls.to_string().into(),
            errors_cell(s.failed),
            s.cost.to_string().into(),
            end,
        ]);
    }
    t.print(out, style, width)?;

    if agg.tools.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    let mut tools: Vec<(&String, &mut ToolAgg)> = agg.tools.iter_mut().collect();
    tools.sort_by(|a, b| {
        (b.1.cost, b.1.calls)
            .cmp(&(a.1.cost, a.1.calls))
            .then_with(|| a.0.cmp(b.0))
    });
    let mut t = Table::new(vec![
        Col::left("tool"),
        Col::right("calls"),
        Col::right("errors"),
        Col::decimal("cost"),
        Col::decimal("mean cost"),
        Col::right("p50"),
        Col::right("p95"),
        Col::right("max"),
    ]);
    for (name, tool) in tools {
        tool.millis.sort_by(f32::total_cmp);
        t.row(vec![
            name.as_str().into(),
            tool.calls.to_string().into(),
            errors_cell(tool.failed),
            tool.cost.to_string().into(),
            mean(tool.cost, tool.calls).to_string().into(),
            out::duration(percentile(&tool.millis, 50)).into(),
            out::duration(percentile(&tool.millis, 95)).into(),
            out::duration(tool.max).into(),
        ]);
    }
    t.print(out, style, width)?;
    Ok(())
}

fn errors_cell(n: u64) -> Cell {
    if n > 0 {
        Cell::painted(n.to_string(), Paint::Red)
    } else {
        Cell::new(n.to_string())
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
