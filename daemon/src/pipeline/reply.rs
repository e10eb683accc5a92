//! Answering: the LLM stream (on tokio) cut into sentences, each spoken by the TTS thread
//! into the output thread. Every piece of work carries the answer's [`ReplyLife`]:
//! cancelling it stops all three, and its completion reports the end exactly once.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;

use super::life::{ReplyLife, Reporter};
use super::output::OutMsg;
use super::state::{Event, Stage};
use super::supervise::StageProgress;
use crate::llm::{ChatMessage, ChatModel, Chunker};
use crate::tts::Synthesizer;

/// Work for the TTS thread.
pub enum TtsJob {
    Speak {
        life: ReplyLife,
        text: String,
    },
    /// No more text for this answer: the output thread finishes it once played.
    End {
        life: ReplyLife,
        fallback: bool,
    },
}

/// What is said when the model answered nothing at all.
pub const NO_ANSWER: &str = "Sorry, I have no answer to that.";

/// Streams the answer to `messages` and hands it to the TTS thread sentence by sentence.
/// On an LLM failure before anything was said, the spoken apology for that failure is
/// sent instead. Returns at once when the answer is cancelled.
pub async fn answer(
    life: ReplyLife,
    messages: Vec<ChatMessage>,
    llm: Arc<dyn ChatModel>,
    tts: Sender<TtsJob>,
    report: Reporter,
) {
    let turn = life.turn();
    let cancel = life.cancel_token().clone();
    let stage = |stage, at| report(Event::Stage { turn, stage, at });
    stage(Stage::LlmRequest, Instant::now());
    let mut stream = llm.stream(messages, cancel.clone());
    let mut chunker = Chunker::new();
    let mut said_anything = false;
    let mut first_token = true;
    let mut failure = None;
    let speak = |text: String, said: &mut bool| {
        if !*said {
            stage(Stage::FirstChunk, Instant::now());
        }
        *said = true;
        let _ = tts.send(TtsJob::Speak {
            life: life.clone(),
            text,
        });
    };
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => break,
            item = stream.next() => item,
        };
        match item {
            Some(Ok(delta)) => {
                if first_token {
                    first_token = false;
                    stage(Stage::LlmFirstToken, Instant::now());
                }
                for sentence in chunker.push(&delta) {
                    speak(sentence, &mut said_anything);
                }
            }
            Some(Err(e)) => {
                log::warn!("turn {turn}: {e}");
                failure = Some(e);
                break;
            }
            None => break,
        }
    }
    drop(stream);
    if cancel.is_cancelled() {
        return;
    }
    if let Some(rest) = chunker.finish() {
        speak(rest, &mut said_anything);
    }
    let fallback = match failure {
        Some(e) if !said_anything => {
            speak(e.spoken().to_string(), &mut said_anything);
            true
        }
        _ => false,
    };
    if !said_anything {
        // The model said nothing at all: say so rather than leave the user waiting.
        speak(NO_ANSWER.into(), &mut said_anything);
    }
    let _ = tts.send(TtsJob::End {
        life: life.clone(),
        fallback,
    });
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
            TtsJob::Speak { life, text } => {
                if life.is_cancelled() {
                    continue;
                }
                let turn = life.turn();
                let _ = out.send(OutMsg::Chunk {
                    life: life.clone(),
                    text: text.clone(),
                });
                let mut sink = |pcm: &[i16]| {
                    if life.is_cancelled() {
                        return false;
                    }
                    if first_audio_turn != turn && !pcm.is_empty() {
                        first_audio_turn = turn;
                        report(Event::Stage {
                            turn,
                            stage: Stage::FirstTtsAudio,
                            at: Instant::now(),
                        });
                    }
                    out.send(OutMsg::Pcm {
                        turn,
                        samples: pcm.to_vec(),
                    })
                    .is_ok()
                };
                if let Err(e) = tts.synthesize(&text, &mut sink) {
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
        }
    }
}
