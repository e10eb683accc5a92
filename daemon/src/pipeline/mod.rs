//! The conversation loop: the state machine, the threads around it and the turn timeline.
//!
//! ```text
//! capture ring ─▶ listener thread (wake word, VAD, ASR) ──events──▶ controller (tokio)
//!                                        ▲                           │ state machine
//!                                        └──── release, mute ────────┤
//!                        LLM stream (tokio task) ◀── start / cancel ─┘
//!                                │ sentences
//!                                ▼
//!                         TTS thread ──PCM──▶ output thread ──▶ playback ring ─▶ ALSA
//! ```
//!
//! The controller owns [`state::Conversation`], a deterministic core: every thread reports
//! [`Event`]s to it and it answers with [`Command`]s, which the controller carries out.
//! Each answer's life is a [`life::ReplyLife`] (it reports its end exactly once), and every
//! thread is supervised: one that dies stops the loop with an error naming it.

mod config;
mod devices;
pub mod earcon;
pub mod echo;
pub mod life;
pub mod listener;
pub mod notice;
pub mod once;
pub mod output;
pub mod remote;
pub mod reply;
pub mod state;
pub mod supervise;
pub mod text;
pub mod timeline;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use config::{EarconConfig, PipelineConfig};
pub use devices::{
    build_engines, build_engines_timed, live_devices, options, process_stats, run_on_devices,
    since_process_start, PlaybackSpeaker, Played, ProcessStats, StageTime, Startup,
};
pub use earcon::{Cue, Earcons};
pub use echo::EchoPath;
pub use life::{ChunkLog, ChunkRecord, Confirmation, Outcome, ReplyLife};
pub use listener::{FrameSource, Heard, ListenerCommand, ListenerSettings, Retune, RingSource};
pub use notice::Notice;
pub use once::{speak_once, speak_once_until, MemorySpeaker, Speech, Spoken};
pub use output::{OutMsg, Speaker};
pub use remote::{Remote, RemoteSpeech, ANNOUNCEMENT_TURNS};
pub use state::{Command, Conversation, Event, Stage, State};
pub use supervise::{Exit, StageProgress};
pub use timeline::{Timeline, TimelineMs, Trigger, TurnReport};

