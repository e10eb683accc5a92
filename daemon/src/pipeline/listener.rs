//! The listener thread: reads 80 ms frames from the capture ring and runs the wake word,
//! VAD and ASR on them. It starts turns itself (no round trip to the state machine between
//! a wake word and the first audio the ASR sees) and reports what it heard as [`Event`]s.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::state::Event;
use super::text::strip_wake_word;
use super::timeline::Trigger;
use crate::asr::{AsrEvent, Recognizer};
use crate::audio::{wav::i16_to_f32, SAMPLE_RATE};
use crate::vad::{VadEvent, VoiceDetector};
use crate::wake::{WakeEngine, FRAME_SAMPLES};

/// What the listener tells the driver besides conversation events.
#[derive(Debug)]
pub enum Heard {
    Event(Event),
    /// File-backed capture ran out and every frame has been processed.
    InputEnded,
    /// Capture failed for good; the daemon cannot go on.
    Fatal(String),
}

/// Sends what the listener hears; returns false once nobody listens any more.
pub type Report = Box<dyn FnMut(Heard) -> bool + Send>;

#[derive(Debug, Clone, PartialEq)]
pub enum ListenerCommand {
    PushToTalk {
        at: Instant,
    },
    /// The answer to `turn` is over: wait for a follow-up or for the wake word.
    Release {
        turn: u64,
        follow_up: bool,
    },
    Mute(bool),
    Stop,
}

/// One frame from the capture ring.
pub enum Read {
    Frame(Instant),
    /// Not enough audio yet.
    Pending,
    /// File-backed capture is exhausted.
    Ended,
}

/// Where frames come from: the capture ring (real ALSA capture, live or file-backed).
pub trait FrameSource: Send {
    /// Fills `frame` ([`FRAME_SAMPLES`] samples) without blocking.
    fn read_frame(&mut self, frame: &mut [i16]) -> Result<Read, String>;
}

/// The capture ring's consumer plus the flag the capture thread raises at end of input.
pub struct RingSource {
    pub consumer: rtrb::Consumer<i16>,
    pub ended: Arc<AtomicBool>,
}

impl FrameSource for RingSource {
    fn read_frame(&mut self, frame: &mut [i16]) -> Result<Read, String> {
        // Read the flag first: samples pushed before it was raised are then all visible.
        let ended = self.ended.load(Ordering::Acquire);
        let available = self.consumer.slots();
        if available >= frame.len() || (ended && available > 0) {
            let n = available.min(frame.len());
            let chunk = self
                .consumer
                .read_chunk(n)
                .map_err(|e| format!("capture ring: {e}"))?;
            let (a, b) = chunk.as_slices();
            frame[..a.len()].copy_from_slice(a);
            frame[a.len()..a.len() + b.len()].copy_from_slice(b);
            chunk.commit_all();
            frame[n..].fill(0);
            return Ok(Read::Frame(Instant::now()));
        }
        Ok(if ended { Read::Ended } else { Read::Pending })
    }
}

#[derive(Debug, Clone)]
pub struct ListenerSettings {
    pub pre_roll_ms: u32,
    pub no_speech_timeout_ms: u32,
    pub follow_up_ms: u32,
    pub max_utterance_ms: u32,
    /// Hold the input while an answer is under way (file input faster than real time: as
    /// if the user waited for the answer). Off for live capture, where barge-in needs it.
    pub hold_while_busy: bool,
}

fn samples(ms: u32) -> u64 {
    ms as u64 * SAMPLE_RATE as u64 / 1000
}

#[derive(Debug)]
enum Mode {
    /// Waiting for the wake word.
    Armed,
    /// Feeding the ASR for one utterance.
    Capturing {
        turn: u64,
        wake_word: Option<String>,
        /// Sample at which this capture began.
        since: u64,
        /// Speech was heard since the ASR last began.
        heard: bool,
    },
    /// After an answer: speech without the wake word starts a turn until `until`.
    FollowUp {
        turn: u64,
        until: u64,
    },
    /// An answer is under way: only the wake word (barge-in) and the button count.
    Busy {
        turn: u64,
    },
    Muted,
}

pub struct Listener {
    wake: Box<dyn WakeEngine>,
    vad: Box<dyn VoiceDetector>,
    asr: Box<dyn Recognizer>,
    settings: ListenerSettings,
    mode: Mode,
    turn: u64,
    /// Samples processed since start.
    position: u64,
    /// `position` at the VAD's last reset (its sample counts start there).
    vad_base: u64,
    /// Capture time of the end of the last processed frame.
    frame_end: (u64, Instant),
    pre_roll: VecDeque<i16>,
    backlog: VecDeque<(Box<[i16]>, Instant)>,
    input_ended: bool,
    report: Report,
}

