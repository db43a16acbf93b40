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

/// Columns a character takes on a terminal: 2 for East Asian Wide and
/// Fullwidth characters and emoji, 0 for combining marks and zero-width
/// characters, 1 for the rest (a small table, close to `wcwidth`).
pub fn char_width(c: char) -> usize {
    let u = u32::from(c);
    if u < 0x300 {
        return usize::from(!c.is_control());
    }
    const ZERO: &[(u32, u32)] = &[
        (0x0300, 0x036F), // combining diacritical marks
        (0x0483, 0x0489),
        (0x0591, 0x05BD),
        (0x0610, 0x061A),
        (0x064B, 0x065F),
        (0x0E31, 0x0E31),
        (0x0E34, 0x0E3A),
        (0x0E47, 0x0E4E),
        (0x1160, 0x11FF), // Hangul medial vowels and final consonants
        (0x1AB0, 0x1AFF),
        (0x1DC0, 0x1DFF),
        (0x200B, 0x200F), // zero-width space, joiners, direction marks
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x20D0, 0x20FF), // combining marks for symbols
        (0x302A, 0x302D),
        (0x3099, 0x309A),
        (0xFE00, 0xFE0F), // variation selectors
        (0xFE20, 0xFE2F),
        (0xFEFF, 0xFEFF),
        (0x1F3FB, 0x1F3FF), // skin tone modifiers
        (0xE0000, 0xE0FFF), // tags, variation selectors supplement
    ];
    const WIDE: &[(u32, u32)] = &[
        (0x1100, 0x115F), // Hangul initial consonants
        (0x231A, 0x231B),
        (0x2329, 0x232A),
        (0x23E9, 0x23EC),
        (0x23F0, 0x23F0),
        (0x23F3, 0x23F3),
        (0x25FD, 0x25FE),
        (0x2614, 0x2615),
        (0x2648, 0x2653),
        (0x267F, 0x267F),
        (0x2693, 0x2693),
        (0x26A1, 0x26A1),
        (0x26AA, 0x26AB),
        (0x26BD, 0x26BE),
        (0x26C4, 0x26C5),
        (0x26CE, 0x26CE),
        (0x26D4, 0x26D4),
        (0x26EA, 0x26EA),
        (0x26F2, 0x26F3),
        (0x26F5, 0x26F5),
        (0x26FA, 0x26FA),
        (0x26FD, 0x26FD),
        (0x2705, 0x2705),
        (0x270A, 0x270B),
        (0x2728, 0x2728),
        (0x274C, 0x274C),
        (0x274E, 0x274E),
        (0x2753, 0x2755),
        (0x2757, 0x2757),
        (0x2795, 0x2797),
        (0x27B0, 0x27B0),
        (0x27BF, 0x27BF),
        (0x2B1B, 0x2B1C),
        (0x2B50, 0x2B50),
        (0x2B55, 0x2B55),
        (0x2E80, 0x303E), // CJK radicals, punctuation
        (0x3041, 0x33FF), // kana, CJK compatibility
        (0x3400, 0x4DBF), // CJK extension A
        (0x4E00, 0x9FFF), // CJK unified ideographs
        (0xA000, 0xA4CF), // Yi
        (0xA960, 0xA97F),
        (0xAC00, 0xD7A3), // Hangul syllables
        (0xF900, 0xFAFF), // CJK compatibility ideographs
        (0xFE10, 0xFE19),
        (0xFE30, 0xFE6F),
        (0xFF00, 0xFF60), // fullwidth forms
        (0xFFE0, 0xFFE6),
        (0x16FE0, 0x18CFF), // Tangut
        (0x1B000, 0x1B2FF), // kana supplement
        (0x1F004, 0x1F004),
        (0x1F0CF, 0x1F0CF),
        (0x1F18E, 0x1F18E),
        (0x1F191, 0x1F19A),
        (0x1F200, 0x1F2FF), // enclosed ideographs
        (0x1F300, 0x1F64F), // pictographs, emoticons
        (0x1F680, 0x1F6FF), // transport and map symbols
        (0x1F7E0, 0x1F7EB),
        (0x1F90C, 0x1F9FF), // supplemental symbols and pictographs
        (0x1FA70, 0x1FAFF),
        (0x20000, 0x2FFFD), // CJK extensions B and later
        (0x30000, 0x3FFFD),
    ];
    let within = |table: &[(u32, u32)]| {
        table
            .binary_search_by(|&(lo, hi)| {
                if hi < u {
                    std::cmp::Ordering::Less
                } else if lo > u {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    };
    if within(ZERO) || c.is_control() {
        0
    } else if within(WIDE) {
        2
    } else {
        1
    }
}

/// Columns `s` takes on a terminal (see [`char_width`]).
pub fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// At most `max` columns wide, ending with `…` when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if text_width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w > max - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` followed by spaces to `width` columns.
pub fn pad_right(s: &str, width: usize) -> String {
    let pad = width.saturating_sub(text_width(s));
    format!("{s}{}", " ".repeat(pad))
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

/// Narrowest a column of free text (inputs, errors, names) gets.
pub const MIN_TEXT: usize = 8;

/// Narrowest another left-aligned text column (tool names) gets: a name is
/// what tells the rows apart, so it keeps more of itself.
pub const MIN_NAME: usize = 12;

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

    /// Column widths that fit `width` if they can: free-text columns shrink
    /// first (down to [`MIN_TEXT`]), then other left-aligned ones (down to
    /// [`MIN_NAME`]). Numbers, and columns marked `keep`, never do: a table
    /// that does not fit then is wider than `width`.
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
        /// Which columns shrink in a pass.
        type Shrinks = fn(&Col) -> bool;
        let flex: Shrinks = |c| c.flex;
        let text: Shrinks = |c| c.align == Align::Left && !c.keep && !c.flex;
        for (shrinks, min) in [(flex, MIN_TEXT), (text, MIN_NAME)] {
            loop {
                let total: usize = w.iter().sum::<usize>() + gaps;
                if total <= width {
                    return w;
                }
                let widest = (0..w.len())
                    .filter(|&i| shrinks(&self.cols[i]) && w[i] > min)
                    .max_by_key(|&i| w[i]);
                match widest {
                    Some(i) => w[i] -= 1,
                    None => break,
                }
            }
        }
        w
    }

    /// Prints the table, `width` columns wide if it fits (see [`Table::widths`]).
    pub fn print(&self, out: &mut impl Write, style: Style, width: usize) -> io::Result<()> {
        let rows = self.aligned_cells();
        let w = self.widths(&rows, width);
        let header: Vec<Cell> = self
            .cols
            .iter()
            .map(|c| Cell::painted(c.title.clone(), Paint::Bold))
            .collect();
        self.line(out, style, &w, &header)?;
        for row in &rows {
            match row {
                Some(cells) => self.line(out, style, &w, cells)?,
                None => writeln!(out)?,
            }
        }
        Ok(())
    }

    /// One line: cells shortened (text) or padded to their widths. Nothing
    /// is cut at the terminal's edge: numbers and ids are always whole.
    fn line(
        &self,
        out: &mut impl Write,
        style: Style,
        w: &[usize],
        cells: &[Cell],
    ) -> io::Result<()> {
        let mut line = " ".repeat(self.indent);
        let last = cells.len() - 1;
        for (i, (cell, col)) in cells.iter().zip(&self.cols).enumerate() {
            let gap = if i == 0 { 0 } else { 2 };
            let text = shorten(&cell.text, w[i]);
            let pad = w[i] - text_width(&text);
            let (left, right) = match col.align {
                Align::Right | Align::Decimal => (pad, 0),
                Align::Left if i == last => (0, 0),
                Align::Left => (0, pad),
            };
            line.push_str(&" ".repeat(gap + left));
            // Paint the text, not the padding around it.
            let body = text.trim_end_matches(' ');
            line.push_str(&style.paint(cell.paint, body));
            line.push_str(&text[body.len()..]);
            line.push_str(&" ".repeat(right));
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
        // Too narrow for the numbers: the line is wider than asked, and
        // the tool name (6 columns) is not cut.
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 10).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "tool       cost\nsearch  $12.5\nfetch    $0.003\nplan     $0\n"
        );
    }

    #[test]
    fn wide_and_zero_width_characters_are_measured_in_columns() {
        assert_eq!(text_width("日本語ツール"), 12);
        assert_eq!(text_width("emoji🚀"), 7);
        assert_eq!(text_width("e\u{301}"), 1); // e + combining acute
        assert_eq!(text_width("a\u{200b}b"), 2);
        assert_eq!(text_width("…↵─"), 3);
        assert_eq!(text_width("한국어"), 6);
        assert_eq!(text_width("ｆｕｌｌ"), 8);
        assert_eq!(text_width("👍🏽"), 2); // a skin tone modifier adds nothing
        assert_eq!(shorten("日本語ツール", 7), "日本語…");
        assert_eq!(shorten("日本語ツール", 6), "日本…");
        assert_eq!(shorten("emoji🚀rocket", 7), "emoji…");
        assert_eq!(pad_right("日本", 6), "日本  ");
        assert_eq!(pad_right("🚀", 4), "🚀  ");
    }

    #[test]
    fn wide_characters_keep_columns_aligned() {
        let mut t = Table::new(vec![
            Col::left("tool"),
            Col::decimal("cost"),
            Col::flex("inputs"),
        ]);
        for (tool, cost) in [
            ("日本語ツール", "$0.5"),
            ("emoji🚀", "$12"),
            ("plain", "$0.25"),
        ] {
            t.row(vec![tool.into(), cost.into(), "{\"q\":\"検索\"}".into()]);
        }
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 80).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
tool            cost  inputs
日本語ツール   $0.5   {\"q\":\"検索\"}
emoji🚀       $12     {\"q\":\"検索\"}
plain          $0.25  {\"q\":\"検索\"}
"
        );
        // Narrow: free text is shortened by columns, not characters (a wide
        // character that would pass the edge is left out whole); the tool
        // names, 12 columns at most, are kept.
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 24).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
tool            cost  inputs
日本語ツール   $0.5   {\"q\":\"…
emoji🚀       $12     {\"q\":\"…
plain          $0.25  {\"q\":\"…
"
        );
    }

    #[test]
    fn narrow_terminals_cut_text_to_a_minimum_and_never_numbers() {
        let mut t = Table::new(vec![
            Col::right("seq"),
            Col::left("tool"),
            Col::right("duration"),
            Col::decimal("cost"),
            Col::flex("inputs"),
        ]);
        t.row(vec![
            "12".into(),
            "analyze_file".into(),
            "250.00 ms".into(),
            "$0.00086995".into(),
            r#"{"path":"./README.md"}"#.into(),
        ]);
        let print = |width: usize| {
            let mut out = Vec::new();
            t.print(&mut out, Style { color: false }, width).unwrap();
            String::from_utf8(out).unwrap()
        };
        // Free text gives way first, down to 8 columns, then names, down to 12.
        assert_eq!(
            print(58),
            "seq  tool           duration         cost  inputs\n 12  analyze_file  250.00 ms  $0.00086995  {\"path\":\"./REA…\n"
        );
        assert_eq!(
            print(40),
            "seq  tool           duration         cost  inputs\n 12  analyze_file  250.00 ms  $0.00086995  {\"path\"…\n"
        );
        // Then the line is as wide as it must be: no number is cut or left out.
        for width in 0..60 {
            let text = print(width);
            assert!(
                text.contains(" 12  analyze_file  250.00 ms  $0.00086995  {"),
                "{text}"
            );
        }
        let mut t = Table::new(vec![Col::left("tool"), Col::right("calls")]);
        t.row(vec!["generate_image_variations".into(), "3".into()]);
        let mut out = Vec::new();
        t.print(&mut out, Style { color: false }, 10).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "tool          calls\ngenerate_im…      3\n"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(one_line("a\nb\x1b[31m"), "a↵b�[31m");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }
}
