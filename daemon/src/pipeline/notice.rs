//! What the controller tells observers (the API's event stream, its metrics): a copy of
//! the events it handles and the states it enters, broadcast so that a slow observer only
//! loses notices and never holds up the loop.

use serde::Serialize;
use tokio::sync::broadcast;

use super::state::{Command, Event, Stage, State};
use super::timeline::{Trigger, TurnReport};

/// Notices kept for an observer that falls behind; past this it loses the oldest.
pub const BACKLOG: usize = 512;

/// One thing that happened, as the API's `/v1/events` sends it (`"type"` names it).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    State {
        state: State,
    },
    /// A turn began: `trigger` is "wake", "button" or "follow-up".
    TurnStarted {
        turn: u64,
        trigger: &'static str,
        wake_word: Option<String>,
        wake_score: Option<f32>,
    },
    SpeechStart {
        turn: u64,
    },
    /// What the user has said so far; the final transcript replaces it.
    TranscriptPartial {
        turn: u64,
        text: String,
    },
    /// The end of speech was declared and the final transcript is ready.
    SpeechEnd {
        turn: u64,
    },
    TranscriptFinal {
        turn: u64,
        text: String,
    },
    NoSpeech {
        turn: u64,
    },
    AssistantText {
        turn: u64,
        delta: String,
    },
    /// A stage of the answer happened (`llm_request`, `llm_first_token`, ...).
    Stage {
        turn: u64,
        stage: &'static str,
    },
    /// The turn is over: its report with the timeline.
    Turn {
        report: Box<TurnReport>,
    },
    LlmError {
        turn: u64,
        kind: &'static str,
    },
    Error {
        turn: Option<u64>,
        message: String,
    },
    /// An announcement (`POST /v1/say`) started or ended.
    Say {
        id: u64,
        text: String,
    },
    SayDone {
        id: u64,
        played: String,
    },
}

impl Notice {
    /// The notices an event the controller handles gives (before the state machine).
    pub fn of_event(event: &Event) -> Vec<Notice> {
        match event {
            Event::TurnStarted { turn, trigger, .. } => vec![Notice::TurnStarted {
                turn: *turn,
                trigger: trigger.name(),
                wake_word: match trigger {
                    Trigger::Wake { word, .. } => Some(word.clone()),
                    _ => None,
                },
                wake_score: match trigger {
                    Trigger::Wake { score, .. } => Some(*score),
                    _ => None,
                },
            }],
            Event::SpeechStarted { turn, .. } => vec![Notice::SpeechStart { turn: *turn }],
            Event::Partial { turn, text } => vec![Notice::TranscriptPartial {
                turn: *turn,
                text: text.clone(),
            }],
            Event::Utterance { turn, text, .. } => vec![
                Notice::SpeechEnd { turn: *turn },
                Notice::TranscriptFinal {
                    turn: *turn,
                    text: text.trim().to_string(),
                },
            ],
            Event::NoSpeech { turn } => vec![Notice::NoSpeech { turn: *turn }],
            Event::Stage { turn, stage, .. } => vec![Notice::Stage {
                turn: *turn,
                stage: stage.name(),
            }],
            Event::AnswerDelta { turn, text } => vec![Notice::AssistantText {
                turn: *turn,
                delta: text.clone(),
            }],
            Event::LlmFailed { turn, kind } => vec![Notice::LlmError { turn: *turn, kind }],
            Event::Failed { turn, message } => vec![Notice::Error {
                turn: *turn,
                message: message.clone(),
            }],
            // Speculation is hearken's own business: the user's turn is announced once confirmed.
            Event::Speculate { .. }
            | Event::Resumed { .. }
            | Event::ReplyDone { .. }
            | Event::Mute(_)
            | Event::StopAnswer => Vec::new(),
        }
    }

    /// The notice a command of the state machine gives, if any.
    pub fn of_command(command: &Command) -> Option<Notice> {
        match command {
            Command::Entered(state) => Some(Notice::State { state: *state }),
            Command::Report(report) => Some(Notice::Turn {
                report: report.clone(),
            }),
            _ => None,
        }
    }
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::LlmRequest => "llm_request",
            Stage::LlmFirstToken => "llm_first_token",
            Stage::FirstChunk => "first_chunk",
            Stage::FirstTtsAudio => "first_tts_audio",
            Stage::FirstSampleWritten => "first_sample_written",
        }
    }
}

impl Trigger {
    /// How reports and notices name it.
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::Wake { .. } => "wake",
            Trigger::PushToTalk => "button",
            Trigger::FollowUp => "follow-up",
        }
    }
}

/// Sends notices to whoever subscribed; nobody listening is fine.
pub fn channel() -> broadcast::Sender<Notice> {
    broadcast::channel(BACKLOG).0
}
