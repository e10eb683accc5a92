//! The output thread: the single writer of the speaker. It queues earcons and the spoken
//! chunks of answers, feeds the playback ring without blocking, cancels an answer within
//! one period, and works out how much of each answer reached the speaker.

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::state::{Event, Stage};
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
}

#[derive(Debug)]
pub enum OutMsg {
    Earcon(Vec<i16>),
    /// A new spoken chunk of `turn`'s answer; its samples follow as `Pcm`.
    Chunk {
        turn: u64,
        text: String,
    },
    Pcm {
        turn: u64,
        samples: Vec<i16>,
    },
    /// No more audio for `turn`.
    End {
        turn: u64,
        fallback: bool,
    },
    /// `at`: when the cancel was decided (barge-in latency is measured from it).
    Cancel {
        turn: u64,
        at: Instant,
    },
    Stop,
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
    turn: u64,
    chunks: Vec<SpokenChunk>,
    /// Speaker position (in `written` terms) where each chunk's first sample lands.
    starts: Vec<u64>,
    armed: bool,
    first_reported: bool,
    ended: Option<bool>,
}

pub struct Output {
    speaker: Box<dyn Speaker>,
    /// Speaker position the next queued sample will land at.
    position: u64,
    queue: VecDeque<Item>,
    answer: Option<Answer>,
    cancelled: HashSet<u64>,
    report: Box<dyn FnMut(Event) + Send>,
}

const TICK: Duration = Duration::from_millis(5);

impl Output {
    pub fn new(speaker: Box<dyn Speaker>, report: Box<dyn FnMut(Event) + Send>) -> Self {
        let position = speaker.written();
        Output {
            speaker,
            position,
            queue: VecDeque::new(),
            answer: None,
            cancelled: HashSet::new(),
            report,
        }
    }

