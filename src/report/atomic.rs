//! Atomic output files: every byte the report module writes goes through here.
//!
//! A file is first written in full to `<name>.tmp` in the same directory and then renamed over the final
//! name. Rename within one directory (hence one filesystem) is atomic on POSIX systems, so a reader, or a
//! run that fails half-way, sees either the previous complete file or the new complete one, never a prefix.
//! Assumption: nobody else writes `<name>.tmp` next to our outputs at the same time.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The temporary sibling used while `path` is being written: `<name>.tmp`.
fn temp_path_for(path: &Path) -> io::Result<PathBuf> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let mut temp_name = OsString::from(file_name);
    temp_name.push(".tmp");
    Ok(path.with_file_name(temp_name))
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// A buffered writer for large outputs (e.g. a CSV streamed row by row) that only appears under its
/// final name once [`AtomicFile::commit`] succeeds. Dropping it uncommitted deletes the temporary file.
pub struct AtomicFile {
    writer: Option<BufWriter<File>>,
    temp_path: PathBuf,
    final_path: PathBuf,
}

impl AtomicFile {
    /// Opens `<path>.tmp` for writing, truncating a stale one left by a crashed process.
    pub fn create(path: &Path) -> io::Result<Self> {
        let temp_path = temp_path_for(path)?;
        let file = File::create(&temp_path)?;
        Ok(Self {
            writer: Some(BufWriter::with_capacity(64 * 1024, file)),
            temp_path,
            final_path: path.to_path_buf(),
        })
    }

    /// The name the file will have once committed.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Flushes, syncs and renames the temporary file to its final name.
    pub fn commit(mut self) -> io::Result<()> {
        let writer = self
            .writer
            .take()
            .expect("AtomicFile writer is present until commit or drop");
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        // Sync before the rename so a crash cannot leave the final name pointing at unwritten blocks.
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temp_path, &self.final_path)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(buf),
            None => Err(io::Error::other("AtomicFile already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Uncommitted: the content is incomplete by definition, so discard it rather than flush it.
            let (file, _unflushed) = writer.into_parts();
            drop(file);
            let _ = fs::remove_file(&self.temp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("podscale-atomic-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn committed_file_replaces_old_content_and_leaves_no_temp() {
        let dir = scratch_dir("commit");
        let path = dir.join("out.csv");
        fs::write(&path, "old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new,content\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
        file.commit().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new,content\n");
        assert!(!dir.join("out.csv.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dropped_file_leaves_nothing_behind() {
        let dir = scratch_dir("drop");
        let path = dir.join("out.csv");
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(&vec![b'x'; 200_000]).unwrap();
            assert!(dir.join("out.csv.tmp").exists());
        }
        assert!(!path.exists());
        assert!(!dir.join("out.csv.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
