//! The pipeline on real ALSA devices (a sound card, or alsa-lib's file plugin), and the
//! engines built from the config.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Devices, Engines, Options, Pipeline, PipelineError, RingSource, Speaker, Summary};
use crate::audio::{AudioConfig, Capture, CaptureSettings, Pacing, Playback, PlaybackSettings};
use crate::config::Config;
use crate::models::ModelStore;
use crate::service::notify;

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
    fn is_dead(&self) -> bool {
        self.playback.stats().state == crate::audio::PlaybackState::Stopped
    }
    fn is_away(&self) -> bool {
        self.playback.stats().state == crate::audio::PlaybackState::Reopening
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

/// How long the capture thread gets to end once the loop has stopped.
const CAPTURE_STOP: Duration = Duration::from_millis(300);

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
    let echo = if capture_settings.pacing == Pacing::Unpaced && !options.echo.is_empty() {
        // Input faster than real time has no instant to line the speaker up with.
        log::info!("echo cancellation is off: the input is not paced in real time");
        super::EchoPath::default()
    } else {
        options.echo.clone()
    };
    let capture = Capture::start(capture_settings)?;
    let (consumer, capture_handle) = capture.split();
    let (reference, source) = echo.build(Box::new(RingSource(consumer)));
    let playback = Playback::start_with_reference(playback_settings, source_rate, reference)?;
    let speaker = playback.control();
    pipeline.handle().set_devices(super::DeviceWatch {
        capture: capture_handle.watch(),
        playback: playback.control(),
    });
    let last = Arc::new(Mutex::new(None));
    let devices = Devices {
        source,
        speaker: Box::new(PlaybackSpeaker {
            playback,
            last: last.clone(),
        }),
    };
    let handle = pipeline.handle();
    if live {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            log::info!("stopping");
            notify::stopping();
            handle.stop();
        });
    }
    log::info!(
        "listening on {} and speaking on {}",
        capture_settings.device,
        playback_settings.device
    );
    let words = log_ready();
    let run = pipeline.run(engines, devices, options, source_rate, on_turn);
    let summary = if live {
        // Models are loaded and both devices started (or being reopened, logged).
        notify::ready(&words);
        let capture = notify::Watched {
            name: capture_settings.device.clone(),
            reopening: || capture_handle.stats().state == crate::audio::CaptureState::Reopening,
        };
        let playback = notify::Watched {
            name: playback_settings.device.clone(),
            reopening: || speaker.stats().state == crate::audio::PlaybackState::Reopening,
        };
        let status = notify::serve(handle, words, capture, playback);
        tokio::select! {
            result = run => result,
            () = status => unreachable!("the status task runs until dropped"),
        }
    } else {
        run.await
    }?;
    // Bounded: a capture thread wedged in the driver must not hold up the exit.
    if let Some(stats) = capture_handle.stop_within(CAPTURE_STOP) {
        if stats.dropped > 0 {
            log::warn!(
                "capture dropped {} samples (the listener fell behind)",
                stats.dropped
            );
        }
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
        first_chunk_words: config.tts.first_chunk_words as usize,
        echo: super::EchoPath::from_config(&config.aec),
        recorder: config.audio.debug_recorder(),
    }
}

/// How long each start-up stage took: logged as it happens, and kept for the benchmark
/// (`scripts/bench-startup`) and the "ready" line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Startup {
    /// One entry per stage, in the order they finished. Wake word, VAD, ASR and TTS load
    /// in parallel, so their times overlap; `engines_s` is the wall time of all of it.
    pub stages: Vec<StageTime>,
    /// Wall time of [`build_engines_timed`].
    pub engines_s: f64,
    /// The wake words listened for (their display names).
    pub words: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StageTime {
    /// `ONNX Runtime`, `wake word`, `VAD`, `ASR`, `TTS`, `LLM client`.
    pub stage: &'static str,
    /// What was loaded: the model, voice or words the config names.
    pub what: String,
    pub seconds: f64,
}

/// The last start-up of this process, for the "ready" line of [`run_on_devices`].
static LAST_STARTUP: Mutex<Option<Startup>> = Mutex::new(None);

/// Loads every engine the config names (models are checked and loaded here, so a missing
/// one fails before any audio flows). Each stage is logged as it starts and ends.
pub fn build_engines(config: &Config) -> Result<Engines, PipelineError> {
    build_engines_timed(config).map(|(engines, _)| engines)
}

