//! The documents of a manifest file: YAML streams (`---`), `kind: List` items, and the line of a key
//! inside one document, so that errors and warnings about a manifest name its file, line and key.
//!
//! Documents are split at lines that start with `---` (YAML's document marker, which cannot appear at
//! column 0 inside a block scalar), so a key's line is found in the document's own text and shifted by
//! the document's first line.

use super::super::locate::locate_key_or_parent;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// One object of a manifest file: a document, or an item of a `kind: List` document.
#[derive(Clone, Debug)]
pub struct Doc {
    pub value: Value,
    pub file: PathBuf,
    /// The text of the YAML document holding the object.
    text: String,
    /// Line of the document's first line in the file, minus one.
    offset: usize,
    /// `items[i].` for a List item, else empty.
    prefix: String,
}

impl Doc {
    /// 1-based line in the file of the dotted `key` (e.g. `spec.predictor.minReplicas`), or of its
    /// nearest enclosing key.
    pub fn line(&self, key: &str) -> Option<usize> {
        locate_key_or_parent(&self.text, &format!("{}{key}", self.prefix)).map(|l| l + self.offset)
    }

    /// `file:line: key: message`.
    pub fn error(&self, key: &str, message: impl std::fmt::Display) -> String {
        let at = self.line(key).map(|l| format!(":{l}")).unwrap_or_default();
        format!("{}{at}: {key}: {message}", self.file.display())
    }

    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn name(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
    }

    /// The value at a dotted path of plain keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        key.split('.')
            .try_fold(&self.value, |v, k| v.get(k))
            .filter(|v| !v.is_null())
    }
}

/// Reads every object of a manifest file, in file order (List items in their order).
pub fn read_docs(path: &Path) -> Result<Vec<Doc>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if let Err((line, message)) = super::super::limits::check_text(&text) {
        let at = line.map(|l| format!(":{l}")).unwrap_or_default();
        return Err(format!(
            "{}{at}: refused before parsing: {message}",
            path.display()
        ));
    }
    let mut docs = Vec::new();
    for (offset, part) in split_documents(&text) {
        let value: Value = serde_yaml::from_str(&part).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}", l.line() + offset))
                .unwrap_or_default();
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            format!("{}{at}: malformed YAML: {message}", path.display())
        })?;
        if value.is_null() {
            continue; // an empty document (a leading `---`, or comments only)
        }
        let doc = Doc {
            value,
            file: path.to_path_buf(),
            text: part,
            offset,
            prefix: String::new(),
        };
        if doc.kind() == "List" {
            let Some(items) = doc.value.get("items").and_then(Value::as_sequence) else {
                return Err(doc.error("items", "a `kind: List` needs an `items` list"));
            };
            for (i, item) in items.iter().enumerate() {
                docs.push(Doc {
                    value: item.clone(),
                    prefix: format!("items[{i}]."),
                    ..doc.clone()
                });
            }
        } else {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Splits a YAML stream at its `---` lines: (lines before the document, document text).
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut parts = Vec::new();
    let mut start = 0usize;
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        // `---` alone or followed by a space (`--- # comment`, `--- {kind: x}`) starts a document.
        let marker = line
            .strip_prefix("---")
            .filter(|rest| rest.is_empty() || rest.starts_with([' ', '\t']));
        if let Some(rest) = marker {
            parts.push((start, std::mem::take(&mut current)));
            start = i;
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                current.push_str(rest);
            }
            current.push('\n');
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    parts.push((start, current));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_file_lines() {
        let text = "# c\n---\nkind: A\nspec:\n  x: 1\n---\nkind: B\nspec:\n  y: 2\n";
        let parts = split_documents(text);
        assert_eq!(parts.len(), 3);
        let dir = std::env::temp_dir().join(format!("podscale-docs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.yaml");
        std::fs::write(&path, text).unwrap();
        let docs = read_docs(&path).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line("spec.x"), Some(5));
        assert_eq!(docs[1].line("spec.y"), Some(9));
        std::fs::write(
            &path,
            "kind: List\nitems:\n- kind: A\n  spec:\n    x: 1\n- kind: B\n  spec:\n    y: 2\n",
        )
        .unwrap();
        let docs = read_docs(&path).unwrap();
        assert_eq!(docs[1].kind(), "B");
        assert_eq!(docs[1].line("spec.y"), Some(8));
        // The error is in the second document; its line is counted in the file.
        std::fs::write(&path, "kind: A\nx: 1\n---\nkind: B\nkey: [1, 2\nother: 3\n").unwrap();
        let e = read_docs(&path).unwrap_err();
        let line: usize = e
            .split("m.yaml:")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(line >= 5, "{e}");
    }

    use proptest::prelude::*;

    proptest! {
        /// However documents, blank lines and comments are arranged, every key of every document is
        /// located at the line it is written on.
        #[test]
        fn every_key_is_found_at_its_file_line(
            docs in proptest::collection::vec((0usize..3, 1usize..5, any::<bool>()), 1..5),
            leading_marker in any::<bool>(),
        ) {
            let mut text = String::new();
            let mut expected = Vec::new(); // (document index, key, line)
            if leading_marker {
                text.push_str("---\n");
            }
            for (d, (blanks, keys, comment)) in docs.iter().enumerate() {
                if d > 0 {
                    text.push_str(if *comment { "--- # next\n" } else { "---\n" });
                }
                for _ in 0..*blanks {
                    text.push('\n');
                }
                text.push_str("spec:\n");
                for k in 0..*keys {
                    if *comment {
                        text.push_str("  # note\n");
                    }
                    text.push_str(&format!("  k{k}: {k}\n"));
                    expected.push((d, format!("spec.k{k}"), text.lines().count()));
                }
            }
            let dir = std::env::temp_dir().join(format!("podscale-docs-prop-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("p.yaml");
            std::fs::write(&path, &text).unwrap();
            let read = read_docs(&path).unwrap();
            prop_assert_eq!(read.len(), docs.len());
            for (d, key, line) in expected {
                prop_assert_eq!(read[d].line(&key), Some(line), "{}", text);
            }
        }
    }
}
