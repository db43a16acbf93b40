//! `backstep tail`: follow a log as it is written, by polling the file.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use backstep_core::{Call, Cost, Record};

use crate::input::{first_line_text, not_a_log, not_a_record, Input, BINARY};
use crate::out::{self, Paint, Style};
use crate::{Backlog, Failure, Outcome, TailArgs};

/// `19:32:30.087`: the time of day (UTC) to the millisecond.
fn clock_ms(t: std::time::SystemTime) -> String {
    let mut c = out::clock(t);
    c.truncate(12);
    c
}

/// Columns of a cost before its decimal point (`$12`, `-$0`), and from it on
/// (`.0065318`): `tail` prints a line at a time, so the point is put in a
/// fixed column, as the tables line it up. Longer costs push the line on,
/// or, where the line would not fit the terminal, take room from the tool
/// name (see [`Follower::tool_column`]).
const COST_WHOLE: usize = 3;
const COST_FRACTION: usize = 9;

/// The mark of a call answered from a recording, and its gap.
const MARK: &str = "replayed  ";

/// The narrowest the tool column is while the terminal has room: the width
/// it had before it followed the names. Short names then leave room for a
/// longer one arriving later (an agent calls its tools in turn), so that the
/// columns after it seldom move.
const TOOL_COLUMNS: usize = 14;

/// Columns of a line's time and its gap (`19:32:30.087  `).
const CLOCK_COLUMNS: usize = 14;

/// Where a session line's continuation lines start: under `session`, past
/// the time and the `── ` that mark a session's lines.
const CONTINUED: usize = CLOCK_COLUMNS + 3;

/// `$0.0004` as `  $0.0004    `: lined up on the decimal point.
fn decimal_cost(cost: &str) -> String {
    let point = cost.find('.').unwrap_or(cost.len());
    let (whole, fraction) = cost.split_at(point);
    format!("{whole:>COST_WHOLE$}{fraction:<COST_FRACTION$}")
}

/// Prints records as they come and knows when to stop.
struct Follower<'a> {
    args: &'a TailArgs,
    style: Style,
    width: usize,
    name: String,
    /// Complete lines seen (for error messages).
    line: usize,
    /// Bytes of a line still being written.
    partial: Vec<u8>,
    calls_printed: u64,
    /// Whether a line was a record yet (else the file may not be a log).
    seen_record: bool,
    /// The session that started last, and whether its end line has come.
    last_session: Option<(String, bool)>,
    /// Per session, the calls answered from a recording and their recorded
    /// cost (not spent), for its end line.
    replayed: HashMap<String, Replayed>,
    /// Columns of the longest tool name read so far (printed or not).
    longest_tool: usize,
    /// Whether a replayed call was read (printed or not): every line then
    /// keeps room for the `replayed` mark.
    mark_room: bool,
}

/// Calls answered from a recording, and their recorded cost (not spent).
type Replayed = (u64, Cost);

/// A record, with (for an end line) its session's replayed calls as they
/// stood when the line was read: what a backlog holds.
type Tracked = (Record, Replayed);

enum Next {
    Go,
    Stop,
}

