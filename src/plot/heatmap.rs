//! Heat maps: a matrix of values as coloured cells with a colour bar, optionally labelled (confusion
//! matrices, attention maps, per-layer sensitivities).

use super::style::{
    CategoryAxis, axis_font, cell_of, check_finite, check_len, empty, extent, format_tick, format_value, label_font,
    title_font,
};
use super::{Chart, PlotError, sealed::Draw};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A matrix drawn as cells coloured on the viridis scale, row 0 at the top, with a colour bar.
///
/// For a confusion matrix: rows are true classes, columns predicted classes, `cell_labels` on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeatMap {
    /// Drawn above the chart.
    pub title: String,
    /// Description of the x axis (the columns).
    pub x_label: String,
    /// Description of the y axis (the rows).
    pub y_label: String,
    /// The rows, top to bottom; all of one non-zero length, all values finite.
    pub values: Vec<Vec<f64>>,
    /// One name per row, or empty for the indices 0, 1, ...
    pub row_labels: Vec<String>,
    /// One name per column, or empty for the indices 0, 1, ...
    pub col_labels: Vec<String>,
    /// Print each cell's value in it (skipped when cells are too small to read).
    pub cell_labels: bool,
    /// The values mapped to the ends of the colour scale (others are clamped); `None`: the data's range.
    pub range: Option<(f64, f64)>,
}

/// Width in pixels of the colour bar's area.
const BAR_AREA: u32 = 120;
/// At most this many row or column labels are printed (evenly thinned beyond it).
const MAX_LABELS: usize = 30;
/// Cells smaller than this (pixels) get no value labels.
const MIN_LABELLED_CELL: f64 = 16.0;

impl Chart for HeatMap {
    fn title(&self) -> &str {
        &self.title
    }
}

impl HeatMap {
    fn shape(&self) -> (usize, usize) {
        (self.values.len(), self.values.first().map_or(0, Vec::len))
    }

    /// The colour scale's ends, never equal.
    fn scale(&self) -> (f64, f64) {
        let (lo, hi) = self.range.unwrap_or_else(|| extent(self.values.iter().flatten().copied()));
        if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) }
    }

    fn label(labels: &[String], i: usize) -> String {
        labels.get(i).cloned().unwrap_or_else(|| i.to_string())
    }
}

impl Draw for HeatMap {
    fn size(&self) -> (u32, u32) {
        (960, 800)
    }

