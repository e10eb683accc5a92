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
pub mod life;
pub mod listener;
pub mod once;
pub mod output;
pub mod reply;
pub mod state;
pub mod supervise;
pub mod text;
pub mod timeline;

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use config::{EarconConfig, PipelineConfig};
pub use devices::{
    build_engines, build_engines_timed, live_devices, options, process_stats, run_on_devices,
    since_process_start, PlaybackSpeaker, Played, ProcessStats, StageTime, Startup,
};
pub use earcon::{Cue, Earcons};
pub use life::{ChunkLog, ChunkRecord, Confirmation, Outcome, ReplyLife};
pub use listener::{FrameSource, Heard, ListenerCommand, ListenerSettings, RingSource};
pub use once::{speak_once, MemorySpeaker, Speech, Spoken};
pub use output::{OutMsg, Speaker};
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
}

/// Controls a running pipeline: what the button and the API call.
#[derive(Clone)]
pub struct Handle {
    control: mpsc::UnboundedSender<Control>,
    state: watch::Receiver<State>,
    progress: Arc<StageProgress>,
}

enum Control {
    PushToTalk(Instant),
    StopAnswer,
    Mute(bool),
    Stop,
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

    /// The conversation's state, updated on every change (LEDs, API).
    pub fn state(&self) -> watch::Receiver<State> {
        self.state.clone()
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
        Pipeline {
            control_rx,
            handle: Handle {
                control,
                state,
                progress: Arc::default(),
            },
            state_tx,
        }
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
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
        let earcons = Earcons::load(&options.config.earcons, output_rate)?;
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
            let source = Box::new(Counted {
                source: devices.source,
                progress: progress.clone(),
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
                        result = Err(PipelineError::StageDied {
                            exit,
                            state: core.state(),
                            turn: core.current_turn(),
                        });
                        break;
                    }
                    None => break,
                },
                control = self.control_rx.recv() => match control {
                    Some(Control::PushToTalk(at)) => {
                        let _ = listen_tx.send(ListenerCommand::PushToTalk { at });
                        continue;
                    }
                    Some(Control::StopAnswer) => Event::StopAnswer,
                    Some(Control::Mute(m)) => Event::Mute(m),
                    Some(Control::Stop) | None => break,
                },
            };
            progress.controller.tick();
            match &event {
                Event::ReplyDone { turn, .. } => {
                    replies.remove(turn);
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
                        reply::spawn_answer(
                            life,
                            messages,
                            engines.llm.clone(),
                            crate::llm::Chunker::with_first_words(options.first_chunk_words),
                            tts_tx.clone(),
                            reporter.clone(),
                        );
                    }
                    Command::CancelReply { turn } => {
                        if let Some((cancel, _)) = replies.get(&turn) {
                            cancel.cancel();
                        }
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
                        report.log();
                        on_turn(&report);
                        summary.turns.push(*report);
                    }
                    Command::Entered(state) => {
                        log::debug!("state: {state:?}");
                        let _ = self.state_tx.send(state);
                    }
                }
            }
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
struct Counted {
    source: Box<dyn FrameSource>,
    progress: Arc<StageProgress>,
}

impl FrameSource for Counted {
    fn read_frame(&mut self, frame: &mut [i16]) -> Result<listener::Read, String> {
        let read = self.source.read_frame(frame);
        if matches!(read, Ok(listener::Read::Frame(_))) {
            self.progress.listener.tick();
        }
        read
    }
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

pub(crate) fn spawn(
    what: &'static str,
    on_exit: impl FnOnce(Exit) + Send + 'static,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, PipelineError> {
    supervise::spawn(what, on_exit, f).map_err(|source| PipelineError::Thread { what, source })
}
