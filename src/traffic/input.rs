//! Where the bytes of a trace come from: a file, or any [`Read`] (a pipe, a network stream, bytes an
//! embedding program already holds).
//!
//! A file is streamed and reopened for every loop pass and for the validation pass
//! ([`super::trace::scan`]), so its size does not matter. A reader can be read only once, but a trace is
//! read at least twice (validated, then replayed; a looping replay reads it once per pass), so
//! [`TraceInput::from_reader`] buffers the reader in memory, refusing up front, before anything runs, a
//! reader longer than [`MAX_READER_BYTES`] (256 MiB). Larger traces go through a file. Errors name the
//! file, the name given to the reader, or [`ANONYMOUS`] (`<input>`) when none was given, then the line.

use super::TrafficError;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The most bytes [`TraceInput::from_reader`] buffers (256 MiB); a longer reader is refused.
pub const MAX_READER_BYTES: u64 = 256 << 20;

/// The name errors give a reader that came without one.
pub const ANONYMOUS: &str = "<input>";

/// The source of a trace's bytes (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceInput {
    /// A file, streamed, reopened for every pass.
    File(PathBuf),
    /// A reader's bytes, buffered once; `name` labels errors.
    Memory { name: String, bytes: Arc<[u8]> },
}

impl TraceInput {
    /// The file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        TraceInput::File(path.into())
    }

    /// Buffers `reader` (at most [`MAX_READER_BYTES`]); `name` labels errors (`None`: `<input>`).
    pub fn from_reader(reader: impl Read, name: Option<&str>) -> Result<Self, TrafficError> {
        Self::buffer(reader, name, MAX_READER_BYTES)
    }

    fn buffer(reader: impl Read, name: Option<&str>, limit: u64) -> Result<Self, TrafficError> {
        let name = name.unwrap_or(ANONYMOUS).to_string();
        let mut bytes = Vec::new();
        reader
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| TrafficError::Io {
                path: name.clone(),
                message: format!("cannot read trace: {e}"),
            })?;
        if bytes.len() as u64 > limit {
            return Err(TrafficError::Io {
                path: name,
                message: format!(
                    "a trace read from a stream is held in memory (it is read once to validate and again to replay) and this one is longer than the limit; allowed: at most {} bytes ({} MiB), or give a file path (files are streamed)",
                    limit,
                    limit >> 20
                ),
            });
        }
        Ok(TraceInput::Memory {
            name,
            bytes: bytes.into(),
        })
    }

    /// Bytes already in memory, named `name` in errors.
    pub fn from_bytes(name: &str, bytes: impl Into<Arc<[u8]>>) -> Self {
        TraceInput::Memory {
            name: name.to_string(),
            bytes: bytes.into(),
        }
    }

    /// How errors name this input: the file's path, or the reader's name.
    pub fn name(&self) -> String {
        match self {
            TraceInput::File(path) => path.display().to_string(),
            TraceInput::Memory { name, .. } => name.clone(),
        }
    }

    /// The file's path, if this input is a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            TraceInput::File(path) => Some(path),
            TraceInput::Memory { .. } => None,
        }
    }

    /// A fresh reader from the first byte (a file is reopened).
    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            TraceInput::File(path) => Box::new(std::fs::File::open(path)?),
            TraceInput::Memory { bytes, .. } => Box::new(Cursor::new(bytes.clone())),
        })
    }

    /// Every byte (a file is read whole).
    pub fn read_all(&self) -> std::io::Result<Arc<[u8]>> {
        match self {
            TraceInput::File(path) => Ok(std::fs::read(path)?.into()),
            TraceInput::Memory { bytes, .. } => Ok(bytes.clone()),
        }
    }
}

impl From<&Path> for TraceInput {
    fn from(path: &Path) -> Self {
        TraceInput::File(path.to_path_buf())
    }
}

impl From<&PathBuf> for TraceInput {
    fn from(path: &PathBuf) -> Self {
        TraceInput::File(path.clone())
    }
}

impl From<&TraceInput> for TraceInput {
    fn from(input: &TraceInput) -> Self {
        input.clone()
    }
}

impl From<PathBuf> for TraceInput {
    fn from(path: PathBuf) -> Self {
        TraceInput::File(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_is_buffered_and_reopened_from_the_start() {
        let input = TraceInput::from_reader("time_s\n1\n".as_bytes(), None).unwrap();
        assert_eq!(input.name(), "<input>");
        for _ in 0..2 {
            let mut text = String::new();
            input.open().unwrap().read_to_string(&mut text).unwrap();
            assert_eq!(text, "time_s\n1\n");
        }
    }

    #[test]
    fn a_reader_over_the_limit_is_refused_up_front() {
        let endless = std::io::repeat(b'1');
        let e = TraceInput::buffer(endless, Some("pipe"), 1 << 20).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("pipe: "), "{text}");
        assert!(text.contains("at most 1048576 bytes (1 MiB)"), "{text}");
        let exact = TraceInput::buffer(&[b'1'; 64][..], None, 64).unwrap();
        assert_eq!(exact.read_all().unwrap().len(), 64);
    }
}
