//! Answering: the LLM stream (on tokio) cut into sentences, each spoken by the TTS thread
//! into the output thread. Cancelling the turn's token stops all three.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::output::OutMsg;
use super::state::{Event, Stage};
use crate::llm::{ChatMessage, ChatModel, Chunker};
use crate::tts::Synthesizer;

/// Work for the TTS thread.
pub enum TtsJob {
    Speak {
        turn: u64,
        text: String,
        cancel: CancellationToken,
    },
    End {
        turn: u64,
        fallback: bool,
    },
}

pub type Reporter = Arc<dyn Fn(Event) + Send + Sync>;

/// Streams the answer to `messages` and hands it to the TTS thread sentence by sentence.
/// On an LLM failure before anything was said, the spoken apology for that failure is
/// sent instead.
pub async fn answer(
    turn: u64,
    messages: Vec<ChatMessage>,
    llm: Arc<dyn ChatModel>,
    cancel: CancellationToken,
    tts: Sender<TtsJob>,
    report: Reporter,
) {
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
            turn,
            text,
            cancel: cancel.clone(),
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
        speak(
            "Sorry, I have no answer to that.".into(),
            &mut said_anything,
        );
    }
    let _ = tts.send(TtsJob::End { turn, fallback });
}

/// Runs the synthesizer: speaks each job into the output thread until the channel closes.
pub fn tts_thread(
    mut tts: Box<dyn Synthesizer>,
    jobs: Receiver<TtsJob>,
    out: Sender<OutMsg>,
    report: Reporter,
) {
    let mut first_audio_turn = 0;
    while let Ok(job) = jobs.recv() {
        match job {
            TtsJob::Speak { turn, text, cancel } => {
                if cancel.is_cancelled() {
                    continue;
                }
                let _ = out.send(OutMsg::Chunk {
                    turn,
                    text: text.clone(),
                });
                let mut sink = |pcm: &[i16]| {
                    if cancel.is_cancelled() {
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
                    log::error!("turn {turn}: {e}");
                    report(Event::Failed(e.to_string()));
                }
            }
            TtsJob::End { turn, fallback } => {
                let _ = out.send(OutMsg::End { turn, fallback });
            }
        }
    }
}