/// [`build_engines`], returning how long each stage took. The ONNX Runtime comes first
/// (`ort` must be initialised on the runtime sherpa-onnx mapped, before any session);
/// then wake word, VAD, ASR and TTS load on their own threads and the LLM client on this
/// one, since none needs another.
pub fn build_engines_timed(config: &Config) -> Result<(Engines, Startup), PipelineError> {
    let started = Instant::now();
    let store = ModelStore::new(&config.models);
    let words: Vec<String> = config
        .wake
        .words
        .iter()
        .map(|w| crate::wake::WakeWordName::from_config(w).to_string())
        .collect();
    let mut stages = Vec::new();

    let runtime = Stage::new("ONNX Runtime", "sherpa-onnx + onnxruntime".into());
    crate::native::onnxruntime().map_err(|e| runtime.failed(&e))?;
    stages.push(runtime.done());

    if config.models.verify_on_start {
        let refs = config.model_refs();
        let check = Stage::begin(
            "checking",
            "models",
            format!("{} model(s) against their sha256", refs.len()),
        );
        for model in refs {
            store.verify(&model).map_err(|e| check.failed(&e))?;
        }
        stages.push(check.done());
    }

    let wake_stage = Stage::new("wake word", words.join(", "));
    let vad_stage = Stage::new("VAD", config.vad.model.clone());
    let asr_stage = Stage::new("ASR", config.asr.model.clone());
    let tts_stage = Stage::new("TTS", config.tts.voice.clone());
    let llm_stage = Stage::new(
        "LLM client",
        format!("{} at {}", config.llm.model, config.llm.base_url),
    );
    let turn = crate::turn::build(&config.turn, &store).map_err(|e| PipelineError::Engine {
        what: "turn detection",
        message: e.to_string(),
    })?;
    // In smart mode the VAD's end of speech is the fallback: until then the detector decides.
    let mut listener_vad = config.vad.clone();
    if config.turn.mode == crate::turn::TurnMode::Smart {
        listener_vad.min_silence_ms = config.turn.fallback_ms;
    }
    // One VAD per capture stream: the recognizer follows the listener's.
    let (vad_share, following) = crate::vad::VadShare::new();
    let (wake, vad, asr, tts, llm) = std::thread::scope(|s| {
        let wake = load_on(s, wake_stage, || {
            crate::wake::OpenWakeWord::new(&config.wake, &store)
                .map(|w| Box::new(w) as Box<dyn crate::wake::WakeEngine>)
        });
        let vad = load_on(s, vad_stage, || {
            crate::vad::SileroVad::new(&listener_vad, &store)
                .map(|v| Box::new(v) as Box<dyn crate::vad::VoiceDetector>)
        });
        let asr = load_on(s, asr_stage, || {
            crate::asr::build_following(&config.asr, &store, following)
        });
        let tts = load_on(s, tts_stage, || {
            crate::tts::PiperVoice::new(&config.tts, &store)
                .map(|t| Box::new(t) as Box<dyn crate::tts::Synthesizer>)
        });
        // The HTTP client (TLS set-up) on this thread meanwhile.
        let llm = match crate::llm::OpenAiChat::new(&config.llm) {
            Ok(llm) => Ok((llm, llm_stage.done())),
            Err(e) => Err(llm_stage.failed(&e)),
        };
        (wake.join(), vad.join(), asr.join(), tts.join(), llm)
    });
    // A model that fails to load is most often a damaged file (a download cut short, a
    // disk error): its checksum names the file and how to reinstall it, which the ONNX
    // error does not. Checked only on this path (it hashes every model: seconds).
    let failed_to_load = wake.is_err() || vad.is_err() || asr.is_err() || tts.is_err();
    if failed_to_load && !config.models.verify_on_start {
        for model in config.model_refs() {
            if let Err(e) = store.verify(&model) {
                log::error!("{e}");
                return Err(PipelineError::Engine {
                    what: "models",
                    message: e.to_string(),
                });
            }
        }
    }
    // Every stage has finished (or failed) by now; the first failure in pipeline order is
    // the one returned, the others were logged.
    let (wake, t) = wake?;
    stages.push(t);
    let (vad, t) = vad?;
    stages.push(t);
    let (asr, t) = asr?;
    stages.push(t);
    let (tts, t) = tts?;
    stages.push(t);
    let (llm, t) = llm?;
    stages.push(t);
    // The earcon files, checked now so a bad one fails before hearken says it listens (the
    // pipeline renders them again at the voice's rate when it starts: a few ms).
    super::Earcons::load(&config.pipeline.earcons, tts.sample_rate())?;

    let startup = Startup {
        stages,
        engines_s: started.elapsed().as_secs_f64(),
        words,
    };
    log::info!("engines loaded in {:.2} s", startup.engines_s);
    *LAST_STARTUP.lock().unwrap_or_else(|e| e.into_inner()) = Some(startup.clone());
    Ok((
        Engines {
            wake,
            vad,
            vad_share: Some(vad_share),
            turn,
            asr,
            tts,
            llm: Arc::new(llm),
        },
        startup,
    ))
}

