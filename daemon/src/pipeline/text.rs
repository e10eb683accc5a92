//! Text-side rules of a turn: the wake word is not part of the question, and the history
//! keeps only the part of an answer that was actually heard.

use crate::wake::WakeWordName;

/// Removes the wake word `wake_word` (a detection's word) from the start of a transcript:
/// [`WakeWordName::strip`], the one rule.
pub fn strip_wake_word(transcript: &str, wake_word: &str) -> String {
    WakeWordName::from_config(wake_word).strip(transcript)
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
