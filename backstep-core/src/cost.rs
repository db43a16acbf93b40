//! Exact money arithmetic for tool costs.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

/// Picodollars in one US dollar.
const PICO_PER_USD: i128 = 1_000_000_000_000;

/// An amount of money in US dollars, stored as a whole number of picodollars
/// (10⁻¹² USD) so that sums are exact: a thousand calls at `0.003` add up to
/// exactly `3.0`, where `f64` addition would drift.
///
/// ```
/// # use backstep_core as backstep;
/// use backstep::Cost;
/// let total: Cost = std::iter::repeat(Cost::from_usd(0.003)).take(1000).sum();
/// assert_eq!(total, Cost::from_usd(3.0));
/// assert_eq!(total.to_string(), "$3");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cost {
    pico: i128,
}

impl Cost {
    /// No cost.
    pub const ZERO: Cost = Cost { pico: 0 };

    /// The cost closest to `usd` dollars, rounded to the picodollar.
    /// Non-finite values (NaN, infinity) give [`Cost::ZERO`].
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert_eq!(backstep::Cost::from_usd(0.25).picodollars(), 250_000_000_000);
    /// ```
    #[must_use]
    pub fn from_usd(usd: f64) -> Cost {
        if !usd.is_finite() {
            return Cost::ZERO;
        }
        let x = usd * 1e12;
        // Under $9M, rounded by hand in 64 bits: `f64::round` and the
        // conversion to i128 are both calls into the runtime, and this runs
        // for every recorded call. `x - t` is exact (Sterbenz), so this is
        // `round` (half away from zero) exactly.
        if x.abs() < 9e18 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            let (t, frac) = {
                let t = x as i64;
                (t, x - t as f64)
            };
            let pico = if frac >= 0.5 {
                t + 1
            } else if frac <= -0.5 {
                t - 1
            } else {
                t
            };
            return Cost {
                pico: i128::from(pico),
            };
        }
        // `as` saturates at i128::MIN/MAX (10^26 dollars), far past any real cost.
        #[allow(clippy::cast_possible_truncation)]
        let pico = x.round() as i128;
        Cost { pico }
    }

    /// A cost of exactly `pico` picodollars (10⁻¹² USD).
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert_eq!(backstep::Cost::from_picodollars(3_000_000_000), backstep::Cost::from_usd(0.003));
    /// ```
    #[must_use]
    pub const fn from_picodollars(pico: i128) -> Cost {
        Cost { pico }
    }

    /// The amount in picodollars (10⁻¹² USD): exact.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert_eq!(backstep::Cost::from_usd(1.0).picodollars(), 1_000_000_000_000);
    /// ```
    #[must_use]
    pub const fn picodollars(self) -> i128 {
        self.pico
    }

    /// The amount in dollars as a float, for display or comparison with a budget.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert!(backstep::Cost::from_usd(0.003).usd() <= 0.05);
    /// ```
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn usd(self) -> f64 {
        // Split so that whole dollars and the fraction are each converted exactly
        // for any realistic amount; `3_000_000_000_000 as f64 / 1e12` is exactly 3.0.
        let whole = self.pico / PICO_PER_USD;
        let frac = self.pico % PICO_PER_USD;
        whole as f64 + frac as f64 / 1e12
    }

    /// Whether this is zero.
    ///
    /// ```
    /// # use backstep_core as backstep;
    /// assert!(backstep::Cost::ZERO.is_zero());
    /// ```
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.pico == 0
    }

    /// Writes the amount as an exact decimal number of dollars with no trailing
    /// zeros (`0.003`, `3`, `-0.5`): the form used for `cost_usd` in the log.
    pub(crate) fn write_decimal(self, out: &mut String) {
        let neg = self.pico < 0;
        let abs = self.pico.unsigned_abs();
        // Under $18M the picodollars fit in 64 bits, whose division is a
        // multiplication; a 128-bit one is a call (this runs for every line).
        if let Ok(abs) = u64::try_from(abs) {
            if neg {
                out.push('-');
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let per = PICO_PER_USD as u64;
            crate::format::push_u64(out, abs / per);
            crate::format::push_fraction(out, abs % per, 12);
            return;
        }
        let whole = abs / PICO_PER_USD.unsigned_abs();
        #[allow(clippy::cast_possible_truncation)] // below 10^12
        let frac = (abs % PICO_PER_USD.unsigned_abs()) as u64;
        if neg {
            out.push('-');
        }
        if let Ok(w) = u64::try_from(whole) {
            crate::format::push_u64(out, w);
        } else {
            use std::fmt::Write as _;
            let _ = write!(out, "{whole}");
        }
        crate::format::push_fraction(out, frac, 12);
    }

    /// Parses an exact decimal number of dollars (`"0.003"`, `"3"`, `"1e-3"`).
    pub(crate) fn parse_decimal(text: &str) -> Option<Cost> {
        let t = text.trim();
        if t.contains(['e', 'E']) {
            let v: f64 = t.parse().ok()?;
            // Past 10^24 dollars the picodollars would not fit: not a cost.
            return (v.is_finite() && v.abs() < 1e24).then(|| Cost::from_usd(v));
        }
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty() {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut pico = whole.checked_mul(PICO_PER_USD)?;
        let mut scale = PICO_PER_USD / 10;
        for (i, b) in frac.bytes().enumerate() {
            let d = i128::from(b - b'0');
            if i < 12 {
                pico = pico.checked_add(d * scale)?;
                scale /= 10;
            } else if i == 12 && d >= 5 {
                pico = pico.checked_add(1)?; // round half up past the picodollar
                break;
            } else {
                break;
            }
        }
        Some(Cost {
            pico: if neg { -pico } else { pico },
        })
    }
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, rhs: Cost) -> Cost {
        Cost {
            pico: self.pico.saturating_add(rhs.pico),
        }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, rhs: Cost) {
        *self = *self + rhs;
    }
}

