//! Where a run spills to disk, and its removal when the run ends or is
//! interrupted. DataFusion's spill files and the exact percentile's sorted
//! runs go into one directory of the process's own under the system's
//! temporary directory; SIGINT, SIGTERM and SIGHUP remove it before the
//! process exits (a spilling run interrupted by hand or by a CI timeout
//! once left 130-310 MB behind). Signals are handled by the `ctrlc` crate,
//! installed only once a run has a directory to clean.

use std::path::PathBuf;
use std::sync::Mutex;

static DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The process's spill directory, made on first use.
pub fn dir() -> std::io::Result<PathBuf> {
    let mut dir = DIR.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = dir.as_ref() {
        return Ok(d.clone());
    }
    // The handler first, so that no signal can come between the directory
    // and its removal. A second handler cannot be set (a library user may
    // have one): then the directory is still removed at the end of a
    // normal run.
    let _ = ctrlc::set_handler(|| {
        remove();
        std::process::exit(130);
    });
    let made = tempfile::Builder::new()
        .prefix("metricc-spill-")
        .tempdir()?
        .keep();
    *dir = Some(made.clone());
    Ok(made)
}

/// Removes the spill directory and everything in it, if there is one.
pub fn remove() {
    let taken = DIR.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(d) = taken {
        let _ = std::fs::remove_dir_all(d);
    }
}
