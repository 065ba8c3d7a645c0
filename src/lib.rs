//! `tinylab`: the workbench's front package — the experiment registry behind `tinylab run` and the
//! charts every experiment report shares.
//!
//! - [`experiments`]: the [`Experiment`](experiments::Experiment) trait, the
//!   [`RunContext`](experiments::RunContext) an experiment writes its configuration, plots and notes into,
//!   the [`registry`](experiments::registry) of every experiment, and
//!   [`run_experiment`](experiments::run_experiment), which runs one into `results/NAME/`
//!   (`config.json`, `metrics.json`, `*.png` and `*.svg` plots, `report.md`).
//! - [`plot`]: line, grouped-bar, heat-map and scatter charts written as PNG and SVG with an embedded
//!   font.
//!
//! The simulators and models live in the member crates (`tinylab-quantum`, `tinylab-classical`, ...);
//! this package only composes them.

#![forbid(unsafe_code)]

/// The allocator of every tinylab binary, example and bench: mimalloc keeps freed blocks for reuse,
/// where glibc returns multi-megabyte activations to the OS and page-faults them back in on the next
/// training step (a third of the reference CNN's step time with glibc). Built with `no_thp`: with
/// transparent huge pages on `madvise` (Debian's default), mimalloc's `MADV_HUGEPAGE` segments made
/// the kernel zero whole 2 MiB pages on every re-commit after a purge, 27-40% of the GPT bench's
/// training step in `clear_page_erms` (perf, 2-core Xeon); without it that line is gone.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod experiments;
pub mod plot;