impl Sum for Cost {
    fn sum<I: Iterator<Item = Cost>>(iter: I) -> Cost {
        iter.fold(Cost::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Cost> for Cost {
    fn sum<I: Iterator<Item = &'a Cost>>(iter: I) -> Cost {
        iter.copied().sum()
    }
}

/// Shows the exact amount: `$0.003`, `$3`, `$0`.
impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(16);
        self.write_decimal(&mut s);
        let text = match s.strip_prefix('-') {
            Some(rest) => format!("-${rest}"),
            None => format!("${s}"),
        };
        // `pad` so `{:>10}` aligns costs in tables.
        f.pad(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_past_nine_million_dollars_stay_exact() {
        // An i64 of picodollars ends at $9,223,372.036854775807.
        let big = Cost::parse_decimal("5000000").unwrap();
        assert_eq!((big + big).to_string(), "$10000000");
        let many: Cost = (0..3_000).map(|_| big).sum();
        assert_eq!(many.to_string(), "$15000000000");
        assert_eq!(
            Cost::parse_decimal("1e300"),
            None,
            "no cost, not a saturated one"
        );
        assert_eq!(
            Cost::parse_decimal("2.5e6"),
            Some(Cost::from_usd(2_500_000.0))
        );
    }

    #[test]
    #[allow(clippy::float_cmp)] // exactness is the point
    fn thousand_calls_sum_exactly() {
        let total: Cost = (0..1000).map(|_| Cost::from_usd(0.003)).sum();
        assert_eq!(total.picodollars(), 3_000_000_000_000);
        assert!((total.usd() - 3.0).abs() == 0.0);
        let float: f64 = (0..1000).map(|_| 0.003).sum();
        assert_ne!(float, 3.0, "f64 drifts, which is why Cost exists");
    }

    #[test]
    fn from_usd_rounds_half_away_from_zero_as_round_does() {
        let mut values = vec![
            0.0,
            -0.0,
            0.003,
            0.1,
            0.5e-12,
            -0.5e-12,
            1.5e-12,
            -2.5e-12,
            f64::from_bits(0.5e-12_f64.to_bits() - 1),
            9e6,
            -9e6,
            9.2e6,
            1e7,
            1e14,
            -1e14,
            f64::MIN_POSITIVE,
        ];
        // A spread of magnitudes and fractions, both signs.
        let mut v = 1e-13;
        while v < 1e15 {
            for f in [1.0, 1.5, 2.5, 3.333_333, 7.25, 9.999_999] {
                values.push(v * f);
                values.push(-v * f);
            }
            v *= 7.3;
        }
        for usd in values {
            #[allow(clippy::cast_possible_truncation)]
            let expected = (usd * 1e12).round() as i128;
            assert_eq!(Cost::from_usd(usd).picodollars(), expected, "{usd:e}");
        }
    }

    #[test]
    fn decimal_round_trip() {
        for (text, pico) in [
            ("0.003", 3_000_000_000),
            ("3", 3_000_000_000_000),
            ("0", 0),
            ("-0.5", -500_000_000_000),
            ("0.000000000001", 1),
            ("12.5", 12_500_000_000_000),
            // Around the most picodollars 64 bits hold, and past it.
            ("18446744.073709551615", i128::from(u64::MAX)),
            ("18446744.073709551616", i128::from(u64::MAX) + 1),
            ("-20000000.000000000001", -20_000_000_000_000_000_001),
        ] {
            let c = Cost::parse_decimal(text).unwrap();
            assert_eq!(c.picodollars(), pico, "{text}");
            let mut out = String::new();
            c.write_decimal(&mut out);
            assert_eq!(out, text);
        }
        assert_eq!(Cost::parse_decimal("1e-3"), Some(Cost::from_usd(0.001)));
        assert_eq!(
            Cost::parse_decimal("0.0000000000015")
                .unwrap()
                .picodollars(),
            2
        );
        assert_eq!(Cost::parse_decimal("abc"), None);
        assert_eq!(Cost::parse_decimal("."), None);
    }

    #[test]
    fn display_and_non_finite() {
        assert_eq!(Cost::from_usd(0.003).to_string(), "$0.003");
        assert_eq!(Cost::from_usd(-1.25).to_string(), "-$1.25");
        assert_eq!(Cost::from_usd(f64::NAN), Cost::ZERO);
    }
}
