//! hearken's engines as Wyoming services: `asr` (the recognizer of `[asr]`, fed as
//! `hearken transcribe` feeds it) and `tts` (the Piper voice of `[tts]`). They are loaded
//! once, apart from the conversation loop's own engines, and one connection at a time
//! uses each.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::config::{Service, WyomingConfig};
use super::event::{
    pcm_bytes, pcm_samples, Artifact, AsrProgram, Attribution, AudioChunk, AudioFormat, AudioStart,
    ErrorEvent, Event, Info, Model, Text, TtsProgram,
};
use super::server::{Outbox, Role, Session};
use crate::asr::{self, Recognizer};
use crate::audio::{resample::resample, wav::i16_to_f32, SAMPLE_RATE};
use crate::config::Config;
use crate::models::ModelStore;
use crate::tts::{PiperVoice, Synthesizer};

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

pub struct Services {
    info: Info,
    asr: Option<Arc<Mutex<Box<dyn Recognizer>>>>,
    tts: Option<Arc<Mutex<Box<dyn Synthesizer>>>>,
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
            });
            let voice = PiperVoice::new(&config.tts, &store)?;
            Some(Arc::new(
                Mutex::new(Box::new(voice) as Box<dyn Synthesizer>),
            ))
        } else {
            None
        };
        Ok(Services { info, asr, tts })
    }

    pub fn config_summary(config: &WyomingConfig) -> String {
        let names: Vec<&str> = config
            .services
            .iter()
            .map(|s| match s {
                Service::Asr => "asr",
                Service::Tts => "tts",
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
        Some(Box::new(ServiceSession {
            asr: self.asr.clone(),
            tts: self.tts.clone(),
            audio: None,
        }))
    }
}

/// Audio being collected for a transcription.
struct Recording {
    format: AudioFormat,
    samples: Vec<i16>,
}

struct ServiceSession {
    asr: Option<Arc<Mutex<Box<dyn Recognizer>>>>,
    tts: Option<Arc<Mutex<Box<dyn Synthesizer>>>>,
    audio: Option<Recording>,
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
                    self.audio = None;
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
                Event::Synthesize(request) => {
                    if let Some(tts) = &self.tts {
                        if let Err(e) = synthesize(tts.clone(), request.text, out).await {
                            report(out, e);
                        }
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
