//! Text-side rules of a turn: the wake word is not part of the question, and the history
//! keeps only the part of an answer that was actually heard.

/// Removes the wake phrase (or the tail of it the pre-roll caught) from the start of a
/// transcript: "Alexa, what time is it?" and "Lexa what time is it" both become
/// "what time is it?".
pub fn strip_wake_word(transcript: &str, wake_word: &str) -> String {
    let phrase: String = normalize(&wake_word.replace(['_', '-'], " "));
    if phrase.is_empty() {
        return transcript.trim().to_string();
    }
    let words: Vec<&str> = transcript.split_whitespace().collect();
    let max_words = phrase.split(' ').count() + 1;
    // The longest prefix of words that spells the phrase, or the end of it.
    let mut cut = 0;
    let mut joined = String::new();
    let target = phrase.replace(' ', "");
    for (i, word) in words.iter().take(max_words).enumerate() {
        joined.push_str(&normalize(word).replace(' ', ""));
        let similar = joined.len().abs_diff(target.len()) <= 2
            && strsim::jaro_winkler(&joined, &target) > 0.85;
        if joined.len() >= 2 && (target.ends_with(&joined) || similar) {
            cut = i + 1;
        }
    }
    let rest = words[cut..].join(" ");
    rest.trim_start_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
        .to_string()
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One spoken piece of an answer and how many of its samples reached the speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct SpokenChunk {
    pub text: String,
    pub samples: usize,
    pub played: usize,
}

/// The text the listener heard: whole chunks that finished playing, then the words of a
/// chunk cut off part-way in proportion to the samples played.
pub fn played_text(chunks: &[SpokenChunk]) -> String {
    let mut parts = Vec::new();
    for chunk in chunks {
        if chunk.played == 0 {
            break;
        }
        if chunk.played >= chunk.samples {
            parts.push(chunk.text.trim().to_string());
            continue;
        }
        let words: Vec<&str> = chunk.text.split_whitespace().collect();
        let heard = words.len() * chunk.played / chunk.samples.max(1);
        if heard > 0 {
            parts.push(words[..heard].join(" "));
        }
        break;
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_word_is_stripped_whole_or_in_part() {
        let s = |t| strip_wake_word(t, "alexa");
        assert_eq!(s("Alexa, what time is it?"), "what time is it?");
        assert_eq!(s("Lexa what time is it"), "what time is it");
        assert_eq!(s("Alexa."), "");
        assert_eq!(
            s("What is the capital of France?"),
            "What is the capital of France?"
        );
        assert_eq!(s("  a lexa, how are you"), "how are you");
        assert_eq!(
            strip_wake_word("Hey Jarvis, turn it up", "hey_jarvis"),
            "turn it up"
        );
    }

    #[test]
    fn played_text_cuts_at_the_sample_played() {
        let chunk = |t: &str, n, p| SpokenChunk {
            text: t.into(),
            samples: n,
            played: p,
        };
        let chunks = [
            chunk("Paris is the capital of France.", 1000, 1000),
            chunk("It has two million people living there.", 800, 400),
            chunk("Never heard.", 500, 0),
        ];
        assert_eq!(
            played_text(&chunks),
            "Paris is the capital of France. It has two"
        );
        assert_eq!(played_text(&chunks[2..]), "");
    }
}
