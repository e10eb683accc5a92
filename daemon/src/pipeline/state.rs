//! The conversation state machine: a deterministic core fed with events (from the
//! listener thread, the reply workers, the button and the API) that answers with commands
//! for the driver to carry out. It owns the history and assembles each turn's report.

use std::time::Instant;

use super::earcon::Cue;
pub use super::life::Outcome;
use super::timeline::{stamp, Timeline, Trigger, TurnReport};
use crate::llm::{ChatMessage, History};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Idle,
    Listening,
    Thinking,
    Speaking,
    FollowUp,
    Muted,
    Error,
}

/// Everything that moves the conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The listener began a turn: wake word, button, or speech inside the follow-up window.
    TurnStarted {
        turn: u64,
        trigger: Trigger,
        at: Instant,
    },
    SpeechStarted {
        turn: u64,
        at: Instant,
    },
    /// The recognizer's best guess so far at the user's words (wake word removed); each
    /// replaces the one before.
    Partial {
        turn: u64,
        text: String,
    },
    /// The user paused: if the turn ends here, these are their words (wake word removed).
    /// With `[turn] speculate` the answer starts now and plays once the turn is confirmed.
    Speculate {
        turn: u64,
        text: String,
        speech_end: Instant,
        asr_final: Instant,
    },
    /// The user went on speaking after the pause that was speculated on.
    Resumed {
        turn: u64,
    },
    /// The turn is confirmed: the user's words, wake word removed.
    Utterance {
        turn: u64,
        text: String,
        speech_end: Option<Instant>,
        endpoint: Instant,
        asr_final: Instant,
    },
    /// Nobody spoke: the no-speech timeout after a wake, or the follow-up window closed.
    NoSpeech {
        turn: u64,
    },
    /// A stage of the answer happened.
    Stage {
        turn: u64,
        stage: Stage,
        at: Instant,
    },
    /// The answer ended, exactly once per `StartReply` (see [`super::life`]).
    ReplyDone {
        turn: u64,
        /// What reached the speaker.
        played: String,
        outcome: Outcome,
        playback_end: Option<Instant>,
    },
    Mute(bool),
    /// The user asked hearken to stop (the button): cancel the answer or end the turn
    /// being listened to, without starting another.
    StopAnswer,
    /// A piece of the answer's text as the LLM streamed it (the API shows it).
    AnswerDelta {
        turn: u64,
        text: String,
    },
    /// The LLM failed for this answer (`LlmError::kind`); its apology is spoken.
    LlmFailed {
        turn: u64,
        kind: &'static str,
    },
    /// A listening engine (wake word, VAD, ASR) failed; `turn` is the turn it was
    /// listening for, if any. The daemon plays the error cue and carries on.
    Failed {
        turn: Option<u64>,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    LlmRequest,
    LlmFirstToken,
    FirstChunk,
    FirstTtsAudio,
    FirstSampleWritten,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Earcon(Cue),
    /// Ask the LLM and speak the answer; a speculative one plays only once confirmed.
    StartReply {
        turn: u64,
        messages: Vec<ChatMessage>,
        speculative: bool,
    },
    /// The turn of a speculative answer is confirmed: let it play.
    ConfirmReply {
        turn: u64,
    },
    /// Stop the LLM stream, TTS and playback of this turn now.
    CancelReply {
        turn: u64,
    },
    /// The answer is over: the listener waits for the wake word again, or for a follow-up.
    Release {
        turn: u64,
        follow_up: bool,
    },
    MuteListener(bool),
    Report(Box<TurnReport>),
    /// The state changed (LEDs, API events).
    Entered(State),
}

/// An answer started at a pause, before the turn was confirmed.
#[derive(Debug, Clone, PartialEq)]
enum Speculation {
    None,
    /// Under way for these words.
    Running(String),
    /// Cancelled (the user went on): waiting for it to report its end, which is not part
    /// of the conversation.
    Discarding,
    /// The turn was confirmed with the words it answers: it is the turn's answer.
    Used,
}

/// One turn, from its trigger to the end of its answer.
#[derive(Debug, Clone)]
struct Turn {
    id: u64,
    trigger: Trigger,
    transcript: String,
    timeline: Timeline,
    /// Its question is ready but waits for cancelled answers to report what they played,
    /// so that the history sent with it is complete.
    waiting: bool,
    speculation: Speculation,
    /// Speculative answers thrown away because the user went on.
    discarded: u32,
}

impl Turn {
    fn new(id: u64, trigger: Trigger) -> Self {
        Turn {
            id,
            trigger,
            transcript: String::new(),
            timeline: Timeline::default(),
            waiting: false,
            speculation: Speculation::None,
            discarded: 0,
        }
    }

