//! `report.md`: one Markdown page per run, readable on its own and in a repository browser.

use super::context::PlotRecord;
use super::metrics::Metrics;
use serde_json::Value;
use std::fmt::Write;

/// Compact JSON longer than this is cut short in a table cell.
const MAX_CELL: usize = 80;

/// The report of a run of `experiment`.
pub(super) fn render(
    experiment: &str,
    description: &str,
    config: &Value,
    metrics: &Metrics,
    plots: &[PlotRecord],
    notes: &[String],
) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; `let _ =` keeps the code free of unwraps.
    let _ = writeln!(out, "# {experiment}\n\n{description}\n");
    let _ =
        writeln!(out, "Files: `config.json`, `metrics.json` (timings under `timings`), this report and the plots.\n");

    let _ = writeln!(out, "## Configuration\n\n| key | value |\n|---|---|");
    if let Value::Object(entries) = config {
        for (key, value) in entries {
            let _ = writeln!(out, "| {} | {} |", cell(key), cell(&show(value)));
        }
    }

    let _ = writeln!(out, "\n## Metrics\n\n| metric | value |\n|---|---|");
    for (key, value) in metrics.values() {
        let _ = writeln!(out, "| {} | {} |", cell(key), cell(&show(value)));
    }
    if !metrics.timings().is_empty() {
        let _ = writeln!(out, "\n### Timings (wall clock, this machine)\n\n| timing | value |\n|---|---|");
        for (key, seconds) in metrics.timings() {
            let _ = writeln!(out, "| {} | {} |", cell(key), number(*seconds));
        }
    }

    if !plots.is_empty() {
        let _ = writeln!(out, "\n## Plots");
        for plot in plots {
            let png = file_name(&plot.files.png);
            let svg = file_name(&plot.files.svg);
            let _ = writeln!(out, "\n### {}\n\n![{}]({png})\n\n[SVG]({svg})", plot.title, plot.title);
        }
    }

    if !notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for note in notes {
            let _ = writeln!(out, "{note}\n");
        }
    }
    out
}

/// A value as a table shows it: numbers shortened, strings bare, arrays and objects as compact JSON.
fn show(value: &Value) -> String {
    match value {
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => number(f),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => {
            let text = other.to_string();
            if text.chars().count() > MAX_CELL {
                let cut: String = text.chars().take(MAX_CELL).collect();
                format!("{cut}…")
            } else {
                text
            }
        }
    }
}

/// Six significant digits, in scientific notation outside [1e-3, 1e6).
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return v.to_string();
    }
    let magnitude = v.abs().log10().floor() as i32;
    if (-3..6).contains(&magnitude) {
        let decimals = (5 - magnitude).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
    } else {
        format!("{v:.5e}")
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_exact_enough() {
        assert_eq!(number(0.11506647003911222), "0.115066");
        assert_eq!(number(1234.5), "1234.5");
        assert_eq!(number(7.0e-18), "7.00000e-18");
        assert_eq!(show(&Value::from(42)), "42");
        assert_eq!(cell("a|b"), "a\\|b");
    }
}
