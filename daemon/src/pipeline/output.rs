//! The output thread: the single writer of the speaker. It queues earcons and the spoken
//! chunks of answers, feeds the playback ring without blocking, cancels an answer within
//! one period, and works out how much of each answer reached the speaker.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::life::ReplyLife;
use super::state::{Event, Stage};
use super::supervise::StageProgress;
use super::text::{played_text, SpokenChunk};

/// What the output thread needs of a playback device (implemented by `audio::Playback`).
pub trait Speaker: Send {
    /// Queues what fits without waiting; returns how many samples.
    fn write(&mut self, samples: &[i16]) -> usize;
    /// Drops everything queued, down to the device's buffer; returns once done.
    fn flush(&mut self);
    /// Records the instant of the next write to the device.
    fn arm(&mut self);
    fn first_write(&self) -> Option<Instant>;
    /// Nothing is queued and the device has played everything.
    fn is_idle(&self) -> bool;
    fn ended_at(&self) -> Option<Instant>;
    /// Samples written to the device since start (flushed ones excluded).
    fn written(&self) -> u64;
    /// The device's own thread has ended (it panicked): nothing will ever play again.
    fn is_dead(&self) -> bool {
        false
    }
    /// The device is gone (unplugged, failing) and being reopened: what is queued waits.
    fn is_away(&self) -> bool {
        false
    }
}

#[derive(Debug)]
pub enum OutMsg {
    Earcon(Vec<i16>),
    /// A new spoken chunk of an answer; its samples follow as `Pcm`.
    Chunk {
        life: ReplyLife,
        text: String,
    },
    Pcm {
        turn: u64,
        samples: Vec<i16>,
    },
    /// The turn of this speculative answer is confirmed: it plays after the earcons
    /// queued so far (the end-of-turn cue comes first, as for any answer).
    Confirm {
        turn: u64,
    },
    /// No more audio for this answer: finish it once played.
    End {
        life: ReplyLife,
        fallback: bool,
    },
    /// `at`: when the cancel was decided (barge-in latency is measured from it).
    Cancel {
        turn: u64,
        at: Instant,
    },
    /// Cut off any answer, play what earcons are queued until `deadline`, then return.
    Stop {
        deadline: Instant,
    },
}

struct Item {
    turn: Option<u64>,
    /// The answer chunk whose first samples these are.
    starts_chunk: Option<usize>,
    samples: Vec<i16>,
    /// How many have been handed to the speaker.
    sent: usize,
}

/// The answer being played and what is known of it.
struct Answer {
    life: ReplyLife,
    turn: u64,
    chunks: Vec<SpokenChunk>,
    /// Speaker position (in `written` terms) where each chunk's first sample lands.
    starts: Vec<u64>,
    armed: bool,
    /// Speculative and not yet confirmed: none of it plays.
    held: bool,
    first_reported: bool,
    ended: Option<bool>,
    /// Since when it has waited for a speaker that is away.
    waiting_since: Option<Instant>,
}

pub struct Output {
    speaker: Box<dyn Speaker>,
    /// Speaker position the next queued sample will land at.
    position: u64,
    queue: VecDeque<Item>,
    answer: Option<Answer>,
    report: Box<dyn FnMut(Event) + Send>,
    progress: Arc<StageProgress>,
}

const TICK: Duration = Duration::from_millis(5);
/// How long earcons may still play when the controller vanished without a `Stop`.
const SHUTDOWN_DRAIN: Duration = Duration::from_millis(500);
/// How long an answer waits for a speaker that went away before it is dropped as failed:
/// long enough for a USB or Bluetooth device to come back, short enough that the turn ends
/// (error cue, LEDs idle) instead of saying the rest of a stale answer minutes later.
const SPEAKER_AWAY_LIMIT: Duration = Duration::from_secs(3);

