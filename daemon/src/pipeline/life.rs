//! The life of one answer. A turn that starts a reply gets one [`ReplyLife`]: its cancel
//! token and a completion that fires exactly once. Clones travel with the work (the LLM task,
//! each TTS job, the output thread's answer); whichever finishes the answer reports it, and
//! if every clone is dropped first (cancelled before any audio, a task that panicked, a
//! thread that died) the last drop reports it. So the state machine always hears
//! [`Event::ReplyDone`] for every reply it started, and can never wait for one forever.
//!
//! A speculative answer (started at the user's pause, before the turn is confirmed) is
//! thought about and its first chunk synthesized, but nothing of it is played until
//! [`Confirmation::confirm`]; if the user goes on speaking it is cancelled like any other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::state::Event;

/// Where the answer's events go (the controller's channel).
pub type Reporter = Arc<dyn Fn(Event) + Send + Sync>;

/// How an answer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Played to the end.
    Played,
    /// Cancelled (barge-in, mute, shutdown): `played` is what reached the speaker.
    Interrupted,
    /// The LLM failed and the spoken apology was played instead.
    Fallback,
    /// Speaking it failed (TTS error, a panic, a dead thread).
    Failed(String),
}

/// One spoken piece of an answer, recorded by the TTS thread when its first audio comes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    pub text: String,
    /// When the chunker (or the fallback policy) handed it to the TTS thread.
    pub ready: Instant,
    /// It is the spoken apology for an LLM failure.
    pub fallback: bool,
    /// Its first synthesized audio.
    pub first_audio: Instant,
    /// When its synthesis ended (finished, or stopped by a cancel).
    pub synthesized: Option<Instant>,
}

/// The chunks of one answer, in the order they were spoken; outlives the [`ReplyLife`].
pub type ChunkLog = Arc<Mutex<Vec<ChunkRecord>>>;

#[derive(Clone)]
pub struct ReplyLife(Arc<Inner>);

