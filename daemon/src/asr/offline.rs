//! Offline models (Whisper, Moonshine, SenseVoice) on sherpa-onnx's OfflineRecognizer, and
//! the VAD-driven recognizer that decodes each speech segment when it ends and re-decodes
//! the growing segment meanwhile, so partial text appears while the user still speaks.

use std::time::{Duration, Instant};

use sherpa_onnx::{
    OfflineModelConfig, OfflineMoonshineModelConfig, OfflineRecognizer, OfflineRecognizerConfig,
    OfflineSenseVoiceModelConfig, OfflineWhisperModelConfig,
};

use super::model::ModelFiles;
use super::{AsrConfig, AsrError, AsrEvent, Recognizer};
use crate::audio::wav::f32_to_i16;
use crate::vad::{VadEvent, VoiceDetector};

const RATE: u32 = 16_000;
/// Whisper sees at most 30 s; a longer segment is cut and decoded in pieces.
const MAX_SEGMENT: usize = 28 * RATE as usize;
/// Silence put before each segment: Whisper drops the first word of audio that starts with
/// speech ("Alexa, what..." decodes as "What...", "And Mr. John" as "Mr. John").
const LEAD_IN: usize = 3 * RATE as usize / 10;
/// Audio taken from before the VAD's segment start: its padding (30 ms by default) clips soft
/// onsets, and Whisper then drops the word ("And Mr. John" became "Mr. John").
const ONSET_MARGIN: u64 = RATE as u64 / 5;

/// An offline model that turns a whole buffer of 16 kHz audio into text.
pub struct OfflineEngine {
    recognizer: OfflineRecognizer,
}

fn path(p: &std::path::Path) -> Option<String> {
    Some(p.to_string_lossy().into_owned())
}

impl OfflineEngine {
    pub fn new(cfg: &AsrConfig, files: &ModelFiles) -> Result<Self, AsrError> {
        let language = (!cfg.language.is_empty()).then(|| cfg.language.clone());
        let mut model = OfflineModelConfig {
            num_threads: cfg.threads as i32,
            provider: Some(cfg.provider.as_str().into()),
            ..Default::default()
        };
        let tokens = match files {
            ModelFiles::Whisper {
                encoder,
                decoder,
                tokens,
            } => {
                model.whisper = OfflineWhisperModelConfig {
                    encoder: path(encoder),
                    decoder: path(decoder),
                    language,
                    task: Some("transcribe".into()),
                    tail_paddings: -1,
                    ..Default::default()
                };
                tokens
            }
            ModelFiles::Moonshine {
                preprocessor,
                encoder,
                uncached_decoder,
                cached_decoder,
                tokens,
            } => {
                model.moonshine = OfflineMoonshineModelConfig {
                    preprocessor: path(preprocessor),
                    encoder: path(encoder),
                    uncached_decoder: path(uncached_decoder),
                    cached_decoder: path(cached_decoder),
                    merged_decoder: None,
                };
                tokens
            }
            ModelFiles::SenseVoice { model: m, tokens } => {
                model.sense_voice = OfflineSenseVoiceModelConfig {
                    model: path(m),
                    language,
                    use_itn: true,
                };
                tokens
            }
            other => {
                return Err(AsrError::Config(format!(
                    "{other:?} is a streaming model; it runs on the OnlineRecognizer"
                )))
            }
        };
        model.tokens = path(tokens);
        let config = OfflineRecognizerConfig {
            model_config: model,
            decoding_method: Some("greedy_search".into()),
            ..Default::default()
        };
        let recognizer = OfflineRecognizer::create(&config).ok_or_else(|| AsrError::Create {
            kind: "offline",
            model: cfg.model.clone(),
            reason: files.refused(cfg.provider),
        })?;
        Ok(OfflineEngine { recognizer })
    }

    /// Decodes one buffer of 16 kHz mono samples in [-1, 1].
    pub fn decode(&self, samples: &[f32]) -> String {
        let stream = self.recognizer.create_stream();
        stream.accept_waveform(RATE as i32, samples);
        self.recognizer.decode(&stream);
        stream
            .get_result()
            .map(|r| r.text.trim().to_string())
            .unwrap_or_default()
    }
}

/// Offline model + VAD: one final per speech segment, partials while it grows.
pub struct SegmentedRecognizer {
    engine: OfflineEngine,
    vad: Box<dyn VoiceDetector>,
    /// Audio since `base` (a VAD sample position); older audio is dropped.
    audio: Vec<f32>,
    base: u64,
    /// VAD position where the current speech segment starts, while in speech.
    start: Option<u64>,
    partial: String,
    partial_interval: usize,
    /// Audio position (VAD samples) before which no partial re-decode is attempted.
    next_partial: u64,
    scratch: Vec<i16>,
}

