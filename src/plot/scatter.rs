//! Scatter charts: points of several classes, one colour each (embeddings, decision regions, Pareto
//! fronts of accuracy against size).

use super::line::{configure_axes, draw_legend, validate_series};
use super::style::{colour, extent, padded, title_font};
use super::{Chart, PlotError, Series, sealed::Draw};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Points of several classes; each class is a [`Series`] whose name is its legend entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScatterChart {
    /// Drawn above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// The classes; each needs at least one point, all finite.
    pub classes: Vec<Series>,
}

/// Radius of a point, in pixels.
const RADIUS: i32 = 4;

impl Chart for ScatterChart {
    fn title(&self) -> &str {
        &self.title
    }
}

impl Draw for ScatterChart {
    fn validate(&self) -> Result<(), PlotError> {
        validate_series(&self.title, &self.classes, false)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let points = || self.classes.iter().flat_map(|s| s.points.iter().copied());
        let (x0, x1) = extent(points().map(|p| p.0));
        let (x0, x1) = padded(x0, x1);
        let (y0, y1) = extent(points().map(|p| p.1));
        let (y0, y1) = padded(y0, y1);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, title_font())
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        configure_axes(&mut chart, &self.x_label, &self.y_label)?;
        for (i, class) in self.classes.iter().enumerate() {
            let c = colour(i);
            chart
                .draw_series(class.points.iter().map(|&p| Circle::new(p, RADIUS, c.mix(0.75).filled())))
                .map_err(|e| e.to_string())?
                .label(class.name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), RADIUS, c.filled()));
        }
        draw_legend(&mut chart, &self.classes)
    }
}
