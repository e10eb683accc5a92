use serde::{Deserialize, Serialize};

use crate::config::checked;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AsrConfig {
    /// Manifest bundle (`asr-whisper-tiny.en`, `asr-streaming-zipformer-en-20M-2023-02-17`, ...).
    #[serde(deserialize_with = "model")]
    pub model: String,
    /// ONNX Runtime provider; the sherpa-onnx library must be built with it.
    pub provider: Provider,
    /// Inference threads; on 2 cores 1 measures faster than 2.
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 64>")]
    pub threads: u32,
    /// Language for multilingual offline models (Whisper, SenseVoice); "" = the model's own.
    pub language: String,
    /// Streaming models: what ends an utterance.
    pub endpoint: EndpointMode,
    /// Trailing-silence preset for the rules.
    pub endpoint_preset: EndpointPreset,
    /// Rule 1: seconds of silence that end an utterance in which nothing was recognised
    /// (0 = from the preset).
    #[serde(deserialize_with = "rule_seconds")]
    pub rule1_min_trailing_silence: f32,
    /// Rule 2: seconds of silence that end an utterance after some text (0 = from the preset).
    #[serde(deserialize_with = "rule_seconds")]
    pub rule2_min_trailing_silence: f32,
    /// Rule 3: an utterance longer than this many seconds is ended (0 = from the preset).
    #[serde(deserialize_with = "rule_seconds")]
    pub rule3_min_utterance_length: f32,
    /// Offline models: while the user still speaks, the growing segment is re-decoded for a
    /// partial result at most this often (and never more often than twice the last decode took).
    #[serde(deserialize_with = "checked::u32_in::<_, 1, 60_000>")]
    pub partial_interval_ms: u32,
    /// Audio kept from before the wake word ended and handed to the recognizer with the turn.
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 5_000>")]
    pub preroll_ms: u32,
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            model: "asr-whisper-tiny.en".into(),
            provider: Provider::Cpu,
            threads: 1,
            language: "en".into(),
            endpoint: EndpointMode::Rules,
            endpoint_preset: EndpointPreset::Default,
            rule1_min_trailing_silence: 0.0,
            rule2_min_trailing_silence: 0.0,
            rule3_min_utterance_length: 0.0,
            partial_interval_ms: 500,
            preroll_ms: 300,
        }
    }
}

/// The ASR bundles of the manifest, or a model of the user's own.
fn model<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    crate::models::choice(d, &["asr-online", "asr-offline"], "")
}

/// sherpa-onnx reads 0 as "the preset's value", so 0 stays allowed; a rule is switched off
/// by a large value, so the bound is generous.
fn rule_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    checked::f32_in(d, 0.0, 3600.0)
}

/// The ONNX Runtime execution providers sherpa-onnx can use on Linux boards (an unknown
/// name would silently fall back to the CPU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Cpu,
    /// NVIDIA GPUs (Jetson).
    Cuda,
    /// TensorRT on NVIDIA GPUs.
    Trt,
    /// XNNPACK's NEON kernels on ARM.
    Xnnpack,
}

impl Provider {
    /// The name sherpa-onnx takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::Trt => "trt",
            Provider::Xnnpack => "xnnpack",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What ends an utterance for a streaming model (offline models always use the VAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointMode {
    /// sherpa-onnx's trailing-silence rules.
    Rules,
    /// Silero VAD's end of speech.
    Vad,
    /// Whichever comes first.
    Both,
}

/// Named sets of the three trailing-silence rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointPreset {
    Aggressive,
    Default,
    Relaxed,
}

impl EndpointPreset {
    pub fn rules(self) -> EndpointRules {
        let (rule1, rule2, rule3) = match self {
            EndpointPreset::Aggressive => (1.2, 0.5, 15.0),
            EndpointPreset::Default => (2.4, 1.2, 20.0),
            EndpointPreset::Relaxed => (3.5, 2.0, 30.0),
        };
        EndpointRules {
            rule1,
            rule2,
            rule3,
        }
    }
}

/// The three trailing-silence rules of sherpa-onnx's endpointing, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointRules {
    pub rule1: f32,
    pub rule2: f32,
    pub rule3: f32,
}

impl AsrConfig {
    pub fn model_ref(&self) -> crate::models::ModelRef {
        crate::models::ModelRef::parse(&self.model)
    }

    /// The rules: the preset's values, each replaced by its explicit key when that is set.
    pub fn endpoint_rules(&self) -> EndpointRules {
        let preset = self.endpoint_preset.rules();
        let pick = |v: f32, d: f32| if v > 0.0 { v } else { d };
        EndpointRules {
            rule1: pick(self.rule1_min_trailing_silence, preset.rule1),
            rule2: pick(self.rule2_min_trailing_silence, preset.rule2),
            rule3: pick(self.rule3_min_utterance_length, preset.rule3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AsrConfig, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    #[test]
    fn explicit_rule_overrides_preset() {
        let cfg = AsrConfig {
            endpoint_preset: EndpointPreset::Aggressive,
            rule1_min_trailing_silence: 0.8,
            ..AsrConfig::default()
        };
        assert_eq!(
            cfg.endpoint_rules(),
            EndpointRules {
                rule1: 0.8,
                rule2: 0.5,
                rule3: 15.0
            }
        );
    }

    #[test]
    fn choices_are_refused_with_the_allowed_values() {
        let err = parse("endpoint_preset = \"fast\"").unwrap_err();
        assert!(err.contains("`fast`"), "{err}");
        assert!(err.contains("`aggressive`, `default`, `relaxed`"), "{err}");
        let err = parse("endpoint = \"silence\"").unwrap_err();
        assert!(err.contains("`rules`, `vad`, `both`"), "{err}");
        let err = parse("provider = \"cdua\"").unwrap_err();
        assert!(err.contains("`cpu`, `cuda`, `trt`, `xnnpack`"), "{err}");
    }

    #[test]
    fn model_must_be_an_asr_bundle_or_a_path() {
        let err = parse("model = \"silero-vad\"").unwrap_err();
        assert!(err.contains("asr-whisper-tiny.en"), "{err}");
        assert!(parse("model = \"asr-streaming-zipformer-random\"").is_ok());
        assert!(parse("model = \"/opt/asr/my-model\"").is_ok());
    }

    #[test]
    fn numbers_are_range_checked() {
        assert!(parse("threads = 0")
            .unwrap_err()
            .contains("0 is out of range 1..64"));
        let err = parse("rule2_min_trailing_silence = -1.0").unwrap_err();
        assert!(err.contains("-1 is out of range 0..3600"), "{err}");
    }
}