impl SegmentedRecognizer {
    pub fn new(engine: OfflineEngine, vad: Box<dyn VoiceDetector>, cfg: &AsrConfig) -> Self {
        SegmentedRecognizer {
            engine,
            vad,
            audio: Vec::new(),
            base: 0,
            start: None,
            partial: String::new(),
            partial_interval: (cfg.partial_interval_ms as usize * RATE as usize / 1000).max(1),
            next_partial: 0,
            scratch: Vec::new(),
        }
    }

    pub fn engine(&self) -> &OfflineEngine {
        &self.engine
    }

    fn end(&self) -> u64 {
        self.base + self.audio.len() as u64
    }

    /// The segment `[from, to)` behind [`LEAD_IN`] of silence, ready to decode.
    fn segment(&self, from: u64, to: u64) -> Vec<f32> {
        let a = from.saturating_sub(ONSET_MARGIN).saturating_sub(self.base) as usize;
        let b = (to.saturating_sub(self.base) as usize).min(self.audio.len());
        let mut out = vec![0.0; LEAD_IN];
        out.extend_from_slice(&self.audio[a.min(b)..b]);
        out
    }

    /// Drops audio before `pos` (keeping a little for the next segment's start padding).
    fn forget_before(&mut self, pos: u64) {
        let keep_from = pos.saturating_sub(RATE as u64).max(self.base);
        let n = (keep_from - self.base) as usize;
        self.audio.drain(..n.min(self.audio.len()));
        self.base = keep_from;
    }

    fn final_text(&mut self, from: u64, to: u64) -> String {
        let text = self.engine.decode(&self.segment(from, to));
        self.partial.clear();
        self.forget_before(to);
        text
    }

    /// Re-decodes the growing segment when enough audio has arrived since the last try; the
    /// wait is stretched to twice the last decode time so partials never starve the CPU.
    fn maybe_partial(&mut self, start: u64, events: &mut Vec<AsrEvent>) {
        let now = self.end();
        if now < self.next_partial {
            return;
        }
        let t = Instant::now();
        let text = self.engine.decode(&self.segment(start, now));
        let took = t.elapsed();
        let wait = self.partial_interval.max(samples_of(took * 2));
        self.next_partial = now + wait as u64;
        if !text.is_empty() && text != self.partial {
            self.partial = text.clone();
            events.push(AsrEvent::Partial(text));
        }
    }
}

fn samples_of(d: Duration) -> usize {
    (d.as_secs_f64() * RATE as f64) as usize
}

impl Recognizer for SegmentedRecognizer {
    fn begin(&mut self) {
        self.vad.reset();
        self.audio.clear();
        self.base = 0;
        self.start = None;
        self.partial.clear();
        self.next_partial = 0;
    }

    fn feed(&mut self, samples: &[f32]) -> Result<Vec<AsrEvent>, AsrError> {
        let mut events = Vec::new();
        self.audio.extend_from_slice(samples);
        self.scratch.clear();
        self.scratch.extend(samples.iter().map(|&s| f32_to_i16(s)));
        for event in self.vad.process(&self.scratch)? {
            match event {
                VadEvent::SpeechStart { sample } => {
                    self.start = Some(sample);
                    self.next_partial = sample + self.partial_interval as u64;
                }
                VadEvent::SpeechEnd { sample } => {
                    if let Some(start) = self.start.take() {
                        let text = self.final_text(start, sample);
                        events.push(AsrEvent::Final(text));
                    }
                }
            }
        }
        match self.start {
            Some(start) if self.end() - start >= MAX_SEGMENT as u64 => {
                let end = self.end();
                let text = self.final_text(start, end);
                self.start = Some(end);
                events.push(AsrEvent::Final(text));
            }
            Some(start) => self.maybe_partial(start, &mut events),
            // Outside speech only a little audio is kept, for the next segment's padding.
            None => {
                let end = self.end();
                self.forget_before(end);
            }
        }
        Ok(events)
    }

    fn transcript_until(&mut self, end: u64) -> Result<Option<String>, AsrError> {
        Ok(Some(match self.start {
            Some(start) => self.engine.decode(&self.segment(start, end)),
            None => String::new(),
        }))
    }

    fn finish(&mut self) -> Result<String, AsrError> {
        // A segment still under way (or too young to be announced) ends with the input.
        for event in self.vad.flush()? {
            if let VadEvent::SpeechStart { sample } = event {
                self.start.get_or_insert(sample);
            }
        }
        let text = match self.start.take() {
            Some(start) => {
                let end = self.end();
                self.final_text(start, end)
            }
            None => String::new(),
        };
        self.begin();
        Ok(text)
    }
}
