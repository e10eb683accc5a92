//! Finding keys in the config text: which key a parse error's position belongs to, and
//! where a key's value sits when a check across keys refuses it.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// The dotted key whose value covers byte `offset` (the innermost one), e.g.
/// `wake.threshold`; `None` when the text does not parse or no value covers it.
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    let table = DeTable::parse(text).ok()?;
    innermost(table.get_ref(), offset, "")
}

/// The byte range of `key`'s value (`audio.ring_ms`), if the text sets it.
pub fn value_span(text: &str, key: &str) -> Option<Range<usize>> {
    let table = DeTable::parse(text).ok()?;
    let mut parts = key.split('.');
    let mut value = table.get_ref().get(parts.next()?)?;
    for part in parts {
        match value.get_ref() {
            DeValue::Table(t) => value = t.get(part)?,
            _ => return None,
        }
    }
    Some(value.span())
}

fn innermost(table: &DeTable<'_>, offset: usize, prefix: &str) -> Option<String> {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        if let DeValue::Table(inner) = value.get_ref() {
            if let Some(found) = innermost(inner, offset, &path) {
                return Some(found);
            }
        }
        let span = value.span();
        // A `[section]`'s own span does not cover its keys; only values count.
        if span.contains(&offset) || key.span().contains(&offset) {
            return Some(path);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[audio]\nperiod_ms = 20\n\n[wake]\nthresholds = { alexa = 0.6 }\n";

    #[test]
    fn finds_the_key_of_a_position() {
        let at = |needle: &str| key_at(TEXT, TEXT.find(needle).unwrap());
        assert_eq!(at("20").as_deref(), Some("audio.period_ms"));
        assert_eq!(at("0.6").as_deref(), Some("wake.thresholds.alexa"));
        assert_eq!(key_at("[audio\n", 3), None);
    }

    #[test]
    fn finds_the_value_of_a_key() {
        let span = value_span(TEXT, "audio.period_ms").unwrap();
        assert_eq!(&TEXT[span], "20");
        assert_eq!(value_span(TEXT, "audio.ring_ms"), None);
    }
}
