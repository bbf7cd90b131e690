//! The staging folder a run writes into before it replaces its output folder whole.

use super::interrupt;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A run's output folder while it is being written: `.<name>.partial-<pid>` beside the target, moved into
/// place only when the run is complete, so the target never holds part of a run or a mix of two.
/// Dropped without [`Staging::commit`] (error, interrupt), it is removed.
pub(crate) struct Staging {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Staging {
    pub(crate) fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow::anyhow!("--out {}: not a folder name", target.display()))?;
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        // The target is replaced whole; never replace a folder that holds something else.
        if let Ok(mut entries) = std::fs::read_dir(target) {
            let is_run =
                target.join("summary.json").exists() || target.join("timeseries.csv").exists();
            if entries.next().is_some() && !is_run {
                anyhow::bail!(
                    "--out {}: the folder exists and is not a podscale run folder (no summary.json); it would be replaced, so choose another or empty it",
                    target.display()
                );
            }
        }
        let temp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
        interrupt::set_temporary(Some(temp.clone()));
        Ok(Staging {
            temp,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.temp
    }

    /// Replaces the target with the staging folder (an earlier run's folder is moved aside, then deleted).
    pub(crate) fn commit(mut self) -> Result<()> {
        let old = self.temp.with_extension("old");
        if self.target.exists() {
            std::fs::rename(&self.target, &old)
                .with_context(|| format!("cannot replace {}", self.target.display()))?;
        }
        std::fs::rename(&self.temp, &self.target)
            .with_context(|| format!("cannot move the run into {}", self.target.display()))?;
        self.committed = true;
        interrupt::set_temporary(None);
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.temp);
            interrupt::set_temporary(None);
        }
    }
}