impl Follower<'_> {
    /// The width of the tool column on a line whose other fields (time,
    /// seq, parent, status, duration, cost, their gaps, and the room kept
    /// for the `replayed` mark) take `others` columns.
    ///
    /// Someone watching an agent wants columns that stay put, and names
    /// whole when the terminal has room. So the column is as wide as the
    /// longest name read so far — in the whole file when tail starts, not
    /// only in the last lines it prints, so that the names of the calls to
    /// come are mostly known — and at least [`TOOL_COLUMNS`]. It widens as
    /// longer names arrive (lines already printed cannot change); shorter
    /// names do not narrow it.
    ///
    /// It narrows only where a line would otherwise not fit the terminal,
    /// leaving its inputs [`out::MIN_TEXT`] columns as the tables do: on a
    /// line whose numbers outgrow their usual widths (a seq or parent past
    /// 99999, a cost of $1000 or more or of more than 8 decimals: numbers
    /// are never cut), and, once the log has a replayed call, on every line by
    /// the room the `replayed` mark takes, so that replayed and live calls
    /// line up. Such a line takes the columns it needs from the name: a wider
    /// seq or parent leaves the status and what follows it in place, a wider
    /// cost its decimal point. The next line with the usual widths has the
    /// whole column again. A name keeps [`out::MIN_NAME`] columns even so: on
    /// a terminal too narrow for that, the line is wider.
    fn tool_column(&self, others: usize) -> usize {
        let room = self
            .width
            .saturating_sub(others + out::MIN_TEXT)
            .max(out::MIN_NAME);
        self.longest_tool.max(TOOL_COLUMNS).min(room)
    }

    fn format_call(&self, c: &Call) -> String {
        let parent = c
            .parent()
            .map_or_else(|| "-".to_string(), |p| p.to_string());
        let numbers = format!(
            "{}  {:>5} {:>5}  ",
            clock_ms(c.started_at()),
            c.seq(),
            parent
        );
        let status = format!("{:<10}", c.status().as_str());
        let figures = format!(
            "{:>9}  {}  ",
            out::duration(c.duration()),
            decimal_cost(&c.cost().to_string())
        );
        // A call answered from a recording: it did not run, and its cost
        // and duration are the recorded ones. Once the log has one, every
        // line keeps room for the mark, so that the columns line up.
        let mark = if c.replayed() { MARK } else { "" };
        let reserved = if c.replayed() || self.mark_room {
            MARK.len()
        } else {
            0
        };
        let others =
            out::text_width(&numbers) + 2 + status.len() + out::text_width(&figures) + reserved;
        let tool = self.tool_column(others);
        let head = format!(
            "{numbers}{}  ",
            out::pad_right(&out::shorten(&out::one_line(c.tool()), tool), tool),
        );
        let mut rest = out::one_line(c.inputs_json());
        if let Some(e) = c.error() {
            rest = format!("{rest}  {}", out::one_line(e));
        }
        let used = out::text_width(&head) + status.len() + out::text_width(&figures) + mark.len();
        let rest = out::shorten(&rest, self.width.saturating_sub(used).max(out::MIN_TEXT));
        format!(
            "{head}{}{figures}{}{}{rest}",
            self.style.paint(Paint::status(c.status()), &status),
            self.style.paint(Paint::Cyan, mark.trim_end()),
            &mark[mark.trim_end().len()..],
        )
    }

    /// One line for a record (a session's start or end may take more, see
    /// [`Follower::session_lines`]); `replayed` is what an end line's
    /// session replayed.
    fn format(&self, r: &Record, replayed: Replayed) -> String {
        match r {
            Record::Call(c) => self.format_call(c),
            Record::Session(s) => {
                let when = s.started_at().map_or_else(|| "-".repeat(12), clock_ms);
                let pid = s.pid().map(|p| vec![format!("pid {p}")]);
                let started = if pid.is_some() { "started," } else { "started" };
                // A name is text: it is shortened to what a line leaves.
                let name = s.name().map(|n| {
                    let room = self.width.saturating_sub(CONTINUED + 3 + started.len());
                    format!(
                        "({})",
                        out::shorten(&out::one_line(n), room.max(out::MIN_NAME))
                    )
                });
                let said = name.into_iter().chain([started.to_string()]).collect();
                let body: Vec<_> = [said].into_iter().chain(pid).collect();
                self.session_lines(&when, &format!("── session {}", s.id()), &body)
            }
            Record::End { session, end } => {
                let ok = end
                    .calls()
                    .saturating_sub(end.errors() + end.panicked() + end.cancelled());
                // Errors always, as the end line counts them; panicked and
                // cancelled calls when there are any, as `summary`'s tables
                // and the report show them.
                let mut counts = vec![format!("{ok} ok"), format!("{} error", end.errors())];
                for (n, what) in [(end.panicked(), "panicked"), (end.cancelled(), "cancelled")] {
                    if n > 0 {
                        counts.push(format!("{n} {what}"));
                    }
                }
                let (replayed, not_spent) = replayed;
                let listed = counts.len();
                if replayed > 0 {
                    counts.push(format!("{replayed} replayed"));
                }
                let last = counts.len() - 1;
                let mut tally = vec![format!("{} calls", end.calls())];
                tally.extend(counts.into_iter().enumerate().map(|(i, count)| {
                    let open = if i == 0 { "(" } else { "" };
                    let close = match i {
                        _ if i == last => "),",
                        _ if i + 1 == listed => ";",
                        _ => ",",
                    };
                    format!("{open}{count}{close}")
                }));
                let mut cost = vec![end.cost().to_string()];
                if !not_spent.is_zero() {
                    cost.extend([format!("({not_spent} replayed,"), "not spent)".to_string()]);
                }
                self.session_lines(
                    &clock_ms(end.ended_at()),
                    &format!("── session {session} ended:"),
                    &[tally, cost],
                )
            }
        }
    }

    /// A session's start or end: the time, then `head` and `body` on one
    /// line when they fit the terminal. Else `head` stands alone and `body`
    /// follows on lines indented under `session` (a heading, then what it
    /// says), wrapped between its clauses, and where a clause alone is wider
    /// than such a line, between the pieces it is made of (`57 ok,`). Nothing
    /// is cut: a piece wider than a whole line is printed whole, and its
    /// line is wider than the terminal.
    fn session_lines(&self, when: &str, head: &str, body: &[Vec<String>]) -> String {
        let clauses: Vec<String> = body.iter().map(|c| c.join(" ")).collect();
        let whole = format!("{head} {}", clauses.join(" "));
        let mut lines = Vec::new();
        if CLOCK_COLUMNS + out::text_width(&whole) <= self.width {
            lines.push(whole);
        } else {
            lines.push(head.to_string());
            let room = self.width.saturating_sub(CONTINUED);
            let mut line = String::new();
            // Adds `text` to the line, or starts the next with it when the
            // line has no room left.
            let put = |lines: &mut Vec<String>, line: &mut String, text: &str| {
                if line.is_empty() {
                    *line = text.to_string();
                } else if out::text_width(line) + 1 + out::text_width(text) <= room {
                    line.push(' ');
                    line.push_str(text);
                } else {
                    lines.push(std::mem::replace(line, text.to_string()));
                }
            };
            for (clause, pieces) in clauses.iter().zip(body) {
                if out::text_width(clause) <= room {
                    put(&mut lines, &mut line, clause);
                } else {
                    for piece in pieces {
                        put(&mut lines, &mut line, piece);
                    }
                }
            }
            lines.push(line);
        }
        let mut text = format!("{when}  ");
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                text.push('\n');
                text.push_str(&" ".repeat(CONTINUED));
            }
            text.push_str(&self.style.paint(Paint::Cyan, line));
        }
        text
    }

    /// Measures what sets the columns of the lines to come: the tool's
    /// name, and whether the call was replayed.
    fn measure(&mut self, c: &Call) {
        let name = out::text_width(&out::one_line(c.tool()));
        self.longest_tool = self.longest_tool.max(name);
        self.mark_room |= c.replayed();
    }

    /// Notes which session is the latest and whether it ended, counts
    /// replayed calls and measures tool names. Gives, for an end line, what
    /// its session replayed.
    fn track(&mut self, r: Record) -> Tracked {
        let mut replayed = (0, Cost::ZERO);
        match &r {
            Record::Session(s) => self.last_session = Some((s.id().to_string(), false)),
            Record::Call(c) => {
                self.measure(c);
                if self.last_session.is_none() {
                    self.last_session = Some((c.session().to_string(), false));
                }
                if c.replayed() {
                    let tally = match self.replayed.get_mut(c.session()) {
                        Some(t) => t,
                        None => self
                            .replayed
                            .entry(c.session().to_string())
                            .or_insert((0, Cost::ZERO)),
                    };
                    tally.0 += 1;
                    tally.1 += c.cost();
                }
            }
            Record::End { session, .. } => {
                if let Some((id, ended)) = &mut self.last_session {
                    if id == session {
                        *ended = true;
                    }
                }
                if let Some(&tally) = self.replayed.get(session) {
                    replayed = tally;
                }
            }
        }
        (r, replayed)
    }

    /// Whether the latest session has ended, when that is where to stop.
    fn ended(&self) -> bool {
        self.args.until_end && matches!(self.last_session, Some((_, true)))
    }

    fn enough(&self) -> bool {
        self.args.max_calls.is_some_and(|m| self.calls_printed >= m)
    }

    /// Prints one record; `Stop` once `--max-calls` calls are printed.
    fn print(&mut self, out: &mut impl Write, (r, replayed): &Tracked) -> io::Result<Next> {
        if self.enough() {
            return Ok(Next::Stop);
        }
        writeln!(out, "{}", self.format(r, *replayed))?;
        out.flush()?;
        if matches!(r, Record::Call(_)) {
            self.calls_printed += 1;
        }
        Ok(if self.enough() { Next::Stop } else { Next::Go })
    }

    /// Parses one complete line. A first line that is no record means the
    /// file is not a log at all, and says so.
    fn parse(&mut self, bytes: &[u8]) -> Result<Option<Record>, Failure> {
        self.line += 1;
        let first = !self.seen_record;
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(if first {
                not_a_log(&self.name, self.line, BINARY)
            } else {
                Failure(format!("{}:{}: not UTF-8 text", self.name, self.line))
            });
        };
        let text = first_line_text(text, self.line);
        if text.trim().is_empty() {
            return Ok(None);
        }
        match Record::parse(text) {
            Ok(r) => {
                self.seen_record = true;
                Ok(Some(r))
            }
            Err(e) if first => {
                let why = match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(v) => not_a_record(&v, &e),
                    Err(_) => e,
                };
                Err(not_a_log(&self.name, self.line, &why))
            }
            Err(e) => Err(Failure(format!("{}:{}: {e}", self.name, self.line))),
        }
    }

    /// Takes newly read bytes; prints each complete line. `backlog` keeps the
    /// last lines instead of printing them (the first read of the file).
    fn feed(
        &mut self,
        out: &mut impl Write,
        bytes: &[u8],
        mut backlog: Option<&mut VecDeque<Tracked>>,
    ) -> Result<Next, Failure> {
        self.partial.extend_from_slice(bytes);
        let mut start = 0;
        let mut next = Next::Go;
        while let Some(nl) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let end = start + nl + 1;
            let line = self.partial[start..end].to_vec();
            start = end;
            let Some(record) = self.parse(&line)? else {
                continue;
            };
            let record = self.track(record);
            match (&mut backlog, self.args.lines) {
                (Some(keep), Backlog::Last(n)) => {
                    keep.push_back(record);
                    if keep.len() > n {
                        keep.pop_front();
                    }
                }
                _ => {
                    let printed = self.print(out, &record)?;
                    if matches!(printed, Next::Stop) || (backlog.is_none() && self.ended()) {
                        next = Next::Stop;
                        break;
                    }
                }
            }
        }
        self.partial.drain(..start);
        Ok(next)
    }

    /// A first line without its newline. The recorder writes each line and
    /// its newline in one `write`, so a line that is complete JSON is whole,
    /// and one that can never become JSON means the file is no log: both are
    /// judged now rather than waited on forever. A prefix of JSON waits.
    fn settle_first_line(
        &mut self,
        out: &mut impl Write,
        backlog: Option<&mut VecDeque<Tracked>>,
    ) -> Result<Next, Failure> {
        if self.seen_record || self.partial.is_empty() {
            return Ok(Next::Go);
        }
        match serde_json::from_slice::<serde_json::Value>(&self.partial) {
            Err(e) if e.classify() == serde_json::error::Category::Eof => Ok(Next::Go),
            _ => self.feed(out, b"\n", backlog),
        }
    }
}

