//! Writing a run's directory atomically.
//!
//! A run writes into a temporary sibling of its output directory, `PARENT/.NAME.tmp-PID-K`, and only
//! a run that finished is renamed onto `PARENT/NAME` (the previous results, if any, are moved aside
//! first and removed once the new ones are in place). So an interrupted or failed run never leaves a
//! `results/NAME` that looks complete: either the previous complete results are still there, or the
//! new complete ones are.
//!
//! Files that must outlive an interrupted run (a training checkpoint to resume from) go in
//! [`resume_dir`]: `PARENT/.NAME.resume`, outside the temporary directory, kept when a run fails and
//! removed when a run succeeds.

use super::error::ExperimentError;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Distinguishes the temporary directories of runs in the same process (tests run experiments in
/// parallel threads of one process).
static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The directory of a run being written, renamed onto its final place by [`Staging::commit`].
#[derive(Debug)]
pub(crate) struct Staging {
    /// Where the results end up.
    pub(crate) target: PathBuf,
    /// The temporary sibling the run writes into.
    pub(crate) tmp: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExperimentError + '_ {
    move |source| ExperimentError::Io { path: path.to_path_buf(), source }
}

/// The parent directory and the final component of `target`, or an error for a path without one
/// (`.`, `..`, `/`): such a directory cannot be replaced by a rename.
fn split(target: &Path) -> Result<(PathBuf, String), ExperimentError> {
    let name = match target.file_name().and_then(|n| n.to_str()) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => {
            return Err(ExperimentError::OutDir {
                path: target.to_path_buf(),
                why: "the output directory needs a final path component (not `.`, `..` or `/`)".into(),
            });
        }
    };
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Ok((parent.to_path_buf(), name))
}

/// Where a run into `target` keeps files that must survive an interruption: `PARENT/.NAME.resume`.
pub fn resume_dir(target: &Path) -> Result<PathBuf, ExperimentError> {
    let (parent, name) = split(target)?;
    Ok(parent.join(format!(".{name}.resume")))
}

/// True when `dir` may be replaced by a run: it does not exist, is empty, or holds a previous run's
/// `metrics.json` or `config.json`. Anything else (`--out ~`) is refused rather than deleted.
fn replaceable(dir: &Path) -> Result<bool, ExperimentError> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(ExperimentError::Io { path: dir.to_path_buf(), source: e }),
        Ok(mut entries) => {
            Ok(entries.next().is_none() || dir.join("metrics.json").is_file() || dir.join("config.json").is_file())
        }
    }
}

/// Removes temporary directories `PARENT/.NAME.tmp-PID-K` left by runs whose process no longer exists
/// (killed runs). Only where `/proc` tells which processes are alive; errors are ignored, since a
/// stray directory is harmless.
fn remove_stale(parent: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Staging {
    /// Creates the temporary directory of a run into `target` (and `target`'s parent).
    pub(crate) fn begin(target: &Path) -> Result<Self, ExperimentError> {
        let (parent, name) = split(target)?;
        if !replaceable(target)? {
            return Err(ExperimentError::OutDir {
                path: target.to_path_buf(),
                why: "exists and is not a tinylab results directory (no metrics.json or config.json); \
                      refusing to replace it"
                    .into(),
            });
        }
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        remove_stale(&parent, &name);
        let k = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!(".{name}.tmp-{}-{k}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        Ok(Staging { target: target.to_path_buf(), tmp })
    }

    /// Removes the temporary directory of a run that failed; `target` stays as it was.
    pub(crate) fn abort(&self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }

    /// Moves the finished run onto `target`, replacing what was there, and removes the run's
    /// [`resume_dir`]. On failure the temporary directory is removed and the previous results are
    /// put back where possible.
    pub(crate) fn commit(self) -> Result<PathBuf, ExperimentError> {
        let (parent, name) = split(&self.target)?;
        let old = self.tmp.with_file_name(format!(
            ".{name}.old-{}",
            self.tmp.file_name().and_then(|n| n.to_str()).and_then(|n| n.rsplit_once(".tmp-")).map_or("", |p| p.1)
        ));
        let had_old = self.target.exists();
        if had_old {
            if !replaceable(&self.target)? {
                self.abort();
                return Err(ExperimentError::OutDir {
                    path: self.target.clone(),
                    why: "was replaced during the run by a directory that is not tinylab results".into(),
                });
            }
            if let Err(e) = std::fs::rename(&self.target, &old) {
                self.abort();
                return Err(ExperimentError::Io { path: self.target.clone(), source: e });
            }
        }
        if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            self.abort();
            return Err(ExperimentError::Io { path: self.target.clone(), source: e });
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        let resume = parent.join(format!(".{name}.resume"));
        if resume.exists() {
            let _ = std::fs::remove_dir_all(&resume);
        }
        Ok(self.target)
    }
}
