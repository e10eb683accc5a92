//! The listener thread: reads 80 ms frames from the capture ring and runs the wake word,
//! VAD and ASR on them. It starts turns itself (no round trip to the state machine between
//! a wake word and the first audio the ASR sees) and reports what it heard as [`Event`]s.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::state::Event;
use super::text::strip_wake_word;
use super::timeline::Trigger;
use crate::asr::{AsrEvent, Recognizer};
use crate::audio::{
    debug_rec::Recordings,
    wav::{f32_to_i16, i16_to_f32},
    SAMPLE_RATE,
};
use crate::turn::{TurnTaking, Verdict};
use crate::vad::{VadEvent, VadShare, VoiceDetector};
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
    /// A reloaded config: new wake thresholds and timeouts, from the next frame on.
    Retune(Box<Retune>),
    Stop,
}

/// What a reload changes in the listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Retune {
    pub wake: crate::wake::WakeConfig,
    pub no_speech_timeout_ms: u32,
    pub follow_up_ms: u32,
    pub max_utterance_ms: u32,
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

/// The capture ring's reading end; the capture thread abandons it when the input ends.
pub struct RingSource(pub rtrb::Consumer<i16>);

impl FrameSource for RingSource {
    fn read_frame(&mut self, frame: &mut [i16]) -> Result<Read, String> {
        // Checked before `slots`: samples pushed before the thread ended are all visible.
        let ended = self.0.is_abandoned();
        let available = self.0.slots();
        if available >= frame.len() || (ended && available > 0) {
            let n = available.min(frame.len());
            let (got, _) = self.0.pop_partial_slice(&mut frame[..n]);
            let got = got.len();
            frame[got..].fill(0);
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

/// Voicing that goes on this long after the wake word was detected, without a quiet
/// moment, is the user asking in the same breath ("alexa what time is it"): the wake word's
/// own tail after its detection is shorter.
const SAME_BREATH_MS: u32 = 400;
/// After the wake word has ended (or the button), voicing this long is the user's speech:
/// shorter bursts (a click, a breath) are not.
const SPEECH_MS: u32 = 240;
/// When the user begins after the wake word has ended, the recognizer starts over this far
/// before the voicing was noticed (soft onsets), but never before the wake word's end.
const ONSET_MS: u32 = 320;
/// Audio kept for that restart and for the pre-roll.
const RECENT_MS: u32 = 1000;
/// How much of what was heard names a debug recording.
const RECORDING_LABEL_CHARS: usize = 40;

/// Where a capture stands with the user's speech. The endpoint (the VAD's end of speech, the
/// recognizer's final) only counts once the user has begun speaking; until then silence is
/// governed by the no-speech timeout, and what the recognizer makes of the pre-roll (the
/// wake word's tail: "like so", "So...") is not an utterance.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The wake word was detected while it still sounded: voicing here is its tail, unless
    /// it goes on for [`SAME_BREATH_MS`] after the detection (at sample `wake`).
    WakeTail { wake: u64 },
    /// The wake word is over (or there was none) since sample `quiet`; `run` is where the
    /// voicing under way began, if any.
    Waiting { quiet: u64, run: Option<u64> },
    /// The user is speaking or has spoken: the endpoint runs.
    Speaking,
}

/// A silence inside the user's speech that lasted `[turn] pause_ms`.
#[derive(Debug)]
struct Pause {
    /// Where the silence began (absolute): a different silence is a different pause.
    since: u64,
    /// Where the VAD's segment ends if the silence lasts to the endpoint.
    segment_end: u64,
    /// The final decode of the speech up to `segment_end`, made at the pause.
    text: Option<String>,
    /// An answer was started on `text`.
    speculated: bool,
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
        phase: Phase,
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
    /// Where the recognizer takes its segment boundaries from `vad` (one VAD per stream).
    share: Option<VadShare>,
    /// The VAD's segment under way: where it began (absolute).
    open_segment: Option<u64>,
    /// Absolute position of the first sample the recognizer got since it started over.
    asr_origin: u64,
    /// The audio the recognizer got since then: what the turn detector judges.
    speech: Vec<i16>,
    turns: TurnTaking,
    pause: Option<Pause>,
    settings: ListenerSettings,
    mode: Mode,
    turn: u64,
    /// Samples processed since start.
    position: u64,
    /// `position` at the VAD's last reset (its sample counts start there).
    vad_base: u64,
    /// Capture time of the end of the last processed frame.
    frame_end: (u64, Instant),
    /// The last [`RECENT_MS`] (or `pre_roll_ms`, if longer) of audio.
    recent: VecDeque<i16>,
    /// Input held while answering: stamped when processed, as if it arrived then.
    backlog: VecDeque<Box<[i16]>>,
    input_ended: bool,
    report: Report,
    /// Where each turn's `speech` goes when the turn's capture ends (debug recordings).
    recordings: Option<Recordings>,
}

impl Listener {
    pub fn new(
        wake: Box<dyn WakeEngine>,
        vad: Box<dyn VoiceDetector>,
        asr: Box<dyn Recognizer>,
        settings: ListenerSettings,
        report: Report,
    ) -> Self {
        let recent = VecDeque::with_capacity(Self::recent_len(&settings));
        Listener {
            wake,
            vad,
            asr,
            share: None,
            open_segment: None,
            asr_origin: 0,
            speech: Vec::new(),
            turns: TurnTaking::silence_only(),
            pause: None,
            settings,
            mode: Mode::Armed,
            turn: 0,
            position: 0,
            vad_base: 0,
            frame_end: (0, Instant::now()),
            recent,
            backlog: VecDeque::new(),
            input_ended: false,
            report,
            recordings: None,
        }
    }

    /// Each turn's audio, as the recognizer got it, is offered to `recordings`.
    pub fn recording(mut self, recordings: Recordings) -> Self {
        self.recordings = Some(recordings);
        self
    }

    /// The recognizer follows this listener's VAD instead of running its own.
    pub fn sharing_vad(mut self, share: VadShare) -> Self {
        self.share = Some(share);
        self
    }

    /// Asks `turns.detector` at each pause of the user's speech.
    pub fn taking_turns(mut self, turns: TurnTaking) -> Self {
        self.turns = turns;
        self
    }

    /// The recognizer starts over with `audio`, the recent audio from absolute sample
    /// `from` on (`None`: with the next frame).
    fn restart_asr(&mut self, from: u64, audio: Option<Vec<f32>>) -> Result<(), String> {
        let first = self.position.saturating_sub(self.recent.len() as u64);
        self.asr_origin = match &audio {
            Some(_) => from.max(first),
            None => self.position,
        };
        self.pause = None;
        self.speech.clear();
        if let Some(audio) = &audio {
            self.speech.extend(audio.iter().map(|&s| f32_to_i16(s)));
        }
        if let Some(share) = &self.share {
            share.start_at(self.asr_origin, self.open_segment);
        }
        match audio {
            Some(audio) => self.asr.begin_with_preroll(&audio).map(drop),
            None => {
                self.asr.begin();
                Ok(())
            }
        }
        .map_err(|e| e.to_string())
    }

    /// Hands this frame's boundaries (relative to `vad_base`) to a recognizer that follows
    /// them.
    fn share_boundaries(&self, events: &[VadEvent]) {
        if let Some(share) = &self.share {
            let absolute: Vec<VadEvent> = events.iter().map(|&e| self.absolute(e)).collect();
            share.push(&absolute);
        }
    }

    fn absolute(&self, e: VadEvent) -> VadEvent {
        match e {
            VadEvent::SpeechStart { sample } => VadEvent::SpeechStart {
                sample: self.vad_base + sample,
            },
            VadEvent::SpeechEnd { sample } => VadEvent::SpeechEnd {
                sample: self.vad_base + sample,
            },
        }
    }

    fn recent_len(settings: &ListenerSettings) -> usize {
        samples(settings.pre_roll_ms.max(RECENT_MS)) as usize
    }

    /// The recent audio between absolute samples `from` and `to`, as the recognizer takes it.
    fn recent_between(&self, from: u64, to: u64) -> Vec<f32> {
        let first = self.position.saturating_sub(self.recent.len() as u64);
        let b = to.clamp(first, self.position) - first;
        let a = (from.max(first) - first).min(b);
        self.recent
            .range(a as usize..b as usize)
            .map(|&s| i16_to_f32(s))
            .collect()
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
                            self.backlog.push_back(frame.clone().into_boxed_slice());
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
                if let Some(f) = self.backlog.pop_front() {
                    self.process(&f, Instant::now());
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
            ListenerCommand::Retune(retune) => {
                self.wake.retune(&retune.wake);
                self.settings.no_speech_timeout_ms = retune.no_speech_timeout_ms;
                self.settings.follow_up_ms = retune.follow_up_ms;
                self.settings.max_utterance_ms = retune.max_utterance_ms;
            }
            ListenerCommand::Mute(false) => {
                if matches!(self.mode, Mode::Muted) {
                    self.wake.reset();
                    self.vad.reset();
                    self.vad_base = self.position;
                    self.open_segment = None;
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
        let keep = Self::recent_len(&self.settings);
        let overflow = (self.recent.len() + frame.len()).saturating_sub(keep);
        self.recent.drain(..overflow.min(self.recent.len()));
        let skip = frame.len().saturating_sub(keep);
        self.recent.extend(&frame[skip..]);

        let vad_events = match self.vad.process(frame) {
            Ok(events) => events,
            Err(e) => return self.fail(format!("{e}")),
        };
        for e in &vad_events {
            self.open_segment = match self.absolute(*e) {
                VadEvent::SpeechStart { sample } => Some(sample),
                VadEvent::SpeechEnd { .. } => None,
            };
        }
        let detections = match self.wake.process(frame) {
            Ok(d) => d,
            Err(e) => return self.fail(format!("{e}")),
        };

        match &mut self.mode {
            Mode::Armed | Mode::Busy { .. } | Mode::FollowUp { .. } => {
                if let Some(d) = detections.into_iter().next() {
                    log::info!("wake word `{}` (score {:.2})", d.word, d.score);
                    return self.start_turn(
                        Trigger::Wake {
                            word: d.word,
                            score: d.score,
                        },
                        at,
                        true,
                    );
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
                    if let Mode::Capturing { phase, .. } = &mut self.mode {
                        *phase = Phase::Speaking;
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
            Trigger::Wake { word, .. } => Some(word.clone()),
            _ => None,
        };
        // The wake word itself is speech: whatever of it still sounds is not the user's
        // utterance. After the button, speech under way counts once it lasts.
        let phase = if wake_word.is_some() && self.vad.voiced() {
            Phase::WakeTail {
                wake: self.position,
            }
        } else {
            Phase::Waiting {
                quiet: self.position,
                run: self.vad.voiced().then_some(self.position),
            }
        };
        self.send(Event::TurnStarted { turn, trigger, at });
        self.mode = Mode::Capturing {
            turn,
            wake_word,
            since: self.position,
            phase,
        };
        let pre_roll = samples(self.settings.pre_roll_ms);
        let started = if with_pre_roll && pre_roll > 0 && !self.recent.is_empty() {
            let from = self.position.saturating_sub(pre_roll);
            let audio = self.recent_between(from, self.position);
            self.restart_asr(from, Some(audio))
        } else {
            self.restart_asr(self.position, None)
        };
        if let Err(e) = started {
            self.fail(e);
        }
    }

    /// Moves the capture's [`Phase`] on with this frame's VAD; returns where the user's
    /// speech began when it began in this frame.
    fn advance_phase(&mut self, vad_events: &[VadEvent]) -> Option<u64> {
        let Mode::Capturing { phase, .. } = self.mode else {
            return None;
        };
        let frame_start = self.position.saturating_sub(FRAME_SAMPLES as u64);
        let voiced = self.vad.voiced();
        // A segment the VAD announces now began after the wake word had ended.
        let segment = vad_events.iter().find_map(|e| match *e {
            VadEvent::SpeechStart { sample } => Some(self.vad_base + sample),
            VadEvent::SpeechEnd { .. } => None,
        });
        let (next, began) = match phase {
            Phase::Speaking => (Phase::Speaking, None),
            Phase::WakeTail { wake } if voiced => {
                if self.position - wake >= samples(SAME_BREATH_MS) {
                    log::debug!("speech goes on from the wake word without a pause");
                    (Phase::Speaking, Some(wake))
                } else {
                    (phase, None)
                }
            }
            Phase::WakeTail { wake } => {
                log::debug!(
                    "the wake word ended {} ms after its detection",
                    (self.position - wake) * 1000 / SAMPLE_RATE as u64
                );
                let quiet = frame_start;
                (Phase::Waiting { quiet, run: None }, None)
            }
            Phase::Waiting { .. } if segment.is_some() => (Phase::Speaking, segment),
            Phase::Waiting { quiet, run } if voiced => {
                let run = run.unwrap_or(frame_start);
                if self.position - run >= samples(SPEECH_MS) {
                    (Phase::Speaking, Some(run))
                } else {
                    let run = Some(run);
                    (Phase::Waiting { quiet, run }, None)
                }
            }
            Phase::Waiting { quiet, .. } => (Phase::Waiting { quiet, run: None }, None),
        };
        if let Mode::Capturing { phase, .. } = &mut self.mode {
            *phase = next;
        }
        // The user began after the wake word had ended: the recognizer starts over at their
        // speech, so the wake word's audio in the pre-roll is not part of the utterance.
        if let (Some(start), Phase::Waiting { quiet, .. }) = (began, phase) {
            let wake = matches!(
                &self.mode,
                Mode::Capturing {
                    wake_word: Some(_),
                    ..
                }
            );
            if wake {
                let from = start.saturating_sub(samples(ONSET_MS)).max(quiet);
                // Up to this frame, which the caller feeds next.
                let audio = self.recent_between(from, frame_start);
                if let Err(e) = self.restart_asr(from, Some(audio)) {
                    self.fail(e);
                    return None;
                }
            }
        }
        began
    }

    fn capture(&mut self, frame: &[i16], vad_events: &[VadEvent]) {
        let Mode::Capturing { turn, since, .. } = self.mode else {
            return;
        };
        let began = self.advance_phase(vad_events);
        if !matches!(self.mode, Mode::Capturing { .. }) {
            return; // the recognizer failed to start over
        }
        if let Some(start) = began {
            log::debug!("turn {turn}: the user began speaking");
            let at = self.instant_of(start);
            self.send(Event::SpeechStarted { turn, at });
        }
        // The end of the user's speech; not that of a segment before it (the wake word's).
        let speech_end = vad_events
            .iter()
            .rev()
            .find_map(|e| match *e {
                VadEvent::SpeechEnd { sample } => Some(self.vad_base + sample),
                VadEvent::SpeechStart { .. } => None,
            })
            .filter(|&end| began.is_none_or(|start| end > start));
        self.speech.extend_from_slice(frame);
        if let Some(pause) = self.pause.take() {
            let silence = self.vad.silence().map(|s| self.vad_base + s.since);
            match (speech_end, pause.text) {
                // The pause lasted to the endpoint: the decode made at it is the final one.
                (Some(end), Some(text)) if end == pause.segment_end => {
                    let end = self.instant_of(end);
                    return self.end_utterance(Some(text), Some(end), Instant::now());
                }
                (None, text) if silence == Some(pause.since) => {
                    self.pause = Some(Pause { text, ..pause });
                }
                _ => {
                    if pause.speculated {
                        log::debug!("turn {turn}: the user went on after the pause");
                        self.send(Event::Resumed { turn });
                    }
                }
            }
        }
        let audio: Vec<f32> = frame.iter().map(|&s| i16_to_f32(s)).collect();
        // An end found in this frame was declared now, before the ASR decodes it.
        let endpoint = Instant::now();
        self.share_boundaries(vad_events);
        let (final_text, partial) = match self.asr.feed(&audio) {
            Ok(events) => {
                // The latest guess before the first final (what follows it is the next
                // segment's).
                let mut partial = None;
                let mut final_text = None;
                for e in events {
                    match e {
                        AsrEvent::Partial(text) => partial = Some(text),
                        AsrEvent::Final(text) => {
                            final_text = Some(text);
                            break;
                        }
                    }
                }
                (final_text, partial)
            }
            Err(e) => return self.fail(format!("{e}")),
        };
        let speaking = matches!(
            self.mode,
            Mode::Capturing {
                phase: Phase::Speaking,
                ..
            }
        );
        // Only the user's speech: what the recognizer makes of the wake word's tail is not
        // theirs, and a final in this frame supersedes any guess before it.
        if let (Some(raw), true, None) = (partial, speaking, &final_text) {
            let text = self.user_text(&raw);
            if !text.is_empty() {
                self.send(Event::Partial { turn, text });
            }
        }
        if let (Some(text), false) = (&final_text, speaking) {
            // A segment the recognizer closed before the user began: the wake word's tail
            // in the pre-roll. The recognizer goes on with the next segment.
            log::debug!("turn {turn}: not the user's speech yet, dropped: {text:?}");
        }
        let final_text = final_text.filter(|_| speaking);
        let elapsed = self.position - since;
        let too_long = elapsed >= samples(self.settings.max_utterance_ms);
        if speaking && (final_text.is_some() || speech_end.is_some() || too_long) {
            let end = speech_end.map(|s| self.instant_of(s));
            self.end_utterance(final_text, end, endpoint);
        } else if speaking {
            self.check_pause(turn);
        } else if !speaking && (too_long || elapsed >= samples(self.settings.no_speech_timeout_ms))
        {
            self.record(turn, "no speech");
            self.mode = Mode::Armed;
            self.send(Event::NoSpeech { turn });
        }
    }

    /// At a silence of `[turn] pause_ms` inside the user's speech: asks the turn detector,
    /// and decodes what was said when the turn ends now or speculation is on.
    fn check_pause(&mut self, turn: u64) {
        let Some(silence) = self.vad.silence() else {
            return;
        };
        let since = self.vad_base + silence.since;
        let segment_end = self.vad_base + silence.segment_end;
        if self.pause.is_some()
            || self.position - since.min(self.position) < samples(self.turns.pause_ms)
        {
            return;
        }
        let verdict = self
            .turns
            .detector
            .verdict(&self.speech)
            .unwrap_or_else(|e| {
                log::warn!("turn {turn}: the turn detector failed ({e}); waiting for the silence");
                Verdict {
                    complete: false,
                    probability: 0.0,
                }
            });
        log::debug!("turn {turn}: pause, complete: {verdict:?}");
        let text = if verdict.complete || self.turns.speculate {
            let end = segment_end.saturating_sub(self.asr_origin);
            match self.asr.transcript_until(end) {
                Ok(text) => text,
                Err(e) => return self.fail(format!("{e}")),
            }
        } else {
            None
        };
        let speech_end = self.instant_of(segment_end);
        if verdict.complete {
            return self.end_utterance(text, Some(speech_end), Instant::now());
        }
        let said = text.as_deref().map(|raw| self.user_text(raw));
        let speculated = self.turns.speculate && said.as_ref().is_some_and(|s| !s.is_empty());
        if let (true, Some(text)) = (speculated, said) {
            self.send(Event::Speculate {
                turn,
                text,
                speech_end,
                asr_final: Instant::now(),
            });
        }
        self.pause = Some(Pause {
            since,
            segment_end,
            text,
            speculated,
        });
    }

    /// What the user said: the recognizer's text without the wake word.
    fn user_text(&self, raw: &str) -> String {
        match &self.mode {
            // The ASR's rule takes the whole word; ours also the tail the pre-roll caught.
            Mode::Capturing {
                wake_word: Some(w), ..
            } => strip_wake_word(raw, w),
            _ => raw.trim().to_string(),
        }
    }

    /// Hands the turn's audio to the debug recordings, labelled with what was heard.
    fn record(&mut self, turn: u64, heard: &str) {
        if let Some(recordings) = &mut self.recordings {
            let words: String = heard.chars().take(RECORDING_LABEL_CHARS).collect();
            recordings.offer(format!("{turn}-{words}"), std::mem::take(&mut self.speech));
        }
    }

    fn end_utterance(
        &mut self,
        final_text: Option<String>,
        speech_end: Option<Instant>,
        endpoint: Instant,
    ) {
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
        let raw = match final_text {
            Some(text) => text,
            None => match self.asr.finish() {
                Ok(text) => text,
                Err(e) => return self.fail(format!("{e}")),
            },
        };
        let asr_final = Instant::now();
        let text = self.user_text(&raw);
        let timed_out = self.input_ended
            || self.position - since >= samples(self.settings.no_speech_timeout_ms);
        if text.is_empty() && wake_word.is_some() && !timed_out {
            // Only the wake word so far ("alexa ... what time is it"): keep listening.
            log::debug!("heard only the wake word ({raw:?}); still listening");
            if let Err(e) = self.restart_asr(self.position, None) {
                return self.fail(e);
            }
            if let Mode::Capturing { phase, .. } = &mut self.mode {
                *phase = Phase::Waiting {
                    quiet: self.position,
                    run: None,
                };
            }
            return;
        }
        log::debug!("utterance {turn}: {raw:?} -> {text:?}");
        self.record(turn, &text);
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
        if matches!(self.mode, Mode::Capturing { .. }) {
            // A segment under way ends with the input, for the recognizer too.
            match self.vad.flush() {
                Ok(events) => self.share_boundaries(&events),
                Err(e) => return self.fail(format!("{e}")),
            }
        }
        match self.mode {
            Mode::Capturing {
                phase: Phase::Speaking,
                ..
            } => self.end_utterance(None, None, Instant::now()),
            // The user never began: what the recognizer has is the wake word's tail.
            Mode::Capturing { turn, .. } => {
                self.record(turn, "no speech");
                self.mode = Mode::Armed;
                self.send(Event::NoSpeech { turn });
            }
            _ => {}
        }
        if let Mode::FollowUp { turn, .. } = self.mode {
            self.mode = Mode::Armed;
            self.send(Event::NoSpeech { turn });
        }
    }

    /// The controller logs it (rate-limited) and gives up if it keeps happening.
    fn fail(&mut self, message: String) {
        let turn = match self.mode {
            Mode::Capturing { turn, .. } => Some(turn),
            _ => None,
        };
        self.asr.begin();
        self.mode = Mode::Armed;
        self.send(Event::Failed { turn, message });
    }
}

#[cfg(test)]
mod tests {
    //! Scripted doubles for the engines: the listener's own rules (pre-roll, wake word
    //! only, timeouts, holding input) are what is under test here; the real engines run in
    //! the end-to-end tests.
    use super::*;
    use crate::asr::AsrError;
    use crate::vad::VadError;
    use crate::wake::{Detection, WakeError};
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    /// Frames are "loud" (speech) when their first sample is positive; the wake word fires
    /// on a frame whose first sample is 7.
    struct Wake;
    impl WakeEngine for Wake {
        fn process(&mut self, frame: &[i16]) -> Result<Vec<Detection>, WakeError> {
            Ok(if frame[0] == 7 {
                vec![Detection {
                    word: "alexa".into(),
                    score: 0.9,
                }]
            } else {
                vec![]
            })
        }
        fn reset(&mut self) {}
    }

    /// Speech starts at the first loud frame and ends after two quiet ones; a frame is
    /// voiced when it is loud.
    #[derive(Default)]
    struct Vad {
        at: u64,
        speech: bool,
        quiet: u32,
    }
    impl VoiceDetector for Vad {
        fn process(&mut self, s: &[i16]) -> Result<Vec<VadEvent>, VadError> {
            let mut ev = vec![];
            let loud = s[0] > 0;
            if loud && !self.speech {
                self.speech = true;
                ev.push(VadEvent::SpeechStart { sample: self.at });
            }
            self.quiet = if loud { 0 } else { self.quiet + 1 };
            if self.speech && self.quiet == 2 {
                self.speech = false;
                ev.push(VadEvent::SpeechEnd {
                    sample: self.at - FRAME_SAMPLES as u64,
                });
            }
            self.at += s.len() as u64;
            Ok(ev)
        }
        fn in_speech(&self) -> bool {
            self.speech
        }
        fn voiced(&self) -> bool {
            self.speech && self.quiet == 0
        }
        fn silence(&self) -> Option<crate::vad::Silence> {
            // The segment ends where its silence began (no padding here).
            let since = self.at - self.quiet as u64 * FRAME_SAMPLES as u64;
            (self.speech && self.quiet > 0).then_some(crate::vad::Silence {
                since,
                segment_end: since,
            })
        }
        fn reset(&mut self) {
            *self = Vad::default();
        }
    }

    /// "Recognizes" each loud frame as the word its first sample stands for, giving the
    /// words so far as a partial. A frame of -1 (quiet) ends a segment, as the VAD-driven
    /// Whisper recognizer does on its own, and its words so far come back as a final.
    struct Asr(Arc<Mutex<Vec<String>>>, Vec<String>);
    impl Recognizer for Asr {
        fn begin(&mut self) {
            self.1.clear();
        }
        fn feed(&mut self, s: &[f32]) -> Result<Vec<AsrEvent>, AsrError> {
            let mut events = vec![];
            for frame in s.chunks(FRAME_SAMPLES) {
                let word = match (frame[0] * 32768.0).round() as i32 {
                    7 => "Alexa,",
                    8 => "So...",
                    1 => "what",
                    2 => "time",
                    3 => "is it?",
                    -1 => {
                        // End of a segment, as the recognizer's own VAD finds it.
                        if !self.1.is_empty() {
                            events.push(AsrEvent::Final(self.finish()?));
                        }
                        continue;
                    }
                    _ => continue,
                };
                self.1.push(word.into());
                events.push(AsrEvent::Partial(self.1.join(" ")));
            }
            Ok(events)
        }
        fn finish(&mut self) -> Result<String, AsrError> {
            let text = self.1.join(" ");
            self.0.lock().unwrap().push(text.clone());
            self.1.clear();
            Ok(text)
        }
        fn transcript_until(&mut self, _end: u64) -> Result<Option<String>, AsrError> {
            Ok(Some(self.1.join(" ")))
        }
    }

    struct Frames(VecDeque<i16>);
    impl FrameSource for Frames {
        fn read_frame(&mut self, frame: &mut [i16]) -> Result<Read, String> {
            match self.0.pop_front() {
                Some(v) => {
                    frame.fill(v);
                    Ok(Read::Frame(Instant::now()))
                }
                None => Ok(Read::Ended),
            }
        }
    }

    fn settings(hold: bool) -> ListenerSettings {
        ListenerSettings {
            pre_roll_ms: 160,
            no_speech_timeout_ms: 800,
            follow_up_ms: 800,
            max_utterance_ms: 10_000,
            hold_while_busy: hold,
        }
    }

    /// Runs the listener over frames; `reply` answers each utterance with a release.
    fn listen(frames: &[i16], hold: bool) -> (Vec<Event>, Vec<String>) {
        listen_taking(frames, hold, TurnTaking::silence_only())
    }

    /// Asked at a pause of one quiet frame.
    fn pausing(detector: Box<dyn crate::turn::TurnDetector>, speculate: bool) -> TurnTaking {
        TurnTaking {
            detector,
            pause_ms: 80,
            speculate,
        }
    }

    fn listen_taking(frames: &[i16], hold: bool, turns: TurnTaking) -> (Vec<Event>, Vec<String>) {
        let decoded = Arc::new(Mutex::new(vec![]));
        let (tx, rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let report: Report = Box::new(move |h| {
            let _ = tx.send(h);
            true
        });
        let l = Listener::new(
            Box::new(Wake),
            Box::new(Vad::default()),
            Box::new(Asr(decoded.clone(), vec![])),
            settings(hold),
            report,
        )
        .taking_turns(turns);
        let source = Box::new(Frames(frames.iter().copied().collect()));
        let thread = std::thread::spawn(move || l.run(source, cmd_rx));
        let mut events = vec![];
        for heard in rx.iter() {
            match heard {
                Heard::Event(e) => {
                    if let Event::Utterance { turn, .. } = &e {
                        cmd_tx
                            .send(ListenerCommand::Release {
                                turn: *turn,
                                follow_up: true,
                            })
                            .unwrap();
                    }
                    events.push(e);
                }
                Heard::InputEnded => {
                    cmd_tx.send(ListenerCommand::Stop).unwrap();
                }
                Heard::Fatal(e) => panic!("{e}"),
            }
        }
        thread.join().unwrap();
        let decoded = decoded.lock().unwrap().clone();
        (events, decoded)
    }

    fn utterances(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Utterance { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn question_right_after_the_wake_word_is_heard_without_it() {
        // quiet, "alexa" (fires on its last frame), "what time is it" in one breath (voiced
        // past SAME_BREATH_MS: 9 is speech without a word of its own), quiet.
        let (events, decoded) = listen(&[0, 0, 9, 7, 1, 9, 2, 9, 3, 0, 0, 0, 0], true);
        assert!(matches!(
            &events[0],
            Event::TurnStarted { turn: 1, trigger: Trigger::Wake { word, .. }, .. } if word == "alexa"
        ));
        assert_eq!(decoded, ["Alexa, what time is it?"]);
        assert_eq!(utterances(&events), ["What time is it?"]);
    }

    #[test]
    fn a_pause_after_the_wake_word_keeps_listening() {
        // The VAD's end of the wake word's speech is not the end of the utterance, and the
        // recognizer starts over when the user begins: one decode, of the question only.
        let (events, decoded) = listen(&[7, 0, 0, 0, 1, 2, 3, 0, 0, 0], true);
        assert_eq!(decoded, ["what time is it?"]);
        assert_eq!(utterances(&events), ["what time is it?"]);
    }

    #[test]
    fn the_wake_words_tail_is_not_the_utterance() {
        // "alexa" fires before its tail (8) is over; the recognizer makes "So..." of that
        // tail and closes the segment in the pause (-1) before the question comes.
        let frames = [0, 9, 7, 8, 0, -1, 0, 0, 0, 1, 2, 3, 0, -1, 0, 0];
        let (events, decoded) = listen(&frames, true);
        assert_eq!(decoded, ["Alexa, So...", "what time is it?"]);
        assert_eq!(utterances(&events), ["what time is it?"]);
        let started: Vec<_> = events
            .iter()
            .filter(|e| matches!(e, Event::SpeechStarted { .. }))
            .collect();
        assert_eq!(started.len(), 1, "{events:?}");
    }

    #[test]
    fn partials_are_the_user_s_words_while_they_speak() {
        // The recognizer's guesses at the wake word's tail ("Alexa, So...") are not the
        // user's; theirs come between the start of their speech and the utterance.
        let frames = [0, 9, 7, 8, 0, -1, 0, 0, 0, 1, 2, 3, 0, -1, 0, 0];
        let (events, _) = listen(&frames, true);
        let kinds: Vec<String> = events
            .iter()
            .filter_map(|e| match e {
                Event::SpeechStarted { .. } => Some("speech".into()),
                Event::Partial { turn: 1, text } => Some(format!("partial: {text}")),
                Event::Partial { .. } => Some("a partial of another turn".into()),
                Event::Utterance { text, .. } => Some(format!("utterance: {text}")),
                _ => None,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "speech",
                "partial: what",
                "partial: what time",
                "partial: what time is it?",
                "utterance: what time is it?"
            ]
        );
    }

    #[test]
    fn input_that_ends_before_the_user_speaks_is_no_utterance() {
        // Only the wake word and its tail: nothing reaches the LLM, even at the end of input.
        let (events, decoded) = listen(&[0, 9, 7, 8, 0, 0], true);
        assert!(events.contains(&Event::NoSpeech { turn: 1 }), "{events:?}");
        assert!(utterances(&events).is_empty(), "{events:?}");
        assert!(decoded.is_empty(), "{decoded:?}");
    }

    #[test]
    fn silence_after_the_wake_word_times_out() {
        let mut frames = vec![7];
        frames.extend([0; 14]);
        let (events, _) = listen(&frames, true);
        assert!(events.contains(&Event::NoSpeech { turn: 1 }), "{events:?}");
        assert!(utterances(&events).is_empty());
    }

    #[test]
    fn held_input_is_answered_then_heard_as_a_follow_up() {
        // The second question comes with no wake word while the first is answered: held,
        // then heard inside the follow-up window as turn 2.
        let (events, _) = listen(&[7, 1, 9, 9, 9, 2, 0, 0, 0, 3, 1, 0, 0, 0], true);
        assert_eq!(utterances(&events), ["What time", "is it? what"]);
        assert!(events.iter().any(|e| matches!(
            e,
            Event::TurnStarted {
                turn: 2,
                trigger: Trigger::FollowUp,
                ..
            }
        )));
    }

    #[test]
    fn push_to_talk_starts_a_turn_without_pre_roll_or_wake_word() {
        let decoded = Arc::new(Mutex::new(vec![]));
        let (tx, rx) = mpsc::channel();
        let (cmd_tx, cmd_rx) = mpsc::channel();
        let report: Report = Box::new(move |h| tx.send(h).is_ok());
        let l = Listener::new(
            Box::new(Wake),
            Box::new(Vad::default()),
            Box::new(Asr(decoded.clone(), vec![])),
            settings(true),
            report,
        );
        // The button is pressed before any audio: the question follows without a wake word.
        cmd_tx
            .send(ListenerCommand::PushToTalk { at: Instant::now() })
            .unwrap();
        let source = Box::new(Frames([0, 1, 2, 3, 0, 0, 0].into_iter().collect()));
        let thread = std::thread::spawn(move || l.run(source, cmd_rx));
        let mut events = vec![];
        for heard in rx.iter() {
            match heard {
                Heard::Event(e) => {
                    if let Event::Utterance { turn, .. } = &e {
                        let release = ListenerCommand::Release {
                            turn: *turn,
                            follow_up: false,
                        };
                        cmd_tx.send(release).unwrap();
                    }
                    events.push(e);
                }
                Heard::InputEnded => cmd_tx.send(ListenerCommand::Stop).unwrap(),
                Heard::Fatal(e) => panic!("{e}"),
            }
        }
        thread.join().unwrap();
        assert!(matches!(
            events[0],
            Event::TurnStarted {
                turn: 1,
                trigger: Trigger::PushToTalk,
                ..
            }
        ));
        assert_eq!(utterances(&events), ["what time is it?"]);
    }

    /// What the listener said of the user's words, in order: speculations, resumptions and
    /// confirmed utterances.
    fn said(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Speculate { text, .. } => Some(format!("speculate: {text}")),
                Event::Resumed { .. } => Some("resumed".into()),
                Event::Utterance { text, .. } => Some(format!("utterance: {text}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_pause_that_lasts_is_confirmed_with_the_decode_made_at_it() {
        let speculate = pausing(Box::new(crate::turn::SilenceOnly), true);
        let (events, decoded) = listen_taking(&[7, 0, 0, 0, 1, 2, 3, 0, 0, 0], true, speculate);
        assert_eq!(
            said(&events),
            ["speculate: what time is it?", "utterance: what time is it?"]
        );
        assert!(
            decoded.is_empty(),
            "no second decode at the endpoint: {decoded:?}"
        );
    }

    #[test]
    fn speech_after_the_pause_withdraws_the_speculation_and_the_turn_goes_on() {
        let speculate = pausing(Box::new(crate::turn::SilenceOnly), true);
        let frames = [7, 0, 0, 0, 1, 2, 0, 3, 0, 0, 0];
        let (events, _) = listen_taking(&frames, true, speculate);
        assert_eq!(
            said(&events),
            [
                "speculate: what time",
                "resumed",
                "speculate: what time is it?",
                "utterance: what time is it?"
            ]
        );
    }

    #[test]
    fn without_speculation_a_pause_changes_nothing() {
        let quiet = pausing(Box::new(crate::turn::SilenceOnly), false);
        let frames = [7, 0, 0, 0, 1, 2, 0, 3, 0, 0, 0];
        let (events, decoded) = listen_taking(&frames, true, quiet);
        assert_eq!(said(&events), ["utterance: what time is it?"]);
        assert_eq!(decoded, ["what time is it?"]);
    }

    /// A turn detector that is always sure.
    struct Sure;
    impl crate::turn::TurnDetector for Sure {
        fn verdict(&mut self, speech: &[i16]) -> Result<Verdict, crate::turn::TurnError> {
            assert!(!speech.is_empty(), "it judges the turn's audio");
            Ok(Verdict {
                complete: true,
                probability: 1.0,
            })
        }
    }

    #[test]
    fn a_complete_verdict_ends_the_turn_at_the_pause() {
        let frames = [7, 0, 0, 0, 1, 2, 0, 3, 0, 0, 0];
        let (events, _) = listen_taking(&frames, true, pausing(Box::new(Sure), false));
        assert_eq!(said(&events)[0], "utterance: what time");
    }
}
