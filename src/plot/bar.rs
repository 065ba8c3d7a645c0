//! Grouped bar charts: one bar per group side by side in each category.

use super::style::{
    CategoryAxis, axis_font, cell_of, check_finite, check_len, colour, empty, extent, format_tick, format_value,
    label_font, title_font,
};
use super::{Chart, PlotError, sealed::Draw};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One group of bars: a value for every category of its [`BarChart`], drawn in one colour.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarGroup {
    /// The legend entry.
    pub name: String,
    /// One value per category, in the chart's category order.
    pub values: Vec<f64>,
}

impl BarGroup {
    /// A group called `name` with `values`.
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        BarGroup { name: name.into(), values }
    }
}

/// Bars for categories (x) and groups (colours): accuracy per model and method, seconds per variant.
///
/// Bars start at zero, so negative values hang down from the zero line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarChart {
    /// Drawn above the chart.
    pub title: String,
    /// Description of the x axis (the categories).
    pub x_label: String,
    /// Description of the y axis (the values).
    pub y_label: String,
    /// The category names, left to right.
    pub categories: Vec<String>,
    /// The groups; each has one finite value per category.
    pub groups: Vec<BarGroup>,
    /// Print each bar's value at its end.
    pub show_values: bool,
}

/// Fraction of a category's width that its bars fill.
const FILL: f64 = 0.8;
/// At most this many category labels are printed (evenly thinned beyond it).
const MAX_LABELS: usize = 24;

impl Chart for BarChart {
    fn title(&self) -> &str {
        &self.title
    }
}

impl Draw for BarChart {
    fn validate(&self) -> Result<(), PlotError> {
        if self.categories.is_empty() {
            return Err(empty(&self.title, "the category list"));
        }
        if self.groups.is_empty() {
            return Err(empty(&self.title, "the group list"));
        }
        for g in &self.groups {
            let what = format!("group `{}`", g.name);
            check_len(&self.title, &what, self.categories.len(), g.values.len())?;
            check_finite(&self.title, &what, g.values.iter().copied())?;
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let n = self.categories.len();
        let (lo, hi) = extent(self.groups.iter().flat_map(|g| g.values.iter().copied()).chain([0.0]));
        let span = if hi > lo { hi - lo } else { 1.0 };
        // Room above (and below, for negative bars) for the value labels.
        let y0 = if lo < 0.0 { lo - 0.1 * span } else { 0.0 };
        let y1 = if hi > 0.0 || lo == hi { hi + 0.1 * span } else { 0.0 };
        let x = CategoryAxis::new(n, MAX_LABELS);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, title_font())
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y0..y1)
            .map_err(|e| e.to_string())?;
        let category = |v: &f64| self.categories.get(cell_of(*v)).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(label_font())
            .axis_desc_style(axis_font())
            .x_label_formatter(&category)
            .y_label_formatter(&|v| format_tick(*v))
            .bold_line_style(BLACK.mix(0.12))
            .light_line_style(BLACK.mix(0.04))
            .draw()
            .map_err(|e| e.to_string())?;

        let width = FILL / self.groups.len() as f64;
        let left = |category: usize, group: usize| category as f64 + (1.0 - FILL) / 2.0 + group as f64 * width;
        for (j, g) in self.groups.iter().enumerate() {
            let c = colour(j);
            let bars = g.values.iter().enumerate().map(|(i, &v)| {
                let x0 = left(i, j);
                Rectangle::new([(x0, 0.0), (x0 + width, v)], c.filled())
            });
            chart
                .draw_series(bars)
                .map_err(|e| e.to_string())?
                .label(g.name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
            if self.show_values {
                let labels = g.values.iter().enumerate().map(|(i, &v)| {
                    let vpos = if v < 0.0 { VPos::Top } else { VPos::Bottom };
                    let style = TextStyle::from(label_font().resize(13.0)).pos(Pos::new(HPos::Center, vpos));
                    Text::new(format_value(v), (left(i, j) + width / 2.0, v), style)
                });
                chart.draw_series(labels).map_err(|e| e.to_string())?;
            }
        }
        chart
            .draw_series([PathElement::new(vec![(0.0, 0.0), (n as f64, 0.0)], BLACK.stroke_width(1))])
            .map_err(|e| e.to_string())?;
        if self.groups.iter().any(|g| !g.name.is_empty()) {
            chart
                .configure_series_labels()
                .label_font(label_font())
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