    /// Cancels the speculative answer under way, if any; its stages no longer count.
    fn discard_speculation(&mut self, out: &mut Vec<Command>) {
        if let Speculation::Running(_) = self.speculation {
            out.push(Command::CancelReply { turn: self.id });
            self.speculation = Speculation::Discarding;
            self.discarded += 1;
            self.timeline.forget_speculation();
        }
    }

    fn report(&self, reply: String, outcome: &Outcome) -> TurnReport {
        TurnReport {
            turn: self.id,
            wake_word: match &self.trigger {
                Trigger::Wake { word, .. } => Some(word.clone()),
                _ => None,
            },
            wake_score: match &self.trigger {
                Trigger::Wake { score, .. } => Some(*score),
                _ => None,
            },
            trigger: self.trigger.name(),
            transcript: self.transcript.clone(),
            reply,
            interrupted: matches!(outcome, Outcome::Interrupted),
            fallback: matches!(outcome, Outcome::Fallback),
            error: match outcome {
                Outcome::Failed(why) => Some(why.clone()),
                _ => None,
            },
            no_speech: self.transcript.is_empty(),
            timeline: self.timeline.to_ms(),
            speculation: match (&self.speculation, self.discarded) {
                (Speculation::Used, _) => "used",
                (_, 0) => "none",
                _ => "discarded",
            },
            speculations_discarded: self.discarded,
            started: self.timeline.origin(),
        }
    }
}

pub struct Conversation {
    state: State,
    system_prompt: String,
    follow_up: bool,
    /// Past exchanges, as heard.
    history: History,
    /// The turn being listened to, thought about or answered.
    current: Option<Turn>,
    /// Turns whose answer was cancelled and has not yet reported what it played. Every
    /// answer reports exactly once, so this empties.
    winding_down: Vec<Turn>,
}

impl Conversation {
    /// `history_tokens`: how much of the past conversation goes with each question.
    pub fn new(system_prompt: impl Into<String>, follow_up: bool, history_tokens: usize) -> Self {
        Conversation {
            state: State::Idle,
            system_prompt: system_prompt.into(),
            follow_up,
            history: History::new(history_tokens),
            current: None,
            winding_down: Vec::new(),
        }
    }

    /// A reloaded config's prompt, follow-up and history budget, from the next question on
    /// (an answer under way keeps what it was asked with).
    pub fn retune(&mut self, system_prompt: &str, follow_up: bool, history_tokens: usize) {
        self.system_prompt = system_prompt.to_string();
        self.follow_up = follow_up;
        self.history.set_budget(history_tokens);
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// The turn being listened to or answered.
    pub fn current_turn(&self) -> Option<u64> {
        self.current.as_ref().map(|t| t.id)
    }

    /// Answers started and not yet reported done (the current one and cancelled ones).
    pub fn answers_pending(&self) -> usize {
        let current = self
            .current
            .as_ref()
            .is_some_and(|t| !t.waiting && self.answering());
        self.winding_down.len() + usize::from(current)
    }

    fn answering(&self) -> bool {
        matches!(self.state, State::Thinking | State::Speaking)
    }

    /// The whole machine: one handler per event.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        // Muted, only what winds down the answers cut off by the mute still counts.
        let winding_down = matches!(
            event,
            Event::Mute(_) | Event::ReplyDone { .. } | Event::Stage { .. }
        );
        if self.state == State::Muted && !winding_down {
            return out;
        }
        match event {
            Event::Mute(true) => self.on_mute(&mut out),
            Event::Mute(false) => self.on_unmute(&mut out),
            Event::StopAnswer => self.on_stop_answer(&mut out),
            Event::TurnStarted { turn, trigger, at } => {
                self.on_turn_started(turn, trigger, at, &mut out)
            }
            Event::SpeechStarted { turn, at } => self.on_speech_started(turn, at),
            Event::Speculate {
                turn,
                text,
                speech_end,
                asr_final,
            } => self.on_speculate(turn, text, speech_end, asr_final, &mut out),
            Event::Resumed { turn } => {
                if let Some(t) = self.current_mut(turn) {
                    t.discard_speculation(&mut out);
                }
            }
            Event::Utterance {
                turn,
                text,
                speech_end,
                endpoint,
                asr_final,
            } => self.on_utterance(turn, text, speech_end, endpoint, asr_final, &mut out),
            Event::NoSpeech { turn } => self.on_no_speech(turn, &mut out),
            Event::Stage { turn, stage, at } => self.on_stage(turn, stage, at, &mut out),
            Event::ReplyDone {
                turn,
                played,
                outcome,
                playback_end,
            } => self.on_reply_done(turn, played, outcome, playback_end, &mut out),
            Event::Failed { turn, message } => self.on_failed(turn, &message, &mut out),
            // Only for observers (the API); the state does not depend on them.
            Event::Partial { .. } | Event::AnswerDelta { .. } | Event::LlmFailed { .. } => {}
        }
        out
    }

