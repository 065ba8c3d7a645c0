//! Line charts: several named series against a shared x axis, with an optional log-scaled y axis.

use super::style::{
    axis_font, check_finite, check_positive, colour, empty, extent, format_tick, label_font, padded, padded_log,
    title_font,
};
use super::{Chart, PlotError, Series, sealed::Draw};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Named series drawn as lines (loss curves, accuracy against sparsity, fidelity against noise).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    /// Drawn above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// The lines; each needs at least one point, all finite.
    pub series: Vec<Series>,
    /// Logarithmic y axis (every y must then be positive).
    pub log_y: bool,
    /// Mark every point with a dot (series of one point are always marked).
    pub markers: bool,
}

impl Chart for LineChart {
    fn title(&self) -> &str {
        &self.title
    }
}

impl Draw for LineChart {
    fn validate(&self) -> Result<(), PlotError> {
        validate_series(&self.title, &self.series, self.log_y)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let (x0, x1) = extent(points().map(|p| p.0));
        let (x0, x1) = padded(x0, x1);
        let (y0, y1) = extent(points().map(|p| p.1));
        if self.log_y {
            let (y0, y1) = padded_log(y0, y1);
            draw_lines(self, root, x0..x1, (y0..y1).log_scale())
        } else {
            let (y0, y1) = padded(y0, y1);
            draw_lines(self, root, x0..x1, y0..y1)
        }
    }
}

/// Checks that there are series, that none is empty and that every coordinate is finite (and y positive
/// on a log axis). Shared with the scatter chart.
pub(super) fn validate_series(chart: &str, series: &[Series], log_y: bool) -> Result<(), PlotError> {
    if series.is_empty() {
        return Err(empty(chart, "the series list"));
    }
    for s in series {
        if s.points.is_empty() {
            return Err(empty(chart, format!("series `{}`", s.name)));
        }
        check_finite(chart, &format!("series `{}` (x)", s.name), s.points.iter().map(|p| p.0))?;
        check_finite(chart, &format!("series `{}` (y)", s.name), s.points.iter().map(|p| p.1))?;
        if log_y {
            check_positive(chart, &format!("series `{}` (y)", s.name), s.points.iter().map(|p| p.1))?;
        }
    }
    Ok(())
}

fn draw_lines<DB, Y>(
    spec: &LineChart,
    root: &DrawingArea<DB, Shift>,
    x: std::ops::Range<f64>,
    y: Y,
) -> Result<(), String>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(&spec.title, title_font())
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(80)
        .build_cartesian_2d::<_, Y>(x, y)
        .map_err(|e| e.to_string())?;
    configure_axes(&mut chart, &spec.x_label, &spec.y_label)?;
    for (i, s) in spec.series.iter().enumerate() {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
        if spec.markers || s.points.len() == 1 {
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(|e| e.to_string())?;
        }
    }
    draw_legend(&mut chart, &spec.series)
}

/// Draws the grid, tick labels and axis descriptions of a numeric chart. Shared with the scatter chart.
pub(super) fn configure_axes<DB, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    x_label: &str,
    y_label: &str,
) -> Result<(), String>
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(label_font())
        .axis_desc_style(axis_font())
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .bold_line_style(BLACK.mix(0.12))
        .light_line_style(BLACK.mix(0.04))
        .draw()
        .map_err(|e| e.to_string())
}

/// Draws the legend when any series has a name.
pub(super) fn draw_legend<'a, DB, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    series: &[Series],
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64>,
{
    if series.iter().all(|s| s.name.is_empty()) {
        return Ok(());
    }
    chart
        .configure_series_labels()
        .label_font(label_font())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(|e| e.to_string())
}
