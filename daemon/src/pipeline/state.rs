//! The conversation state machine: a deterministic core fed with events (from the
//! listener thread, the reply workers, the button and the API) that answers with commands
//! for the driver to carry out. It owns the history and assembles each turn's report.

use std::time::Instant;

use super::earcon::Cue;
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
    /// The user's words, wake word removed.
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
    /// The answer ended: played out, cancelled (barge-in, mute) or failed.
    ReplyDone {
        turn: u64,
        /// What reached the speaker.
        played: String,
        interrupted: bool,
        /// The LLM failed and `played` is the spoken apology.
        fallback: bool,
        playback_end: Option<Instant>,
    },
    Mute(bool),
    /// An engine failed; the daemon plays the error cue and carries on.
    Failed(String),
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
    /// Ask the LLM and speak the answer.
    StartReply {
        turn: u64,
        messages: Vec<ChatMessage>,
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

#[derive(Debug, Clone)]
struct Turn {
    id: u64,
    trigger: Trigger,
    transcript: String,
    timeline: Timeline,
}

impl Turn {
    fn report(&self, reply: String, interrupted: bool, fallback: bool) -> TurnReport {
        TurnReport {
            turn: self.id,
            wake_word: match &self.trigger {
                Trigger::Wake(w) => Some(w.clone()),
                _ => None,
            },
            trigger: match self.trigger {
                Trigger::Wake(_) => "wake",
                Trigger::PushToTalk => "button",
                Trigger::FollowUp => "follow-up",
            },
            transcript: self.transcript.clone(),
            reply,
            interrupted,
            fallback,
            no_speech: self.transcript.is_empty(),
            timeline: self.timeline.to_ms(),
        }
    }
}

pub struct Conversation {
    state: State,
    system_prompt: String,
    follow_up: bool,
    /// Past exchanges, as heard.
    history: History,
    /// The turn being listened to or answered.
    current: Option<Turn>,
    /// A cancelled answer still winding down; its history entry lands when it reports done.
    cancelled: Vec<Turn>,
    /// An utterance that waits for a cancelled answer to finish, so its history is complete.
    waiting: bool,
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
            cancelled: Vec::new(),
            waiting: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    fn enter(&mut self, state: State, out: &mut Vec<Command>) {
        if self.state != state {
            self.state = state;
            out.push(Command::Entered(state));
        }
    }

    fn is_current(&self, turn: u64) -> bool {
        self.current.as_ref().is_some_and(|t| t.id == turn)
    }

    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        match event {
            Event::Mute(true) => {
                self.cancel_current(&mut out);
                self.current = None;
                out.push(Command::MuteListener(true));
                self.enter(State::Muted, &mut out);
            }
            Event::Mute(false) => {
                if self.state == State::Muted {
                    out.push(Command::MuteListener(false));
                    self.enter(State::Idle, &mut out);
                }
            }
            _ if self.state == State::Muted => {
                // A reply cancelled by the mute may still report in; keep its history.
                if let Event::ReplyDone {
                    turn,
                    played,
                    playback_end,
                    ..
                } = event
                {
                    self.finish_cancelled(turn, played, playback_end, &mut out);
                }
            }
            Event::TurnStarted { turn, trigger, at } => {
                // Barge-in: a new turn while answering cancels the answer.
                self.cancel_current(&mut out);
                if !matches!(trigger, Trigger::FollowUp) {
                    out.push(Command::Earcon(Cue::Wake));
                }
                let mut timeline = Timeline::default();
                stamp(&mut timeline.wake, at);
                if matches!(trigger, Trigger::FollowUp) {
                    stamp(&mut timeline.speech_start, at);
                }
                self.current = Some(Turn {
                    id: turn,
                    trigger,
                    transcript: String::new(),
                    timeline,
                });
                self.enter(State::Listening, &mut out);
            }
            Event::SpeechStarted { turn, at } => {
                if let Some(t) = self.current.as_mut().filter(|t| t.id == turn) {
                    stamp(&mut t.timeline.speech_start, at);
                }
            }
            Event::Utterance {
                turn,
                text,
                speech_end,
                endpoint,
                asr_final,
            } => {
                if !self.is_current(turn) || self.state != State::Listening {
                    return out;
                }
                out.push(Command::Earcon(Cue::Done));
                let text = text.trim().to_string();
                let t = self.current.as_mut().expect("current turn");
                if let Some(end) = speech_end {
                    stamp(&mut t.timeline.speech_end, end);
                }
                stamp(&mut t.timeline.endpoint, endpoint);
                stamp(&mut t.timeline.asr_final, asr_final);
                if text.is_empty() {
                    self.end_without_answer(&mut out);
                    return out;
                }
                t.transcript = text;
                self.enter(State::Thinking, &mut out);
                if self.cancelled.is_empty() {
                    self.start_reply(&mut out);
                } else {
                    self.waiting = true;
                }
            }
            Event::NoSpeech { turn } => {
                if !self.is_current(turn) {
                    return out;
                }
                match self.state {
                    State::Listening => {
                        out.push(Command::Earcon(Cue::Done));
                        self.end_without_answer(&mut out);
                    }
                    State::FollowUp => {
                        self.current = None;
                        self.enter(State::Idle, &mut out);
                    }
                    _ => {}
                }
            }
            Event::Stage { turn, stage, at } => {
                let Some(t) = self.current.as_mut().filter(|t| t.id == turn) else {
                    return out;
                };
                let tl = &mut t.timeline;
                match stage {
                    Stage::LlmRequest => stamp(&mut tl.llm_request, at),
                    Stage::LlmFirstToken => stamp(&mut tl.llm_first_token, at),
                    Stage::FirstChunk => stamp(&mut tl.first_chunk, at),
                    Stage::FirstTtsAudio => stamp(&mut tl.first_tts_audio, at),
                    Stage::FirstSampleWritten => {
                        stamp(&mut tl.first_sample_written, at);
                        if self.state == State::Thinking {
                            self.enter(State::Speaking, &mut out);
                        }
                    }
                }
            }
            Event::ReplyDone {
                turn,
                played,
                interrupted,
                fallback,
                playback_end,
            } => {
                if !self.is_current(turn) {
                    self.finish_cancelled(turn, played, playback_end, &mut out);
                    return out;
                }
                if !matches!(self.state, State::Thinking | State::Speaking) {
                    return out;
                }
                let mut t = self.current.take().expect("current turn");
                if let Some(end) = playback_end {
                    stamp(&mut t.timeline.playback_end, end);
                }
                if !fallback {
                    self.remember(&t.transcript, &played);
                }
                out.push(Command::Report(Box::new(t.report(
                    played,
                    interrupted,
                    fallback,
                ))));
                out.push(Command::Release {
                    turn,
                    follow_up: self.follow_up,
                });
                if self.follow_up {
                    // The follow-up keeps the turn id: speech in the window starts the next.
                    self.current = Some(Turn {
                        id: turn,
                        trigger: Trigger::FollowUp,
                        transcript: String::new(),
                        timeline: Timeline::default(),
                    });
                    self.enter(State::FollowUp, &mut out);
                } else {
                    self.enter(State::Idle, &mut out);
                }
            }
            Event::Failed(_) => {
                self.cancel_current(&mut out);
                out.push(Command::Earcon(Cue::Error));
                if let Some(t) = self.current.take() {
                    out.push(Command::Release {
                        turn: t.id,
                        follow_up: false,
                    });
                }
                self.enter(State::Error, &mut out);
            }
        }
        out
    }

    /// Cancels the answer of the current turn, if one is under way.
    fn cancel_current(&mut self, out: &mut Vec<Command>) {
        if matches!(self.state, State::Thinking | State::Speaking) && !self.waiting {
            if let Some(t) = self.current.take() {
                out.push(Command::CancelReply { turn: t.id });
                self.cancelled.push(t);
            }
        }
        if self.waiting {
            // The utterance never got its answer started; nothing to cancel.
            self.waiting = false;
            self.current = None;
        }
    }

    fn finish_cancelled(
        &mut self,
        turn: u64,
        played: String,
        playback_end: Option<Instant>,
        out: &mut Vec<Command>,
    ) {
        let Some(i) = self.cancelled.iter().position(|t| t.id == turn) else {
            return;
        };
        let mut t = self.cancelled.remove(i);
        if let Some(end) = playback_end {
            stamp(&mut t.timeline.playback_end, end);
        }
        self.remember(&t.transcript, &played);
        out.push(Command::Report(Box::new(t.report(played, true, false))));
        if self.waiting && self.cancelled.is_empty() {
            self.waiting = false;
            self.start_reply(out);
        }
    }

    fn end_without_answer(&mut self, out: &mut Vec<Command>) {
        if let Some(t) = self.current.take() {
            out.push(Command::Report(Box::new(t.report(
                String::new(),
                false,
                false,
            ))));
            out.push(Command::Release {
                turn: t.id,
                follow_up: false,
            });
        }
        self.enter(State::Idle, out);
    }

    fn start_reply(&mut self, out: &mut Vec<Command>) {
        let t = self.current.as_ref().expect("current turn");
        out.push(Command::StartReply {
            turn: t.id,
            messages: self.history.messages(&self.system_prompt, &t.transcript),
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
            trigger: Trigger::Wake("alexa".into()),
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
            interrupted,
            fallback: false,
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
            Command::StartReply { turn, messages } => Some((*turn, messages.as_slice())),
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
            interrupted: false,
            fallback: true,
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
    fn engine_failure_plays_the_error_cue_and_recovers_on_the_next_turn() {
        let mut c = Conversation::new("", true, 1000);
        c.handle(wake(1));
        let cmds = c.handle(Event::Failed("asr exploded".into()));
        assert!(cmds.contains(&Command::Earcon(Cue::Error)));
        assert_eq!(c.state(), State::Error);
        c.handle(wake(2));
        assert_eq!(c.state(), State::Listening);
    }

    #[test]
    fn history_is_bounded() {
        // Each exchange costs about 10 estimated tokens: 25 keeps the last two.
        let mut c = Conversation::new("", false, 25);
        for turn in 1..=5 {
            c.handle(wake(turn));
            c.handle(said(turn, &format!("q{turn}")));
            c.handle(done(turn, &format!("a{turn}"), false));
        }
        let messages = c.history().messages("", "next");
        let contents: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["q4", "a4", "q5", "a5", "next"]);
    }
}