impl std::fmt::Debug for ReplyLife {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyLife")
            .field("turn", &self.0.turn)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

struct Inner {
    turn: u64,
    cancel: CancellationToken,
    confirmed: Arc<AtomicBool>,
    status: Mutex<Status>,
    report: Reporter,
    chunks: ChunkLog,
}

#[derive(Default)]
struct Status {
    reported: bool,
    failure: Option<String>,
}

/// Lets a speculative answer play; held by the driver without keeping the answer alive.
#[derive(Clone, Debug)]
pub struct Confirmation(Arc<AtomicBool>);

impl Confirmation {
    pub fn confirm(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl ReplyLife {
    pub fn new(turn: u64, report: Reporter) -> Self {
        Self::with(turn, report, true)
    }

    /// An answer to a turn not yet confirmed: nothing of it plays before
    /// [`Confirmation::confirm`].
    pub fn speculative(turn: u64, report: Reporter) -> Self {
        Self::with(turn, report, false)
    }

    fn with(turn: u64, report: Reporter, confirmed: bool) -> Self {
        ReplyLife(Arc::new(Inner {
            turn,
            cancel: CancellationToken::new(),
            confirmed: Arc::new(AtomicBool::new(confirmed)),
            status: Mutex::new(Status::default()),
            report,
            chunks: ChunkLog::default(),
        }))
    }

    pub fn turn(&self) -> u64 {
        self.0.turn
    }

    /// The token that stops the LLM stream, TTS and playback of this answer.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.0.cancel
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.cancel.is_cancelled()
    }

    pub fn confirmation(&self) -> Confirmation {
        Confirmation(self.0.confirmed.clone())
    }

    /// The turn is confirmed: the answer may play.
    pub fn is_confirmed(&self) -> bool {
        self.0.confirmed.load(Ordering::Acquire)
    }

    /// Blocks until the answer is confirmed or cancelled; true when confirmed. A speculative
    /// answer synthesizes its first chunk only, so an utterance that goes on does not
    /// compete with more synthesis for the CPU.
    pub fn wait_confirmed(&self) -> bool {
        while !self.is_confirmed() {
            if self.is_cancelled() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        !self.is_cancelled()
    }

    /// What was spoken of this answer, chunk by chunk (holding it keeps the answer alive no
    /// longer than the log itself).
    pub fn chunk_log(&self) -> ChunkLog {
        self.0.chunks.clone()
    }

    /// Records a chunk whose first audio just came; returns its index for
    /// [`Self::chunk_synthesized`].
    pub fn chunk_sounding(&self, record: ChunkRecord) -> usize {
        let mut chunks = self.0.chunks.lock().unwrap_or_else(|e| e.into_inner());
        chunks.push(record);
        chunks.len() - 1
    }

    pub fn chunk_synthesized(&self, index: usize, at: Instant) {
        let mut chunks = self.0.chunks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(chunk) = chunks.get_mut(index) {
            chunk.synthesized = Some(at);
        }
    }

    /// Something broke while producing this answer: stop it, and report it as failed
    /// whoever finishes it.
    pub fn fail(&self, why: impl Into<String>) {
        let mut status = self.0.status();
        status.failure.get_or_insert_with(|| why.into());
        drop(status);
        self.0.cancel.cancel();
    }

    /// Reports the end of the answer; only the first call (or the drop guard) counts.
    /// `interrupted`: cut off before its end; `fallback`: the spoken text is the apology.
    pub fn finish(
        &self,
        played: String,
        interrupted: bool,
        fallback: bool,
        playback_end: Option<Instant>,
    ) {
        self.0.complete(played, interrupted, fallback, playback_end);
    }
}

impl Inner {
    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn complete(
        &self,
        played: String,
        interrupted: bool,
        fallback: bool,
        playback_end: Option<Instant>,
    ) {
        let mut status = self.status();
        if status.reported {
            return;
        }
        status.reported = true;
        let outcome = match status.failure.take() {
            Some(why) => Outcome::Failed(why),
            None if interrupted => Outcome::Interrupted,
            None if fallback => Outcome::Fallback,
            None => Outcome::Played,
        };
        drop(status);
        (self.report)(Event::ReplyDone {
            turn: self.turn,
            played,
            outcome,
            playback_end,
        });
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.status().reported {
            return;
        }
        // Nobody finished it: either it was cancelled before any of it was played, or the
        // work that held it stopped without finishing.
        if !self.cancel.is_cancelled() {
            let mut status = self.status();
            status
                .failure
                .get_or_insert_with(|| "the answer stopped before it was spoken".into());
        }
        self.complete(String::new(), true, false, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn life(turn: u64) -> (ReplyLife, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let report: Reporter = Arc::new(move |e| {
            let _ = tx.lock().unwrap().send(e);
        });
        (ReplyLife::new(turn, report), rx)
    }

    fn outcome(rx: &mpsc::Receiver<Event>) -> (String, Outcome) {
        match rx.try_recv().expect("one report") {
            Event::ReplyDone {
                played, outcome, ..
            } => (played, outcome),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn finishing_reports_once_and_the_drop_stays_quiet() {
        let (l, rx) = life(3);
        let clone = l.clone();
        l.finish("Paris.".into(), false, false, None);
        clone.finish("again".into(), true, false, None);
        drop((l, clone));
        assert_eq!(outcome(&rx), ("Paris.".into(), Outcome::Played));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn cancelled_before_any_audio_reports_when_the_last_holder_lets_go() {
        let (l, rx) = life(1);
        let in_task = l.clone();
        l.cancel_token().cancel();
        drop(l);
        assert!(rx.try_recv().is_err(), "a holder is still working");
        drop(in_task);
        assert_eq!(outcome(&rx), (String::new(), Outcome::Interrupted));
    }

    #[test]
    fn work_that_stops_without_finishing_is_a_failure() {
        let (l, rx) = life(2);
        let task = l.clone();
        drop(l);
        let _ = std::thread::spawn(move || {
            let _held = task;
            panic!("boom");
        })
        .join();
        let (played, outcome) = outcome(&rx);
        assert!(played.is_empty());
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
    }

    #[test]
    fn a_speculative_answer_waits_for_its_confirmation_or_its_cancel() {
        let (l, _rx) = life(5);
        assert!(l.is_confirmed());
        let (tx, _rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let report: Reporter = Arc::new(move |e| {
            let _ = tx.lock().unwrap().send(e);
        });
        let s = ReplyLife::speculative(6, report);
        assert!(!s.is_confirmed());
        let confirm = s.confirmation();
        let waiter = s.clone();
        let t = std::thread::spawn(move || waiter.wait_confirmed());
        confirm.confirm();
        assert!(t.join().unwrap());
        let c = ReplyLife::speculative(7, l.0.report.clone());
        c.cancel_token().cancel();
        assert!(!c.wait_confirmed());
    }

    #[test]
    fn a_failure_wins_over_what_the_finisher_thought() {
        let (l, rx) = life(4);
        l.fail("voice model broke");
        assert!(l.is_cancelled());
        l.finish("Half".into(), true, false, None);
        assert_eq!(
            outcome(&rx),
            ("Half".into(), Outcome::Failed("voice model broke".into()))
        );
    }
}
