//! Finds the line of a dotted key path in YAML text, so that semantic errors (found after parsing, when
//! serde's positions are gone) still point at a line. Block-style YAML only; returns `None` when unsure.

/// 1-based line of the key at `path` (e.g. `pod.service_time.mean` or `traffic.sources[1].rate`).
pub fn locate_key(text: &str, path: &str) -> Option<usize> {
    let segments = split_path(path);
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut parent_indent: isize = -1;
    let mut found = None;
    for seg in segments {
        match seg {
            Segment::Key(key) => {
                let mut hit = None;
                for (i, raw) in lines.iter().enumerate().skip(start) {
                    let indent = raw.len() - raw.trim_start().len();
                    let body = raw.trim_start().trim_start_matches("- ");
                    if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
                        continue;
                    }
                    if (indent as isize) <= parent_indent && i > start {
                        break;
                    }
                    let unquoted = body.trim_start_matches(['"', '\'']);
                    if unquoted.starts_with(key.as_str()) {
                        let after = unquoted[key.len()..].trim_start_matches(['"', '\'']);
                        if after.starts_with(':') {
                            hit = Some((i, indent));
                            break;
                        }
                    }
                }
                let (i, indent) = hit?;
                found = Some(i + 1);
                start = i + 1;
                parent_indent = indent as isize;
            }
            Segment::Index(n) => {
                let mut seen = 0usize;
                let mut hit = None;
                // Items of this list are the `- ` lines at the first item's indentation (not nested lists').
                let mut item_indent = None;
                for (i, raw) in lines.iter().enumerate().skip(start) {
                    if raw.trim().is_empty() {
                        continue;
                    }
                    let indent = raw.len() - raw.trim_start().len();
                    if (indent as isize) <= parent_indent && !raw.trim_start().starts_with("- ") {
                        break;
                    }
                    if raw.trim_start().starts_with("- ") {
                        let first = *item_indent.get_or_insert(indent);
                        if indent < first {
                            break;
                        }
                        if indent > first {
                            continue;
                        }
                        if seen == n {
                            hit = Some((i, indent));
                            break;
                        }
                        seen += 1;
                    }
                }
                let (i, indent) = hit?;
                found = Some(i + 1);
                start = i;
                parent_indent = indent as isize;
            }
        }
    }
    found
}

/// Like [`locate_key`], but falls back to the nearest enclosing key that can be found (for values written
/// in flow style, `traffic: {kind: poisson, rate: -5}`, the line of `traffic`).
pub fn locate_key_or_parent(text: &str, path: &str) -> Option<usize> {
    let mut candidate = path;
    loop {
        if let Some(line) = locate_key(text, candidate) {
            return Some(line);
        }
        let cut = candidate.rfind(['.', '['])?;
        candidate = &candidate[..cut];
    }
}

#[derive(Debug, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Splits `a.b[2]."c.d"` into segments. Quoted segments may contain dots.
pub fn split_path(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '.' => {
                if !cur.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    out.push(Segment::Key(std::mem::take(&mut cur)));
                }
                let mut inner = String::new();
                for q in chars.by_ref() {
                    if q == ']' {
                        break;
                    }
                    inner.push(q);
                }
                match inner.parse::<usize>() {
                    Ok(n) => out.push(Segment::Index(n)),
                    Err(_) => out.push(Segment::Key(inner.trim_matches('"').to_string())),
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(Segment::Key(cur));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name: x\npod:\n  cold_start: 10s\n  service_time:\n    dist: exp\n    mean: 1s\ntraffic:\n  kind: sum\n  sources:\n    - kind: poisson\n      rate: 1\n    - kind: poisson\n      rate: -2\n";

    #[test]
    fn finds_nested_keys_and_list_items() {
        assert_eq!(locate_key(DOC, "pod.service_time.mean"), Some(6));
        assert_eq!(locate_key(DOC, "traffic.sources[1].rate"), Some(13));
        assert_eq!(locate_key(DOC, "traffic.sources[0]"), Some(10));
        let nested = "items:\n- a:\n  - x: 1\n  - x: 2\n- b: 3\n";
        assert_eq!(locate_key(nested, "items[1].b"), Some(5));
        assert_eq!(locate_key(DOC, "pod.missing"), None);
        assert_eq!(locate_key_or_parent(DOC, "pod.missing"), Some(2));
        assert_eq!(locate_key_or_parent(DOC, "nowhere.at.all"), None);
    }

    #[test]
    fn splits_quoted_segments() {
        assert_eq!(
            split_path("service.annotations.\"autoscaling.knative.dev/target\""),
            vec![
                Segment::Key("service".into()),
                Segment::Key("annotations".into()),
                Segment::Key("autoscaling.knative.dev/target".into())
            ]
        );
    }
}
