//! Answering: the LLM stream (on tokio) cut into sentences, each spoken by the TTS thread
//! into the output thread. Every piece of work carries the answer's [`ReplyLife`]:
//! cancelling it stops all three, and its completion reports the end exactly once.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use futures::{FutureExt, StreamExt};

use super::life::{ChunkRecord, ReplyLife, Reporter};
use super::output::OutMsg;
use super::state::{Event, Stage};
use super::supervise::StageProgress;
use crate::llm::{ChatMessage, ChatModel, Chunker, LlmError};
use crate::tts::Synthesizer;

/// Work for the TTS thread.
pub enum TtsJob {
    Speak {
        life: ReplyLife,
        text: String,
        /// When the text was ready to be spoken.
        ready: Instant,
        /// The text is the apology for an LLM failure.
        fallback: bool,
    },
    /// No more text for this answer: the output thread finishes it once played.
    End { life: ReplyLife, fallback: bool },
    /// The voice's level from the next chunk on (a reloaded `tts.volume`).
    Volume(f32),
}

/// What is said when the model answered nothing at all.
pub const NO_ANSWER: &str = "Sorry, I have no answer to that.";

/// What the LLM did for one answer (what was spoken is in the life's chunk log and its
/// `ReplyDone`).
#[derive(Debug, Default)]
pub struct Answered {
    /// Every delta the model sent, joined.
    pub text: String,
    /// The failure that ended the stream, if any (its apology was spoken).
    pub error: Option<LlmError>,
    /// Deltas that still arrived after the answer was cancelled (the stream should stop).
    pub deltas_after_cancel: usize,
}

/// Hands text to the TTS thread for one answer and reports its first chunk.
struct Speaking<'a> {
    life: &'a ReplyLife,
    tts: &'a Sender<TtsJob>,
    report: &'a Reporter,
    said_anything: bool,
}

impl Speaking<'_> {
    fn speak(&mut self, text: String, fallback: bool) {
        let ready = Instant::now();
        if !self.said_anything {
            (self.report)(Event::Stage {
                turn: self.life.turn(),
                stage: Stage::FirstChunk,
                at: ready,
            });
        }
        self.said_anything = true;
        let _ = self.tts.send(TtsJob::Speak {
            life: self.life.clone(),
            text,
            ready,
            fallback,
        });
    }

    fn end(self, fallback: bool) {
        let _ = self.tts.send(TtsJob::End {
            life: self.life.clone(),
            fallback,
        });
    }
}

/// Streams the answer to `messages` and hands it to the TTS thread sentence by sentence.
///
/// The fallback policy: when the LLM fails, the unfinished sentence is dropped and the
/// spoken apology for that failure follows whatever was already said (the answer's outcome
/// is then [`super::Outcome::Fallback`]); when it answers nothing at all, [`NO_ANSWER`] is
/// said. Returns at once when the answer is cancelled.
pub async fn answer(
    life: ReplyLife,
    messages: Vec<ChatMessage>,
    llm: Arc<dyn ChatModel>,
    mut chunker: Chunker,
    tts: Sender<TtsJob>,
    report: Reporter,
) -> Answered {
    let turn = life.turn();
    let cancel = life.cancel_token().clone();
    let stage = |stage, at| report(Event::Stage { turn, stage, at });
    stage(Stage::LlmRequest, Instant::now());
    let mut stream = llm.stream(messages, cancel.clone());
    let mut answered = Answered::default();
    let mut first_token = true;
    let mut speaking = Speaking {
        life: &life,
        tts: &tts,
        report: &report,
        said_anything: false,
    };
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => break,
            item = stream.next() => item,
        };
        match item {
            Some(Ok(_)) if cancel.is_cancelled() => {
                answered.deltas_after_cancel += 1;
                break;
            }
            Some(Ok(delta)) => {
                if first_token {
                    first_token = false;
                    stage(Stage::LlmFirstToken, Instant::now());
                }
                answered.text.push_str(&delta);
                report(Event::AnswerDelta {
                    turn,
                    text: delta.clone(),
                });
                for sentence in chunker.push(&delta) {
                    speaking.speak(sentence, false);
                }
            }
            Some(Err(e)) => {
                log::warn!("turn {turn}: {e}");
                report(Event::LlmFailed {
                    turn,
                    kind: e.kind(),
                });
                answered.error = Some(e);
                break;
            }
            None => break,
        }
    }
    drop(stream);
    if cancel.is_cancelled() {
        return answered;
    }
    let fallback = match &answered.error {
        // An unfinished sentence is dropped: the apology follows what was said.
        Some(e) => {
            speaking.speak(e.spoken().to_string(), true);
            true
        }
        None => {
            if let Some(rest) = chunker.finish() {
                speaking.speak(rest, false);
            }
            false
        }
    };
    if !speaking.said_anything {
        // The model said nothing at all: say so rather than leave the user waiting.
        speaking.speak(NO_ANSWER.into(), false);
    }
    speaking.end(fallback);
    answered
}