impl Output {
    pub fn new(
        speaker: Box<dyn Speaker>,
        report: Box<dyn FnMut(Event) + Send>,
        progress: Arc<StageProgress>,
    ) -> Self {
        let position = speaker.written();
        Output {
            speaker,
            position,
            queue: VecDeque::new(),
            answer: None,
            report,
            progress,
        }
    }

    /// Runs until `Stop` or until every sender is gone; then cuts off any answer and plays
    /// queued earcons until the stop's deadline at the latest.
    pub fn run(mut self, messages: Receiver<OutMsg>) {
        let deadline = loop {
            self.progress.output.tick();
            let wait = if self.queue.is_empty() && self.answer.is_none() {
                Duration::from_millis(50)
            } else {
                TICK
            };
            let stop = match messages.recv_timeout(wait) {
                Ok(msg) => {
                    let mut stop = self.handle(msg);
                    while stop.is_none() {
                        match messages.try_recv() {
                            Ok(msg) => stop = self.handle(msg),
                            Err(_) => break,
                        }
                    }
                    stop
                }
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Instant::now() + SHUTDOWN_DRAIN),
            };
            if let Some(deadline) = stop {
                break deadline;
            }
            if self.speaker.is_dead() {
                // Answers would wait forever for a speaker that never plays: let the
                // supervisor see this thread end.
                log::error!("the playback thread has stopped; the speaker is gone for good");
                return;
            }
            self.pump();
            self.check_answer();
        };
        if let Some(answer) = &self.answer {
            self.cancel(answer.turn, Instant::now());
        }
        while Instant::now() < deadline && !(self.queue.is_empty() && self.speaker.is_idle()) {
            self.pump();
            std::thread::sleep(TICK);
        }
    }

    /// Returns the deadline of a `Stop`.
    fn handle(&mut self, msg: OutMsg) -> Option<Instant> {
        match msg {
            OutMsg::Stop { deadline } => return Some(deadline),
            OutMsg::Earcon(samples) => self.queue.push_back(Item {
                turn: None,
                starts_chunk: None,
                samples,
                sent: 0,
            }),
            OutMsg::Chunk { life, text } => {
                if life.is_cancelled() {
                    return None;
                }
                let answer = self.answer_for(life);
                answer.chunks.push(SpokenChunk {
                    text,
                    samples: 0,
                    played: 0,
                });
                answer.starts.push(u64::MAX);
            }
            OutMsg::Pcm { turn, samples } => self.queue_pcm(turn, samples),
            OutMsg::End { life, fallback } => {
                if !life.is_cancelled() {
                    self.answer_for(life).ended = Some(fallback);
                }
            }
            OutMsg::Cancel { turn, at } => self.cancel(turn, at),
            OutMsg::Confirm { turn } => self.confirm(turn),
        }
        None
    }

    /// Audio of an answer that was cut off (or never announced) is dropped.
    fn queue_pcm(&mut self, turn: u64, samples: Vec<i16>) {
        let Some(answer) = self
            .answer
            .as_mut()
            .filter(|a| a.turn == turn && !a.life.is_cancelled())
        else {
            return;
        };
        let Some(index) = answer.chunks.len().checked_sub(1) else {
            return;
        };
        if samples.is_empty() {
            return;
        }
        let chunk = &mut answer.chunks[index];
        let starts_chunk = (chunk.samples == 0).then_some(index);
        chunk.samples += samples.len();
        self.queue.push_back(Item {
            turn: Some(turn),
            starts_chunk,
            samples,
            sent: 0,
        });
    }

    fn answer_for(&mut self, life: ReplyLife) -> &mut Answer {
        let turn = life.turn();
        if self.answer.as_ref().is_none_or(|a| a.turn != turn) {
            if let Some(old) = self.answer.take() {
                // A newer answer replaces one that was never ended: treat it as cut off.
                old.life.cancel_token().cancel();
                self.queue.retain(|item| item.turn != Some(old.turn));
                let written = self.speaker.written();
                let mut old = old;
                account(&mut old, written);
                self.finish(old, true);
            }
            // Confirmed before its first chunk came: `Confirm` found no answer to release.
            let held = !life.is_confirmed();
            self.answer = Some(Answer {
                life,
                turn,
                chunks: Vec::new(),
                starts: Vec::new(),
                armed: false,
                held,
                first_reported: false,
                ended: None,
                waiting_since: None,
            });
        }
        self.answer.as_mut().expect("just set")
    }

    fn confirm(&mut self, turn: u64) {
        let Some(answer) = self.answer.as_mut().filter(|a| a.turn == turn && a.held) else {
            return;
        };
        answer.held = false;
        // Earcons queued while it was held go first; none of its audio was sent yet.
        let (mine, others): (VecDeque<Item>, VecDeque<Item>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|i| i.turn == Some(turn));
        self.queue = others;
        self.queue.extend(mine);
    }

    fn cancel(&mut self, turn: u64, at: Instant) {
        if self.answer.as_ref().is_none_or(|a| a.turn != turn) {
            return;
        }
        // Only this answer's audio goes; earcons queued behind it still play. An answer
        // that never reached the speaker (speculative, discarded) leaves the device alone.
        if self.answer.as_ref().is_some_and(|a| a.armed) {
            self.speaker.flush();
        }
        let written = self.speaker.written();
        self.queue.retain(|item| item.turn != Some(turn));
        for item in &mut self.queue {
            item.sent = 0;
        }
        self.position = written;
        log::info!(
            "answer {turn} cut off {:.1} ms after it was cancelled",
            at.elapsed().as_secs_f64() * 1000.0
        );
        let mut answer = self.answer.take().expect("checked");
        account(&mut answer, written);
        self.finish(answer, true);
    }

    /// Hands queued audio to the speaker as far as it (and the pacing) takes it. The audio
    /// of an answer not yet confirmed waits; earcons queued behind it go first.
    fn pump(&mut self) {
        let held = self.answer.as_ref().filter(|a| a.held).map(|a| a.turn);
        loop {
            let next = match held {
                Some(turn) => self.queue.iter().position(|i| i.turn != Some(turn)),
                None => (!self.queue.is_empty()).then_some(0),
            };
            let Some(index) = next else {
                return;
            };
            let item = &mut self.queue[index];
            if item.sent == 0 {
                if let (Some(turn), Some(answer)) = (item.turn, self.answer.as_mut()) {
                    if answer.turn == turn {
                        if !answer.armed {
                            self.speaker.arm();
                            answer.armed = true;
                        }
                        if let Some(i) = item.starts_chunk {
                            answer.starts[i] = self.position;
                        }
                    }
                }
            }
            let n = self.speaker.write(&item.samples[item.sent..]);
            item.sent += n;
            self.position += n as u64;
            if item.sent < item.samples.len() {
                return;
            }
            self.queue.remove(index);
        }
    }

    fn check_answer(&mut self) {
        let Some(answer) = self.answer.as_mut() else {
            return;
        };
        // Before this answer armed the speaker, `first_write` still tells of the last one.
        if answer.armed && !answer.first_reported {
            if let Some(at) = self.speaker.first_write() {
                answer.first_reported = true;
                (self.report)(Event::Stage {
                    turn: answer.turn,
                    stage: Stage::FirstSampleWritten,
                    at,
                });
            }
        }
        let turn = answer.turn;
        let away = !answer.held && self.speaker.is_away();
        answer.waiting_since = away.then(|| answer.waiting_since.unwrap_or_else(Instant::now));
        if answer
            .waiting_since
            .is_some_and(|since| since.elapsed() >= SPEAKER_AWAY_LIMIT)
        {
            log::warn!(
                "answer {turn} dropped: the speaker has been gone for {} s",
                SPEAKER_AWAY_LIMIT.as_secs()
            );
            answer.life.fail("the speaker is gone");
            return self.cancel(turn, Instant::now());
        }
        let pending = self.queue.iter().any(|i| i.turn == Some(turn));
        if answer.ended.is_some() && !pending && !answer.held && self.speaker.is_idle() {
            let mut answer = self.answer.take().expect("checked");
            let written = self.speaker.written();
            account(&mut answer, written);
            self.finish(answer, false);
        }
    }

    fn finish(&mut self, answer: Answer, interrupted: bool) {
        let playback_end = if interrupted {
            Some(Instant::now())
        } else {
            self.speaker.ended_at()
        };
        if !answer.first_reported && interrupted {
            if let Some(at) = self.speaker.first_write().filter(|_| answer.armed) {
                (self.report)(Event::Stage {
                    turn: answer.turn,
                    stage: Stage::FirstSampleWritten,
                    at,
                });
            }
        }
        answer.life.finish(
            played_text(&answer.chunks),
            interrupted,
            answer.ended.unwrap_or(false),
            playback_end,
        );
    }
}

