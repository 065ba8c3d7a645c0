//! The embedded font: DejaVu Sans, registered once with plotters' `ab_glyph` text renderer.
//!
//! plotters is built without `ttf`/`font-kit`, so it never looks for system fonts; every chart names the
//! family [`FAMILY`] and this module registers the embedded TTF under that name before the first drawing.
//! Without the registration plotters fails with `FontUnavailable` (see `../shared/TOOLCHAIN.md`).

use super::PlotError;
use std::sync::OnceLock;

/// The family name charts use; SVG files name it in their `font-family` attributes, so viewers fall
/// back to their own sans-serif font.
pub(crate) const FAMILY: &str = "sans-serif";

/// DejaVu Sans 2.37 (Bitstream Vera licence, `assets/DejaVuSans-LICENSE.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Outcome of the one registration: `false` when plotters refused the font bytes.
static REGISTERED: OnceLock<bool> = OnceLock::new();

/// Registers the embedded font with plotters (once per process; later calls are free).
pub(crate) fn ensure_registered() -> Result<(), PlotError> {
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, plotters::style::FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok { Ok(()) } else { Err(PlotError::Font("the embedded DejaVu Sans could not be parsed".into())) }
}
