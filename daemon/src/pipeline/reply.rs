//! Answering: the LLM stream (on tokio) cut into sentences, each spoken by the TTS thread
//! into the output thread. Cancelling the turn's token stops all three.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::output::OutMsg;
use super::state::{Event, Stage};
use crate::llm::{ChatMessage, ChatModel, LlmError};
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
    let mut chunker = Chunker::default();
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
            speak(fallback_for(&e).to_string(), &mut said_anything);
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

/// The apology spoken when the LLM fails, by kind of failure.
pub fn fallback_for(error: &LlmError) -> &'static str {
    match error {
        LlmError::Unreachable(_) => "Sorry, I can't reach my language model right now.",
        LlmError::Auth(_) => "Sorry, my language model refused my key.",
        LlmError::RateLimited(_) => "Sorry, I'm being rate limited. Try again in a moment.",
        LlmError::Timeout(_) => "Sorry, my language model took too long to answer.",
        LlmError::Malformed(_) => "Sorry, I got a garbled answer.",
    }
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

/// Cuts streamed text into sentences (or long clauses) as soon as each is complete, so
/// the first one can be spoken while the rest is still being generated.
#[derive(Default)]
pub struct Chunker {
    buf: String,
}

/// A clause this long is spoken at a comma rather than waiting for the full stop.
const LONG_CLAUSE: usize = 80;

impl Chunker {
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        loop {
            let cut = self.boundary();
            let Some(end) = cut else { break };
            let piece: String = self.buf.drain(..end).collect();
            let piece = clean(&piece);
            if !piece.is_empty() {
                out.push(piece);
            }
        }
        out
    }

    pub fn finish(&mut self) -> Option<String> {
        let rest = clean(&std::mem::take(&mut self.buf));
        (!rest.is_empty()).then_some(rest)
    }

    /// End (byte index) of the first complete sentence: terminal punctuation followed by
    /// whitespace, or a newline; a comma once the clause is long.
    fn boundary(&self) -> Option<usize> {
        let mut chars = self.buf.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            let followed_by_space = next.is_some_and(char::is_whitespace);
            match c {
                '\n' => return Some(i + 1),
                '.' | '!' | '?' | ';' | ':' if followed_by_space => {
                    // "e.g. " and "Mr. " are rarely ends; a single letter or a title before
                    // the dot is treated as an abbreviation.
                    let word = self.buf[..i]
                        .rsplit(char::is_whitespace)
                        .next()
                        .unwrap_or("");
                    let abbreviation = c == '.'
                        && (word.chars().count() == 1
                            || ["Mr", "Mrs", "Ms", "Dr", "St", "vs", "etc"].contains(&word));
                    if !abbreviation {
                        return Some(i + c.len_utf8());
                    }
                }
                ',' if followed_by_space && i >= LONG_CLAUSE => return Some(i + 1),
                _ => {}
            }
        }
        None
    }
}

/// Drops markdown decoration a voice should not read out.
fn clean(text: &str) -> String {
    text.replace(['*', '#', '`', '_'], "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunker_emits_sentences_as_they_complete() {
        let mut c = Chunker::default();
        let mut got = Vec::new();
        for delta in [
            "Paris",
            " is the capital",
            ". It has",
            " about two",
            " million people! And",
            " Mr. Smith",
            " lives there",
        ] {
            got.extend(c.push(delta));
        }
        assert_eq!(
            got,
            vec!["Paris is the capital.", "It has about two million people!"]
        );
        assert_eq!(c.finish().as_deref(), Some("And Mr. Smith lives there"));
    }

    #[test]
    fn chunker_strips_markdown() {
        let mut c = Chunker::default();
        assert_eq!(c.push("**Bold** claim.\n"), vec!["Bold claim."]);
        assert_eq!(c.finish(), None);
    }
}