    /// Runs until `Stop` or until every sender is gone; plays out what is queued first.
    pub fn run(mut self, messages: Receiver<OutMsg>) {
        let mut open = true;
        while open || !self.queue.is_empty() {
            let wait = if self.queue.is_empty() && self.answer.is_none() {
                Duration::from_millis(50)
            } else {
                TICK
            };
            if open {
                match messages.recv_timeout(wait) {
                    Ok(msg) => {
                        open = self.handle(msg);
                        while open {
                            match messages.try_recv() {
                                Ok(msg) => open = self.handle(msg),
                                Err(_) => break,
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            } else {
                std::thread::sleep(TICK);
            }
            self.pump();
            self.check_answer();
        }
        while !self.speaker.is_idle() {
            std::thread::sleep(TICK);
        }
    }

    fn handle(&mut self, msg: OutMsg) -> bool {
        match msg {
            OutMsg::Stop => return false,
            OutMsg::Earcon(samples) => self.queue.push_back(Item {
                turn: None,
                starts_chunk: None,
                samples,
                sent: 0,
            }),
            OutMsg::Chunk { turn, text } => {
                if self.cancelled.contains(&turn) {
                    return true;
                }
                let answer = self.answer_for(turn);
                answer.chunks.push(SpokenChunk {
                    text,
                    samples: 0,
                    played: 0,
                });
                answer.starts.push(u64::MAX);
            }
            OutMsg::Pcm { turn, samples } => {
                if self.cancelled.contains(&turn) || samples.is_empty() {
                    return true;
                }
                let answer = self.answer_for(turn);
                if answer.chunks.is_empty() {
                    answer.chunks.push(SpokenChunk {
                        text: String::new(),
                        samples: 0,
                        played: 0,
                    });
                    answer.starts.push(u64::MAX);
                }
                let index = answer.chunks.len() - 1;
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
            OutMsg::End { turn, fallback } => {
                if !self.cancelled.contains(&turn) {
                    self.answer_for(turn).ended = Some(fallback);
                }
            }
            OutMsg::Cancel { turn, at } => self.cancel(turn, at),
        }
        true
    }

    fn answer_for(&mut self, turn: u64) -> &mut Answer {
        if self.answer.as_ref().is_none_or(|a| a.turn != turn) {
            if let Some(old) = self.answer.take() {
                // A newer answer replaces one that was never ended: treat it as cut off.
                self.cancelled.insert(old.turn);
                self.finish(old, true);
            }
            self.answer = Some(Answer {
                turn,
                chunks: Vec::new(),
                starts: Vec::new(),
                armed: false,
                first_reported: false,
                ended: None,
            });
        }
        self.answer.as_mut().expect("just set")
    }

    fn cancel(&mut self, turn: u64, at: Instant) {
        self.cancelled.insert(turn);
        if self.answer.as_ref().is_none_or(|a| a.turn != turn) {
            return;
        }
        // Only this answer's audio goes; earcons queued behind it still play.
        self.speaker.flush();
        let written = self.speaker.written();
        self.queue.retain(|item| item.turn != Some(turn));
        for item in &mut self.queue {
            item.sent = 0;
        }
        self.position = written;
        log::info!(
            "answer {turn} cut off {:.1} ms after the barge-in",
            at.elapsed().as_secs_f64() * 1000.0
        );
        let mut answer = self.answer.take().expect("checked");
        account(&mut answer, written);
        self.finish(answer, true);
    }

    /// Hands queued audio to the speaker as far as it (and the pacing) takes it.
    fn pump(&mut self) {
        while let Some(item) = self.queue.front_mut() {
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
            self.queue.pop_front();
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
        let pending = self.queue.iter().any(|i| i.turn == Some(turn));
        if answer.ended.is_some() && !pending && self.speaker.is_idle() {
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
        (self.report)(Event::ReplyDone {
            turn: answer.turn,
            played: played_text(&answer.chunks),
            interrupted,
            fallback: answer.ended.unwrap_or(false),
            playback_end,
        });
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
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{mpsc, Arc};

    /// A device that takes samples only up to a budget the test raises: what it took is
    /// what "played".
    struct Budgeted {
        budget: Arc<AtomicU64>,
        written: u64,
        first: Option<Instant>,
        armed: bool,
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
            true
        }
        fn ended_at(&self) -> Option<Instant> {
            Some(Instant::now())
        }
        fn written(&self) -> u64 {
            self.written
        }
    }

    fn start(budget: u64) -> (mpsc::Sender<OutMsg>, mpsc::Receiver<Event>, Arc<AtomicU64>) {
        let budget = Arc::new(AtomicU64::new(budget));
        let speaker = Budgeted {
            budget: budget.clone(),
            written: 0,
            first: None,
            armed: false,
        };
        let (tx, rx) = mpsc::channel();
        let (etx, erx) = mpsc::channel();
        let out = Output::new(
            Box::new(speaker),
            Box::new(move |e| {
                let _ = etx.send(e);
            }),
        );
        std::thread::spawn(move || out.run(rx));
        (tx, erx, budget)
    }

    fn speak(tx: &mpsc::Sender<OutMsg>, turn: u64, text: &str, n: usize) {
        tx.send(OutMsg::Chunk {
            turn,
            text: text.into(),
        })
        .unwrap();
        tx.send(OutMsg::Pcm {
            turn,
            samples: vec![1; n],
        })
        .unwrap();
    }

    fn done(rx: &mpsc::Receiver<Event>) -> (String, bool) {
        loop {
            match rx.recv_timeout(Duration::from_secs(5)).expect("reply done") {
                Event::ReplyDone {
                    played,
                    interrupted,
                    ..
                } => return (played, interrupted),
                _ => continue,
            }
        }
    }

    #[test]
    fn a_played_out_answer_reports_all_of_it_after_the_earcon() {
        let (tx, rx, _) = start(u64::MAX);
        tx.send(OutMsg::Earcon(vec![5; 300])).unwrap();
        speak(&tx, 1, "One two.", 1000);
        speak(&tx, 1, "Three four.", 1000);
        tx.send(OutMsg::End {
            turn: 1,
            fallback: false,
        })
        .unwrap();
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(matches!(
            first,
            Event::Stage {
                turn: 1,
                stage: Stage::FirstSampleWritten,
                ..
            }
        ));
        assert_eq!(done(&rx), ("One two. Three four.".into(), false));
    }

    #[test]
    fn cancel_keeps_only_what_the_device_took() {
        // Earcon 300 + first chunk 1000 + half of the second.
        let (tx, rx, budget) = start(300 + 1000 + 500);
        tx.send(OutMsg::Earcon(vec![5; 300])).unwrap();
        speak(&tx, 1, "One two.", 1000);
        speak(&tx, 1, "Three four five six.", 1000);
        std::thread::sleep(Duration::from_millis(50));
        tx.send(OutMsg::Cancel {
            turn: 1,
            at: Instant::now(),
        })
        .unwrap();
        assert_eq!(done(&rx), ("One two. Three four".into(), true));
        // Late audio of the cancelled turn is dropped; the next turn plays.
        budget.store(u64::MAX, Ordering::SeqCst);
        speak(&tx, 1, "late", 100);
        speak(&tx, 2, "Next.", 100);
        tx.send(OutMsg::End {
            turn: 2,
            fallback: false,
        })
        .unwrap();
        assert_eq!(done(&rx), ("Next.".into(), false));
    }
}
