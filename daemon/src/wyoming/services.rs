//! hearken's engines as Wyoming services: `asr` (the recognizer of `[asr]`, fed as
//! `hearken transcribe` feeds it), `tts` (the Piper voice of `[tts]`, whole texts or text
//! streamed sentence by sentence) and `wake` (openWakeWord with `[wake]`'s words; see
//! [`super::wake_service`]). They are loaded once, apart from the conversation loop's own
//! engines; one connection at a time uses the recognizer and the voice.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::config::{Service, WyomingConfig};
use super::event::{
    pcm_bytes, pcm_samples, Artifact, AsrProgram, Attribution, AudioChunk, AudioFormat, AudioStart,
    ErrorEvent, Event, Info, Model, Text, TtsProgram, WakeProgram,
};
use super::server::{Outbox, Role, Session};
use super::wake_service::{Detectors, WakeStream};
use crate::asr::{self, Recognizer};
use crate::audio::{resample::resample, wav::i16_to_f32, SAMPLE_RATE};
use crate::config::Config;
use crate::llm::Chunker;
use crate::models::ModelStore;
use crate::tts::{PiperVoice, Synthesizer};
use crate::wake::WakeWordName;

/// Samples per `audio-chunk` of synthesized speech (about 46 ms at 22050 Hz).
const CHUNK_SAMPLES: usize = 1024;

pub(super) fn attribution() -> Attribution {
    Attribution {
        name: "hearken".into(),
        url: String::new(),
    }
}

