//! Series selection for Prometheus exports: [`Selector`], a PromQL-style label selector restricted to
//! exact `=` and `!=` matchers (regular-expression matchers are refused with a message saying so). An
//! absent label reads as the empty string, as in PromQL.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchOp {
    Eq,
    Ne,
}

/// A PromQL-style label selector restricted to `=` and `!=` (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    matchers: Vec<(String, MatchOp, String)>,
}

impl Selector {
    /// Matches every series.
    pub fn all() -> Self {
        Selector::default()
    }

    /// Parses `name{a="x", b!="y"}`, `{a="x"}`, `name` or the empty string (everything).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let allowed = "allowed: metric{label=\"value\", label!=\"value\"} (= and != only)";
        let (name, body) = match text.find('{') {
            Some(open) => {
                let Some(inner) = text[open + 1..].strip_suffix('}') else {
                    return Err(format!(
                        "selector `{text}` has no closing `}}` at its end; {allowed}"
                    ));
                };
                (text[..open].trim(), inner)
            }
            None => (text, ""),
        };
        let mut matchers = Vec::new();
        if !name.is_empty() {
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            {
                return Err(format!("`{name}` is not a metric name; {allowed}"));
            }
            matchers.push(("__name__".to_string(), MatchOp::Eq, name.to_string()));
        }
        let mut rest = body.trim();
        while !rest.is_empty() {
            let op_at = rest
                .find(['=', '!'])
                .ok_or_else(|| format!("`{rest}` has no `=` or `!=`; {allowed}"))?;
            let label = rest[..op_at].trim();
            if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{label}` is not a label name; {allowed}"));
            }
            let after = &rest[op_at..];
            let (op, after) = if let Some(a) = after.strip_prefix("!=") {
                (MatchOp::Ne, a)
            } else if after.starts_with("=~") || after.starts_with("!~") {
                return Err(format!(
                    "regular-expression matchers (=~, !~) are not supported in `{label}`; {allowed}"
                ));
            } else if let Some(a) = after.strip_prefix('=') {
                (MatchOp::Eq, a)
            } else {
                return Err(format!("`{after}` is not a matcher; {allowed}"));
            };
            let after = after.trim_start();
            let Some(quoted) = after.strip_prefix('"') else {
                return Err(format!(
                    "the value of `{label}` must be in double quotes; {allowed}"
                ));
            };
            let close = quoted
                .find('"')
                .ok_or_else(|| format!("the value of `{label}` has no closing quote"))?;
            matchers.push((label.to_string(), op, quoted[..close].to_string()));
            rest = quoted[close + 1..].trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        }
        Ok(Selector { matchers })
    }

    /// True if the series with these labels is selected (an absent label reads as the empty string).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|(label, op, value)| {
            let actual = labels.get(label).map_or("", String::as_str);
            (actual == value) == (*op == MatchOp::Eq)
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .matchers
            .iter()
            .map(|(l, op, v)| format!("{l}{}\"{v}\"", if *op == MatchOp::Eq { "=" } else { "!=" }))
            .collect();
        write!(f, "{{{}}}", parts.join(", "))
    }
}
