//! Transcript text helpers: removing the wake word, and word error rate.

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

/// Removes a leading wake word (as configured, e.g. `hey_jarvis` or a model path whose file
/// stem names it) from a transcript, when the pre-roll made the recognizer hear it.
/// Case, punctuation and `_`/`-`/space differences are ignored; the rest keeps its casing.
pub fn strip_wake_word(text: &str, wake_words: &[&str]) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let bare = |w: &str| -> String {
        w.chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase()
    };
    let mut best = 0;
    for wake in wake_words {
        let stem = std::path::Path::new(wake)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        // openWakeWord names carry a version suffix: hey_jarvis_v0.1
        let stem = stem.split("_v0").next().unwrap_or(&stem).to_string();
        let target: String = bare(&stem);
        if target.is_empty() {
            continue;
        }
        // The recognizer may split or join the words ("hey jarvis", "hey, Jarvis", "Alexa").
        let mut joined = String::new();
        for (i, w) in words.iter().enumerate() {
            joined.push_str(&bare(w));
            if joined == target {
                best = best.max(i + 1);
                break;
            }
            if !target.starts_with(&joined) {
                break;
            }
        }
    }
    let rest = words[best..].join(" ");
    if best == 0 {
        return rest;
    }
    let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
    let mut chars = rest.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_word_is_removed_from_the_start_only() {
        assert_eq!(
            strip_wake_word("Hey, Jarvis. what time is it?", &["hey_jarvis"]),
            "What time is it?"
        );
        assert_eq!(
            strip_wake_word("Alexa, play music.", &["alexa"]),
            "Play music."
        );
        assert_eq!(
            strip_wake_word("heyjarvis turn it off", &["models/hey_jarvis_v0.1.onnx"]),
            "Turn it off"
        );
        assert_eq!(
            strip_wake_word("tell alexa a joke", &["alexa"]),
            "tell alexa a joke"
        );
        assert_eq!(strip_wake_word("Alexa.", &["alexa"]), "");
    }

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
