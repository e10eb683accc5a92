//! One answer outside the conversation loop: `hearken ask` and `hearken say` run the
//! daemon's own reply code here — [`reply::answer`] (or [`reply::speak_text`]), the TTS
//! thread and the [`Output`] thread on a given [`Speaker`] — and collect the answer's stage
//! events, its chunk log and its `ReplyDone`, so whatever they print is what the daemon did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::life::{ChunkRecord, Outcome, ReplyLife, Reporter};
use super::output::{OutMsg, Output, Speaker};
use super::reply::{self, Answered};
use super::state::{Event, Stage, State};
use super::supervise::{Exit, StageProgress};
use super::PipelineError;
use super::{spawn, STOP_DRAIN, STOP_JOIN};
use crate::llm::{ChatMessage, ChatModel};
use crate::tts::Synthesizer;

/// What to speak.
pub enum Speech {
    /// The LLM's streamed answer to `messages`.
    Answer {
        messages: Vec<ChatMessage>,
        llm: Arc<dyn ChatModel>,
    },
    /// This text, chunked as an answer would be.
    Text(String),
}

/// What happened, with the stages' instants.
#[derive(Debug)]
pub struct Spoken {
    pub start: Instant,
    /// The LLM's side (absent for [`Speech::Text`], or when the answer task panicked).
    pub answered: Option<Answered>,
    /// When the LLM stream was over.
    pub llm_done: Option<Instant>,
    pub first_token: Option<Instant>,
    pub first_tts_audio: Option<Instant>,
    pub first_sample_written: Option<Instant>,
    /// The spoken chunks, in order.
    pub chunks: Vec<ChunkRecord>,
    /// What reached the speaker, and how the answer ended (its `ReplyDone`).
    pub played: String,
    pub outcome: Outcome,
    pub playback_end: Option<Instant>,
    /// Samples the speaker took.
    pub samples: u64,
    /// When the answer was cut off by `cancel_after_chunks`, and the samples the speaker
    /// took after that.
    pub cancelled_at: Option<Instant>,
    pub samples_after_cancel: u64,
}

/// The turn id of the one answer.
const TURN: u64 = 1;
/// How often a pending `cancel_after_chunks` looks at the chunk log.
const POLL: Duration = Duration::from_millis(2);

enum Signal {
    Event(Event),
    Exited(Exit),
}

/// Speaks `speech` through the daemon's TTS and output threads into `speaker`, and returns
/// once the answer has ended (played, failed, or cut off). With `cancel_after_chunks`, the
/// answer is cancelled as a barge-in would cancel it, once that many chunks have begun to
/// sound. A thread that dies is an error, as in the daemon. Needs a tokio runtime.
pub async fn speak_once(
    tts: Box<dyn Synthesizer>,
    speaker: Box<dyn Speaker>,
    speech: Speech,
    cancel_after_chunks: Option<usize>,
) -> Result<Spoken, PipelineError> {
    let never = tokio_util::sync::CancellationToken::new();
    speak_once_until(tts, speaker, speech, cancel_after_chunks, never).await
}

