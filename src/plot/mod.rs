//! Charts for experiment reports, each written as `NAME.png` and `NAME.svg`.
//!
//! A chart is a plain description — [`LineChart`], [`BarChart`], [`HeatMap`] or [`ScatterChart`] —
//! built from public fields (all implement `Default`) and rendered by [`render`] (or the named
//! shorthands [`line_chart`], [`bar_chart`], [`heat_map`], [`scatter_chart`]) into a directory. The data is
//! checked before anything is drawn: empty charts, mismatched lengths, NaN or infinite values and
//! non-positive values on a log axis are a [`PlotError`] naming the chart, the series and the index,
//! never a panic and never a silently skipped point.
//!
//! Text uses DejaVu Sans embedded in the binary (registered once with plotters' `ab_glyph` renderer), so
//! charts draw the same on machines without system fonts.
//!
//! ```no_run
//! use tinylab::plot::{LineChart, Series, line_chart};
//! let chart = LineChart {
//!     title: "training loss".into(),
//!     x_label: "epoch".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series::new("train", vec![(0.0, 2.3), (1.0, 0.9), (2.0, 0.4)])],
//!     log_y: true,
//!     ..LineChart::default()
//! };
//! let files = line_chart(std::path::Path::new("results/demo"), "loss", &chart)?;
//! assert!(files.png.ends_with("loss.png") && files.svg.ends_with("loss.svg"));
//! # Ok::<(), tinylab::plot::PlotError>(())
//! ```

mod bar;
mod font;
mod heatmap;
mod line;
mod scatter;
mod style;

pub use bar::{BarChart, BarGroup};
pub use heatmap::HeatMap;
pub use line::LineChart;
pub use scatter::ScatterChart;

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Everything that can go wrong when drawing a chart. Messages are lower case and name the chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The output name is empty or not a plain file stem.
    #[error("plot name `{name}` must be a non-empty file stem of letters, digits, `_`, `-` or `.`")]
    InvalidName {
        /// The name that was given.
        name: String,
    },
    /// There is nothing to draw.
    #[error("chart `{chart}`: {what} is empty")]
    Empty {
        /// The chart's title.
        chart: String,
        /// What is empty ("the series list", "series `loss`", ...).
        what: String,
    },
    /// A value is NaN or infinite.
    #[error("chart `{chart}`: {what} has a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// The chart's title.
        chart: String,
        /// Where the value is ("series `loss`", "row 3", ...).
        what: String,
        /// Index of the value within `what`.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A value on a logarithmic axis is zero or negative.
    #[error("chart `{chart}`: {what} has a non-positive value ({value}) at index {index} on a log axis")]
    NonPositiveOnLogAxis {
        /// The chart's title.
        chart: String,
        /// Where the value is.
        what: String,
        /// Index of the value within `what`.
        index: usize,
        /// The value.
        value: f64,
    },
    /// Two lengths that must agree do not.
    #[error("chart `{chart}`: {what} has {got} entries, expected {expected}")]
    Length {
        /// The chart's title.
        chart: String,
        /// What has the wrong length.
        what: String,
        /// The length needed.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// An explicit range is reversed.
    #[error("chart `{chart}`: {what} ({lo}, {hi}) must have its low end first")]
    InvalidRange {
        /// The chart's title.
        chart: String,
        /// Which range.
        what: String,
        /// The low end given.
        lo: f64,
        /// The high end given.
        hi: f64,
    },
    /// The embedded font could not be registered.
    #[error("font: {0}")]
    Font(String),
    /// Creating the output directory failed.
    #[error("creating {}: {source}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// plotters failed while drawing or encoding a file.
    #[error("drawing {}: {message}", path.display())]
    Draw {
        /// The file being written.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

/// The two files a chart was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFiles {
    /// The raster image (`NAME.png`).
    pub png: PathBuf,
    /// The vector image (`NAME.svg`).
    pub svg: PathBuf,
}

/// A named sequence of `(x, y)` points: one line of a [`LineChart`] or one class of a [`ScatterChart`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// The points, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series called `name` with `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.into(), points }
    }

    /// A series whose x values are the indices 0, 1, 2, ... of `ys` (epochs, steps).
    pub fn from_ys(name: impl Into<String>, ys: &[f64]) -> Self {
        Series::new(name, ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect())
    }
}