/// Fills in how much of each chunk the speaker had been given by position `written`.
fn account(answer: &mut Answer, written: u64) {
    for (chunk, &start) in answer.chunks.iter_mut().zip(&answer.starts) {
        chunk.played = if start == u64::MAX {
            0
        } else {
            (written.saturating_sub(start) as usize).min(chunk.samples)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::life::{Outcome, Reporter};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{mpsc, Mutex};

    /// A device that takes samples only up to a budget the test raises: what it took is
    /// what "played".
    struct Budgeted {
        budget: Arc<AtomicU64>,
        written: u64,
        first: Option<Instant>,
        armed: bool,
        idle: bool,
        dead: Arc<std::sync::atomic::AtomicBool>,
        away: Arc<std::sync::atomic::AtomicBool>,
    }
    impl Speaker for Budgeted {
        fn write(&mut self, samples: &[i16]) -> usize {
            let room = self
                .budget
                .load(Ordering::SeqCst)
                .saturating_sub(self.written);
            let n = (samples.len() as u64).min(room) as usize;
            if n > 0 && self.armed {
                self.armed = false;
                self.first = Some(Instant::now());
            }
            self.written += n as u64;
            n
        }
        fn flush(&mut self) {}
        fn arm(&mut self) {
            self.armed = true;
            self.first = None;
        }
        fn first_write(&self) -> Option<Instant> {
            self.first
        }
        fn is_idle(&self) -> bool {
            self.idle
        }
        fn ended_at(&self) -> Option<Instant> {
            Some(Instant::now())
        }
        fn written(&self) -> u64 {
            self.written
        }
        fn is_dead(&self) -> bool {
            self.dead.load(Ordering::SeqCst)
        }
        fn is_away(&self) -> bool {
            self.away.load(Ordering::SeqCst)
        }
    }

    struct Rig {
        tx: mpsc::Sender<OutMsg>,
        rx: mpsc::Receiver<Event>,
        budget: Arc<AtomicU64>,
        report: Reporter,
        thread: std::thread::JoinHandle<()>,
        dead: Arc<std::sync::atomic::AtomicBool>,
        away: Arc<std::sync::atomic::AtomicBool>,
    }

    fn start(budget: u64) -> Rig {
        start_with(budget, true)
    }

    fn start_with(budget: u64, idle: bool) -> Rig {
        let budget = Arc::new(AtomicU64::new(budget));
        let dead = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let away = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let speaker = Budgeted {
            budget: budget.clone(),
            written: 0,
            first: None,
            armed: false,
            idle,
            dead: dead.clone(),
            away: away.clone(),
        };
        let (tx, rx) = mpsc::channel();
        let (etx, erx) = mpsc::channel();
        let etx = Arc::new(Mutex::new(etx));
        let report: Reporter = Arc::new(move |e| {
            let _ = etx.lock().unwrap().send(e);
        });
        let r = report.clone();
        let out = Output::new(
            Box::new(speaker),
            Box::new(move |e| r(e)),
            Arc::new(StageProgress::default()),
        );
        let thread = std::thread::spawn(move || out.run(rx));
        Rig {
            tx,
            rx: erx,
            budget,
            report,
            thread,
            dead,
            away,
        }
    }

    impl Rig {
        fn life(&self, turn: u64) -> ReplyLife {
            ReplyLife::new(turn, self.report.clone())
        }

        fn speak(&self, life: &ReplyLife, text: &str, n: usize) {
            self.tx
                .send(OutMsg::Chunk {
                    life: life.clone(),
                    text: text.into(),
                })
                .unwrap();
            self.tx
                .send(OutMsg::Pcm {
                    turn: life.turn(),
                    samples: vec![1; n],
                })
                .unwrap();
        }

        fn end(&self, life: &ReplyLife) {
            self.tx
                .send(OutMsg::End {
                    life: life.clone(),
                    fallback: false,
                })
                .unwrap();
        }

        /// What the controller does on barge-in.
        fn cancel(&self, life: &ReplyLife) {
            life.cancel_token().cancel();
            self.tx
                .send(OutMsg::Cancel {
                    turn: life.turn(),
                    at: Instant::now(),
                })
                .unwrap();
        }

        fn done(&self) -> (u64, String, Outcome) {
            loop {
                match self
                    .rx
                    .recv_timeout(Duration::from_secs(5))
                    .expect("reply done")
                {
                    Event::ReplyDone {
                        turn,
                        played,
                        outcome,
                        ..
                    } => return (turn, played, outcome),
                    _ => continue,
                }
            }
        }
    }

    #[test]
    fn a_played_out_answer_reports_all_of_it_after_the_earcon() {
        let rig = start(u64::MAX);
        rig.tx.send(OutMsg::Earcon(vec![5; 300])).unwrap();
        let one = rig.life(1);
        rig.speak(&one, "One two.", 1000);
        rig.speak(&one, "Three four.", 1000);
        rig.end(&one);
        drop(one);
        let first = rig.rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(
            first,
            Event::Stage {
                turn: 1,
                stage: Stage::FirstSampleWritten,
                ..
            }
        ));
        assert_eq!(
            rig.done(),
            (1, "One two. Three four.".into(), Outcome::Played)
        );
    }

    #[test]
    fn a_speculative_answer_waits_for_its_confirmation_then_for_the_earcons_queued_meanwhile() {
        // Room for the earcon only: an answer that went first would take it.
        let rig = start(300);
        let one = ReplyLife::speculative(1, rig.report.clone());
        rig.speak(&one, "Paris.", 1000);
        rig.end(&one);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            rig.rx.try_recv().is_err(),
            "nothing of it is written or done"
        );
        // The turn is confirmed: its cue was queued first.
        rig.tx.send(OutMsg::Earcon(vec![5; 300])).unwrap();
        one.confirmation().confirm();
        rig.tx.send(OutMsg::Confirm { turn: 1 }).unwrap();
        drop(one);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            rig.rx.try_recv().is_err(),
            "the earcon plays before the answer"
        );
        rig.budget.store(u64::MAX, Ordering::SeqCst);
        let first = rig.rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(
            first,
            Event::Stage {
                turn: 1,
                stage: Stage::FirstSampleWritten,
                ..
            }
        ));
        assert_eq!(rig.done(), (1, "Paris.".into(), Outcome::Played));
    }

    #[test]
    fn cancel_keeps_only_what_the_device_took() {
        // Earcon 300 + first chunk 1000 + half of the second.
        let rig = start(300 + 1000 + 500);
        rig.tx.send(OutMsg::Earcon(vec![5; 300])).unwrap();
        let one = rig.life(1);
        rig.speak(&one, "One two.", 1000);
        rig.speak(&one, "Three four five six.", 1000);
        std::thread::sleep(Duration::from_millis(50));
        rig.cancel(&one);
        assert_eq!(
            rig.done(),
            (1, "One two. Three four".into(), Outcome::Interrupted)
        );
        // Late audio of the cancelled turn is dropped; the next turn plays.
        rig.budget.store(u64::MAX, Ordering::SeqCst);
        rig.speak(&one, "late", 100);
        drop(one);
        let two = rig.life(2);
        rig.speak(&two, "Next.", 100);
        rig.end(&two);
        assert_eq!(rig.done(), (2, "Next.".into(), Outcome::Played));
    }

    #[test]
    fn an_answer_cancelled_before_its_audio_arrived_still_reports() {
        let rig = start(u64::MAX);
        let one = rig.life(1);
        // Barge-in while the LLM is still thinking: the output thread never saw turn 1.
        rig.cancel(&one);
        let in_flight = one.clone();
        drop(one);
        rig.speak(&in_flight, "Too late.", 100);
        drop(in_flight);
        assert_eq!(rig.done(), (1, String::new(), Outcome::Interrupted));
    }

    #[test]
    fn stop_cuts_the_answer_and_returns_by_its_deadline_on_a_stuck_speaker() {
        // A speaker that never plays out (the device is gone).
        let rig = start_with(0, false);
        let one = rig.life(1);
        rig.speak(&one, "Never heard.", 1000);
        rig.end(&one);
        drop(one);
        let asked = Instant::now();
        rig.tx
            .send(OutMsg::Stop {
                deadline: asked + Duration::from_millis(300),
            })
            .unwrap();
        assert_eq!(rig.done(), (1, String::new(), Outcome::Interrupted));
        rig.thread.join().unwrap();
        assert!(asked.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn an_answer_waits_out_a_short_speaker_outage_and_is_dropped_on_a_long_one() {
        let rig = start(500);
        let set_away = |away: bool| rig.away.store(away, Ordering::SeqCst);
        // Unplugged half-way through its first chunk, back within the limit: all of it plays.
        let one = rig.life(1);
        rig.speak(&one, "One two.", 1000);
        rig.speak(&one, "Three four.", 1000);
        rig.end(&one);
        drop(one);
        set_away(true);
        std::thread::sleep(SPEAKER_AWAY_LIMIT / 2);
        set_away(false);
        rig.budget.store(2000, Ordering::SeqCst);
        assert_eq!(
            rig.done(),
            (1, "One two. Three four.".into(), Outcome::Played)
        );

        // Gone for good mid-answer: the answer ends as failed once the limit is past, with
        // what was played before.
        let two = rig.life(2);
        rig.speak(&two, "Five six.", 1000);
        rig.speak(&two, "Seven eight.", 1000);
        rig.end(&two);
        drop(two);
        set_away(true);
        let gone = Instant::now();
        rig.budget.store(3000, Ordering::SeqCst);
        let (turn, played, outcome) = rig.done();
        assert!(gone.elapsed() >= SPEAKER_AWAY_LIMIT);
        assert_eq!((turn, played.as_str()), (2, "Five six."));
        assert_eq!(outcome, Outcome::Failed("the speaker is gone".into()));

        // Back: the next answer plays.
        set_away(false);
        rig.budget.store(u64::MAX, Ordering::SeqCst);
        let three = rig.life(3);
        rig.speak(&three, "Nine.", 1000);
        rig.end(&three);
        drop(three);
        assert_eq!(rig.done(), (3, "Nine.".into(), Outcome::Played));
    }

    #[test]
    fn a_dead_playback_thread_ends_the_output_thread_and_its_answer() {
        let rig = start(0);
        let one = rig.life(1);
        rig.speak(&one, "Never heard.", 1000);
        rig.end(&one);
        drop(one);
        rig.dead.store(true, Ordering::SeqCst);
        // The answer the output thread held ends with it.
        let (turn, played, outcome) = rig.done();
        assert_eq!((turn, played.as_str()), (1, ""));
        assert!(matches!(outcome, Outcome::Failed(_)), "{outcome:?}");
        rig.thread.join().unwrap();
    }
}