    fn validate(&self) -> Result<(), PlotError> {
        let (rows, cols) = self.shape();
        if rows == 0 || cols == 0 {
            return Err(empty(&self.title, "the matrix"));
        }
        for (r, row) in self.values.iter().enumerate() {
            check_len(&self.title, format!("row {r}"), cols, row.len())?;
            check_finite(&self.title, &format!("row {r}"), row.iter().copied())?;
        }
        if !self.row_labels.is_empty() {
            check_len(&self.title, "`row_labels`", rows, self.row_labels.len())?;
        }
        if !self.col_labels.is_empty() {
            check_len(&self.title, "`col_labels`", cols, self.col_labels.len())?;
        }
        if let Some((lo, hi)) = self.range {
            check_finite(&self.title, "`range`", [lo, hi])?;
            if lo > hi {
                return Err(PlotError::InvalidRange { chart: self.title.clone(), what: "`range`".into(), lo, hi });
            }
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (rows, cols) = self.shape();
        let (lo, hi) = self.scale();
        let (width, _) = root.dim_in_pixel();
        let (main, bar) = root.split_horizontally(width.saturating_sub(BAR_AREA));

        let x = CategoryAxis::new(cols, MAX_LABELS);
        let y = CategoryAxis::new(rows, MAX_LABELS);
        let mut chart = ChartBuilder::on(&main)
            .caption(&self.title, title_font())
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(90)
            .build_cartesian_2d(x, y)
            .map_err(|e| e.to_string())?;
        // Row r occupies y in [rows - 1 - r, rows - r], so row 0 is at the top.
        let col_name = |v: &f64| Self::label(&self.col_labels, cell_of(*v));
        let row_name = |v: &f64| Self::label(&self.row_labels, rows.saturating_sub(1 + cell_of(*v)));
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(label_font())
            .axis_desc_style(axis_font())
            .x_label_formatter(&col_name)
            .y_label_formatter(&row_name)
            .draw()
            .map_err(|e| e.to_string())?;

        let top = |r: usize| (rows - r) as f64;
        let cells = self.values.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                let colour = viridis((v - lo) / (hi - lo));
                Rectangle::new([(c as f64, top(r) - 1.0), (c as f64 + 1.0, top(r))], colour.filled())
            })
        });
        chart.draw_series(cells).map_err(|e| e.to_string())?;

        let (plot_w, plot_h) = chart.plotting_area().dim_in_pixel();
        let cell_px = (f64::from(plot_w) / cols as f64).min(f64::from(plot_h) / rows as f64);
        if self.cell_labels && cell_px >= MIN_LABELLED_CELL {
            let size = (cell_px * 0.32).clamp(9.0, 20.0);
            let centre = Pos::new(HPos::Center, VPos::Center);
            let labels = self.values.iter().enumerate().flat_map(|(r, row)| {
                row.iter().enumerate().map(move |(c, &v)| {
                    // Viridis is dark below about the middle of the scale: white text there.
                    let ink = if (v - lo) / (hi - lo) < 0.55 { WHITE } else { BLACK };
                    let style = label_font().resize(size).color(&ink).pos(centre);
                    Text::new(format_value(v), (c as f64 + 0.5, top(r) - 0.5), style)
                })
            });
            chart.draw_series(labels).map_err(|e| e.to_string())?;
        }
        draw_colour_bar(&bar, lo, hi)
    }
}

/// Viridis (matplotlib's default colour map) at nine evenly spaced points from 0 to 1.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (0x44, 0x01, 0x54),
    (0x47, 0x2d, 0x7b),
    (0x3b, 0x52, 0x8b),
    (0x2c, 0x72, 0x8e),
    (0x21, 0x90, 0x8c),
    (0x27, 0xad, 0x81),
    (0x5d, 0xc8, 0x63),
    (0xaa, 0xdc, 0x32),
    (0xfd, 0xe7, 0x25),
];

/// The viridis colour of `t` in [0, 1] (clamped), interpolated linearly between the anchors.
fn viridis(t: f64) -> RGBColor {
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (f64::from(p) + f * (f64::from(q) - f64::from(p))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Steps of the colour bar's gradient.
const BAR_STEPS: usize = 128;

/// The scale from `lo` (bottom) to `hi` (top) with ticks on its right.
fn draw_colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lo: f64, hi: f64) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(64)
        .margin_bottom(72)
        .margin_right(8)
        .set_label_area_size(LabelAreaPosition::Right, 70)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(|e| e.to_string())?;
    let step = (hi - lo) / BAR_STEPS as f64;
    let stripes = (0..BAR_STEPS).map(|i| {
        let v0 = lo + i as f64 * step;
        let colour = viridis((i as f64 + 0.5) / BAR_STEPS as f64);
        Rectangle::new([(0.0, v0), (1.0, v0 + step)], colour.filled())
    });
    chart.draw_series(stripes).map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(6)
        .label_style(label_font())
        .y_label_formatter(&|v| format_tick(*v))
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::viridis;
    use plotters::style::RGBColor;

    #[test]
    fn viridis_hits_its_ends_and_clamps() {
        assert_eq!(viridis(0.0), RGBColor(0x44, 0x01, 0x54));
        assert_eq!(viridis(1.0), RGBColor(0xfd, 0xe7, 0x25));
        assert_eq!(viridis(-3.0), viridis(0.0));
        assert_eq!(viridis(7.0), viridis(1.0));
    }
}