/// A chart that [`render`] can draw: [`LineChart`], [`BarChart`], [`HeatMap`] or [`ScatterChart`].
///
/// The drawing itself is internal (the trait is sealed), so plotters stays out of the public API.
pub trait Chart: sealed::Draw {
    /// The chart's title, drawn above it and used in reports and error messages.
    fn title(&self) -> &str;
}

pub(crate) mod sealed {
    use super::PlotError;
    use plotters::coord::Shift;
    use plotters::prelude::*;

    /// How a chart is checked and drawn on any plotters backend.
    pub trait Draw {
        /// Pixel size of the picture (width, height).
        fn size(&self) -> (u32, u32) {
            (960, 600)
        }
        /// Refuses data that cannot be drawn (empty, NaN, mismatched lengths).
        fn validate(&self) -> Result<(), PlotError>;
        /// Draws on a white `root`; errors carry plotters' message.
        fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
    }
}

/// Checks `chart`, then writes `dir/NAME.png` and `dir/NAME.svg` (creating `dir`), returning the paths.
pub fn render<C: Chart>(dir: &Path, name: &str, chart: &C) -> Result<PlotFiles, PlotError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.starts_with('.') || !name.chars().all(valid_char) {
        return Err(PlotError::InvalidName { name: name.to_string() });
    }
    chart.validate()?;
    font::ensure_registered()?;
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Io { path: dir.to_path_buf(), source })?;
    let files = PlotFiles { png: dir.join(format!("{name}.png")), svg: dir.join(format!("{name}.svg")) };
    let size = chart.size();
    {
        let root = BitMapBackend::new(&files.png, size).into_drawing_area();
        draw_on(&root, chart).map_err(draw_err(&files.png))?;
    }
    {
        let root = SVGBackend::new(&files.svg, size).into_drawing_area();
        draw_on(&root, chart).map_err(draw_err(&files.svg))?;
    }
    Ok(files)
}

/// Turns plotters' message into an error naming `path`.
fn draw_err(path: &Path) -> impl FnOnce(String) -> PlotError + '_ {
    move |message| PlotError::Draw { path: path.to_path_buf(), message }
}

/// Fills `root` white, draws `chart` and flushes the file.
fn draw_on<DB: DrawingBackend, C: Chart>(root: &DrawingArea<DB, Shift>, chart: &C) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    chart.draw(root)?;
    root.present().map_err(|e| e.to_string())
}

/// Writes a [`LineChart`] as `dir/NAME.png` and `dir/NAME.svg`.
pub fn line_chart(dir: &Path, name: &str, chart: &LineChart) -> Result<PlotFiles, PlotError> {
    render(dir, name, chart)
}

/// Writes a [`BarChart`] as `dir/NAME.png` and `dir/NAME.svg`.
pub fn bar_chart(dir: &Path, name: &str, chart: &BarChart) -> Result<PlotFiles, PlotError> {
    render(dir, name, chart)
}

/// Writes a [`HeatMap`] as `dir/NAME.png` and `dir/NAME.svg`.
pub fn heat_map(dir: &Path, name: &str, chart: &HeatMap) -> Result<PlotFiles, PlotError> {
    render(dir, name, chart)
}

/// Writes a [`ScatterChart`] as `dir/NAME.png` and `dir/NAME.svg`.
pub fn scatter_chart(dir: &Path, name: &str, chart: &ScatterChart) -> Result<PlotFiles, PlotError> {
    render(dir, name, chart)
}
