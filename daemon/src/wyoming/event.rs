//! Typed Wyoming events over [`Frame`]s. Only the events hearken acts on or sends are
//! typed; any other type reads as [`Event::Unknown`] and is ignored by the caller, as the
//! protocol asks. Optional fields accept `null`; unknown fields are ignored.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::codec::{CodecError, Frame};

/// PCM format of audio events: hearken sends and takes 16-bit mono.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFormat {
    pub rate: u32,
    pub width: u32,
    pub channels: u32,
}

impl AudioFormat {
    pub fn mono16(rate: u32) -> Self {
        AudioFormat {
            rate,
            width: 2,
            channels: 1,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text {
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub name: Option<String>,
    pub timestamp: Option<u64>,
}

/// A wake-word service's request to listen for `names` (`None`: any it has) in the audio
/// that follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detect {
    #[serde(default)]
    pub names: Option<Vec<String>>,
}

/// A piece of streamed text: `synthesize-chunk` (text to speak as it comes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextChunk {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineStage {
    Wake,
    Asr,
    Intent,
    Handle,
    Tts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPipeline {
    pub start_stage: PipelineStage,
    pub end_stage: PipelineStage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_word_name: Option<String>,
    #[serde(default)]
    pub restart_on_end: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStart {
    #[serde(flatten)]
    pub format: AudioFormat,
    #[serde(default)]
    pub timestamp: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    pub format: AudioFormat,
    pub timestamp: Option<u64>,
    pub audio: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcribe {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthesizeVoice {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub speaker: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Synthesize {
    pub text: String,
    #[serde(default)]
    pub voice: Option<SynthesizeVoice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub text: String,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerStarted {
    pub id: String,
    pub total_seconds: u64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerUpdated {
    pub id: String,
    pub is_active: bool,
    pub total_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerId {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub name: String,
    pub url: String,
}

/// The fields every `info` artifact carries (the package's `Artifact`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub attribution: Attribution,
    pub installed: bool,
    pub description: Option<String>,
    pub version: Option<String>,
}

/// A model of a program: an artifact plus its languages (wake words add their phrase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub languages: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub models: Vec<Model>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtsProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub voices: Vec<Model>,
    /// Takes `synthesize-start`, `synthesize-chunk`s and `synthesize-stop`, speaking each
    /// sentence as its text arrives (Home Assistant then streams the agent's answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supports_synthesize_streaming: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WakeProgram {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub models: Vec<Model>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Satellite {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub area: Option<String>,
    pub has_vad: Option<bool>,
    pub active_wake_words: Option<Vec<String>>,
    pub max_active_wake_words: Option<u32>,
    pub supports_trigger: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    #[serde(default)]
    pub asr: Vec<AsrProgram>,
    #[serde(default)]
    pub tts: Vec<TtsProgram>,
    #[serde(default)]
    pub wake: Vec<WakeProgram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satellite: Option<Satellite>,
}

/// The events hearken reads or writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Describe,
    Info(Info),
    Ping(Text),
    Pong(Text),
    Detection(Detection),
    Detect(Detect),
    NotDetected,
    RunPipeline(RunPipeline),
    AudioStart(AudioStart),
    AudioChunk(AudioChunk),
    AudioStop,
    Transcribe(Transcribe),
    Transcript(Text),
    Synthesize(Synthesize),
    SynthesizeStart,
    SynthesizeChunk(TextChunk),
    SynthesizeStop,
    SynthesizeStopped,
    VoiceStarted,
    VoiceStopped,
    Played,
    RunSatellite,
    PauseSatellite,
    Error(ErrorEvent),
    TimerStarted(TimerStarted),
    TimerUpdated(TimerUpdated),
    TimerCancelled(TimerId),
    TimerFinished(TimerId),
    /// A type hearken does not act on.
    Unknown(String),
}

fn data<T: DeserializeOwned>(frame: &Frame) -> Result<T, CodecError> {
    serde_json::from_value(Value::Object(frame.data.clone())).map_err(|e| CodecError::BadData {
        kind: frame.kind.clone(),
        message: e.to_string(),
    })
}

fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value).expect("event data always serializes") {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl Event {
    /// The typed event of a frame; a known type whose data does not fit is an error.
    pub fn from_frame(frame: Frame) -> Result<Event, CodecError> {
        Ok(match frame.kind.as_str() {
            "describe" => Event::Describe,
            "info" => Event::Info(data(&frame)?),
            "ping" => Event::Ping(data(&frame)?),
            "pong" => Event::Pong(data(&frame)?),
            "detection" => Event::Detection(data(&frame)?),
            "detect" => Event::Detect(data(&frame)?),
            "not-detected" => Event::NotDetected,
            "run-pipeline" => Event::RunPipeline(data(&frame)?),
            "audio-start" => Event::AudioStart(data(&frame)?),
            "audio-chunk" => {
                let start: AudioStart = data(&frame)?;
                Event::AudioChunk(AudioChunk {
                    format: start.format,
                    timestamp: start.timestamp,
                    audio: frame.payload,
                })
            }
            "audio-stop" => Event::AudioStop,
            "transcribe" => Event::Transcribe(data(&frame)?),
            "transcript" => Event::Transcript(data(&frame)?),
            "synthesize" => Event::Synthesize(data(&frame)?),
            // The voice and text format of the stream are the service's own.
            "synthesize-start" => Event::SynthesizeStart,
            "synthesize-chunk" => Event::SynthesizeChunk(data(&frame)?),
            "synthesize-stop" => Event::SynthesizeStop,
            "synthesize-stopped" => Event::SynthesizeStopped,
            "voice-started" => Event::VoiceStarted,
            "voice-stopped" => Event::VoiceStopped,
            "played" => Event::Played,
            "run-satellite" => Event::RunSatellite,
            "pause-satellite" => Event::PauseSatellite,
            "error" => Event::Error(data(&frame)?),
            "timer-started" => Event::TimerStarted(data(&frame)?),
            "timer-updated" => Event::TimerUpdated(data(&frame)?),
            "timer-cancelled" => Event::TimerCancelled(data(&frame)?),
            "timer-finished" => Event::TimerFinished(data(&frame)?),
            _ => Event::Unknown(frame.kind),
        })
    }

    pub fn to_frame(&self) -> Frame {
        let (kind, data, payload): (&str, Map<String, Value>, Vec<u8>) = match self {
            Event::Describe => ("describe", Map::new(), Vec::new()),
            Event::Info(i) => ("info", to_map(i), Vec::new()),
            Event::Ping(t) => ("ping", to_map(t), Vec::new()),
            Event::Pong(t) => ("pong", to_map(t), Vec::new()),
            Event::Detection(d) => ("detection", to_map(d), Vec::new()),
            Event::Detect(d) => ("detect", to_map(d), Vec::new()),
            Event::NotDetected => ("not-detected", Map::new(), Vec::new()),
            Event::RunPipeline(r) => ("run-pipeline", to_map(r), Vec::new()),
            Event::AudioStart(s) => ("audio-start", to_map(s), Vec::new()),
            Event::AudioChunk(c) => (
                "audio-chunk",
                to_map(&AudioStart {
                    format: c.format,
                    timestamp: c.timestamp,
                }),
                c.audio.clone(),
            ),
            Event::AudioStop => ("audio-stop", Map::new(), Vec::new()),
            Event::Transcribe(t) => ("transcribe", to_map(t), Vec::new()),
            Event::Transcript(t) => ("transcript", to_map(t), Vec::new()),
            Event::Synthesize(s) => ("synthesize", to_map(s), Vec::new()),
            Event::SynthesizeStart => ("synthesize-start", Map::new(), Vec::new()),
            Event::SynthesizeChunk(c) => ("synthesize-chunk", to_map(c), Vec::new()),
            Event::SynthesizeStop => ("synthesize-stop", Map::new(), Vec::new()),
            Event::SynthesizeStopped => ("synthesize-stopped", Map::new(), Vec::new()),
            Event::VoiceStarted => ("voice-started", Map::new(), Vec::new()),
            Event::VoiceStopped => ("voice-stopped", Map::new(), Vec::new()),
            Event::Played => ("played", Map::new(), Vec::new()),
            Event::RunSatellite => ("run-satellite", Map::new(), Vec::new()),
            Event::PauseSatellite => ("pause-satellite", Map::new(), Vec::new()),
            Event::Error(e) => ("error", to_map(e), Vec::new()),
            Event::TimerStarted(t) => ("timer-started", to_map(t), Vec::new()),
            Event::TimerUpdated(t) => ("timer-updated", to_map(t), Vec::new()),
            Event::TimerCancelled(t) => ("timer-cancelled", to_map(t), Vec::new()),
            Event::TimerFinished(t) => ("timer-finished", to_map(t), Vec::new()),
            Event::Unknown(kind) => (kind.as_str(), Map::new(), Vec::new()),
        };
        Frame {
            kind: kind.to_string(),
            data,
            payload,
        }
    }
}

/// 16-bit little-endian PCM bytes to samples (a trailing odd byte is dropped).
pub fn pcm_samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

pub fn pcm_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(kind: &str, data: Value, payload: &[u8]) -> Frame {
        Frame {
            kind: kind.into(),
            data: data.as_object().cloned().unwrap(),
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn events_read_as_the_package_writes_them() {
        // As `AudioChunk.event()` writes it: timestamp may be null.
        let e = Event::from_frame(frame(
            "audio-chunk",
            json!({"rate": 22050, "width": 2, "channels": 1, "timestamp": null}),
            &[1, 0, 2, 0],
        ))
        .unwrap();
        let Event::AudioChunk(c) = e else { panic!() };
        assert_eq!(c.format, AudioFormat::mono16(22050));
        assert_eq!(pcm_samples(&c.audio), vec![1, 2]);
        let e = Event::from_frame(frame(
            "synthesize",
            json!({"text": "Hi.", "voice": null, "context": {"x": 1}}),
            &[],
        ))
        .unwrap();
        assert_eq!(
            e,
            Event::Synthesize(Synthesize {
                text: "Hi.".into(),
                voice: None
            })
        );
        let e = Event::from_frame(frame("ping", json!({}), &[])).unwrap();
        assert_eq!(e, Event::Ping(Text { text: None }));
    }

    #[test]
    fn unknown_types_are_kept_apart_and_bad_known_data_is_an_error() {
        let e = Event::from_frame(frame("satellite-connected", json!({"a": 1}), &[])).unwrap();
        assert_eq!(e, Event::Unknown("satellite-connected".into()));
        let err = Event::from_frame(frame("timer-started", json!({"id": 3}), &[])).unwrap_err();
        assert!(err.to_string().contains("timer-started"), "{err}");
    }

    #[test]
    fn typed_events_round_trip() {
        for e in [
            Event::RunPipeline(RunPipeline {
                start_stage: PipelineStage::Asr,
                end_stage: PipelineStage::Tts,
                wake_word_name: Some("hey_jarvis".into()),
                restart_on_end: false,
            }),
            Event::Detection(Detection {
                name: Some("hey_jarvis".into()),
                timestamp: Some(12),
            }),
            Event::AudioChunk(AudioChunk {
                format: AudioFormat::mono16(16000),
                timestamp: Some(80),
                audio: vec![0, 1, 2, 3],
            }),
            Event::Pong(Text {
                text: Some("x".into()),
            }),
            Event::Played,
            Event::Detect(Detect {
                names: Some(vec!["alexa".into()]),
            }),
            Event::NotDetected,
            Event::SynthesizeStart,
            Event::SynthesizeChunk(TextChunk {
                text: "Hello, ".into(),
            }),
            Event::SynthesizeStop,
            Event::SynthesizeStopped,
        ] {
            assert_eq!(Event::from_frame(e.to_frame()).unwrap(), e);
        }
    }
}