impl Listener {
    pub fn new(
        wake: Box<dyn WakeEngine>,
        vad: Box<dyn VoiceDetector>,
        asr: Box<dyn Recognizer>,
        settings: ListenerSettings,
        report: Report,
    ) -> Self {
        let pre_roll = VecDeque::with_capacity(samples(settings.pre_roll_ms) as usize);
        Listener {
            wake,
            vad,
            asr,
            settings,
            mode: Mode::Armed,
            turn: 0,
            position: 0,
            vad_base: 0,
            frame_end: (0, Instant::now()),
            pre_roll,
            backlog: VecDeque::new(),
            input_ended: false,
            report,
        }
    }

    fn send(&mut self, event: Event) {
        (self.report)(Heard::Event(event));
    }

    /// Runs until the input ends, the source fails, or `Stop`.
    pub fn run(mut self, mut source: Box<dyn FrameSource>, commands: Receiver<ListenerCommand>) {
        let mut frame = vec![0i16; FRAME_SAMPLES];
        let mut ended = false;
        loop {
            while let Ok(command) = commands.try_recv() {
                if !self.command(command) {
                    return;
                }
            }
            let held = self.settings.hold_while_busy && matches!(self.mode, Mode::Busy { .. });
            if !ended {
                match source.read_frame(&mut frame) {
                    Ok(Read::Frame(at)) => {
                        if held || !self.backlog.is_empty() {
                            self.backlog
                                .push_back((frame.clone().into_boxed_slice(), at));
                        } else {
                            self.process(&frame, at);
                        }
                        continue;
                    }
                    Ok(Read::Ended) => ended = true,
                    Ok(Read::Pending) => {}
                    Err(e) => {
                        (self.report)(Heard::Fatal(e));
                        return;
                    }
                }
            }
            if !held {
                if let Some((f, at)) = self.backlog.pop_front() {
                    self.process(&f, at);
                    continue;
                }
                if ended {
                    self.end_of_input();
                    (self.report)(Heard::InputEnded);
                    // Keep obeying commands (mute, stop) until the driver is done.
                    while let Ok(command) = commands.recv() {
                        if !self.command(command) {
                            return;
                        }
                    }
                    return;
                }
            }
            // Nothing to do: wait for audio or a command, whichever comes first.
            match commands.recv_timeout(Duration::from_millis(5)) {
                Ok(command) => {
                    if !self.command(command) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Returns false on `Stop`.
    fn command(&mut self, command: ListenerCommand) -> bool {
        match command {
            ListenerCommand::Stop => return false,
            ListenerCommand::PushToTalk { at } => {
                if !matches!(self.mode, Mode::Muted) {
                    self.start_turn(Trigger::PushToTalk, at, false);
                }
            }
            ListenerCommand::Release { turn, follow_up } => match self.mode {
                Mode::Busy { turn: t } | Mode::Capturing { turn: t, .. } if t == turn => {
                    self.mode = if follow_up && self.settings.follow_up_ms > 0 {
                        Mode::FollowUp {
                            turn,
                            until: self.position + samples(self.settings.follow_up_ms),
                        }
                    } else {
                        Mode::Armed
                    };
                }
                _ => {}
            },
            ListenerCommand::Mute(true) => {
                self.mode = Mode::Muted;
                self.backlog.clear();
            }
            ListenerCommand::Mute(false) => {
                if matches!(self.mode, Mode::Muted) {
                    self.wake.reset();
                    self.vad.reset();
                    self.vad_base = self.position;
                    self.mode = Mode::Armed;
                }
            }
        }
        true
    }

    /// Capture time of sample `at` (an absolute position).
    fn instant_of(&self, at: u64) -> Instant {
        let (end, when) = self.frame_end;
        let back = Duration::from_secs_f64(end.saturating_sub(at) as f64 / SAMPLE_RATE as f64);
        when.checked_sub(back).unwrap_or(when)
    }

    fn process(&mut self, frame: &[i16], at: Instant) {
        if matches!(self.mode, Mode::Muted) {
            return;
        }
        self.position += frame.len() as u64;
        self.frame_end = (self.position, at);
        let keep = samples(self.settings.pre_roll_ms) as usize;
        if keep > 0 {
            let overflow = (self.pre_roll.len() + frame.len()).saturating_sub(keep);
            self.pre_roll.drain(..overflow.min(self.pre_roll.len()));
            let skip = frame.len().saturating_sub(keep);
            self.pre_roll.extend(&frame[skip..]);
        }

        let vad_events = match self.vad.process(frame) {
            Ok(events) => events,
            Err(e) => return self.fail(format!("{e}")),
        };
        let detections = match self.wake.process(frame) {
            Ok(d) => d,
            Err(e) => return self.fail(format!("{e}")),
        };

        match &mut self.mode {
            Mode::Armed | Mode::Busy { .. } | Mode::FollowUp { .. } => {
                if let Some(d) = detections.into_iter().next() {
                    log::info!("wake word `{}` (score {:.2})", d.word, d.score);
                    return self.start_turn(Trigger::Wake(d.word), at, true);
                }
            }
            Mode::Capturing { .. } | Mode::Muted => {}
        }

        match self.mode {
            Mode::FollowUp { turn, until } => {
                let start = vad_events.iter().find_map(|e| match e {
                    VadEvent::SpeechStart { sample } => Some(self.vad_base + sample),
                    _ => None,
                });
                if let Some(sample) = start {
                    let when = self.instant_of(sample);
                    self.start_turn(Trigger::FollowUp, when, true);
                    if let Mode::Capturing { heard, .. } = &mut self.mode {
                        *heard = true;
                    }
                } else if self.position >= until {
                    self.mode = Mode::Armed;
                    self.send(Event::NoSpeech { turn });
                }
            }
            Mode::Capturing { .. } => self.capture(frame, &vad_events),
            _ => {}
        }
    }

    fn start_turn(&mut self, trigger: Trigger, at: Instant, with_pre_roll: bool) {
        self.turn += 1;
        let turn = self.turn;
        let wake_word = match &trigger {
            Trigger::Wake(w) => Some(w.clone()),
            _ => None,
        };
        self.send(Event::TurnStarted { turn, trigger, at });
        self.asr.begin();
        let heard = self.vad.in_speech();
        self.mode = Mode::Capturing {
            turn,
            wake_word,
            since: self.position,
            heard,
        };
        if with_pre_roll && !self.pre_roll.is_empty() {
            let audio: Vec<f32> = self.pre_roll.iter().map(|&s| i16_to_f32(s)).collect();
            if let Err(e) = self.asr.feed(&audio) {
                self.fail(format!("{e}"));
            }
        }
        if heard {
            self.send(Event::SpeechStarted { turn, at });
        }
    }

    fn capture(&mut self, frame: &[i16], vad_events: &[VadEvent]) {
        let Mode::Capturing {
            turn, since, heard, ..
        } = self.mode
        else {
            return;
        };
        let mut speech_end = None;
        for event in vad_events {
            match *event {
                VadEvent::SpeechStart { sample } => {
                    if !heard {
                        let at = self.instant_of(self.vad_base + sample);
                        self.send(Event::SpeechStarted { turn, at });
                    }
                    if let Mode::Capturing { heard, .. } = &mut self.mode {
                        *heard = true;
                    }
                }
                VadEvent::SpeechEnd { sample } => speech_end = Some(self.vad_base + sample),
            }
        }
        let audio: Vec<f32> = frame.iter().map(|&s| i16_to_f32(s)).collect();
        let final_text = match self.asr.feed(&audio) {
            Ok(events) => events.into_iter().find_map(|e| match e {
                AsrEvent::Final(text) => Some(text),
                AsrEvent::Partial(_) => None,
            }),
            Err(e) => return self.fail(format!("{e}")),
        };
        let heard_now = matches!(self.mode, Mode::Capturing { heard: true, .. });
        let elapsed = self.position - since;
        let too_long = elapsed >= samples(self.settings.max_utterance_ms);
        if final_text.is_some() || (heard_now && speech_end.is_some()) || too_long {
            let end = speech_end.map(|s| self.instant_of(s));
            self.end_utterance(final_text, end);
        } else if !heard_now && elapsed >= samples(self.settings.no_speech_timeout_ms) {
            self.mode = Mode::Armed;
            self.send(Event::NoSpeech { turn });
        }
    }

    fn end_utterance(&mut self, final_text: Option<String>, speech_end: Option<Instant>) {
        let Mode::Capturing {
            turn,
            ref wake_word,
            since,
            ..
        } = self.mode
        else {
            return;
        };
        let wake_word = wake_word.clone();
        let endpoint = Instant::now();
        let raw = match final_text {
            Some(text) => text,
            None => match self.asr.finish() {
                Ok(text) => text,
                Err(e) => return self.fail(format!("{e}")),
            },
        };
        let asr_final = Instant::now();
        let text = match &wake_word {
            Some(w) => strip_wake_word(&raw, w),
            None => raw.trim().to_string(),
        };
        let timed_out = self.input_ended
            || self.position - since >= samples(self.settings.no_speech_timeout_ms);
        if text.is_empty() && wake_word.is_some() && !timed_out {
            // Only the wake word so far ("alexa ... what time is it"): keep listening.
            log::debug!("heard only the wake word ({raw:?}); still listening");
            self.asr.begin();
            if let Mode::Capturing { heard, .. } = &mut self.mode {
                *heard = false;
            }
            return;
        }
        log::debug!("utterance {turn}: {raw:?} -> {text:?}");
        self.mode = Mode::Busy { turn };
        self.send(Event::Utterance {
            turn,
            text,
            speech_end,
            endpoint,
            asr_final,
        });
    }

    fn end_of_input(&mut self) {
        self.input_ended = true;
        if let Mode::Capturing { .. } = self.mode {
            self.end_utterance(None, None);
        }
        if let Mode::FollowUp { turn, .. } = self.mode {
            self.mode = Mode::Armed;
            self.send(Event::NoSpeech { turn });
        }
    }

    fn fail(&mut self, message: String) {
        log::error!("listener: {message}");
        self.asr.begin();
        self.mode = Mode::Armed;
        self.send(Event::Failed(message));
    }
}