/// [`speak_once`], cut off as a barge-in would cut it when `barge_in` is cancelled (the
/// API's remote voice sessions).
pub async fn speak_once_until(
    tts: Box<dyn Synthesizer>,
    speaker: Box<dyn Speaker>,
    speech: Speech,
    cancel_after_chunks: Option<usize>,
    barge_in: tokio_util::sync::CancellationToken,
) -> Result<Spoken, PipelineError> {
    let start = Instant::now();
    let (signal_tx, mut signals) = mpsc::unbounded_channel::<Signal>();
    let reporter: Reporter = {
        let tx = signal_tx.clone();
        Arc::new(move |e| {
            let _ = tx.send(Signal::Event(e));
        })
    };
    let exits = || {
        let tx = signal_tx.clone();
        move |exit| {
            let _ = tx.send(Signal::Exited(exit));
        }
    };
    let progress = Arc::new(StageProgress::default());
    let written = Arc::new(AtomicU64::new(0));
    let speaker = Box::new(Counted {
        speaker,
        written: written.clone(),
    });

    let (out_tx, out_rx) = std_mpsc::channel();
    let mut threads = Vec::new();
    {
        let r = reporter.clone();
        let o = Output::new(speaker, Box::new(move |e| r(e)), progress.clone());
        threads.push(spawn("output", exits(), move || o.run(out_rx))?);
    }
    let (tts_tx, tts_rx) = std_mpsc::channel();
    {
        let (out, r, p) = (out_tx.clone(), reporter.clone(), progress.clone());
        threads.push(spawn("tts", exits(), move || {
            reply::tts_thread(tts, tts_rx, out, r, p)
        })?);
    }

    let life = ReplyLife::new(TURN, reporter.clone());
    let cancel = life.cancel_token().clone();
    let log = life.chunk_log();
    let mut task = match speech {
        Speech::Answer { messages, llm } => Some(reply::spawn_answer(
            life,
            messages,
            llm,
            crate::llm::Chunker::new(),
            tts_tx.clone(),
            reporter.clone(),
        )),
        Speech::Text(text) => {
            reply::speak_text(life, &text, tts_tx.clone(), reporter.clone());
            None
        }
    };
    drop(reporter);

    let mut spoken = Spoken {
        start,
        answered: None,
        llm_done: None,
        first_token: None,
        first_tts_audio: None,
        first_sample_written: None,
        chunks: Vec::new(),
        played: String::new(),
        outcome: Outcome::Played,
        playback_end: None,
        samples: 0,
        cancelled_at: None,
        samples_after_cancel: 0,
    };
    let mut done = false;
    let mut died = None;
    let mut written_at_cancel = 0;
    let sounding =
        |log: &Mutex<Vec<ChunkRecord>>| log.lock().unwrap_or_else(|e| e.into_inner()).len();
    let mut barged_in = false;
    while !done || task.is_some() {
        let cancel_pending = cancel_after_chunks.is_some() && spoken.cancelled_at.is_none();
        tokio::select! {
            signal = signals.recv() => match signal {
                Some(Signal::Event(Event::Stage { stage, at, .. })) => {
                    let slot = match stage {
                        Stage::LlmFirstToken => &mut spoken.first_token,
                        Stage::FirstTtsAudio => &mut spoken.first_tts_audio,
                        Stage::FirstSampleWritten => &mut spoken.first_sample_written,
                        Stage::LlmRequest | Stage::FirstChunk => continue,
                    };
                    slot.get_or_insert(at);
                }
                Some(Signal::Event(Event::ReplyDone { played, outcome, playback_end, .. })) => {
                    spoken.played = played;
                    spoken.outcome = outcome;
                    spoken.playback_end = playback_end;
                    done = true;
                }
                Some(Signal::Event(_)) => {}
                Some(Signal::Exited(exit)) => {
                    // As the daemon would: the answer cannot be finished, so end it.
                    log::error!("{exit}");
                    died.get_or_insert(exit);
                    cancel.cancel();
                    let _ = out_tx.send(OutMsg::Cancel { turn: TURN, at: Instant::now() });
                    if let Some(t) = task.take() {
                        t.abort();
                    }
                    break;
                }
                None => break,
            },
            answered = async { task.as_mut().expect("checked").await }, if task.is_some() => {
                task = None;
                spoken.llm_done = Some(Instant::now());
                spoken.answered = answered.ok().flatten();
            }
            _ = tokio::time::sleep(POLL), if cancel_pending => {}
            _ = barge_in.cancelled(), if !barged_in => barged_in = true,
        }
        let cut = barged_in || cancel_after_chunks.is_some_and(|n| sounding(&log) >= n);
        {
            if cut && spoken.cancelled_at.is_none() && !done {
                // What the controller does on a barge-in.
                let at = Instant::now();
                cancel.cancel();
                written_at_cancel = written.load(Ordering::SeqCst);
                let _ = out_tx.send(OutMsg::Cancel { turn: TURN, at });
                spoken.cancelled_at = Some(at);
            }
        }
    }

    // Bounded stop, as the daemon's.
    drop(tts_tx);
    let _ = out_tx.send(OutMsg::Stop {
        deadline: Instant::now() + STOP_DRAIN,
    });
    drop(out_tx);
    drop(signal_tx);
    super::supervise::join_within(threads, &mut signals, STOP_JOIN, |signal| {
        if let Signal::Exited(exit) = signal {
            if exit.panic.is_some() {
                died.get_or_insert(exit);
            }
        }
    })
    .await;
    spoken.samples = written.load(Ordering::SeqCst);
    if spoken.cancelled_at.is_some() {
        spoken.samples_after_cancel = spoken.samples.saturating_sub(written_at_cancel);
    }
    spoken.chunks = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(exit) = died {
        return Err(PipelineError::StageDied {
            exit,
            state: State::Speaking,
            turn: Some(TURN),
        });
    }
    Ok(spoken)
}

/// A speaker that publishes how many samples it took.
struct Counted {
    speaker: Box<dyn Speaker>,
    written: Arc<AtomicU64>,
}

impl Counted {
    /// The device's count moves after the write that queued the samples (its thread plays
    /// them later): publish it whenever the output thread looks.
    fn publish(&self) -> u64 {
        let n = self.speaker.written();
        self.written.store(n, Ordering::SeqCst);
        n
    }
}

impl Speaker for Counted {
    fn write(&mut self, samples: &[i16]) -> usize {
        let n = self.speaker.write(samples);
        self.publish();
        n
    }
    fn flush(&mut self) {
        self.speaker.flush();
        self.publish();
    }
    fn arm(&mut self) {
        self.speaker.arm();
    }
    fn first_write(&self) -> Option<Instant> {
        self.speaker.first_write()
    }
    fn is_idle(&self) -> bool {
        let idle = self.speaker.is_idle();
        self.publish();
        idle
    }
    fn ended_at(&self) -> Option<Instant> {
        self.speaker.ended_at()
    }
    fn written(&self) -> u64 {
        self.publish()
    }
    fn is_dead(&self) -> bool {
        self.speaker.is_dead()
    }
}

