//! Terminal output: colour, width, aligned tables, durations and times.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backstep_core::Status;

use crate::ColorWhen;

/// Whether to colour, decided once from `--color`, the terminal and `NO_COLOR`.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

/// A colour (or emphasis) for a piece of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paint {
    Plain,
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
    Magenta,
    Cyan,
}

impl Paint {
    fn code(self) -> &'static str {
        match self {
            Paint::Plain => "",
            Paint::Bold => "1",
            Paint::Dim => "2",
            Paint::Red => "31",
            Paint::Green => "32",
            Paint::Yellow => "33",
            Paint::Magenta => "35",
            Paint::Cyan => "36",
        }
    }

    /// The colour of a status.
    pub fn status(s: Status) -> Paint {
        match s {
            Status::Ok => Paint::Green,
            Status::Error => Paint::Red,
            Status::Panicked => Paint::Magenta,
            Status::Cancelled => Paint::Yellow,
        }
    }
}

impl Style {
    pub fn new(when: ColorWhen) -> Style {
        let color = match when {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => {
                io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
                    && std::env::var_os("TERM").map_or(true, |t| t != "dumb")
            }
        };
        Style { color }
    }

    /// `text` in `paint`, when colouring.
    pub fn paint(self, paint: Paint, text: &str) -> String {
        if self.color && paint != Paint::Plain && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", paint.code())
        } else {
            text.to_string()
        }
    }
}

/// Columns the output may use: `COLUMNS` when set, else the terminal's width,
/// else (output to a file or a pipe) 120.
pub fn width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return n.max(20);
    }
    if io::stdout().is_terminal() {
        if let Some(n) = terminal_columns() {
            return n.max(20);
        }
        return 80;
    }
    120
}