    fn on_mute(&mut self, out: &mut Vec<Command>) {
        self.cancel_current(out);
        out.push(Command::MuteListener(true));
        self.enter(State::Muted, out);
    }

    fn on_unmute(&mut self, out: &mut Vec<Command>) {
        if self.state == State::Muted {
            out.push(Command::MuteListener(false));
            self.enter(State::Idle, out);
        }
    }

    /// Barge-in without a new turn: the answer is cut (and winds down like any cancelled
    /// one, so the history keeps what was played), the listener goes back to the wake word.
    fn on_stop_answer(&mut self, out: &mut Vec<Command>) {
        match self.state {
            State::Listening => {
                out.push(Command::Earcon(Cue::Done));
                self.end_without_answer(out);
            }
            State::Thinking | State::Speaking => {
                let turn = self.current_turn();
                self.cancel_current(out);
                if let Some(turn) = turn {
                    out.push(Command::Release {
                        turn,
                        follow_up: false,
                    });
                }
                self.enter(State::Idle, out);
            }
            _ => {}
        }
    }

    /// Barge-in too: a new turn while answering cancels the answer.
    fn on_turn_started(
        &mut self,
        turn: u64,
        trigger: Trigger,
        at: Instant,
        out: &mut Vec<Command>,
    ) {
        self.cancel_current(out);
        let follow_up = matches!(trigger, Trigger::FollowUp);
        if !follow_up {
            out.push(Command::Earcon(Cue::Wake));
        }
        let mut t = Turn::new(turn, trigger);
        stamp(&mut t.timeline.wake, at);
        if follow_up {
            stamp(&mut t.timeline.speech_start, at);
        }
        self.current = Some(t);
        self.enter(State::Listening, out);
    }

    fn on_speech_started(&mut self, turn: u64, at: Instant) {
        if let Some(t) = self.current_mut(turn) {
            stamp(&mut t.timeline.speech_start, at);
        }
    }

    fn on_utterance(
        &mut self,
        turn: u64,
        text: String,
        speech_end: Option<Instant>,
        endpoint: Instant,
        asr_final: Instant,
        out: &mut Vec<Command>,
    ) {
        if self.state != State::Listening {
            return;
        }
        let Some(t) = self.current_mut(turn) else {
            return;
        };
        if let Some(end) = speech_end {
            stamp(&mut t.timeline.speech_end, end);
        }
        stamp(&mut t.timeline.endpoint, endpoint);
        stamp(&mut t.timeline.asr_final, asr_final);
        out.push(Command::Earcon(Cue::Done));
        let text = text.trim().to_string();
        if text.is_empty() {
            self.end_without_answer(out);
            return;
        }
        match &t.speculation {
            Speculation::Running(said) if *said == text => {
                t.speculation = Speculation::Used;
                t.transcript = text;
                self.enter(State::Thinking, out);
                out.push(Command::ConfirmReply { turn });
                return;
            }
            _ => t.discard_speculation(out),
        }
        t.transcript = text;
        let discarding = t.speculation == Speculation::Discarding;
        self.enter(State::Thinking, out);
        if self.winding_down.is_empty() && !discarding {
            self.start_reply(out);
        } else if let Some(t) = self.current.as_mut() {
            t.waiting = true;
        }
    }

    /// Starts the answer to what the user said before their pause, unless something else
    /// is under way (an answer winding down, an earlier speculation still running).
    fn on_speculate(
        &mut self,
        turn: u64,
        text: String,
        speech_end: Instant,
        asr_final: Instant,
        out: &mut Vec<Command>,
    ) {
        if self.state != State::Listening || !self.winding_down.is_empty() {
            return;
        }
        let Some(t) = self.current_mut(turn) else {
            return;
        };
        let text = text.trim().to_string();
        if text.is_empty() || t.speculation != Speculation::None {
            return;
        }
        // Stamped again (or kept) when the turn is confirmed.
        t.timeline.speech_end = Some(speech_end);
        t.timeline.asr_final = Some(asr_final);
        t.speculation = Speculation::Running(text.clone());
        out.push(Command::StartReply {
            turn,
            messages: self.history.messages(&self.system_prompt, &text),
            speculative: true,
        });
    }