/// A speaker that keeps everything it is given, as fast as it comes (for a WAV file):
/// what it holds is what "played".
#[derive(Clone, Default)]
pub struct MemorySpeaker {
    inner: Arc<Mutex<Memory>>,
}

#[derive(Default)]
struct Memory {
    samples: Vec<i16>,
    armed: bool,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl MemorySpeaker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything played so far.
    pub fn samples(&self) -> Vec<i16> {
        self.memory().samples.clone()
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Speaker for MemorySpeaker {
    fn write(&mut self, samples: &[i16]) -> usize {
        let mut m = self.memory();
        if samples.is_empty() {
            return 0;
        }
        let now = Instant::now();
        if m.armed {
            m.armed = false;
            m.first = Some(now);
        }
        m.last = Some(now);
        m.samples.extend_from_slice(samples);
        samples.len()
    }
    /// Nothing is ever waiting to play.
    fn flush(&mut self) {}
    fn arm(&mut self) {
        let mut m = self.memory();
        m.armed = true;
        m.first = None;
    }
    fn first_write(&self) -> Option<Instant> {
        self.memory().first
    }
    fn is_idle(&self) -> bool {
        true
    }
    fn ended_at(&self) -> Option<Instant> {
        self.memory().last
    }
    fn written(&self) -> u64 {
        self.memory().samples.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::LlmError;
    use crate::tts::TtsError;
    use futures::stream::{self, BoxStream, StreamExt};
    use tokio_util::sync::CancellationToken;

    /// An LLM that sends these deltas, then maybe fails.
    struct Scripted(Vec<Result<String, LlmError>>);
    impl ChatModel for Scripted {
        fn stream(
            &self,
            _: Vec<ChatMessage>,
            _: CancellationToken,
        ) -> BoxStream<'static, Result<String, LlmError>> {
            stream::iter(self.0.clone()).boxed()
        }
    }

    /// A voice that says 100 samples per character, in pieces of 50.
    struct Counting;
    impl Synthesizer for Counting {
        fn sample_rate(&self) -> u32 {
            16_000
        }
        fn synthesize(
            &mut self,
            text: &str,
            sink: &mut dyn FnMut(&[i16]) -> bool,
        ) -> Result<(), TtsError> {
            for _ in 0..text.len() * 2 {
                if !sink(&[1; 50]) {
                    break;
                }
            }
            Ok(())
        }
    }

    fn ask(deltas: Vec<Result<String, LlmError>>) -> Spoken {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let speech = Speech::Answer {
            messages: Vec::new(),
            llm: Arc::new(Scripted(deltas)),
        };
        rt.block_on(speak_once(
            Box::new(Counting),
            Box::new(MemorySpeaker::new()),
            speech,
            None,
        ))
        .unwrap()
    }

    fn texts(spoken: &Spoken) -> Vec<(&str, bool)> {
        spoken
            .chunks
            .iter()
            .map(|c| (c.text.as_str(), c.fallback))
            .collect()
    }

    #[test]
    fn a_failure_mid_answer_drops_the_unfinished_sentence_and_apologizes() {
        let spoken = ask(vec![
            Ok("Paris is the capital of France. It has".into()),
            Err(LlmError::Unreachable("cut".into())),
        ]);
        let sorry = LlmError::Unreachable(String::new()).spoken();
        assert_eq!(
            texts(&spoken),
            [("Paris is the capital of France.", false), (sorry, true)]
        );
        assert_eq!(spoken.outcome, Outcome::Fallback);
        assert_eq!(
            spoken.played,
            format!("Paris is the capital of France. {sorry}")
        );
        let answered = spoken.answered.unwrap();
        assert_eq!(answered.text, "Paris is the capital of France. It has");
        assert!(matches!(answered.error, Some(LlmError::Unreachable(_))));
        let chars: usize = spoken.chunks.iter().map(|c| c.text.len()).sum();
        assert_eq!(spoken.samples, chars as u64 * 100);
    }

    #[test]
    fn an_empty_answer_is_said_to_be_none() {
        let spoken = ask(vec![]);
        assert_eq!(texts(&spoken), [(reply::NO_ANSWER, false)]);
        assert_eq!(spoken.outcome, Outcome::Played);
        assert!(spoken.first_token.is_none());
    }

    #[test]
    fn text_is_spoken_in_the_chunks_of_an_answer() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let speaker = MemorySpeaker::new();
        let text = "The weather today is sunny, with a high of twenty one degrees. Bring a coat!";
        let spoken = rt
            .block_on(speak_once(
                Box::new(Counting),
                Box::new(speaker.clone()),
                Speech::Text(text.into()),
                None,
            ))
            .unwrap();
        assert!(spoken.chunks.len() >= 2, "{:?}", spoken.chunks);
        assert_eq!(spoken.played, text);
        assert_eq!(speaker.samples().len() as u64, spoken.samples);
        assert!(spoken.first_sample_written.is_some());
    }
}
