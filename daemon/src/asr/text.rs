//! Transcript text helpers: word error rate (the wake word is removed by
//! [`crate::wake::WakeWordName::strip`]).

/// Lower-case words without punctuation; `-` splits words, "mr" reads as "mister".
pub fn normalize_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
        })
        .filter(|w| !w.is_empty())
        .map(|w| if w == "mr" { "mister".to_string() } else { w })
        .collect()
}

/// Word-level edit distance between `reference` and `hypothesis` after [`normalize_words`]:
/// (errors, reference word count).
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r = normalize_words(reference);
    let h = normalize_words(hypothesis);
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    (prev[h.len()], r.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_errors_count_substitutions_insertions_deletions() {
        assert_eq!(
            word_errors(
                "he was not an ill disposed young man",
                "He was not an old-sposed young man."
            ),
            (2, 8)
        );
        assert_eq!(word_errors("and mr john", "And Mr. John"), (0, 3));
        assert_eq!(word_errors("a b c", "a x b c d"), (2, 3));
        assert_eq!(word_errors("a b c", ""), (3, 3));
    }
}