pub(super) fn artifact(name: &str, description: &str) -> Artifact {
    Artifact {
        name: name.into(),
        attribution: attribution(),
        installed: true,
        description: Some(description.into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
    }
}

/// `[wake]`'s words as Wyoming models: named as detections name them, with the phrase
/// people say (Home Assistant shows it, and picks one device by it when several hear it).
pub(super) fn wake_program(config: &Config, description: &str) -> WakeProgram {
    let languages = vec![config.asr.language.clone()];
    WakeProgram {
        artifact: artifact("hearken-wake", description),
        models: config
            .wake
            .words
            .iter()
            .map(|w| {
                let word = WakeWordName::from_config(w);
                Model {
                    artifact: artifact(word.as_str(), &word.to_string()),
                    languages: languages.clone(),
                    phrase: Some(word.to_string()),
                }
            })
            .collect(),
    }
}

pub struct Services {
    info: Info,
    asr: Option<Arc<Mutex<Box<dyn Recognizer>>>>,
    tts: Option<Arc<Mutex<Box<dyn Synthesizer>>>>,
    wake: Option<Arc<Detectors>>,
}

impl Services {
    /// Loads the engines `[wyoming] services` names.
    pub fn load(config: &Config) -> anyhow::Result<Services> {
        let wanted = &config.wyoming.services;
        let store = ModelStore::new(&config.models);
        let mut info = Info::default();
        let language = vec![config.asr.language.clone()];
        let asr = if wanted.contains(&Service::Asr) {
            info.asr.push(AsrProgram {
                artifact: artifact("hearken-asr", "hearken's speech recognizer"),
                models: vec![Model {
                    artifact: artifact(&config.asr.model, &config.asr.model),
                    languages: language.clone(),
                    phrase: None,
                }],
            });
            let r = asr::build(&config.asr, &config.vad, &store)?;
            Some(Arc::new(Mutex::new(r)))
        } else {
            None
        };
        let tts = if wanted.contains(&Service::Tts) {
            info.tts.push(TtsProgram {
                artifact: artifact("hearken-tts", "hearken's Piper voice"),
                voices: vec![Model {
                    artifact: artifact(&config.tts.voice, &config.tts.voice),
                    languages: language,
                    phrase: None,
                }],
                supports_synthesize_streaming: Some(true),
            });
            let voice = PiperVoice::new(&config.tts, &store)?;
            Some(Arc::new(
                Mutex::new(Box::new(voice) as Box<dyn Synthesizer>),
            ))
        } else {
            None
        };
        let wake = if wanted.contains(&Service::Wake) {
            info.wake
                .push(wake_program(config, "hearken's openWakeWord detector"));
            Some(Arc::new(Detectors::load(config)?))
        } else {
            None
        };
        Ok(Services {
            info,
            asr,
            tts,
            wake,
        })
    }

    pub fn config_summary(config: &WyomingConfig) -> String {
        let names: Vec<&str> = config
            .services
            .iter()
            .map(|s| match s {
                Service::Asr => "asr",
                Service::Tts => "tts",
                Service::Wake => "wake",
            })
            .collect();
        format!("{} on {}", names.join(" and "), config.services_listen)
    }
}

impl Role for Services {
    fn info(&self) -> Info {
        self.info.clone()
    }

    fn session(&self, _peer: SocketAddr, _out: &Outbox) -> Option<Box<dyn Session>> {
        let wake = self.wake.clone().map(WakeStream::new);
        Some(Box::new(ServiceSession {
            listening: if self.asr.is_some() || wake.is_none() {
                Listening::Asr
            } else {
                Listening::Wake
            },
            asr: self.asr.clone(),
            tts: self.tts.clone(),
            wake,
            audio: None,
            streamed: None,
        }))
    }
}

/// Audio being collected for a transcription.
struct Recording {
    format: AudioFormat,
    samples: Vec<i16>,
}

/// What the audio a peer streams is for: the last `transcribe` or `detect` says (the
/// recognizer when it sent neither and hearken offers it).
#[derive(Clone, Copy, PartialEq)]
enum Listening {
    Asr,
    Wake,
}

struct ServiceSession {
    listening: Listening,
    asr: Option<Arc<Mutex<Box<dyn Recognizer>>>>,
    tts: Option<Arc<Mutex<Box<dyn Synthesizer>>>>,
    wake: Option<WakeStream>,
    audio: Option<Recording>,
    /// Text of a `synthesize-start` stream not yet a whole sentence.
    streamed: Option<Chunker>,
}

impl Session for ServiceSession {
    fn handle<'a>(
        &'a mut self,
        event: Event,
        out: &'a Outbox,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            match event {
                Event::Transcribe(_) => {
                    self.listening = Listening::Asr;
                    self.audio = None;
                }
                Event::Detect(detect) if self.wake.is_some() => {
                    self.listening = Listening::Wake;
                    if let Some(wake) = &mut self.wake {
                        wake.detect(detect.names);
                    }
                }
                Event::AudioStart(start) if self.listening == Listening::Wake => {
                    if let Some(wake) = &mut self.wake {
                        wake.start(start.format)?;
                    }
                }
                Event::AudioChunk(chunk) if self.listening == Listening::Wake => {
                    if let Some(wake) = &mut self.wake {
                        for detection in wake.chunk(chunk).await? {
                            let _ = out.send(detection);
                        }
                    }
                }
                Event::AudioStop if self.listening == Listening::Wake => {
                    if let Some(not_detected) = self.wake.as_mut().and_then(WakeStream::stop) {
                        let _ = out.send(not_detected);
                    }
                }
                Event::AudioStart(start) if self.asr.is_some() => {
                    check_format(start.format)?;
                    self.audio = Some(Recording {
                        format: start.format,
                        samples: Vec::new(),
                    });
                }
                Event::AudioChunk(chunk) if self.asr.is_some() => {
                    check_format(chunk.format)?;
                    let recording = self.audio.get_or_insert_with(|| Recording {
                        format: chunk.format,
                        samples: Vec::new(),
                    });
                    let channels = chunk.format.channels.max(1) as usize;
                    // The first channel of interleaved frames.
                    recording
                        .samples
                        .extend(pcm_samples(&chunk.audio).into_iter().step_by(channels));
                }
                Event::AudioStop => {
                    if let (Some(asr), Some(recording)) = (&self.asr, self.audio.take()) {
                        match transcribe(asr.clone(), recording).await {
                            Ok(text) => {
                                let _ = out.send(Event::Transcript(Text { text: Some(text) }));
                            }
                            Err(e) => report(out, e),
                        }
                    }
                }
                // Sent beside a stream for services that do not stream: the stream says it.
                Event::Synthesize(_) if self.streamed.is_some() => {}
                Event::Synthesize(request) => {
                    if let Some(tts) = &self.tts {
                        if let Err(e) = synthesize(tts.clone(), request.text, out).await {
                            report(out, e);
                        }
                    }
                }
                Event::SynthesizeStart if self.tts.is_some() => {
                    self.streamed = Some(Chunker::new());
                }
                Event::SynthesizeChunk(chunk) => {
                    if let (Some(tts), Some(chunker)) = (&self.tts, &mut self.streamed) {
                        for sentence in chunker.push(&chunk.text) {
                            if let Err(e) = synthesize(tts.clone(), sentence, out).await {
                                report(out, e);
                            }
                        }
                    }
                }
                Event::SynthesizeStop => {
                    if let (Some(tts), Some(mut chunker)) = (&self.tts, self.streamed.take()) {
                        if let Some(rest) = chunker.finish() {
                            if let Err(e) = synthesize(tts.clone(), rest, out).await {
                                report(out, e);
                            }
                        }
                        let _ = out.send(Event::SynthesizeStopped);
                    }
                }
                other => log::debug!("wyoming services: ignoring {other:?}"),
            }
            Ok(())
        })
    }
}

