//! What the chart kinds share: colours, text sizes, axis ranges, number formatting and data checks.

use super::PlotError;
use super::font::FAMILY;
use plotters::style::{FontDesc, IntoFont, RGBColor};

/// Series colours, in order (Tableau 10: distinguishable, and readable on white).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series number `i` (the palette repeats after ten).
pub(super) fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The title font.
pub(super) fn title_font() -> FontDesc<'static> {
    (FAMILY, 26).into_font()
}

/// The font of tick labels, axis descriptions and legends.
pub(super) fn label_font() -> FontDesc<'static> {
    (FAMILY, 16).into_font()
}

/// The font of axis descriptions.
pub(super) fn axis_font() -> FontDesc<'static> {
    (FAMILY, 18).into_font()
}

/// Smallest and largest of `values` (which the caller has checked to be finite and non-empty).
pub(super) fn extent(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values.into_iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// A linear axis range around `[lo, hi]` with 5% padding; a single value gets a unit-wide range.
pub(super) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    } else {
        let half = if lo == 0.0 { 0.5 } else { 0.1 * lo.abs() };
        (lo - half, hi + half)
    }
}

/// A log axis range around positive `[lo, hi]`, widened by a quarter decade on each side.
pub(super) fn padded_log(lo: f64, hi: f64) -> (f64, f64) {
    let factor = 10f64.powf(0.25);
    (lo / factor, hi * factor)
}

/// A short label for a value: integers as integers, otherwise three significant digits.
pub(super) fn format_value(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.2e}")
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    }
}

/// A tick label for an axis value: like [`format_value`] but keeps the axis's own rounding readable.
pub(super) fn format_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 || v.abs() >= 1e5 {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Refuses a non-finite value in `values`, naming `what` and the index.
pub(super) fn check_finite(chart: &str, what: &str, values: impl IntoIterator<Item = f64>) -> Result<(), PlotError> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((index, value)) => {
            Err(PlotError::NonFinite { chart: chart.to_string(), what: what.to_string(), index, value })
        }
        None => Ok(()),
    }
}

/// Refuses a zero or negative value on a log axis.
pub(super) fn check_positive(chart: &str, what: &str, values: impl IntoIterator<Item = f64>) -> Result<(), PlotError> {
    match values.into_iter().enumerate().find(|(_, v)| *v <= 0.0) {
        Some((index, value)) => {
            Err(PlotError::NonPositiveOnLogAxis { chart: chart.to_string(), what: what.to_string(), index, value })
        }
        None => Ok(()),
    }
}

/// The error for an empty `what`.
pub(super) fn empty(chart: &str, what: impl Into<String>) -> PlotError {
    PlotError::Empty { chart: chart.to_string(), what: what.into() }
}

/// Checks that `what` has `expected` entries.
pub(super) fn check_len(chart: &str, what: impl Into<String>, expected: usize, got: usize) -> Result<(), PlotError> {
    if expected == got {
        Ok(())
    } else {
        Err(PlotError::Length { chart: chart.to_string(), what: what.into(), expected, got })
    }
}

/// Key points at the centres `0.5, 1.5, ...` of `n` unit cells, thinned to at most `max` labels.
pub(super) fn cell_centres(n: usize, max: usize) -> Vec<f64> {
    let step = n.div_ceil(max.max(1)).max(1);
    (0..n).step_by(step).map(|i| i as f64 + 0.5).collect()
}

/// An f64 axis whose (bold) ticks sit exactly at given positions: the category centres of bar charts
/// and heat maps. plotters' own `with_key_points` has no default value formatter, which its mesh
/// requires; this axis keeps the plain f64 formatting (always overridden by a category formatter).
#[derive(Clone)]
pub(super) struct CategoryAxis {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl CategoryAxis {
    /// `n` unit cells from 0 to `n`, ticks at their centres thinned to at most `max` labels.
    pub(super) fn new(n: usize, max: usize) -> Self {
        Self { inner: (0.0..n as f64).into(), ticks: cell_centres(n, max) }
    }
}

impl plotters::coord::ranged1d::Ranged for CategoryAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// The cell index of a key point made by [`cell_centres`].
pub(super) fn cell_of(centre: f64) -> usize {
    centre.floor().max(0.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_short() {
        assert_eq!(format_value(42.0), "42");
        assert_eq!(format_value(0.1234567), "0.123");
        assert_eq!(format_value(12.345), "12.3");
        assert_eq!(format_value(0.000123), "1.23e-4");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(2.0), "2");
    }

    #[test]
    fn ranges_never_collapse() {
        assert_eq!(padded(0.0, 0.0), (-0.5, 0.5));
        let (lo, hi) = padded(3.0, 3.0);
        assert!(lo < 3.0 && hi > 3.0);
        assert_eq!(cell_centres(4, 10), vec![0.5, 1.5, 2.5, 3.5]);
        assert_eq!(cell_centres(100, 10).len(), 10);
        assert_eq!(cell_of(2.5), 2);
    }
}
