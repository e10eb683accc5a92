use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WakeConfig {
    /// Keyword models: manifest names (`alexa`, `hey_jarvis`, `hey_mycroft`, ...) or paths
    /// to openWakeWord-compatible .onnx classifiers of your own.
    pub words: Vec<String>,
    /// Detection threshold on the model's score (0..1), for every word without its own.
    pub threshold: f32,
    /// Per-word thresholds, e.g. `thresholds = { hey_jarvis = 0.6 }`.
    pub thresholds: BTreeMap<String, f32>,
    /// After a detection, ignore that word for this long.
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

impl WakeConfig {
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