    fn on_no_speech(&mut self, turn: u64, out: &mut Vec<Command>) {
        if self.current_mut(turn).is_none() {
            return;
        }
        match self.state {
            State::Listening => {
                out.push(Command::Earcon(Cue::Done));
                self.end_without_answer(out);
            }
            State::FollowUp => {
                self.current = None;
                self.enter(State::Idle, out);
            }
            _ => {}
        }
    }

    /// Stamps the turn's timeline, also for an answer already cut off: its report shows
    /// how far it got.
    fn on_stage(&mut self, turn: u64, stage: Stage, at: Instant, out: &mut Vec<Command>) {
        let is_current = self.current_turn() == Some(turn);
        let Some(t) = self
            .current
            .iter_mut()
            .chain(self.winding_down.iter_mut())
            .find(|t| t.id == turn)
        else {
            return;
        };
        if t.speculation == Speculation::Discarding {
            return;
        }
        let tl = &mut t.timeline;
        match stage {
            Stage::LlmRequest => stamp(&mut tl.llm_request, at),
            Stage::LlmFirstToken => stamp(&mut tl.llm_first_token, at),
            Stage::FirstChunk => stamp(&mut tl.first_chunk, at),
            Stage::FirstTtsAudio => stamp(&mut tl.first_tts_audio, at),
            Stage::FirstSampleWritten => {
                stamp(&mut tl.first_sample_written, at);
                if is_current && self.state == State::Thinking {
                    self.enter(State::Speaking, out);
                }
            }
        }
    }

    fn on_reply_done(
        &mut self,
        turn: u64,
        played: String,
        outcome: Outcome,
        playback_end: Option<Instant>,
        out: &mut Vec<Command>,
    ) {
        if let Some(t) = self
            .current
            .as_mut()
            .filter(|t| t.id == turn && t.speculation == Speculation::Discarding)
        {
            // Nothing of it was played, nothing of it is remembered.
            log::debug!("turn {turn}: speculative answer discarded ({outcome:?})");
            t.speculation = Speculation::None;
            if t.waiting && self.winding_down.is_empty() {
                t.waiting = false;
                self.start_reply(out);
            }
            return;
        }
        if let Some(i) = self.winding_down.iter().position(|t| t.id == turn) {
            let t = self.winding_down.remove(i);
            self.finish_cancelled(t, played, outcome, playback_end, out);
            return;
        }
        let answered = self.answering()
            && self
                .current
                .as_ref()
                .is_some_and(|t| t.id == turn && !t.waiting);
        if !answered {
            log::debug!("answer {turn} reported after its turn was over");
            return;
        }
        let mut t = self.current.take().expect("checked");
        if let Some(end) = playback_end {
            stamp(&mut t.timeline.playback_end, end);
        }
        if matches!(outcome, Outcome::Played | Outcome::Interrupted) {
            self.remember(&t.transcript, &played);
        }
        out.push(Command::Report(Box::new(t.report(played, &outcome))));
        if let Outcome::Failed(why) = &outcome {
            log::error!("turn {turn}: {why}");
            out.push(Command::Earcon(Cue::Error));
            out.push(Command::Release {
                turn,
                follow_up: false,
            });
            self.enter(State::Error, out);
            return;
        }
        out.push(Command::Release {
            turn,
            follow_up: self.follow_up,
        });
        if self.follow_up {
            // The follow-up keeps the turn id: speech in the window starts the next.
            self.current = Some(Turn::new(turn, Trigger::FollowUp));
            self.enter(State::FollowUp, out);
        } else {
            self.enter(State::Idle, out);
        }
    }

    /// A listening engine failed. While an answer plays it goes on (the listener recovers
    /// by itself); otherwise the turn ends with the error cue, once, not on every frame.
    fn on_failed(&mut self, turn: Option<u64>, message: &str, out: &mut Vec<Command>) {
        if turn.is_some() && turn != self.current_turn() {
            log::debug!("failure of a finished turn: {message}");
            return;
        }
        if self.answering() || self.state == State::Error {
            return;
        }
        if let Some(mut t) = self.current.take() {
            t.discard_speculation(out);
            out.push(Command::Release {
                turn: t.id,
                follow_up: false,
            });
        }
        out.push(Command::Earcon(Cue::Error));
        self.enter(State::Error, out);
    }

    fn enter(&mut self, state: State, out: &mut Vec<Command>) {
        if self.state != state {
            self.state = state;
            out.push(Command::Entered(state));
        }
    }

    fn current_mut(&mut self, turn: u64) -> Option<&mut Turn> {
        self.current.as_mut().filter(|t| t.id == turn)
    }

