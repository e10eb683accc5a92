//! Streaming recognition: sherpa-onnx's OnlineRecognizer, with its trailing-silence rules
//! and/or the VAD ending an utterance.

use sherpa_onnx::{
    OnlineModelConfig, OnlineNemoCtcModelConfig, OnlineParaformerModelConfig, OnlineRecognizer,
    OnlineRecognizerConfig, OnlineStream, OnlineTransducerModelConfig,
    OnlineZipformer2CtcModelConfig,
};

use super::config::{EndpointMode, EndpointRules};
use super::model::ModelFiles;
use super::{AsrConfig, AsrError, AsrEvent, Recognizer};
use crate::audio::wav::f32_to_i16;
use crate::vad::{VadEvent, VoiceDetector};

const RATE: i32 = 16_000;
/// Zeros fed after the last sample so the encoder's right context sees the end of speech.
const TAIL_PADDING: usize = 8_000;

pub struct StreamingRecognizer {
    recognizer: OnlineRecognizer,
    stream: OnlineStream,
    use_rules: bool,
    vad: Option<Box<dyn VoiceDetector>>,
    partial: String,
    scratch: Vec<i16>,
}

fn path(p: &std::path::Path) -> Option<String> {
    Some(p.to_string_lossy().into_owned())
}

impl StreamingRecognizer {
    /// `vad` is used (and required) when `asr.endpoint` is `vad` or `both`.
    pub fn new(
        cfg: &AsrConfig,
        files: &ModelFiles,
        vad: Option<Box<dyn VoiceDetector>>,
    ) -> Result<Self, AsrError> {
        let mode = cfg.endpoint;
        let EndpointRules {
            rule1,
            rule2,
            rule3,
        } = cfg.endpoint_rules();
        let mut model = OnlineModelConfig {
            num_threads: cfg.threads as i32,
            provider: Some(cfg.provider.as_str().into()),
            ..Default::default()
        };
        let tokens = match files {
            ModelFiles::Transducer {
                encoder,
                decoder,
                joiner,
                tokens,
            } => {
                model.transducer = OnlineTransducerModelConfig {
                    encoder: path(encoder),
                    decoder: path(decoder),
                    joiner: path(joiner),
                };
                tokens
            }
            ModelFiles::Paraformer {
                encoder,
                decoder,
                tokens,
            } => {
                model.paraformer = OnlineParaformerModelConfig {
                    encoder: path(encoder),
                    decoder: path(decoder),
                };
                tokens
            }
            ModelFiles::Zipformer2Ctc { model: m, tokens } => {
                model.zipformer2_ctc = OnlineZipformer2CtcModelConfig { model: path(m) };
                tokens
            }
            ModelFiles::NemoCtc { model: m, tokens } => {
                model.nemo_ctc = OnlineNemoCtcModelConfig { model: path(m) };
                tokens
            }
            other => {
                return Err(AsrError::Config(format!(
                    "{other:?} is an offline model; it is decoded per VAD segment"
                )))
            }
        };
        model.tokens = path(tokens);
        let use_rules = mode != EndpointMode::Vad;
        let config = OnlineRecognizerConfig {
            model_config: model,
            decoding_method: Some("greedy_search".into()),
            enable_endpoint: use_rules,
            // sherpa reads 0 as "its default", so every rule is always set explicitly.
            rule1_min_trailing_silence: rule1,
            rule2_min_trailing_silence: rule2,
            rule3_min_utterance_length: rule3,
            ..Default::default()
        };
        if mode != EndpointMode::Rules && vad.is_none() {
            return Err(AsrError::Config(
                "asr.endpoint = \"vad\" or \"both\" needs the VAD ([vad] model)".into(),
            ));
        }
        let recognizer = OnlineRecognizer::create(&config).ok_or_else(|| AsrError::Create {
            kind: "streaming",
            model: cfg.model.clone(),
            reason: files.refused(cfg.provider),
        })?;
        let stream = recognizer.create_stream();
        Ok(StreamingRecognizer {
            recognizer,
            stream,
            use_rules,
            vad: if mode == EndpointMode::Rules {
                None
            } else {
                vad
            },
            partial: String::new(),
            scratch: Vec::new(),
        })
    }

    fn decode_ready(&self) {
        while self.recognizer.is_ready(&self.stream) {
            self.recognizer.decode(&self.stream);
        }
    }

    fn text(&self) -> String {
        self.recognizer
            .get_result(&self.stream)
            .map(|r| r.text.trim().to_string())
            .unwrap_or_default()
    }

    /// Flushes the current utterance and starts a fresh one on the same stream.
    fn end_utterance(&mut self) -> String {
        self.stream.accept_waveform(RATE, &[0.0; TAIL_PADDING]);
        self.decode_ready();
        let text = self.text();
        self.recognizer.reset(&self.stream);
        self.partial.clear();
        text
    }
}

impl Recognizer for StreamingRecognizer {
    fn begin(&mut self) {
        // A fresh stream: no features, encoder states or endpoint counters carried over.
        self.stream = self.recognizer.create_stream();
        self.partial.clear();
        if let Some(vad) = self.vad.as_mut() {
            vad.reset();
        }
    }

    fn feed(&mut self, samples: &[f32]) -> Result<Vec<AsrEvent>, AsrError> {
        let mut events = Vec::new();
        let mut vad_end = false;
        if let Some(vad) = self.vad.as_mut() {
            self.scratch.clear();
            self.scratch.extend(samples.iter().map(|&s| f32_to_i16(s)));
            vad_end = vad
                .process(&self.scratch)?
                .iter()
                .any(|e| matches!(e, VadEvent::SpeechEnd { .. }));
        }
        self.stream.accept_waveform(RATE, samples);
        self.decode_ready();
        let text = self.text();
        if text != self.partial {
            self.partial = text.clone();
            if !text.is_empty() {
                events.push(AsrEvent::Partial(text));
            }
        }
        if vad_end {
            events.push(AsrEvent::Final(self.end_utterance()));
        } else if self.use_rules && self.recognizer.is_endpoint(&self.stream) {
            let text = self.text();
            self.recognizer.reset(&self.stream);
            self.partial.clear();
            events.push(AsrEvent::Final(text));
        }
        Ok(events)
    }

    fn finish(&mut self) -> Result<String, AsrError> {
        self.stream.accept_waveform(RATE, &[0.0; TAIL_PADDING]);
        self.stream.input_finished();
        self.decode_ready();
        let text = self.text();
        self.begin();
        Ok(text)
    }
}