use crate::asr::Recognizer;
use crate::llm::ChatModel;
use crate::tts::Synthesizer;
use crate::vad::VoiceDetector;
use crate::wake::WakeEngine;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("audio capture failed: {0}; check the device with `hearken devices`")]
    Capture(String),
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Earcon(#[from] earcon::EarconError),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    #[error("{what}: {message}")]
    Engine { what: &'static str, message: String },
    /// A stage died: the loop cannot go on (systemd restarts the daemon).
    #[error("{exit} (state {state:?}, turn {turn:?})")]
    StageDied {
        exit: Exit,
        state: State,
        turn: Option<u64>,
    },
    #[error("the microphone's input ended (state {state:?}); the capture thread is gone")]
    InputEnded { state: State },
    #[error("{count} engine errors within {window_s} s (state {state:?}), the last: {last}")]
    EngineErrors {
        count: usize,
        window_s: u64,
        state: State,
        last: String,
    },
}

impl PipelineError {
    /// `exit` ended the loop where `core` was.
    fn died(exit: Exit, core: &Conversation) -> Self {
        PipelineError::StageDied {
            exit,
            state: core.state(),
            turn: core.current_turn(),
        }
    }
}

/// The engines a pipeline drives.
pub struct Engines {
    pub wake: Box<dyn WakeEngine>,
    pub vad: Box<dyn VoiceDetector>,
    /// Set when `asr` follows `vad`'s boundaries rather than running its own VAD.
    pub vad_share: Option<crate::vad::VadShare>,
    pub asr: Box<dyn Recognizer>,
    pub turn: crate::turn::TurnTaking,
    pub tts: Box<dyn Synthesizer>,
    pub llm: Arc<dyn ChatModel>,
}

/// Where audio comes from and goes to.
pub struct Devices {
    pub source: Box<dyn FrameSource>,
    pub speaker: Box<dyn Speaker>,
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PipelineConfig,
    pub system_prompt: String,
    /// Audio before the wake word that the ASR gets (`asr.preroll_ms`).
    pub pre_roll_ms: u32,
    /// Past conversation sent with each question, in estimated tokens (`llm.history_tokens`).
    pub history_tokens: usize,
    /// File input faster than real time: hold it while answering (see [`ListenerSettings`]).
    pub hold_while_busy: bool,
    /// Stop once the input has ended and the last answer is played (file input).
    pub stop_at_end_of_input: bool,
    /// `[tts] first_chunk_words`.
    pub first_chunk_words: usize,
    /// Echo cancellation (`[aec]`) and, in simulations, the room the echo comes through.
    pub echo: EchoPath,
    /// Each turn's audio saved (`audio.debug_recordings_dir`), or not.
    pub recorder: Option<crate::audio::debug_rec::DebugRecorder>,
}

/// What a reloaded config changes in a running pipeline (`systemctl reload hearken`);
/// every other key needs a restart. Handed over with [`Handle::reconfigure`].
pub struct Live {
    pub pipeline: PipelineConfig,
    pub wake: crate::wake::WakeConfig,
    pub tts_volume: f32,
    pub system_prompt: String,
    pub history_tokens: usize,
    /// A client for changed `[llm]` settings; `None` keeps the running one.
    pub llm: Option<Arc<dyn ChatModel>>,
}

impl Live {
    /// The live part of `config`, with a new LLM client when `new_llm`. Fails, changing
    /// nothing, when the client cannot be built (an unreadable API key file) or an earcon
    /// file cannot be read.
    pub fn from_config(config: &crate::config::Config, new_llm: bool) -> Result<Live, String> {
        // Checked here, before anything changes; the loop renders them at its output rate.
        Earcons::load(&config.pipeline.earcons, crate::audio::SAMPLE_RATE)
            .map_err(|e| e.to_string())?;
        let llm = if new_llm {
            let chat = crate::llm::OpenAiChat::new(&config.llm).map_err(|e| e.to_string())?;
            Some(Arc::new(chat) as Arc<dyn ChatModel>)
        } else {
            None
        };
        Ok(Live {
            pipeline: config.pipeline.clone(),
            wake: config.wake.clone(),
            tts_volume: config.tts.volume,
            system_prompt: config.llm.system_prompt.clone(),
            history_tokens: config.llm.history_tokens as usize,
            llm,
        })
    }
}

/// Controls a running pipeline: what the button and the API call.
#[derive(Clone)]
pub struct Handle {
    control: mpsc::UnboundedSender<Control>,
    state: watch::Receiver<State>,
    llm_unreachable: watch::Receiver<Option<String>>,
    progress: Arc<StageProgress>,
    notices: broadcast::Sender<Notice>,
    observers: Arc<Mutex<Vec<Observer>>>,
    devices: Arc<Mutex<Option<DeviceWatch>>>,
    announcements: Arc<AtomicU64>,
}

/// Sees each notice on the loop's thread before any subscriber can (see [`Handle::observe`]).
type Observer = Box<dyn FnMut(&Notice) + Send>;

/// The audio devices a running loop holds, read for the API's health and metrics.
#[derive(Clone)]
pub struct DeviceWatch {
    pub capture: crate::audio::CaptureWatch,
    pub playback: crate::audio::PlaybackControl,
}

enum Control {
    PushToTalk(Instant),
    StopAnswer,
    Mute(bool),
    Reconfigure(Box<Live>),
    Say {
        id: u64,
        text: String,
        interrupt: bool,
    },
    Stop,
    /// A stage outside the loop (the LEDs, the button, a listener) died.
    StageDied(Exit),
    /// The remote's speech for a turn, or an announcement.
    Speak(RemoteSpeech),
    /// The remote will not answer this turn after all.
    RemoteLost(u64),
    /// Ring (a timer went off) until the user stops it, or stop ringing.
    Ring(bool),
    RingTick,
}

impl Handle {
    /// Starts a turn now, as the wake word would (barges in on an answer).
    pub fn push_to_talk(&self) {
        let _ = self.control.send(Control::PushToTalk(Instant::now()));
    }

    /// Stops what hearken is doing for the user without starting a turn (the button's
    /// "stop"): an answer being thought about or spoken is cancelled (the history keeps what
    /// was played), a turn being listened to ends. Nothing happens when idle or muted.
    pub fn stop_answer(&self) {
        let _ = self.control.send(Control::StopAnswer);
    }

    pub fn mute(&self, muted: bool) {
        let _ = self.control.send(Control::Mute(muted));
    }

    pub fn stop(&self) {
        let _ = self.control.send(Control::Stop);
    }

    /// Applies a reloaded config's live settings: the next turn's wake thresholds,
    /// timeouts, earcons and volume, and the next question's LLM, prompt and history.
    /// Sent before the loop runs, it applies as the loop starts.
    pub fn reconfigure(&self, live: Live) {
        let _ = self.control.send(Control::Reconfigure(Box::new(live)));
    }

    /// Speaks `text` as an announcement: now when nothing is being answered, else after the
    /// answer, or at once cutting the answer off with `interrupt`. Returns its id (the
    /// `say` and `say_done` notices carry it).
    pub fn say(&self, text: String, interrupt: bool) -> u64 {
        let id = self.announcement_turn() - ANNOUNCEMENT_TURNS;
        let _ = self.control.send(Control::Say {
            id,
            text,
            interrupt,
        });
        id
    }

    /// A turn id for an announcement (the API's `say`, Home Assistant's), each its own.
    pub fn announcement_turn(&self) -> u64 {
        ANNOUNCEMENT_TURNS + self.announcements.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Notices from now on (state changes, transcripts, answer text, turn reports).
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    /// Calls `observer` with every notice, on the loop's thread, before the notice is
    /// broadcast: what it keeps (the API's counters and last turn) is up to date by the time a
    /// subscriber sees the notice, and no notice is lost to a lagging receiver. It must be
    /// quick and never block.
    pub fn observe(&self, observer: impl FnMut(&Notice) + Send + 'static) {
        self.observers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(observer));
    }

    /// The devices of the running loop, once it has started them.
    pub fn devices(&self) -> Option<DeviceWatch> {
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_devices(&self, devices: DeviceWatch) {
        *self.devices.lock().unwrap_or_else(|e| e.into_inner()) = Some(devices);
    }

    /// Plays the remote's answer to a turn, or its announcement (see [`Remote`]).
    pub fn speak_remote(&self, speech: RemoteSpeech) {
        let _ = self.control.send(Control::Speak(speech));
    }

    /// The remote that took `turn` is gone: hearken answers it itself.
    pub fn remote_lost(&self, turn: u64) {
        let _ = self.control.send(Control::RemoteLost(turn));
    }

    /// A stage the loop does not run itself (the LEDs, the button, an accept loop) died:
    /// the loop stops as it does for one of its own ([`PipelineError::StageDied`]), so the
    /// daemon exits non-zero rather than run on without it.
    pub fn stage_died(&self, exit: Exit) {
        let _ = self.control.send(Control::StageDied(exit));
    }

    /// [`Handle::stage_died`] as a [`supervise::spawn`] `on_exit`.
    pub fn on_exit(&self) -> impl FnOnce(Exit) + Send + 'static {
        let handle = self.clone();
        move |exit| handle.stage_died(exit)
    }

    /// [`Handle::on_exit`] for a thread that also ends when it is told to stop (the LEDs,
    /// the button): only a panic or an error is news.
    pub fn on_failure(&self) -> impl FnOnce(Exit) + Send + 'static {
        let on_exit = self.on_exit();
        move |exit: Exit| {
            if exit.panic.is_some() || exit.error.is_some() {
                on_exit(exit)
            }
        }
    }

    /// Rings the wake cue over and over until the button, the wake word or a stop (a
    /// timer that went off), or stops ringing.
    pub fn ring(&self, on: bool) {
        let _ = self.control.send(Control::Ring(on));
    }

    /// The conversation's state, updated on every change (LEDs, API).
    pub fn state(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// Why the LLM server could not be reached (`connection refused (127.0.0.1:8080)`),
    /// from an answer that failed so until one gets through; `None` while it answers.
    pub fn llm_unreachable(&self) -> watch::Receiver<Option<String>> {
        self.llm_unreachable.clone()
    }

    /// Per-stage progress counters (the service watchdog checks they move).
    pub fn progress(&self) -> Arc<StageProgress> {
        self.progress.clone()
    }
}

/// What a finished run reports.
#[derive(Debug, Default)]
pub struct Summary {
    pub turns: Vec<TurnReport>,
}

enum Signal {
    Heard(Heard),
    Event(Event),
    Exited(Exit),
}

/// Engine errors tolerated within [`ERROR_WINDOW`] before the daemon gives up.
const MAX_ENGINE_ERRORS: usize = 10;
const ERROR_WINDOW: Duration = Duration::from_secs(10);
/// Stop: how long queued earcons may still play, and how long threads get to end.
pub(crate) const STOP_DRAIN: Duration = Duration::from_millis(800);
pub(crate) const STOP_JOIN: Duration = Duration::from_millis(1500);

/// A pipeline ready to run.
pub struct Pipeline {
    control_rx: mpsc::UnboundedReceiver<Control>,
    handle: Handle,
    state_tx: watch::Sender<State>,
    llm_tx: Arc<watch::Sender<Option<String>>>,
    remote: Option<Arc<dyn Remote>>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Pipeline {
    pub fn new() -> Self {
        let (control, control_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(State::Idle);
        let (llm_tx, llm_unreachable) = watch::channel(None);
        Pipeline {
            control_rx,
            handle: Handle {
                control,
                state,
                llm_unreachable,
                progress: Arc::default(),
                notices: notice::channel(),
                observers: Arc::default(),
                devices: Arc::default(),
                announcements: Arc::default(),
            },
            state_tx,
            llm_tx: Arc::new(llm_tx),
            remote: None,
        }
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Lets `remote` answer the turns it takes (Home Assistant as a Wyoming satellite).
    pub fn set_remote(&mut self, remote: Arc<dyn Remote>) {
        self.remote = Some(remote);
    }

    /// Runs the conversation loop until [`Handle::stop`], a fatal error (capture failed or
    /// ended, a stage died, an engine failing over and over), or (with
    /// `stop_at_end_of_input`) the end of file input. `on_turn` sees every turn's report.
    /// Returns within about 2 s of a stop, whatever state the devices are in.
    pub async fn run(
        mut self,
        engines: Engines,
        devices: Devices,
        options: Options,
        output_rate: u32,
        mut on_turn: impl FnMut(&TurnReport),
    ) -> Result<Summary, PipelineError> {
        let mut earcons = Earcons::load(&options.config.earcons, output_rate)?;
        let progress = self.handle.progress.clone();
        let (signal_tx, mut signals) = mpsc::unbounded_channel::<Signal>();
        let exits = |tx: &mpsc::UnboundedSender<Signal>| {
            let tx = tx.clone();
            move |exit| {
                let _ = tx.send(Signal::Exited(exit));
            }
        };
        let mut threads = Vec::new();

        let (listen_tx, listen_rx) = std_mpsc::channel();
        {
            let tx = signal_tx.clone();
            let report = Box::new(move |h: Heard| tx.send(Signal::Heard(h)).is_ok());
            let settings = ListenerSettings {
                pre_roll_ms: options.pre_roll_ms,
                no_speech_timeout_ms: options.config.no_speech_timeout_ms,
                follow_up_ms: options.config.follow_up_ms,
                max_utterance_ms: options.config.max_utterance_ms,
                hold_while_busy: options.hold_while_busy,
            };
            let mut l =
                listener::Listener::new(engines.wake, engines.vad, engines.asr, settings, report);
            if let Some(share) = engines.vad_share {
                l = l.sharing_vad(share);
            }
            l = l.taking_turns(engines.turn);
            if let Some(recorder) = options.recorder.clone() {
                let recordings = recorder.spawn().map_err(|source| PipelineError::Thread {
                    what: "recordings",
                    source,
                })?;
                l = l.recording(recordings);
            }
            let source = Box::new(Counted {
                source: devices.source,
                progress: progress.clone(),
                remote: self.remote.clone(),
            });
            threads.push(spawn("listener", exits(&signal_tx), move || {
                l.run(source, listen_rx)
            })?);
        }

        let reporter: life::Reporter = {
            let tx = signal_tx.clone();
            Arc::new(move |e| {
                let _ = tx.send(Signal::Event(e));
            })
        };
        let (out_tx, out_rx) = std_mpsc::channel();
        {
            let r = reporter.clone();
            let o = output::Output::new(devices.speaker, Box::new(move |e| r(e)), progress.clone());
            threads.push(spawn("output", exits(&signal_tx), move || o.run(out_rx))?);
        }
        let (tts_tx, tts_rx) = std_mpsc::channel();
        {
            let (tts, out, r, p) = (
                engines.tts,
                out_tx.clone(),
                reporter.clone(),
                progress.clone(),
            );
            threads.push(spawn("tts", exits(&signal_tx), move || {
                reply::tts_thread(tts, tts_rx, out, r, p)
            })?);
        }

        let mut llm = engines.llm;
        let mut core = Conversation::new(
            options.system_prompt.clone(),
            options.config.follow_up_ms > 0,
            options.history_tokens,
        );
        let mut replies: HashMap<u64, (CancellationToken, Confirmation)> = HashMap::new();
        let mut errors = supervise::ErrorBudget::new(MAX_ENGINE_ERRORS, ERROR_WINDOW);
        let mut summary = Summary::default();
        let mut input_ended = false;
        let mut result = Ok(());
        let notices = self.handle.notices.clone();
        let observers = self.handle.observers.clone();
        let notify = |n: Notice| {
            for observe in observers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter_mut()
            {
                observe(&n);
            }
            let _ = notices.send(n);
        };
        let mut says: VecDeque<(u64, String)> = VecDeque::new();
        let mut saying: Option<u64> = None;
        let remote = self.remote.clone();
        let mut remote_side = RemoteSide::default();

        loop {
            let event = tokio::select! {
                signal = signals.recv() => match signal {
                    Some(Signal::Event(e)) => e,
                    Some(Signal::Heard(Heard::Event(e))) => e,
                    Some(Signal::Heard(Heard::InputEnded)) => {
                        if !options.stop_at_end_of_input {
                            result = Err(PipelineError::InputEnded { state: core.state() });
                            break;
                        }
                        log::info!("end of input");
                        input_ended = true;
                        if finished(&core, &replies) {
                            break;
                        }
                        continue;
                    }
                    Some(Signal::Heard(Heard::Fatal(e))) => {
                        result = Err(PipelineError::Capture(e));
                        break;
                    }
                    Some(Signal::Exited(exit)) => {
                        result = Err(PipelineError::died(exit, &core));
                        break;
                    }
                    None => break,
                },
                control = self.control_rx.recv() => match control {
                    Some(Control::PushToTalk(at)) => {
                        // The press that silences a ringing timer starts nothing else.
                        if remote_side.ringing() {
                            remote_side.stop_ringing();
                            continue;
                        }
                        let _ = listen_tx.send(ListenerCommand::PushToTalk { at });
                        continue;
                    }
                    Some(Control::StopAnswer) => {
                        remote_side.stop_ringing();
                        Event::StopAnswer
                    }
                    Some(Control::Mute(m)) => {
                        remote_side.stop_ringing();
                        Event::Mute(m)
                    }
                    Some(Control::Reconfigure(live)) => {
                        let live = *live;
                        match Earcons::load(&live.pipeline.earcons, output_rate) {
                            Ok(loaded) => earcons = loaded,
                            Err(e) => log::error!("reload: earcons kept: {e}"),
                        }
                        if let Some(new) = live.llm {
                            llm = new;
                        }
                        core.retune(
                            &live.system_prompt,
                            live.pipeline.follow_up_ms > 0,
                            live.history_tokens,
                        );
                        let _ = tts_tx.send(reply::TtsJob::Volume(live.tts_volume));
                        let _ = listen_tx.send(ListenerCommand::Retune(Box::new(Retune {
                            wake: live.wake,
                            no_speech_timeout_ms: live.pipeline.no_speech_timeout_ms,
                            follow_up_ms: live.pipeline.follow_up_ms,
                            max_utterance_ms: live.pipeline.max_utterance_ms,
                        })));
                        continue;
                    }
                    Some(Control::Say { id, text, interrupt }) => {
                        says.push_back((id, text));
                        if !interrupt {
                            start_say(&mut saying, &mut says, &core, &mut replies, &reporter, &tts_tx, &notify);
                            continue;
                        }
                        Event::StopAnswer
                    }
                    Some(Control::Stop) | None => break,
                    Some(Control::StageDied(exit)) => {
                        result = Err(PipelineError::died(exit, &core));
                        break;
                    }
                    Some(Control::Speak(speech)) => {
                        let current = core.current_turn();
                        let mut new_life = |turn| own_life(turn, &reporter, &mut replies);
                        remote_side.speak(speech, current, &mut new_life, &out_tx, output_rate);
                        continue;
                    }
                    Some(Control::RemoteLost(turn)) => {
                        if let Some((life, messages)) = remote_side.waiting.remove(&turn) {
                            log::warn!(
                                "turn {turn}: Home Assistant did not answer; answering locally"
                            );
                            let chunker = crate::llm::Chunker::with_first_words(options.first_chunk_words);
                            let (llm, tts, r) = (llm.clone(), tts_tx.clone(), reporter.clone());
                            reply::spawn_answer(life, messages, llm, chunker, tts, r);
                        }
                        continue;
                    }
                    Some(Control::Ring(on)) => {
                        if on && !remote_side.ringing() {
                            remote_side.start_ringing(self.handle.control.clone());
                        } else if !on {
                            remote_side.stop_ringing();
                        }
                        continue;
                    }
                    Some(Control::RingTick) => {
                        if remote_side.ringing() {
                            log::debug!("ringing: a timer went off");
                            let samples = earcons.get(Cue::Wake);
                            if !samples.is_empty() {
                                let _ = out_tx.send(OutMsg::Earcon(samples.to_vec()));
                            }
                        }
                        continue;
                    }
                },
            };
            progress.controller.tick();
            for n in Notice::of_event(&event) {
                notify(n);
            }
            match &event {
                Event::ReplyDone { turn, played, .. } => {
                    replies.remove(turn);
                    if let Some(remote) = &remote {
                        remote.played(*turn);
                    }
                    if let Some(id) = saying.take_if(|id| ANNOUNCEMENT_TURNS + *id == *turn) {
                        notify(Notice::SayDone {
                            id,
                            played: played.clone(),
                        });
                    }
                }
                // The user takes over: a ringing timer and an announcement being spoken stop.
                Event::TurnStarted { .. } | Event::Mute(true) | Event::StopAnswer => {
                    if let Event::TurnStarted { turn, trigger, .. } = &event {
                        remote_side.stop_ringing();
                        if let Some(remote) = &remote {
                            remote.take_turn(*turn, trigger);
                        }
                    }
                    if let Some(id) = saying {
                        let turn = ANNOUNCEMENT_TURNS + id;
                        if let Some((cancel, _)) = replies.get(&turn) {
                            cancel.cancel();
                        }
                        let _ = out_tx.send(OutMsg::Cancel {
                            turn,
                            at: Instant::now(),
                        });
                    }
                }
                Event::Failed { message, .. } => match errors.record(Instant::now()) {
                    supervise::Verdict::Log { suppressed: 0 } => log::error!("{message}"),
                    supervise::Verdict::Log { suppressed } => {
                        log::error!("{message} ({suppressed} more since the last report)")
                    }
                    supervise::Verdict::Quiet => {}
                    supervise::Verdict::Exhausted { count } => {
                        result = Err(PipelineError::EngineErrors {
                            count,
                            window_s: ERROR_WINDOW.as_secs(),
                            state: core.state(),
                            last: message.clone(),
                        });
                        break;
                    }
                },
                _ => {}
            }
            for command in core.handle(event) {
                // The state is set before it is announced: a client that reads `/v1/state` on
                // seeing the notice reads the new state.
                if let Command::Entered(state) = command {
                    let _ = self.state_tx.send(state);
                }
                if let Some(n) = Notice::of_command(&command) {
                    notify(n);
                }
                match command {
                    Command::Earcon(cue) => {
                        let samples = earcons.get(cue);
                        if !samples.is_empty() {
                            let _ = out_tx.send(OutMsg::Earcon(samples.to_vec()));
                        }
                    }
                    Command::StartReply {
                        turn,
                        messages,
                        speculative,
                    } => {
                        let life = if speculative {
                            ReplyLife::speculative(turn, reporter.clone())
                        } else {
                            ReplyLife::new(turn, reporter.clone())
                        };
                        let handles = (life.cancel_token().clone(), life.confirmation());
                        replies.insert(turn, handles);
                        if remote.as_ref().is_some_and(|r| r.answers(turn)) {
                            remote_side.answer(
                                life,
                                messages,
                                &self.handle.control,
                                &out_tx,
                                output_rate,
                            );
                            continue;
                        }
                        let answer = reply::spawn_answer(
                            life,
                            messages,
                            llm.clone(),
                            crate::llm::Chunker::with_first_words(options.first_chunk_words),
                            tts_tx.clone(),
                            reporter.clone(),
                        );
                        let reach = self.llm_tx.clone();
                        tokio::spawn(async move {
                            if let Ok(Some(answered)) = answer.await {
                                reply::track_reach(&answered, &reach);
                            }
                        });
                    }
                    Command::CancelReply { turn } => {
                        if let Some((cancel, _)) = replies.get(&turn) {
                            cancel.cancel();
                        }
                        // An answer still waiting for the remote ends here (its life reports).
                        remote_side.waiting.remove(&turn);
                        let at = Instant::now();
                        let _ = out_tx.send(OutMsg::Cancel { turn, at });
                    }
                    Command::ConfirmReply { turn } => {
                        if let Some((_, confirmation)) = replies.get(&turn) {
                            confirmation.confirm();
                        }
                        let _ = out_tx.send(OutMsg::Confirm { turn });
                    }
                    Command::Release { turn, follow_up } => {
                        let _ = listen_tx.send(ListenerCommand::Release { turn, follow_up });
                    }
                    Command::MuteListener(m) => {
                        let _ = listen_tx.send(ListenerCommand::Mute(m));
                    }
                    Command::Report(report) => {
                        let mut new_life = |turn| own_life(turn, &reporter, &mut replies);
                        remote_side.turn_over(report.turn, &mut new_life, &out_tx, output_rate);
                        report.log();
                        on_turn(&report);
                        summary.turns.push(*report);
                    }
                    Command::Entered(state) => {
                        log::debug!("state: {state:?}");
                        supervise::entered(core.current_turn(), state);
                    }
                }
            }
            start_say(
                &mut saying,
                &mut says,
                &core,
                &mut replies,
                &reporter,
                &tts_tx,
                &notify,
            );
            if input_ended && finished(&core, &replies) {
                break;
            }
        }

        if let Err(e) = &result {
            log::error!("{e}; stopping");
        }
        // Bounded shutdown: cancel every answer, stop every thread, wait a little.
        for (cancel, _) in replies.values() {
            cancel.cancel();
        }
        let _ = listen_tx.send(ListenerCommand::Stop);
        drop(tts_tx);
        let _ = out_tx.send(OutMsg::Stop {
            deadline: Instant::now() + STOP_DRAIN,
        });
        drop(out_tx);
        drop(signal_tx);
        drop(reporter);
        let running = supervise::join_within(threads, &mut signals, STOP_JOIN, |signal| {
            if let Signal::Exited(Exit {
                stage,
                panic: Some(why),
                ..
            }) = signal
            {
                log::error!("the {stage} thread panicked while stopping: {why}");
            }
        })
        .await;
        if running > 0 {
            log::warn!(
                "{running} pipeline thread(s) still busy {} ms after the stop; not waiting",
                STOP_JOIN.as_millis()
            );
        }
        result.map(|()| summary)
    }
}

/// The capture source, counting the frames the listener takes (its watchdog progress).
/// Also where a [`Remote`] hears the microphone.
struct Counted {
    source: Box<dyn FrameSource>,
    progress: Arc<StageProgress>,
    remote: Option<Arc<dyn Remote>>,
}

impl FrameSource for Counted {
    fn read_frame(&mut self, frame: &mut [i16]) -> Result<listener::Read, String> {
        let read = self.source.read_frame(frame);
        if matches!(read, Ok(listener::Read::Frame(_))) {
            self.progress.listener.tick();
            if let Some(remote) = &self.remote {
                remote.hear(frame);
            }
        }
        read
    }
}

/// Starts the next announcement when none is being spoken and no turn is under way.
fn start_say(
    saying: &mut Option<u64>,
    says: &mut VecDeque<(u64, String)>,
    core: &Conversation,
    replies: &mut HashMap<u64, (CancellationToken, Confirmation)>,
    reporter: &life::Reporter,
    tts: &std_mpsc::Sender<reply::TtsJob>,
    notify: &impl Fn(Notice),
) {
    let free = matches!(core.state(), State::Idle | State::FollowUp | State::Error);
    if saying.is_some() || !free {
        return;
    }
    let Some((id, text)) = says.pop_front() else {
        return;
    };
    let life = own_life(ANNOUNCEMENT_TURNS + id, reporter, replies);
    reply::speak_text(life, &text, tts.clone(), reporter.clone());
    notify(Notice::Say { id, text });
    *saying = Some(id);
}

/// Nothing left to do for file input: no answer under way, not listening.
fn finished(
    core: &Conversation,
    replies: &HashMap<u64, (CancellationToken, Confirmation)>,
) -> bool {
    replies.is_empty()
        && core.answers_pending() == 0
        && matches!(
            core.state(),
            State::Idle | State::FollowUp | State::Error | State::Muted
        )
}

/// The controller's side of a [`Remote`]: answers waiting for its speech, speech that came
/// before its turn's answer started, and the ringing of a timer.
#[derive(Default)]
struct RemoteSide {
    waiting: HashMap<u64, (ReplyLife, Vec<crate::llm::ChatMessage>)>,
    early: HashMap<u64, RemoteSpeech>,
    ring: Option<CancellationToken>,
}

impl RemoteSide {
    /// The turn's answer is the remote's: play its speech if it came already, else wait
    /// for it (and answer locally if it does not come in time).
    fn answer(
        &mut self,
        life: ReplyLife,
        messages: Vec<crate::llm::ChatMessage>,
        control: &mpsc::UnboundedSender<Control>,
        out: &std_mpsc::Sender<OutMsg>,
        output_rate: u32,
    ) {
        let turn = life.turn();
        if let Some(speech) = self.early.remove(&turn) {
            play(life, speech, out, output_rate);
            return;
        }
        self.waiting.insert(turn, (life, messages));
        let control = control.clone();
        tokio::spawn(async move {
            tokio::time::sleep(remote::REMOTE_ANSWER_TIMEOUT).await;
            let _ = control.send(Control::RemoteLost(turn));
        });
    }

    fn speak(
        &mut self,
        speech: RemoteSpeech,
        current: Option<u64>,
        new_life: &mut dyn FnMut(u64) -> ReplyLife,
        out: &std_mpsc::Sender<OutMsg>,
        output_rate: u32,
    ) {
        let turn = speech.turn;
        if let Some((life, _)) = self.waiting.remove(&turn) {
            play(life, speech, out, output_rate);
        } else if turn < ANNOUNCEMENT_TURNS && current == Some(turn) {
            // Heard by the remote before the local endpoint: played when the answer starts.
            self.early.insert(turn, speech);
        } else {
            play(new_life(turn), speech, out, output_rate);
        }
    }

    /// A turn ended: speech the remote sent for it that no answer took (hearken heard
    /// nothing, the remote did) still plays.
    fn turn_over(
        &mut self,
        turn: u64,
        new_life: &mut dyn FnMut(u64) -> ReplyLife,
        out: &std_mpsc::Sender<OutMsg>,
        output_rate: u32,
    ) {
        if let Some(speech) = self.early.remove(&turn) {
            play(new_life(turn), speech, out, output_rate);
        }
    }

    fn ringing(&self) -> bool {
        self.ring.is_some()
    }

    fn start_ringing(&mut self, control: mpsc::UnboundedSender<Control>) {
        let stop = CancellationToken::new();
        self.ring = Some(stop.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RING_EVERY);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = every.tick() => {
                        if control.send(Control::RingTick).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }

    fn stop_ringing(&mut self) {
        if let Some(stop) = self.ring.take() {
            log::info!("timer ringing stopped");
            stop.cancel();
        }
    }
}

/// A life for remote speech no answer of the conversation is waiting for (an
/// announcement, or the remote's answer to a turn that ended without one).
fn own_life(
    turn: u64,
    reporter: &life::Reporter,
    replies: &mut HashMap<u64, (CancellationToken, Confirmation)>,
) -> ReplyLife {
    let life = ReplyLife::new(turn, reporter.clone());
    replies.insert(turn, (life.cancel_token().clone(), life.confirmation()));
    life
}

/// How often a timer that went off rings.
const RING_EVERY: Duration = Duration::from_millis(1500);

/// Plays remote speech as `life`'s answer (one chunk), at the output's rate.
fn play(life: ReplyLife, speech: RemoteSpeech, out: &std_mpsc::Sender<OutMsg>, output_rate: u32) {
    let samples = if speech.rate == output_rate || speech.samples.is_empty() {
        speech.samples
    } else {
        let input: Vec<f32> = speech
            .samples
            .iter()
            .map(|&s| crate::audio::wav::i16_to_f32(s))
            .collect();
        match crate::audio::resample::resample(&input, speech.rate, output_rate) {
            Ok(resampled) => resampled
                .into_iter()
                .map(crate::audio::wav::f32_to_i16)
                .collect(),
            Err(e) => {
                life.fail(format!(
                    "cannot play the remote's {} Hz audio: {e}",
                    speech.rate
                ));
                Vec::new()
            }
        }
    };
    let turn = life.turn();
    let _ = out.send(OutMsg::Chunk {
        life: life.clone(),
        text: speech.text,
    });
    let _ = out.send(OutMsg::Pcm { turn, samples });
    let _ = out.send(OutMsg::End {
        life,
        fallback: false,
    });
}

pub(crate) fn spawn(
    what: &'static str,
    on_exit: impl FnOnce(Exit) + Send + 'static,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, PipelineError> {
    supervise::spawn(what, on_exit, f).map_err(|source| PipelineError::Thread { what, source })
}