/// Keeps [`super::Handle::llm_unreachable`] current from a finished answer: an
/// unreachable server sets it, any reply from the server clears it, and an answer
/// cancelled before the server was heard from leaves it.
pub fn track_reach(answered: &Answered, reach: &tokio::sync::watch::Sender<Option<String>>) {
    let now = match &answered.error {
        Some(e @ LlmError::Unreachable(_)) => Some(e.brief().to_string()),
        Some(LlmError::Timeout(_)) => return,
        Some(_) => None,
        None if answered.text.is_empty() => return,
        None => None,
    };
    reach.send_if_modified(|was| {
        let changed = *was != now;
        *was = now;
        changed
    });
}

/// Speaks `text` as one answer, cut into chunks by the same chunker as a streamed answer
/// (`hearken say`).
pub fn speak_text(life: ReplyLife, text: &str, tts: Sender<TtsJob>, report: Reporter) {
    let mut chunker = Chunker::new();
    let mut speaking = Speaking {
        life: &life,
        tts: &tts,
        report: &report,
        said_anything: false,
    };
    for chunk in chunker.push(text).into_iter().chain(chunker.finish()) {
        speaking.speak(chunk, false);
    }
    speaking.end(false);
}

/// Starts [`answer`] on the tokio runtime; a panic in it fails the answer (its life then
/// reports the end) and yields `None`.
pub fn spawn_answer(
    life: ReplyLife,
    messages: Vec<ChatMessage>,
    llm: Arc<dyn ChatModel>,
    chunker: Chunker,
    tts: Sender<TtsJob>,
    report: Reporter,
) -> tokio::task::JoinHandle<Option<Answered>> {
    let guard = life.clone();
    let task = answer(life, messages, llm, chunker, tts, report);
    tokio::spawn(async move {
        match AssertUnwindSafe(task).catch_unwind().await {
            Ok(answered) => Some(answered),
            Err(panic) => {
                let why = super::supervise::panic_message(panic.as_ref());
                guard.fail(format!("the answer task panicked: {why}"));
                None
            }
        }
    })
}

/// Runs the synthesizer: speaks each job into the output thread until the channel closes.
/// A synthesis error fails that answer only.
pub fn tts_thread(
    mut tts: Box<dyn Synthesizer>,
    jobs: Receiver<TtsJob>,
    out: Sender<OutMsg>,
    report: Reporter,
    progress: Arc<StageProgress>,
) {
    let mut first_audio_turn = 0;
    while let Ok(job) = jobs.recv() {
        progress.tts.tick();
        match job {
            TtsJob::Speak {
                life,
                text,
                ready,
                fallback,
            } => {
                if life.is_cancelled() {
                    continue;
                }
                // Of a speculative answer only the first chunk is made before the turn is
                // confirmed.
                let spoken = !life
                    .chunk_log()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty();
                if spoken && !life.wait_confirmed() {
                    continue;
                }
                let turn = life.turn();
                let mut record = None;
                let _ = out.send(OutMsg::Chunk {
                    life: life.clone(),
                    text: text.clone(),
                });
                let mut sink = |pcm: &[i16]| {
                    if life.is_cancelled() {
                        return false;
                    }
                    if record.is_none() && !pcm.is_empty() {
                        let at = Instant::now();
                        record = Some(life.chunk_sounding(ChunkRecord {
                            text: text.clone(),
                            ready,
                            fallback,
                            first_audio: at,
                            synthesized: None,
                        }));
                        if first_audio_turn != turn {
                            first_audio_turn = turn;
                            report(Event::Stage {
                                turn,
                                stage: Stage::FirstTtsAudio,
                                at,
                            });
                        }
                    }
                    out.send(OutMsg::Pcm {
                        turn,
                        samples: pcm.to_vec(),
                    })
                    .is_ok()
                };
                let result = tts.synthesize(&text, &mut sink);
                if let Some(index) = record {
                    life.chunk_synthesized(index, Instant::now());
                }
                if let Err(e) = result {
                    log::error!("turn {turn}: speaking {text:?} failed: {e}");
                    life.fail(format!("speaking failed: {e}"));
                    // What was played of it is reported by the output thread.
                    let _ = out.send(OutMsg::Cancel {
                        turn,
                        at: Instant::now(),
                    });
                }
            }
            TtsJob::End { life, fallback } => {
                if !life.is_cancelled() {
                    let _ = out.send(OutMsg::End { life, fallback });
                }
            }
            TtsJob::Volume(volume) => tts.set_volume(volume),
        }
    }
}
