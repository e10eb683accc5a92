use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::checked;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WakeConfig {
    /// Keyword models: manifest names (`alexa`, `hey_jarvis`, `hey_mycroft`, ...) or paths
    /// to openWakeWord-compatible .onnx classifiers of your own.
    #[serde(deserialize_with = "words")]
    pub words: Vec<String>,
    /// Detection threshold on the model's score (0..1), for every word without its own.
    #[serde(deserialize_with = "checked::fraction")]
    pub threshold: f32,
    /// Per-word thresholds, e.g. `thresholds = { hey_jarvis = 0.6 }`.
    #[serde(deserialize_with = "checked::fraction_map")]
    pub thresholds: BTreeMap<String, f32>,
    /// After a detection, ignore that word for this long.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 60_000>")]
    pub refractory_ms: u32,
    /// Only accept a detection while Silero VAD also hears speech.
    pub vad_gate: bool,
}

impl Default for WakeConfig {
    fn default() -> Self {
        WakeConfig {
            words: vec!["alexa".into()],
            threshold: 0.5,
            thresholds: BTreeMap::new(),
            refractory_ms: 2000,
            vad_gate: false,
        }
    }
}

/// At least one word, each a bundled keyword model or a path to one's own.
fn words<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    let words = Vec::<String>::deserialize(d)?;
    if words.is_empty() {
        return Err(D::Error::custom(format!(
            "[] names no word: use one or more of {}, or paths to models of your own",
            crate::models::choices(&["wake"], "wake-").join(", ")
        )));
    }
    for word in &words {
        crate::models::check_choice(word, &["wake"], "wake-").map_err(D::Error::custom)?;
    }
    Ok(words)
}

impl WakeConfig {
    /// A per-word threshold must name a configured word, or it would silently do nothing.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let names: Vec<String> = self
            .words
            .iter()
            .map(|w| super::WakeWordName::from_config(w).as_str().to_string())
            .collect();
        for word in self.thresholds.keys() {
            if !names.contains(word) && !self.words.contains(word) {
                return Err((
                    "wake.thresholds",
                    format!(
                        "\"{word}\" is not one of the configured words ({})",
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The feature front end plus one classifier per configured word.
    pub fn model_refs(&self) -> Vec<crate::models::ModelRef> {
        use crate::models::ModelRef;
        let mut refs = vec![ModelRef::Bundle("openwakeword-features".into())];
        refs.extend(self.words.iter().map(|w| match ModelRef::parse(w) {
            ModelRef::Bundle(word) => ModelRef::Bundle(format!("wake-{word}")),
            path => path,
        }));
        refs
    }
}