    /// Ends the current turn; an answer under way is cancelled and winds down.
    fn cancel_current(&mut self, out: &mut Vec<Command>) {
        let Some(mut t) = self.current.take() else {
            return;
        };
        // A speculative answer of a turn that never got confirmed ends with it, unheard.
        t.discard_speculation(out);
        if self.answering() && !t.waiting {
            out.push(Command::CancelReply { turn: t.id });
            self.winding_down.push(t);
        }
    }

    fn finish_cancelled(
        &mut self,
        mut t: Turn,
        played: String,
        outcome: Outcome,
        playback_end: Option<Instant>,
        out: &mut Vec<Command>,
    ) {
        if let Some(end) = playback_end {
            stamp(&mut t.timeline.playback_end, end);
        }
        if !matches!(outcome, Outcome::Fallback) {
            self.remember(&t.transcript, &played);
        }
        // Cut off by the user, whatever the answer itself was doing at the time.
        out.push(Command::Report(Box::new(
            t.report(played, &Outcome::Interrupted),
        )));
        let ready = self.current.as_ref().is_some_and(|t| t.waiting);
        if ready && self.winding_down.is_empty() {
            if let Some(t) = self.current.as_mut() {
                t.waiting = false;
            }
            self.start_reply(out);
        }
    }

    fn end_without_answer(&mut self, out: &mut Vec<Command>) {
        if let Some(mut t) = self.current.take() {
            t.discard_speculation(out);
            out.push(Command::Report(Box::new(
                t.report(String::new(), &Outcome::Played),
            )));
            out.push(Command::Release {
                turn: t.id,
                follow_up: false,
            });
        }
        self.enter(State::Idle, out);
    }

    fn start_reply(&mut self, out: &mut Vec<Command>) {
        let Some(t) = self.current.as_ref() else {
            return;
        };
        out.push(Command::StartReply {
            turn: t.id,
            messages: self.history.messages(&self.system_prompt, &t.transcript),
            speculative: false,
        });
    }

