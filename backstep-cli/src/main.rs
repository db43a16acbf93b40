//! `backstep`: read, filter, cost, diff, follow and chart backstep session logs.
//!
//! Every subcommand reads JSON Lines session logs (format v1) written by
//! `#[tool]`; `-` reads standard input. Errors are one line on stderr and exit
//! code 2; `diff` exits with 1 when the runs diverge.

mod calls;
mod cost;
mod input;
mod out;
mod report;
mod summary;
mod tail;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// What went wrong: one line, printed as `backstep: error: …`, exit code 2.
#[derive(Debug)]
pub struct Failure(pub String);

impl Failure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl From<backstep_core::LogError> for Failure {
    fn from(e: backstep_core::LogError) -> Failure {
        Failure(e.to_string())
    }
}

/// Writing to standard output failed. A closed pipe (`backstep calls … | head`)
/// is not an error: it ends the command quietly (an empty message).
impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure(String::new())
        } else {
            Failure(format!("cannot write the output: {e}"))
        }
    }
}

/// What a subcommand returns: the exit code, or a failure (exit code 2).
pub type Outcome = Result<ExitCode, Failure>;

const AFTER_HELP: &str = "\
FILE is a JSON Lines session log written by backstep (BACKSTEP_LOG=run.jsonl, or
backstep::init().log_file(..)); `-` reads standard input. A file may hold several
sessions (runs); a last line cut off by a crash is skipped with a note.

Exit codes: 0 success, 1 `diff` found a divergence, 2 error (unreadable file,
corrupt line, bad arguments).

Examples:
  backstep summary run.jsonl
  backstep calls run.jsonl --status error
  backstep show run.jsonl 17
  backstep cost run.jsonl --by parent
  backstep diff yesterday.jsonl today.jsonl
  backstep tail run.jsonl
  backstep report run.jsonl -o run.html";

/// Read, filter, cost, diff and chart backstep session logs.
#[derive(Parser, Debug)]
#[command(name = "backstep", version, after_help = AFTER_HELP, arg_required_else_help = true)]
struct Cli {
    /// When to colour the output: auto means only on a terminal, and never
    /// when NO_COLOR is set
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true, value_name = "WHEN")]
    color: ColorWhen,

    #[command(subcommand)]
    command: Command,
}

/// When to use colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set or TERM is dumb
    Auto,
    /// Always (for `less -R`)
    Always,
    /// Never
    Never,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sessions, time span, calls by status and total cost; then per tool:
    /// calls, errors, total and mean cost, p50/p95/max duration, most
    /// expensive first
    #[command(after_help = "\
Reads the log as a stream: memory stays bounded by the number of tools and
sessions, plus 4 bytes per call for the duration percentiles (about 14 MB for
a 1 GB log). `errors` counts the calls with status error, as the log's end
line does; `panicked` and `cancelled` columns appear when the log has such
calls. p50/p95 are nearest-rank percentiles. A session with no end line
crashed, was killed, or is still running.

Calls marked replayed were answered from a recording (BACKSTEP_REPLAY): they
did not run, and their cost and duration are the recorded ones. The summary
counts them (a `replayed` column), and splits the cost into what was spent
and what was replayed (not spent); the span is the replay's own time.")]
    Summary(Files),

    /// One line per call in start order: seq, parent, tool, status, duration,
    /// cost, inputs and error, shortened to fit the terminal
    #[command(after_help = "\
Filters combine (a call must pass all of them); --tool and --status may be
repeated to accept any of several values. Calls answered from a recording (a
replay) are marked in a `replayed` column: their cost and duration are the
recorded ones, and the last line says how much of the cost was not spent.

Examples:
  backstep calls run.jsonl --status error --status panicked
  backstep calls run.jsonl --tool search --slower-than 250
  backstep calls run.jsonl --min-cost 0.01 --json | jq .inputs")]
    Calls(CallsArgs),

    /// One call in full: pretty inputs and output, error, timing, its parent
    /// chain and its children
    #[command(after_help = "\
SEQ is the call's `seq` (as printed by `backstep calls`). seq restarts in every
session: in a file holding several, choose one with --session (an id prefix is
enough).")]
    Show(ShowArgs),

    /// Cost breakdown with exact sums, by tool, session, status or parent call
    #[command(after_help = "\