#[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
fn terminal_columns() -> Option<usize> {
    #[repr(C)]
    struct WinSize {
        rows: u16,
        cols: u16,
        xpixel: u16,
        ypixel: u16,
    }
    extern "C" {
        fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    #[cfg(target_os = "macos")]
    const TIOCGWINSZ: std::ffi::c_ulong = 0x4008_7468;
    let mut ws = WinSize {
        rows: 0,
        cols: 0,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` (four u16s, laid out as
    // `WinSize`) through the pointer, which is valid for that write; fd 1 is
    // standard output, and a failure returns -1 without writing.
    let r = unsafe { ioctl(1, TIOCGWINSZ, std::ptr::addr_of_mut!(ws)) };
    (r == 0 && ws.cols > 0).then_some(usize::from(ws.cols))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "macos")))]
fn terminal_columns() -> Option<usize> {
    None
}

/// Display width of `s` (one column per character; wide characters are rare in logs).
pub fn text_width(s: &str) -> usize {
    s.chars().count()
}

/// At most `max` characters, ending with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if text_width(s) <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Text for one table cell: newlines shown as `↵`, other control characters
/// (terminal escapes from a log) as `�`.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' => '↵',
            '\t' | '\r' => ' ',
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

/// Text printed as a block (an error message): control characters other than
/// newlines and tabs are shown as `�`, so a log cannot drive the terminal.
pub fn safe_block(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() => '�',
            c => c,
        })
        .collect()
}

/// A duration with a unit that keeps 3–4 significant digits: `850 ns`,
/// `6.54 µs`, `1.25 ms`, `2.31 s`, `1m 05s`, `2h 03m`.
pub fn duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let secs = d.as_secs_f64();
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.2} µs", secs * 1e6)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs < 60.0 {
        format!("{secs:.2} s")
    } else if secs < 3600.0 {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let s = d.as_secs();
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
#[allow(clippy::many_single_char_names)]
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (yoe + era * 400 + i64::from(m <= 2), m as u32, d as u32)
}

fn parts(t: SystemTime) -> (i64, u32, u32, i64, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    (y, m, d, secs.rem_euclid(86_400), since.subsec_micros())
}

/// `2026-12-03 19:32:30.084642` (UTC, microseconds).
pub fn datetime(t: SystemTime) -> String {
    let (y, m, d, rem, us) = parts(t);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{us:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `19:32:30.084642` (UTC, microseconds).
pub fn clock(t: SystemTime) -> String {
    let (_, _, _, rem, us) = parts(t);
    format!(
        "{:02}:{:02}:{:02}.{us:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How a column is aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
    /// Numbers lined up on their decimal point (costs: `$12.5` over `$0.003`).
    Decimal,
}

/// One column of a [`Table`].
#[derive(Clone, Debug)]
pub struct Col {
    title: String,
    align: Align,
    /// Shrinks first when the table is too wide (free text: inputs, errors).
    flex: bool,
    /// Never shrinks (ids, times).
    keep: bool,
}

impl Col {
    pub fn left(title: &str) -> Col {
        Col {
            title: title.to_string(),
            align: Align::Left,
            flex: false,
            keep: false,
        }
    }
    pub fn right(title: &str) -> Col {
        Col {
            title: title.to_string(),
            align: Align::Right,
            flex: false,
            keep: false,
        }
    }
    /// A column of amounts lined up on the decimal point.
    pub fn decimal(title: &str) -> Col {
        Col {
            title: title.to_string(),
            align: Align::Decimal,
            flex: false,
            keep: false,
        }
    }
    /// A left-aligned column of free text that gives up width first.
    pub fn flex(title: &str) -> Col {
        Col {
            title: title.to_string(),
            align: Align::Left,
            flex: true,
            keep: false,
        }
    }
    /// This column is never cut (ids, times): other text columns give way.
    pub fn keep(mut self) -> Col {
        self.keep = true;
        self
    }
}

/// One cell: its text (one line) and colour.
#[derive(Clone, Debug)]
pub struct Cell {
    text: String,
    paint: Paint,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Cell {
        Cell {
            text: one_line(&text.into()),
            paint: Paint::Plain,
        }
    }
    pub fn painted(text: impl Into<String>, paint: Paint) -> Cell {
        Cell {
            text: one_line(&text.into()),
            paint,
        }
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(t: T) -> Cell {
        Cell::new(t)
    }
}

/// Rows of cells under titled columns, printed aligned and cut to a width.
#[derive(Debug)]
pub struct Table {
    cols: Vec<Col>,
    rows: Vec<Option<Vec<Cell>>>,
    indent: usize,
}

/// Narrowest a shrinking text column gets.
const MIN_TEXT: usize = 8;

impl Table {
    pub fn new(cols: Vec<Col>) -> Table {
        Table {
            cols,
            rows: Vec::new(),
            indent: 0,
        }
    }

    /// Prints every line after `n` spaces.
    pub fn indent(mut self, n: usize) -> Table {
        self.indent = n;
        self
    }

    /// Decimal columns: each cell padded on the right so that the decimal
    /// points (or the ends of whole numbers) line up.
    fn aligned_cells(&self) -> Vec<Option<Vec<Cell>>> {
        let mut rows = self.rows.clone();
        for (i, col) in self.cols.iter().enumerate() {
            if col.align != Align::Decimal {
                continue;
            }
            let frac = |t: &str| t.find('.').map_or(0, |p| text_width(&t[p..]));
            let widest = rows
                .iter()
                .flatten()
                .map(|r| frac(&r[i].text))
                .max()
                .unwrap_or(0);
            for row in rows.iter_mut().flatten() {
                let pad = widest - frac(&row[i].text);
                row[i].text.extend(std::iter::repeat(' ').take(pad));
            }
        }
        rows
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), self.cols.len());
        self.rows.push(Some(cells));
    }

    /// An empty line between groups of rows.
    pub fn gap(&mut self) {
        self.rows.push(None);
    }

    /// Column widths that fit `width`: free-text columns shrink first (down to
    /// a few characters), then other left-aligned ones; numbers never do.
    fn widths(&self, rows: &[Option<Vec<Cell>>], width: usize) -> Vec<usize> {
        let mut w: Vec<usize> = self
            .cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                rows.iter()
                    .flatten()
                    .map(|r| text_width(&r[i].text))
                    .chain([text_width(&c.title)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let gaps = 2 * self.cols.len().saturating_sub(1) + self.indent;
        for pass in [true, false] {
            loop {
                let total: usize = w.iter().sum::<usize>() + gaps;
                if total <= width {
                    return w;
                }
                let widest = (0..w.len())
                    .filter(|&i| {
                        let c = &self.cols[i];
                        (if pass {
                            c.flex
                        } else {
                            c.align == Align::Left && !c.keep
                        }) && w[i] > MIN_TEXT
                    })
                    .max_by_key(|&i| w[i]);
                match widest {
                    Some(i) => w[i] -= 1,
                    None => break,
                }
            }
        }
        w
    }

    /// Prints the table, `width` columns wide at most.
    pub fn print(&self, out: &mut impl Write, style: Style, width: usize) -> io::Result<()> {
        let rows = self.aligned_cells();
        let w = self.widths(&rows, width);
        let header: Vec<Cell> = self
            .cols
            .iter()
            .map(|c| Cell::painted(c.title.clone(), Paint::Bold))
            .collect();
        self.line(out, style, &w, &header, width)?;
        for row in &rows {
            match row {
                Some(cells) => self.line(out, style, &w, cells, width)?,
                None => writeln!(out)?,
            }
        }
        Ok(())
    }

    /// One line: cells padded to their widths; what would still pass
    /// `width` (columns that cannot shrink, on a very narrow terminal) is cut
    /// with `…`.
    fn line(
        &self,
        out: &mut impl Write,
        style: Style,
        w: &[usize],
        cells: &[Cell],
        width: usize,
    ) -> io::Result<()> {
        let mut line = " ".repeat(self.indent);
        let mut used = self.indent;
        let last = cells.len() - 1;
        for (i, (cell, col)) in cells.iter().zip(&self.cols).enumerate() {
            let text = shorten(&cell.text, w[i]);
            let pad = w[i] - text_width(&text);
            let (left, right) = match col.align {
                Align::Right | Align::Decimal => (pad, 0),
                Align::Left if i == last => (0, 0),
                Align::Left => (0, pad),
            };
            let gap = if i == last { 0 } else { 2 };
            let mut segment = format!("{}{text}{}", " ".repeat(left), " ".repeat(right + gap));
            let cut = used + text_width(&segment) > width;
            if cut {
                segment = shorten(&segment, width.saturating_sub(used).max(1));
                if !segment.ends_with('…') {
                    segment.push('…');
                }
            }
            used += text_width(&segment);
            // Paint the text, not the padding around it.
            let body = segment.trim_start_matches(' ');
            let lead = segment.len() - body.len();
            let trimmed = body.trim_end_matches(' ');
            line.push_str(&segment[..lead]);
            line.push_str(&style.paint(cell.paint, trimmed));
            line.push_str(&body[trimmed.len()..]);
            if cut {
                break;
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(Duration::from_nanos(850)), "850 ns");
        assert_eq!(duration(Duration::from_nanos(6_542)), "6.54 µs");
        assert_eq!(duration(Duration::from_nanos(1_251_436)), "1.25 ms");
        assert_eq!(duration(Duration::from_millis(2_310)), "2.31 s");
        assert_eq!(duration(Duration::from_secs(65)), "1m 05s");
        assert_eq!(duration(Duration::from_secs(7_380)), "2h 03m");
    }

    #[test]
    fn times_are_utc() {
        let t = UNIX_EPOCH + Duration::new(1_796_324_531, 123_456_000);
        assert_eq!(datetime(t), "2026-12-03 19:02:11.123456");
        assert_eq!(clock(t), "19:02:11.123456");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(datetime(leap), "2000-02-29 00:00:00.000000");
    }

    #[test]
    fn tables_align_and_shrink_free_text_first() {
        let mut t = Table::new(vec![
            Col::left("tool"),
            Col::right("cost"),
            Col::flex("inputs"),
        ]);
        t.row(vec![
            "search".into(),
            "$0.003".into(),
            r#"{"query":"a long query indeed"}"#.into(),
        ]);
        t.row(vec!["f".into(), "$12".into(), "{}".into()]);
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 30).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "tool      cost  inputs\nsearch  $0.003  {\"query\":\"a l…\nf          $12  {}\n"
        );
    }

    #[test]
    fn costs_line_up_on_the_point_and_narrow_lines_are_cut() {
        let mut t = Table::new(vec![Col::left("tool").keep(), Col::decimal("cost")]);
        for (tool, cost) in [("search", "$12.5"), ("fetch", "$0.003"), ("plan", "$0")] {
            t.row(vec![tool.into(), cost.into()]);
        }
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 80).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "tool       cost\nsearch  $12.5\nfetch    $0.003\nplan     $0\n"
        );
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 10).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "tool     …\nsearch  $…\nfetch    …\nplan     …\n"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(one_line("a\nb\x1b[31m"), "a↵b�[31m");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