/// The identity of a file, to notice it was replaced (removed and created
/// again, as a new run does).
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

pub fn run(a: &TailArgs, style: Style) -> Outcome {
    let input = Input::open(&a.file)?;
    let mut f = Follower {
        args: a,
        style,
        width: out::width(),
        name: input.name.display().to_string(),
        line: 0,
        partial: Vec::new(),
        calls_printed: 0,
        seen_record: false,
        last_session: None,
        replayed: HashMap::new(),
        longest_tool: 0,
        mark_room: false,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    // What is not a log at all (a JSON file, text) is told apart as the
    // other commands do, before following.
    let (_, reader) = input.sniffed()?;
    if a.file == Path::new("-") {
        return follow_stdin(&mut f, &mut out, io::BufReader::new(reader));
    }
    drop(reader);
    follow_file(&mut f, &mut out, &a.file)
}

/// Standard input: with `-n all`, print lines as they arrive until it
/// closes; with `-n N`, as `tail -n` on a pipe, keep the last N and print
/// them once it closes.
fn follow_stdin(f: &mut Follower<'_>, out: &mut impl Write, mut input: impl BufRead) -> Outcome {
    let mut backlog = match f.args.lines {
        Backlog::All => None,
        Backlog::Last(_) => Some(VecDeque::new()),
    };
    let mut buf = Vec::new();
    let mut stopped = false;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        if !buf.ends_with(b"\n") {
            f.partial = buf.clone();
            if let Next::Stop = f.settle_first_line(out, backlog.as_mut())? {
                stopped = true;
            }
            break;
        }
        if let Next::Stop = f.feed(out, &buf, backlog.as_mut())? {
            stopped = true;
            break;
        }
    }
    if !stopped {
        for record in backlog.iter().flatten() {
            if let Next::Stop = f.print(out, record)? {
                break;
            }
        }
    }
    if !f.partial.is_empty() {
        eprintln!(
            "backstep: note: {}:{}: last line is cut off; ignored it",
            f.name,
            f.line + 1
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn open(path: &Path) -> io::Result<(File, (u64, u64))> {
    let file = File::open(path)?;
    let id = identity(&file.metadata()?);
    Ok((file, id))
}

/// `-n all` on a file: reads what is already in it once, a line at a time
/// and keeping none, to measure its calls (the longest tool name, whether one
/// was replayed), then goes back to its start. Its lines are then printed
/// with the columns the whole file needs, as `-n N` prints its last lines,
/// instead of widening on the way. What is not a record is skipped here, and
/// judged when its line is printed.
fn measure(f: &mut Follower<'_>, file: &mut File) -> io::Result<()> {
    let mut reader = io::BufReader::with_capacity(1 << 16, &mut *file);
    let mut line = Vec::new();
    let mut lineno = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lineno += 1;
        let Ok(text) = std::str::from_utf8(&line) else {
            continue;
        };
        if let Ok(Record::Call(c)) = Record::parse(first_line_text(text, lineno)) {
            f.measure(&c);
        }
    }
    drop(reader);
    file.seek(SeekFrom::Start(0)).map(drop)
}

fn follow_file(f: &mut Follower<'_>, out: &mut impl Write, path: &Path) -> Outcome {
    let cannot = |e: io::Error| Failure(format!("{}: cannot read: {e}", path.display()));
    let (mut file, mut id) = open(path).map_err(cannot)?;
    let mut pos: u64 = 0;
    let mut chunk = vec![0u8; 1 << 16];

    // With `-n all`, what is already there is measured first, so that its
    // first lines are printed with the columns its last ones need.
    if let Backlog::All = f.args.lines {
        measure(f, &mut file).map_err(cannot)?;
    }

    // What is already there: keep the last lines (print them all with
    // `-n all`), then print them.
    let mut backlog = VecDeque::new();
    loop {
        let n = file.read(&mut chunk).map_err(cannot)?;
        if n == 0 {
            break;
        }
        pos += n as u64;
        if let Next::Stop = f.feed(out, &chunk[..n], Some(&mut backlog))? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    if let Next::Stop = f.settle_first_line(out, Some(&mut backlog))? {
        return Ok(ExitCode::SUCCESS);
    }
    for record in &backlog {
        if let Next::Stop = f.print(out, record)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    drop(backlog);
    if f.ended() || f.enough() {
        return Ok(ExitCode::SUCCESS);
    }

    let interval = Duration::from_millis(f.args.interval.max(10));
    loop {
        std::thread::sleep(interval);
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // removed: a new run is about to create it again
        };
        let replaced = identity(&meta) != id;
        if replaced || meta.len() < pos {
            let what = if replaced { "replaced" } else { "truncated" };
            match open(path) {
                Ok((new, new_id)) => {
                    (file, id) = (new, new_id);
                }
                Err(_) => continue,
            }
            pos = 0;
            f.partial.clear();
            f.line = 0;
            f.last_session = None;
            f.replayed.clear();
            f.mark_room = false;
            // The tool column keeps its width: a new run calls the same
            // tools, mostly, and the columns then stay where they were.
            let note = format!("── {} was {what}: reading it from the start", f.name);
            writeln!(out, "{}", f.style.paint(Paint::Dim, &note))?;
        }
        loop {
            let n = file.read(&mut chunk).map_err(cannot)?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            if let Next::Stop = f.feed(out, &chunk[..n], None)? {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}
