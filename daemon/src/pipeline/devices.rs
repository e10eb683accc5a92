//! The pipeline on real ALSA devices (a sound card, or alsa-lib's file plugin), and the
//! engines built from the config.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Devices, Engines, Options, Pipeline, PipelineError, RingSource, Speaker, Summary};
use crate::audio::{AudioConfig, Capture, CaptureSettings, Playback, PlaybackSettings};
use crate::config::Config;
use crate::models::ModelStore;

impl Speaker for PlaybackSpeaker {
    fn write(&mut self, samples: &[i16]) -> usize {
        self.playback.write(samples)
    }
    fn flush(&mut self) {
        self.playback.flush();
    }
    fn arm(&mut self) {
        self.playback.arm();
    }
    fn first_write(&self) -> Option<Instant> {
        self.playback.first_write()
    }
    fn is_idle(&self) -> bool {
        self.playback.is_idle()
    }
    fn ended_at(&self) -> Option<Instant> {
        self.playback.ended_at()
    }
    fn written(&self) -> u64 {
        self.playback.stats().written
    }
}

/// `audio::Playback` as the output thread's speaker; leaves its final stats behind.
pub struct PlaybackSpeaker {
    playback: Playback,
    last: Arc<Mutex<Option<crate::audio::PlaybackStats>>>,
}

impl PlaybackSpeaker {
    pub fn new(playback: Playback) -> Self {
        PlaybackSpeaker {
            playback,
            last: Arc::default(),
        }
    }
}

/// What the speaker may still play once the output thread is done: the output thread
/// already waited for it, so this only covers the device's own buffer.
const CLOSE_DRAIN: Duration = Duration::from_millis(300);

impl Drop for PlaybackSpeaker {
    fn drop(&mut self) {
        if self.playback.drain_within(CLOSE_DRAIN).is_none() && !self.playback.is_idle() {
            log::warn!("the speaker did not play out its last audio; closing it anyway");
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.playback.stats());
    }
}

/// What a run on devices leaves behind.
#[derive(Debug, Default)]
pub struct Played {
    pub summary: Summary,
    /// The playback device's rate and channels (what its file holds, if file-backed).
    pub device_rate: u32,
    pub device_channels: u32,
}

/// The daemon's devices from `[audio]`: opened in the background and reopened when lost.
pub fn live_devices(audio: &AudioConfig) -> (CaptureSettings, PlaybackSettings) {
    let mut capture = CaptureSettings::from_config(audio);
    capture.retry_open = true;
    let mut playback = PlaybackSettings::from_config(audio);
    playback.retry_open = true;
    (capture, playback)
}

/// Runs `pipeline` on a capture and a playback device. `live` stops on Ctrl-C / SIGTERM
/// and tells systemd it is ready; file-backed runs (`simulate`) end with their input. Take
/// `pipeline.handle()` first for the button and the API.
#[allow(clippy::too_many_arguments)]
pub async fn run_on_devices(
    pipeline: Pipeline,
    engines: Engines,
    capture_settings: &CaptureSettings,
    playback_settings: &PlaybackSettings,
    live: bool,
    source_rate: u32,
    options: Options,
    on_turn: impl FnMut(&super::TurnReport),
) -> Result<Played, PipelineError> {
    let playback = Playback::start(playback_settings, source_rate)?;
    let capture = Capture::start(capture_settings)?;
    let (consumer, capture_handle) = capture.split();
    let last = Arc::new(Mutex::new(None));
    let devices = Devices {
        source: Box::new(RingSource(consumer)),
        speaker: Box::new(PlaybackSpeaker {
            playback,
            last: last.clone(),
        }),
    };
    if live {
        let handle = pipeline.handle();
        tokio::spawn(async move {
            shutdown_signal().await;
            log::info!("stopping");
            handle.stop();
        });
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    }
    log::info!(
        "listening on {} and speaking on {}",
        capture_settings.device,
        playback_settings.device
    );
    let summary = pipeline
        .run(engines, devices, options, source_rate, on_turn)
        .await?;
    let stats = capture_handle.stop();
    if stats.dropped > 0 {
        log::warn!(
            "capture dropped {} samples (the listener fell behind)",
            stats.dropped
        );
    }
    let last = last.lock().unwrap_or_else(|e| e.into_inner()).take();
    Ok(Played {
        summary,
        device_rate: last.map_or(0, |s| s.device_rate),
        device_channels: last.map_or(0, |s| s.device_channels),
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// The loop's settings from the config.
pub fn options(config: &Config) -> Options {
    Options {
        config: config.pipeline.clone(),
        system_prompt: config.llm.system_prompt.clone(),
        pre_roll_ms: config.asr.preroll_ms,
        history_tokens: config.llm.history_tokens as usize,
        hold_while_busy: false,
        stop_at_end_of_input: false,
    }
}

/// Loads every engine the config names (models are checked and loaded here, so a missing
/// one fails before any audio flows).
pub fn build_engines(config: &Config) -> Result<Engines, PipelineError> {
    let store = ModelStore::new(&config.models);
    let engine = |what: &'static str| {
        move |e: &dyn std::fmt::Display| PipelineError::Engine {
            what,
            message: e.to_string(),
        }
    };
    crate::native::onnxruntime().map_err(|e| engine("ONNX Runtime")(&e))?;
    if config.models.verify_on_start {
        for model in config.model_refs() {
            store
                .verify(&model)
                .map_err(|e| engine("model check")(&e))?;
        }
    }
    let wake = crate::wake::OpenWakeWord::new(&config.wake, &store)
        .map_err(|e| engine("wake word")(&e))?;
    let vad = crate::vad::SileroVad::new(&config.vad, &store).map_err(|e| engine("VAD")(&e))?;
    let asr = crate::asr::build(&config.asr, &config.vad, &store).map_err(|e| engine("ASR")(&e))?;
    let tts = crate::tts::PiperVoice::new(&config.tts, &store).map_err(|e| engine("TTS")(&e))?;
    let llm = crate::llm::OpenAiChat::new(&config.llm).map_err(|e| engine("LLM client")(&e))?;
    Ok(Engines {
        wake: Box::new(wake),
        vad: Box::new(vad),
        asr,
        tts: Box::new(tts),
        llm: Arc::new(llm),
    })
}

/// Threads and resident memory of this process, for leak checks over many turns.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ProcessStats {
    pub threads: u64,
    pub rss_kb: u64,
}

pub fn process_stats() -> ProcessStats {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    ProcessStats {
        threads: field("Threads:"),
        rss_kb: field("VmRSS:"),
    }
}