/// One start-up stage: logs "loading WHAT…" when made and "WHAT ready in N s" when done.
struct Stage {
    stage: &'static str,
    what: String,
    started: Instant,
}

impl Stage {
    fn new(stage: &'static str, what: String) -> Stage {
        Stage::begin("loading", stage, what)
    }

    /// Logs "DOING STAGE WHAT…".
    fn begin(doing: &str, stage: &'static str, what: String) -> Stage {
        log::info!("{doing} {stage} {what}…");
        Stage {
            stage,
            what,
            started: Instant::now(),
        }
    }

    fn done(self) -> StageTime {
        let seconds = self.started.elapsed().as_secs_f64();
        log::info!("{} ready in {seconds:.2} s", self.stage);
        StageTime {
            stage: self.stage,
            what: self.what,
            seconds,
        }
    }

    fn failed(&self, error: &dyn std::fmt::Display) -> PipelineError {
        log::error!(
            "{} {} failed after {:.2} s: {error}",
            self.stage,
            self.what,
            self.started.elapsed().as_secs_f64()
        );
        PipelineError::Engine {
            what: self.stage,
            message: error.to_string(),
        }
    }
}

type Loaded<T> = Result<(T, StageTime), PipelineError>;

/// A stage loading on its own thread.
struct Loading<'scope, T> {
    stage: &'static str,
    handle: Result<std::thread::ScopedJoinHandle<'scope, Loaded<T>>, PipelineError>,
}

impl<T> Loading<'_, T> {
    fn join(self) -> Loaded<T> {
        let stage = self.stage;
        self.handle?.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            log::error!("{stage}: loading panicked: {message}");
            Err(PipelineError::Engine {
                what: stage,
                message: format!("loading panicked: {message}"),
            })
        })
    }
}

fn load_on<'scope, T: Send + 'scope, E: std::fmt::Display>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    stage: Stage,
    load: impl FnOnce() -> Result<T, E> + Send + 'scope,
) -> Loading<'scope, T> {
    let name = stage.stage;
    let handle = std::thread::Builder::new()
        .name(format!("load {name}"))
        .spawn_scoped(scope, move || match load() {
            Ok(engine) => Ok((engine, stage.done())),
            Err(e) => Err(stage.failed(&e)),
        })
        .map_err(|source| PipelineError::Thread {
            what: "engine loader",
            source,
        });
    Loading {
        stage: name,
        handle,
    }
}

/// Time since this process was started (exec), from /proc: what a user waits from typing
/// `hearken run` (or systemd starting it) to the first moment it listens. 10 ms resolution.
pub fn since_process_start() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces;
    // `starttime` is field 22 of the whole line, the 20th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start_ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_s <= 0 {
        return None;
    }
    let age = uptime - start_ticks / ticks_per_s as f64;
    (age >= 0.0).then(|| std::time::Duration::from_secs_f64(age))
}

/// The line that tells a user hearken is listening, with the start-up time; returns the
/// wake words it listens for.
fn log_ready() -> String {
    let words = LAST_STARTUP
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|s| s.words.join(", "))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "the wake word".into());
    match since_process_start() {
        Some(age) => log::info!(
            "ready: listening for {words} (start-up {:.1} s)",
            age.as_secs_f64()
        ),
        None => log::info!("ready: listening for {words}"),
    }
    words
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