--by parent groups each call under the call it was made from (`#seq tool`), or
`(top level)`: what each step spent on the calls it made. In the log of a
replay, a `replayed` column gives the part of each cost recorded on calls
answered from the recording: part of the cost, but not spent.")]
    Cost(CostArgs),

    /// Compare two runs call by call: the first divergence with the JSON paths
    /// that differ, then counts and cost deltas. Exit code 1 when they diverge
    #[command(after_help = "\
Calls are paired by seq (`call #38` is the call with seq 38, as `backstep
calls` prints it), in start order: tool, inputs, output, status and error text
must be equal (object key order does not matter). A call one run lacks is
where they diverge: a run cut off early has no line for the calls still
running then, though their nested calls may be there. Timing, thread and cost
are not compared; cost deltas are reported. Exit code: 0 the runs match, 1
they diverge, 2 error. A file holding several sessions is compared as a whole
(session by session, in file order) unless --session-a / --session-b pick one.")]
    Diff(DiffArgs),

    /// Follow a log as an agent writes it, printing each call as it lands (like
    /// tail -f)
    #[command(after_help = "\
Prints the last N lines already in the file (-n), then each new line as it is
written: calls, session starts and ends. The file is polled (--interval); when
it is truncated or replaced (a new run that empties it), tail starts over from
its beginning. Stops on Ctrl-C, or with --until-end / --max-calls. Lines are
written when calls finish, so a child call appears before its parent.

Standard input (`-`) is read until it closes, and then its last N lines are
printed, as `tail -n N` does on a pipe; with `-n all`, each line is printed
as it arrives (`my-agent | backstep tail - -n all`).")]
    Tail(TailArgs),

    /// Write a self-contained HTML timeline of the calls (no network needed):
    /// a waterfall by start time and duration, nested by parent, coloured by
    /// status, with cost per call and cumulative; click a call for its inputs,
    /// output and error
    #[command(after_help = "\
Open the file in any browser; it loads nothing from the network. Append
#select=SEQ to its URL to open with that call selected (and &session=ID in a
file holding several sessions). Large logs (thousands of calls) stay smooth:
only the visible rows are drawn.

The header counts calls as `summary` does: errors (status error), and panicked
and cancelled calls when there are any. Calls answered from a recording (a
replay) are tagged replayed, with their bars striped: their cost and duration
are the recorded ones, and the header splits the cost into what was spent and
what was replayed (not spent).")]
    Report(ReportArgs),
}

/// One or more log files.
#[derive(Args, Debug)]
struct Files {
    /// Session log files (JSON Lines), or - for standard input
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CallsArgs {
    /// Session log files (JSON Lines), or - for standard input
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Only calls of this tool (repeat for several)
    #[arg(long, value_name = "NAME")]
    pub tool: Vec<String>,
    /// Only calls that ended so: ok, error, panicked or cancelled (repeat for several)
    #[arg(long, value_name = "STATUS", value_parser = parse_status)]
    pub status: Vec<backstep_core::Status>,
    /// Only calls of this session (an id prefix is enough)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only calls that cost at least this many US dollars (0.01 or $0.01; a
    /// negative amount, for refunds, is fine: --min-cost -1)
    #[arg(long, value_name = "USD", value_parser = parse_cost, allow_hyphen_values = true)]
    pub min_cost: Option<backstep_core::Cost>,
    /// Only calls that took longer than this: milliseconds, or with a unit (250, 1.5s, 800us)
    #[arg(long, value_name = "MS", value_parser = parse_duration)]
    pub slower_than: Option<std::time::Duration>,
    /// Print the matching calls as JSON Lines (format v1 call records), for jq or another tool
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Session log file (JSON Lines), or - for standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The call's sequence number (`seq`)
    #[arg(value_name = "SEQ")]
    pub seq: u64,
    /// The session the call belongs to, in a file holding several (an id prefix is enough)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

/// How `cost` groups calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CostBy {
    /// Per tool name
    Tool,
    /// Per session (run)
    Session,
    /// Per status (ok, error, panicked, cancelled)
    Status,
    /// Per parent call: what each call spent on the calls it made
    Parent,
}

#[derive(Args, Debug)]
pub struct CostArgs {
    /// Session log files (JSON Lines), or - for standard input
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Group by
    #[arg(long, value_enum, default_value_t = CostBy::Tool)]
    pub by: CostBy,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The first run's log (the reference)
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The second run's log
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// Compare only this session of A (an id prefix is enough)
    #[arg(long, value_name = "ID")]
    pub session_a: Option<String>,
    /// Compare only this session of B (an id prefix is enough)
    #[arg(long, value_name = "ID")]
    pub session_b: Option<String>,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    /// Session log file to follow, or - for standard input
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Lines already in the file to print first: a number, or `all` (on
    /// standard input: the last N lines once it closes, or `all` as they come)
    #[arg(short = 'n', long = "lines", value_name = "N", default_value = "10", value_parser = parse_lines)]
    pub lines: Backlog,
    /// Exit once a session's end line arrives (the agent finished)
    #[arg(long)]
    pub until_end: bool,
    /// Exit after printing this many calls
    #[arg(long, value_name = "N")]
    pub max_calls: Option<u64>,
    /// How often to look for new lines, in milliseconds
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub interval: u64,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Session log files (JSON Lines), or - for standard input
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the HTML file (- for standard output)
    #[arg(short, long, value_name = "HTML")]
    pub output: PathBuf,
    /// The page's title (default: the file names)
    #[arg(long)]
    pub title: Option<String>,
}

fn parse_status(s: &str) -> Result<backstep_core::Status, String> {
    s.parse()
}

/// `0.01`, `$0.01`, `1e-3`, `-1`, `-$0.5`: US dollars, exact to the picodollar.
fn parse_cost(s: &str) -> Result<backstep_core::Cost, String> {
    let t = s.trim();
    let (sign, t) = match t.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, t),
    };
    let t = t.strip_prefix('$').unwrap_or(t);
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && !t.starts_with(['-', '+']) => {
            Ok(backstep_core::Cost::from_usd(sign * v))
        }
        _ => Err(format!("`{s}` is not an amount of dollars (like 0.01)")),
    }
}

