//! The `wake` service: Home Assistant streams a microphone's audio (a satellite without a
//! wake word of its own) and hears `detection` when one of hearken's wake words is in it, or
//! `not-detected` when the stream ends without one, as wyoming-openwakeword answers.
//! Each connection has its own detector: the words' state is per stream. Detectors are
//! kept for the next connection (Home Assistant opens one per pipeline run) instead of
//! loading the models again.

use std::sync::{Arc, Mutex};

use super::event::{pcm_samples, AudioChunk, AudioFormat, Detection, Event};
use super::services::check_format;
use crate::audio::resample::StreamResampler;
use crate::audio::SAMPLE_RATE;
use crate::config::Config;
use crate::models::ModelStore;
use crate::wake::{OpenWakeWord, WakeEngine, WakeWordName, FRAME_SAMPLES};

/// Milliseconds of audio in one detector frame.
const FRAME_MS: u64 = FRAME_SAMPLES as u64 * 1000 / SAMPLE_RATE as u64;

/// Input samples the resampler takes a call; longer chunks are fed in pieces.
const RESAMPLE_PIECE: usize = 4096;

/// The detectors of the `wake` service, made from `[wake]` (words, thresholds, VAD gate).
pub struct Detectors {
    config: Config,
    idle: Mutex<Vec<OpenWakeWord>>,
}

impl Detectors {
    /// Loads one detector now, so a missing or broken model fails start-up by name.
    pub fn load(config: &Config) -> anyhow::Result<Detectors> {
        let first = Self::build(config)?;
        Ok(Detectors {
            config: config.clone(),
            idle: Mutex::new(vec![first]),
        })
    }

    fn build(config: &Config) -> Result<OpenWakeWord, crate::wake::WakeError> {
        let store = ModelStore::new(&config.models);
        OpenWakeWord::with_vad(&config.wake, &config.vad, &store)
    }

    fn take(&self) -> Result<OpenWakeWord, String> {
        let kept = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match kept {
            Some(detector) => Ok(detector),
            None => Self::build(&self.config).map_err(|e| e.to_string()),
        }
    }

    fn give_back(&self, mut detector: OpenWakeWord) {
        detector.reset();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(detector);
    }
}

/// One connection's wake-word stream.
pub struct WakeStream {
    detectors: Arc<Detectors>,
    /// Taken from the pool at the first audio; returned when the connection ends.
    detector: Option<OpenWakeWord>,
    /// The words asked for by `detect` (`None`: all of them).
    names: Option<Vec<WakeWordName>>,
    /// Converts to 16 kHz when the peer streams another rate.
    resampler: Option<StreamResampler>,
    format: Option<AudioFormat>,
    /// 16 kHz samples short of a whole frame.
    pending: Vec<i16>,
    frames: u64,
    detected: bool,
}

impl WakeStream {
    pub fn new(detectors: Arc<Detectors>) -> WakeStream {
        WakeStream {
            detectors,
            detector: None,
            names: None,
            resampler: None,
            format: None,
            pending: Vec::new(),
            frames: 0,
            detected: false,
        }
    }

    /// `detect`: the words to report from now on.
    pub fn detect(&mut self, names: Option<Vec<String>>) {
        self.names = names.map(|n| n.iter().map(|w| WakeWordName::from_config(w)).collect());
    }

    /// `audio-start`: a new stream, heard from its start.
    pub fn start(&mut self, format: AudioFormat) -> Result<(), String> {
        check_format(format)?;
        if let Some(detector) = &mut self.detector {
            detector.reset();
        }
        self.resampler = if format.rate == SAMPLE_RATE {
            None
        } else {
            Some(
                StreamResampler::new(format.rate, SAMPLE_RATE, RESAMPLE_PIECE)
                    .map_err(|e| e.to_string())?,
            )
        };
        self.format = Some(format);
        self.pending.clear();
        self.frames = 0;
        self.detected = false;
        Ok(())
    }

    /// `audio-chunk`: the detections it completes (a stream without `audio-start` starts
    /// at its first chunk).
    pub async fn chunk(&mut self, chunk: AudioChunk) -> Result<Vec<Event>, String> {
        if self.format != Some(chunk.format) {
            self.start(chunk.format)?;
        }
        let channels = chunk.format.channels.max(1) as usize;
        let mono: Vec<i16> = pcm_samples(&chunk.audio)
            .into_iter()
            .step_by(channels)
            .collect();
        match &mut self.resampler {
            None => self.pending.extend_from_slice(&mono),
            Some(resampler) => {
                for piece in mono.chunks(RESAMPLE_PIECE) {
                    let mut out = vec![0i16; resampler.max_output(piece.len())];
                    let n = resampler.process(piece, &mut out);
                    self.pending.extend_from_slice(&out[..n]);
                }
            }
        }
        let whole = self.pending.len() / FRAME_SAMPLES * FRAME_SAMPLES;
        if whole == 0 {
            return Ok(Vec::new());
        }
        let frames: Vec<i16> = self.pending.drain(..whole).collect();
        let mut detector = match self.detector.take() {
            Some(d) => d,
            None => {
                let detectors = self.detectors.clone();
                tokio::task::spawn_blocking(move || detectors.take())
                    .await
                    .map_err(|e| format!("loading a wake-word detector failed: {e}"))??
            }
        };
        // Inference is CPU work: off the runtime's threads, the detector going with it.
        let (detector, heard) = tokio::task::spawn_blocking(move || {
            let mut heard = Vec::new();
            for (i, frame) in frames.chunks_exact(FRAME_SAMPLES).enumerate() {
                match detector.process(frame) {
                    Ok(found) => heard.extend(found.into_iter().map(|d| (i as u64, d.word))),
                    Err(e) => return (detector, Err(e.to_string())),
                }
            }
            (detector, Ok(heard))
        })
        .await
        .map_err(|e| format!("wake-word detection failed: {e}"))?;
        self.detector = Some(detector);
        let heard = heard?;
        let mut events = Vec::new();
        for (i, word) in heard {
            let name = WakeWordName::from_config(&word);
            if self.names.as_ref().is_some_and(|n| !n.contains(&name)) {
                continue;
            }
            self.detected = true;
            // The chunk's own time, as wyoming-openwakeword reports it; else the frame's
            // end since the stream started.
            let at = (self.frames + i + 1) * FRAME_MS;
            events.push(Event::Detection(Detection {
                name: Some(word),
                timestamp: Some(chunk.timestamp.unwrap_or(at)),
            }));
        }
        self.frames += (whole / FRAME_SAMPLES) as u64;
        Ok(events)
    }

    /// `audio-stop`: `not-detected` if nothing was heard; the next audio is a new stream.
    pub fn stop(&mut self) -> Option<Event> {
        let heard = self.detected;
        self.format = None;
        self.pending.clear();
        self.frames = 0;
        self.detected = false;
        (!heard).then_some(Event::NotDetected)
    }
}

impl Drop for WakeStream {
    fn drop(&mut self) {
        if let Some(detector) = self.detector.take() {
            self.detectors.give_back(detector);
        }
    }
}
