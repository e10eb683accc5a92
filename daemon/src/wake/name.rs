//! What a wake word is called: one name for the config (`wake.words`, `wake.thresholds`),
//! the detections, the transcript it is stripped from, and the people reading it.

use crate::models::ModelRef;

/// A wake word's name: `alexa`, `hey_jarvis`. A `wake.words` entry is a manifest name or a
/// path to a model of one's own, named by its file stem without openWakeWord's version
/// suffix (`models/hey_jarvis_v0.1.onnx` is `hey_jarvis`). Displayed as the phrase people
/// say ("hey jarvis").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WakeWordName(String);

impl WakeWordName {
    /// The name of a `wake.words` entry (or of a detection's word: a name is its own name).
    pub fn from_config(spec: &str) -> Self {
        let stem = match ModelRef::parse(spec) {
            ModelRef::Bundle(name) => name,
            ModelRef::Path(path) => path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| spec.to_string()),
        };
        // openWakeWord's files carry their version: hey_jarvis_v0.1
        let name = match stem.rsplit_once("_v") {
            Some((word, version))
                if !word.is_empty()
                    && !version.is_empty()
                    && version.chars().all(|c| c.is_ascii_digit() || c == '.') =>
            {
                word.to_string()
            }
            _ => stem,
        };
        WakeWordName(name)
    }

    /// `hey_jarvis`: the key of `wake.thresholds` and the word a detection reports.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Removes the wake phrase from the start of a transcript, when the pre-roll made the
    /// recognizer hear it: all of it ("Alexa, what time is it?", "Hey, Jarvis. what",
    /// "heyjarvis what") or the tail of it the pre-roll caught ("Lexa what time is it"), or
    /// a near miss ("Alexia, what"). Case, punctuation and word breaks are ignored; when
    /// something was removed, the rest starts with a capital letter, as a sentence does.
    pub fn strip(&self, transcript: &str) -> String {
        let target = bare(&self.0);
        let words: Vec<&str> = transcript.split_whitespace().collect();
        if target.is_empty() {
            return words.join(" ");
        }
        let max_words = self.0.split(['_', '-', ' ']).count() + 1;
        // The longest run of first words that spells the phrase, the end of it, or nearly it.
        let mut cut = 0;
        let mut joined = String::new();
        for (i, word) in words.iter().take(max_words).enumerate() {
            joined.push_str(&bare(word));
            let similar = joined.len().abs_diff(target.len()) <= 2
                && strsim::jaro_winkler(&joined, &target) > 0.85;
            if joined.len() >= 2 && (target.ends_with(&joined) || similar) {
                cut = i + 1;
            }
        }
        let rest = words[cut..].join(" ");
        if cut == 0 {
            return rest;
        }
        let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
        let mut chars = rest.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }
}

/// The phrase people say: "hey jarvis".
impl std::fmt::Display for WakeWordName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<&str> = self
            .0
            .split(['_', '-', ' '])
            .filter(|w| !w.is_empty())
            .collect();
        f.write_str(&words.join(" "))
    }
}

/// Lower-case letters and digits only.
fn bare(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(spec: &str) -> WakeWordName {
        WakeWordName::from_config(spec)
    }

    #[test]
    fn names_come_from_manifest_names_or_file_stems_without_the_version() {
        assert_eq!(name("alexa").as_str(), "alexa");
        assert_eq!(name("hey_jarvis").as_str(), "hey_jarvis");
        assert_eq!(
            name("/opt/models/hey_jarvis_v0.1.onnx").as_str(),
            "hey_jarvis"
        );
        assert_eq!(name("models/computer.onnx").as_str(), "computer");
        assert_eq!(name("./ok_vivid.onnx").as_str(), "ok_vivid");
        assert_eq!(name("./my_word_v2.onnx").as_str(), "my_word");
        // Not a version: kept.
        assert_eq!(name("./go_vegan.onnx").as_str(), "go_vegan");
        assert_eq!(name("./word_v.onnx").as_str(), "word_v");
        // A detection's word names itself.
        assert_eq!(
            name(name("models/hey_jarvis_v0.1.onnx").as_str()),
            name("hey_jarvis")
        );
    }

    #[test]
    fn displayed_as_the_phrase() {
        assert_eq!(name("hey_jarvis").to_string(), "hey jarvis");
        assert_eq!(name("alexa").to_string(), "alexa");
        assert_eq!(
            name("models/hey_mycroft_v0.1.onnx").to_string(),
            "hey mycroft"
        );
    }

    #[test]
    fn the_wake_phrase_is_stripped_from_the_start_only() {
        let alexa = name("alexa");
        assert_eq!(alexa.strip("Alexa, what time is it?"), "What time is it?");
        assert_eq!(alexa.strip("Alexa, play music."), "Play music.");
        assert_eq!(alexa.strip("Alexa."), "");
        assert_eq!(alexa.strip("tell alexa a joke"), "tell alexa a joke");
        assert_eq!(
            alexa.strip("What is the capital of France?"),
            "What is the capital of France?"
        );
        let jarvis = name("hey_jarvis");
        assert_eq!(
            jarvis.strip("Hey, Jarvis. what time is it?"),
            "What time is it?"
        );
        assert_eq!(jarvis.strip("Hey Jarvis, turn it up"), "Turn it up");
        assert_eq!(
            name("models/hey_jarvis_v0.1.onnx").strip("heyjarvis turn it off"),
            "Turn it off"
        );
    }

    #[test]
    fn the_tail_the_pre_roll_caught_or_a_near_miss_is_stripped_too() {
        let alexa = name("alexa");
        assert_eq!(alexa.strip("Lexa what time is it"), "What time is it");
        assert_eq!(alexa.strip("  a lexa, how are you"), "How are you");
        assert_eq!(alexa.strip("Alexia, how are you"), "How are you");
        assert_eq!(name("hey_jarvis").strip("jarvis, lights off"), "Lights off");
    }
}