/// `250` (milliseconds), `250ms`, `1.5s`, `800us`, `800µs`, `3m`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "ms" => 1e-3,
        "s" => 1.0,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        _ => return Err(format!("`{s}`: unknown unit (use ms, s, us, ns or m)")),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(std::time::Duration::from_secs_f64(v * scale)),
        _ => Err(format!("`{s}` is not a duration (like 250 or 1.5s)")),
    }
}

/// How much of what is already in the file `tail` prints first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backlog {
    /// The last N lines.
    Last(usize),
    /// Everything.
    All,
}

fn parse_lines(s: &str) -> Result<Backlog, String> {
    if s == "all" {
        return Ok(Backlog::All);
    }
    s.parse()
        .map(Backlog::Last)
        .map_err(|_| format!("`{s}` is not a number of lines (or `all`)"))
}

fn main() -> ExitCode {
    // A bug must still be one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("backstep: internal error (a bug, please report it): {msg}{place}");
    }));
    let cli = Cli::parse();
    let style = out::Style::new(cli.color);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match cli.command {
        Command::Summary(f) => summary::run(&f.files, style),
        Command::Calls(a) => calls::list(&a, style),
        Command::Show(a) => calls::show(&a, style),
        Command::Cost(a) => cost::run(&a, style),
        Command::Diff(a) => calls::diff(&a),
        Command::Tail(a) => tail::run(&a, style),
        Command::Report(a) => report::run(&a),
    }));
    match result {
        Ok(Ok(code)) => code,
        Ok(Err(Failure(message))) => {
            if message.is_empty() {
                // Standard output was closed (`| head`): not an error.
                return ExitCode::SUCCESS;
            }
            eprintln!("backstep: error: {message}");
            ExitCode::from(2)
        }
        Err(_) => ExitCode::from(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_costs_parse() {
        use std::time::Duration;
        assert_eq!(parse_duration("250"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("800us"), Ok(Duration::from_micros(800)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert_eq!(parse_cost("$0.01"), Ok(backstep_core::Cost::from_usd(0.01)));
        assert!(parse_cost("cheap").is_err());
        assert_eq!(parse_cost("-1"), Ok(backstep_core::Cost::from_usd(-1.0)));
        assert_eq!(parse_cost("-$0.5"), Ok(backstep_core::Cost::from_usd(-0.5)));
        assert!(parse_cost("--1").is_err());
        assert!(parse_cost("--json").is_err());
        assert_eq!(parse_lines("all"), Ok(Backlog::All));
        assert_eq!(parse_lines("3"), Ok(Backlog::Last(3)));
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