/// An engine failure is the peer's `error` event; the connection stays.
fn report(out: &Outbox, text: String) {
    log::warn!("wyoming services: {text}");
    let _ = out.send(Event::Error(ErrorEvent { text, code: None }));
}

pub(super) fn check_format(format: AudioFormat) -> Result<(), String> {
    if format.width != 2 || format.rate == 0 {
        return Err(format!(
            "audio of {} Hz, {} bytes a sample: only 16-bit PCM is taken",
            format.rate, format.width
        ));
    }
    Ok(())
}

async fn transcribe(
    asr: Arc<Mutex<Box<dyn Recognizer>>>,
    recording: Recording,
) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let samples: Vec<f32> = recording.samples.iter().map(|&s| i16_to_f32(s)).collect();
        let samples = resample(&samples, recording.format.rate, SAMPLE_RATE)
            .map_err(|e| format!("cannot resample the audio: {e}"))?;
        let mut r = asr.lock().unwrap_or_else(|p| p.into_inner());
        asr::transcript::transcribe(r.as_mut(), &samples)
            .map(|t| t.text)
            .map_err(|e| format!("transcription failed: {e}"))
    })
    .await
    .map_err(|e| format!("the transcription task failed: {e}"))?
}

/// Speaks `text` and streams it to the peer as it is produced.
async fn synthesize(
    tts: Arc<Mutex<Box<dyn Synthesizer>>>,
    text: String,
    out: &Outbox,
) -> Result<(), String> {
    let out = out.clone();
    tokio::task::spawn_blocking(move || {
        let mut voice = tts.lock().unwrap_or_else(|p| p.into_inner());
        let format = AudioFormat::mono16(voice.sample_rate());
        let _ = out.send(Event::AudioStart(AudioStart {
            format,
            timestamp: Some(0),
        }));
        let mut sent = 0u64;
        let mut pending: Vec<i16> = Vec::new();
        let send = |samples: &[i16], sent: &mut u64| {
            let _ = out.send(Event::AudioChunk(AudioChunk {
                format,
                timestamp: Some(*sent * 1000 / format.rate as u64),
                audio: pcm_bytes(samples),
            }));
            *sent += samples.len() as u64;
        };
        let result = voice.synthesize(&text, &mut |pcm| {
            pending.extend_from_slice(pcm);
            while pending.len() >= CHUNK_SAMPLES {
                let rest = pending.split_off(CHUNK_SAMPLES);
                send(&pending, &mut sent);
                pending = rest;
            }
            true
        });
        if !pending.is_empty() {
            send(&pending, &mut sent);
        }
        let _ = out.send(Event::AudioStop);
        result.map_err(|e| format!("synthesis failed: {e}"))
    })
    .await
    .map_err(|e| format!("the synthesis task failed: {e}"))?
}