    /// Keeps the exchange as heard; an answer nobody heard is not part of the conversation.
    fn remember(&mut self, user: &str, played: &str) {
        if !user.is_empty() {
            self.history.record(user, played);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::Role;
    use std::time::Duration;

    fn wake(turn: u64) -> Event {
        Event::TurnStarted {
            turn,
            trigger: Trigger::Wake {
                word: "alexa".into(),
                score: 0.9,
            },
            at: Instant::now(),
        }
    }

    fn said(turn: u64, text: &str) -> Event {
        let now = Instant::now();
        Event::Utterance {
            turn,
            text: text.into(),
            speech_end: Some(now),
            endpoint: now + Duration::from_millis(600),
            asr_final: now + Duration::from_millis(700),
        }
    }

    fn done(turn: u64, played: &str, interrupted: bool) -> Event {
        Event::ReplyDone {
            turn,
            played: played.into(),
            outcome: if interrupted {
                Outcome::Interrupted
            } else {
                Outcome::Played
            },
            playback_end: Some(Instant::now()),
        }
    }

    fn playing(turn: u64) -> Event {
        Event::Stage {
            turn,
            stage: Stage::FirstSampleWritten,
            at: Instant::now(),
        }
    }

    fn reports(cmds: &[Command]) -> Vec<&TurnReport> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Report(r) => Some(&**r),
                _ => None,
            })
            .collect()
    }

    fn started(cmds: &[Command]) -> Option<(u64, &[ChatMessage])> {
        cmds.iter().find_map(|c| match c {
            Command::StartReply { turn, messages, .. } => Some((*turn, messages.as_slice())),
            _ => None,
        })
    }

    #[test]
    fn wake_question_answer_then_follow_up_window() {
        let mut c = Conversation::new("be brief", true, 1000);
        let cmds = c.handle(wake(1));
        assert_eq!(c.state(), State::Listening);
        assert!(cmds.contains(&Command::Earcon(Cue::Wake)));
        let cmds = c.handle(said(1, "what is the capital of France?"));
        assert_eq!(c.state(), State::Thinking);
        assert!(cmds.contains(&Command::Earcon(Cue::Done)));
        let (turn, messages) = started(&cmds).unwrap();
        assert_eq!(turn, 1);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].role, Role::System);
        assert_eq!(messages[1].content, "what is the capital of France?");
        c.handle(playing(1));
        assert_eq!(c.state(), State::Speaking);
        let cmds = c.handle(done(1, "Paris.", false));
        assert_eq!(c.state(), State::FollowUp);
        assert!(cmds.contains(&Command::Release {
            turn: 1,
            follow_up: true
        }));
        let r = reports(&cmds);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reply, "Paris.");
        assert_eq!(r[0].wake_word.as_deref(), Some("alexa"));
        assert!(r[0].timeline.first_sample_written_ms.is_some());

        // Speech in the window: a new turn without the wake cue, history included.
        let cmds = c.handle(Event::TurnStarted {
            turn: 2,
            trigger: Trigger::FollowUp,
            at: Instant::now(),
        });
        assert!(!cmds.contains(&Command::Earcon(Cue::Wake)));
        let cmds = c.handle(said(2, "and of Germany?"));
        let (_, messages) = started(&cmds).unwrap();
        let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            [
                "be brief",
                "what is the capital of France?",
                "Paris.",
                "and of Germany?"
            ]
        );
    }

    #[test]
    fn follow_up_window_closes_to_idle_and_zero_disables_it() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        c.handle(said(1, "hi"));
        c.handle(done(1, "Hello.", false));
        assert_eq!(c.state(), State::FollowUp);
        c.handle(Event::NoSpeech { turn: 1 });
        assert_eq!(c.state(), State::Idle);

        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(said(1, "hi"));
        let cmds = c.handle(done(1, "Hello.", false));
        assert_eq!(c.state(), State::Idle);
        assert!(cmds.contains(&Command::Release {
            turn: 1,
            follow_up: false
        }));
    }

    #[test]
    fn barge_in_cancels_and_history_keeps_only_what_was_played() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        c.handle(said(1, "tell me a long story"));
        c.handle(playing(1));
        let cmds = c.handle(wake(2));
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }));
        assert!(cmds.contains(&Command::Earcon(Cue::Wake)));
        assert_eq!(c.state(), State::Listening);
        // The new question is ready before the old answer has reported what it played:
        // its request waits, so the history is complete.
        let cmds = c.handle(said(2, "stop, what time is it?"));
        assert!(started(&cmds).is_none());
        assert_eq!(c.state(), State::Thinking);
        let cmds = c.handle(done(1, "Once upon a", true));
        let r = reports(&cmds);
        assert_eq!(r.len(), 1);
        assert!(r[0].interrupted);
        assert_eq!(r[0].reply, "Once upon a");
        let (turn, messages) = started(&cmds).unwrap();
        assert_eq!(turn, 2);
        let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            [
                "tell me a long story",
                "Once upon a",
                "stop, what time is it?"
            ]
        );
    }

    #[test]
    fn no_speech_and_empty_utterance_end_the_turn_quietly() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        let cmds = c.handle(Event::NoSpeech { turn: 1 });
        assert_eq!(c.state(), State::Idle);
        assert!(cmds.contains(&Command::Earcon(Cue::Done)));
        assert!(reports(&cmds)[0].no_speech);
        c.handle(wake(2));
        let cmds = c.handle(said(2, "  "));
        assert_eq!(c.state(), State::Idle);
        assert!(started(&cmds).is_none());
    }

    #[test]
    fn llm_fallback_is_spoken_but_not_remembered() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(said(1, "hello?"));
        let cmds = c.handle(Event::ReplyDone {
            turn: 1,
            played: "Sorry, I can't reach my language model right now.".into(),
            outcome: Outcome::Fallback,
            playback_end: None,
        });
        assert!(reports(&cmds)[0].fallback);
        assert!(c.history().is_empty());
        assert_eq!(c.state(), State::Idle);
        // The next turn works as usual.
        c.handle(wake(2));
        let cmds = c.handle(said(2, "hello again"));
        assert_eq!(started(&cmds).unwrap().1.len(), 1);
    }

    #[test]
    fn mute_cancels_and_ignores_turns_until_unmuted() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        c.handle(said(1, "hi"));
        let cmds = c.handle(Event::Mute(true));
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }));
        assert!(cmds.contains(&Command::MuteListener(true)));
        assert_eq!(c.state(), State::Muted);
        c.handle(wake(2));
        assert_eq!(c.state(), State::Muted);
        let cmds = c.handle(done(1, "", true));
        assert_eq!(reports(&cmds).len(), 1);
        c.handle(Event::Mute(false));
        assert_eq!(c.state(), State::Idle);
        c.handle(wake(3));
        assert_eq!(c.state(), State::Listening);
    }

    #[test]
    fn stop_cuts_the_answer_without_a_new_turn_and_the_next_turn_works() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(said(1, "tell me a story"));
        c.handle(playing(1));
        assert_eq!(c.state(), State::Speaking);
        let cmds = c.handle(Event::StopAnswer);
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }), "{cmds:?}");
        assert!(cmds.contains(&Command::Release {
            turn: 1,
            follow_up: false
        }));
        assert_eq!(cmds.last(), Some(&Command::Entered(State::Idle)));
        assert_eq!(c.current_turn(), None);
        // The cut answer reports what was played, which is all the history keeps.
        let cmds = c.handle(done(1, "Once upon", true));
        let r = reports(&cmds);
        assert_eq!(r.len(), 1);
        assert!(r[0].interrupted);
        assert_eq!(r[0].reply, "Once upon");
        assert_eq!(c.answers_pending(), 0);
        c.handle(wake(2));
        let cmds = c.handle(said(2, "two plus two"));
        let (turn, messages) = started(&cmds).expect("the next question is asked");
        assert_eq!(turn, 2);
        assert!(
            messages.iter().any(|m| m.content == "Once upon"),
            "{messages:?}"
        );

        // While thinking (nothing played yet) and while listening; idle: nothing to stop.
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(said(1, "hi"));
        assert_eq!(c.state(), State::Thinking);
        assert!(c
            .handle(Event::StopAnswer)
            .contains(&Command::CancelReply { turn: 1 }));
        assert_eq!(c.state(), State::Idle);
        c.handle(wake(2));
        let cmds = c.handle(Event::StopAnswer);
        assert!(cmds.contains(&Command::Release {
            turn: 2,
            follow_up: false
        }));
        assert_eq!(c.state(), State::Idle);
        assert!(c.handle(Event::StopAnswer).is_empty());
    }

    #[test]
    fn engine_failure_plays_the_error_cue_and_recovers_on_the_next_turn() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        let cmds = c.handle(Event::Failed {
            turn: Some(1),
            message: "asr exploded".into(),
        });
        assert!(cmds.contains(&Command::Earcon(Cue::Error)));
        assert_eq!(c.state(), State::Error);
        c.handle(wake(2));
        assert_eq!(c.state(), State::Listening);
    }

    #[test]
    fn history_is_bounded() {
        // Each exchange costs 10 estimated tokens: the fourth overflows 35, the trim leaves
        // at most half of it (the fourth alone), and the fifth joins it.
        let mut c = Conversation::new("", false, 35);
        for turn in 1..=5 {
            c.handle(wake(turn));
            c.handle(said(turn, &format!("q{turn}")));
            c.handle(done(turn, &format!("a{turn}"), false));
        }
        let messages = c.history().messages("", "next");
        let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["q4", "a4", "q5", "a5", "next"]);
    }

    #[test]
    fn an_answer_cut_off_before_any_audio_unblocks_the_next_question() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(said(1, "what is the capital of France?"));
        assert_eq!(c.state(), State::Thinking);
        c.handle(Event::Stage {
            turn: 1,
            stage: Stage::LlmRequest,
            at: Instant::now(),
        });
        let cmds = c.handle(wake(2));
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }));
        let cmds = c.handle(said(2, "what is two plus two?"));
        assert!(started(&cmds).is_none(), "waits for turn 1's end");
        assert_eq!(c.answers_pending(), 1);
        // What ReplyLife reports when the last holder of a cancelled answer lets go.
        let cmds = c.handle(done(1, "", true));
        let r = reports(&cmds);
        assert_eq!(r.len(), 1);
        assert!(r[0].interrupted && r[0].reply.is_empty());
        assert!(r[0].timeline.llm_request_ms.is_some());
        assert_eq!(started(&cmds).unwrap().0, 2);
        assert_eq!(c.answers_pending(), 1);
        c.handle(done(2, "Four.", false));
        assert_eq!(c.answers_pending(), 0);
        assert_eq!(c.state(), State::Idle);
    }

    #[test]
    fn a_failed_answer_plays_the_error_cue_and_the_next_turn_works() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        c.handle(said(1, "hello"));
        let cmds = c.handle(Event::ReplyDone {
            turn: 1,
            played: "Hel".into(),
            outcome: Outcome::Failed("speaking failed".into()),
            playback_end: None,
        });
        assert!(cmds.contains(&Command::Earcon(Cue::Error)));
        assert!(cmds.contains(&Command::Release {
            turn: 1,
            follow_up: false
        }));
        assert_eq!(reports(&cmds)[0].error.as_deref(), Some("speaking failed"));
        assert_eq!(c.state(), State::Error);
        c.handle(wake(2));
        let cmds = c.handle(said(2, "hello again"));
        assert_eq!(started(&cmds).unwrap().0, 2);
    }

    #[test]
    fn a_repeating_listener_error_plays_the_cue_once_and_spares_an_answer() {
        let failed = |turn| Event::Failed {
            turn,
            message: "VAD inference failed".into(),
        };
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        let cues = |cmds: &[Command]| cmds.contains(&Command::Earcon(Cue::Error));
        assert!(cues(&c.handle(failed(Some(1)))));
        for _ in 0..5 {
            assert!(!cues(&c.handle(failed(None))));
        }
        assert_eq!(c.state(), State::Error);
        // While an answer plays, a listener error leaves it alone.
        c.handle(wake(2));
        c.handle(said(2, "tell me a story"));
        c.handle(playing(2));
        let cmds = c.handle(failed(None));
        assert!(cmds.is_empty(), "{cmds:?}");
        assert_eq!(c.state(), State::Speaking);
    }

    fn speculate(turn: u64, text: &str) -> Event {
        Event::Speculate {
            turn,
            text: text.into(),
            speech_end: Instant::now(),
            asr_final: Instant::now(),
        }
    }

    fn speculative(cmds: &[Command]) -> Option<&str> {
        cmds.iter().find_map(|c| match c {
            Command::StartReply {
                messages,
                speculative: true,
                ..
            } => Some(messages.last().unwrap().content.as_str()),
            _ => None,
        })
    }

    #[test]
    fn a_speculative_answer_plays_once_the_turn_is_confirmed_with_the_same_words() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        let cmds = c.handle(speculate(1, "what time is it?"));
        assert_eq!(speculative(&cmds), Some("what time is it?"));
        assert_eq!(
            c.state(),
            State::Listening,
            "nothing is said before it is confirmed"
        );
        let cmds = c.handle(said(1, "what time is it?"));
        assert!(
            cmds.contains(&Command::ConfirmReply { turn: 1 }),
            "{cmds:?}"
        );
        assert!(
            started(&cmds).is_none(),
            "the answer under way is the turn's answer"
        );
        assert!(c.history().is_empty());
        c.handle(playing(1));
        let cmds = c.handle(done(1, "Noon.", false));
        let r = reports(&cmds);
        assert_eq!(r[0].speculation, "used");
        assert_eq!(r[0].transcript, "what time is it?");
        assert_eq!(c.history().len(), 1);
    }

    #[test]
    fn a_resumed_utterance_discards_the_speculation_and_asks_the_whole_question() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(speculate(1, "what is the capital of"));
        c.handle(Event::Stage {
            turn: 1,
            stage: Stage::LlmRequest,
            at: Instant::now(),
        });
        let cmds = c.handle(Event::Resumed { turn: 1 });
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }), "{cmds:?}");
        // Its late stages do not count for the turn.
        c.handle(Event::Stage {
            turn: 1,
            stage: Stage::LlmFirstToken,
            at: Instant::now(),
        });
        // The question is ready before the discarded answer has wound down: it waits.
        let cmds = c.handle(said(1, "what is the capital of France?"));
        assert!(started(&cmds).is_none(), "{cmds:?}");
        assert!(!cmds.contains(&Command::ConfirmReply { turn: 1 }));
        let cmds = c.handle(done(1, "", true));
        assert!(
            reports(&cmds).is_empty(),
            "a discarded answer is no turn of its own"
        );
        let (turn, messages) = started(&cmds).expect("the whole question is asked");
        assert_eq!(turn, 1);
        assert_eq!(
            messages.last().unwrap().content,
            "what is the capital of France?"
        );
        assert!(c.history().is_empty());
        c.handle(playing(1));
        let cmds = c.handle(done(1, "Paris.", false));
        let r = reports(&cmds);
        assert_eq!(r[0].speculation, "discarded");
        assert_eq!(r[0].speculations_discarded, 1);
        assert!(
            r[0].timeline.llm_first_token_ms.is_none(),
            "{:?}",
            r[0].timeline
        );
        let m = c.history().messages("", "next");
        let contents: Vec<&str> = m.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            ["what is the capital of France?", "Paris.", "next"]
        );
    }

    #[test]
    fn a_confirmed_turn_with_other_words_discards_the_speculation() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(speculate(1, "what time"));
        let cmds = c.handle(said(1, "what time is it?"));
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }), "{cmds:?}");
        assert!(started(&cmds).is_none());
        let cmds = c.handle(done(1, "", true));
        assert_eq!(
            started(&cmds).unwrap().1.last().unwrap().content,
            "what time is it?"
        );
    }

    #[test]
    fn barge_in_during_a_speculation_cancels_it_unheard() {
        let mut c = Conversation::new("", false, 1000);
        c.handle(wake(1));
        c.handle(speculate(1, "tell me"));
        let cmds = c.handle(wake(2));
        assert!(cmds.contains(&Command::CancelReply { turn: 1 }), "{cmds:?}");
        let cmds = c.handle(done(1, "", true));
        assert!(reports(&cmds).is_empty());
        assert!(c.history().is_empty());
        let cmds = c.handle(said(2, "hi"));
        assert_eq!(started(&cmds).unwrap().0, 2);
    }
}
