//! hearken as Home Assistant's satellite. [`Link`] is the pipeline's [`Remote`]: a turn
//! hearken starts (wake word, button, follow-up) goes to HA as `detection` +
//! `run-pipeline` and its audio streams there as `audio-chunk`s until HA's `transcript`;
//! HA's speech (`audio-start` / `audio-chunk`* / `audio-stop`, unpaced, so buffered whole)
//! comes back as the turn's answer, and `played` goes back once it has been played.
//! Speech with no turn around it is an announcement. While no HA is connected, or when it
//! goes away mid-turn, the local pipeline answers.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::event::{
    pcm_bytes, pcm_samples, AudioChunk, AudioFormat, Detection, Event, Info, PipelineStage,
    RunPipeline, Satellite,
};
use super::server::{Outbox, Role, Session};
use super::services::{artifact, check_format, wake_program};
use crate::audio::SAMPLE_RATE;
use crate::config::Config;
use crate::pipeline::{Handle, Remote, RemoteSpeech, Trigger};
use crate::service::notify;
use crate::wake::WakeWordName;

pub struct SatelliteRole {
    info: Info,
    link: Arc<Link>,
}

impl SatelliteRole {
    pub fn new(config: &Config, link: Arc<Link>) -> Self {
        SatelliteRole {
            info: satellite_info(config),
            link,
        }
    }
}

/// `installed: true` is what makes Home Assistant treat the peer as a satellite; the wake
/// words' phrases let it pick one device when several hear the same word.
fn satellite_info(config: &Config) -> Info {
    let words: Vec<WakeWordName> = config
        .wake
        .words
        .iter()
        .map(|w| WakeWordName::from_config(w))
        .collect();
    let area = &config.wyoming.area;
    Info {
        wake: vec![wake_program(config, "openWakeWord on the device")],
        satellite: Some(Satellite {
            artifact: artifact(&config.wyoming.satellite_name(), "hearken voice satellite"),
            area: (!area.is_empty()).then(|| area.clone()),
            has_vad: Some(true),
            active_wake_words: Some(words.iter().map(|w| w.as_str().to_string()).collect()),
            max_active_wake_words: Some(words.len() as u32),
            supports_trigger: Some(true),
        }),
        ..Info::default()
    }
}

impl Role for SatelliteRole {
    fn info(&self) -> Info {
        self.info.clone()
    }

    fn session(&self, peer: SocketAddr, out: &Outbox) -> Option<Box<dyn Session>> {
        let id = self.link.connect(peer, out.clone());
        Some(Box::new(SatelliteSession::new(self.link.clone(), id)))
    }
}

/// The connection Home Assistant keeps to the satellite (the newest one, if several).
struct Peer {
    id: u64,
    addr: SocketAddr,
    out: Outbox,
}

#[derive(Default)]
struct LinkState {
    peer: Option<Peer>,
    connections: u64,
    /// HA paused the satellite (`pause-satellite`): hearken is muted until `run-satellite`
    /// or until HA goes.
    paused: bool,
    /// The turn HA took, until its speech came (then `answered`) or HA went.
    turn: Option<u64>,
    answered: bool,
    /// Turns and announcements whose speech HA waits to hear `played` for.
    to_report: Vec<u64>,
    /// Audio frames streamed for the current turn (their timestamps).
    streamed: u64,
    /// "answering locally" was said since HA was last there.
    said_local: bool,
}

/// The pipeline's side of the satellite.
pub struct Link {
    handle: Handle,
    state: Mutex<LinkState>,
    /// The turn's audio goes to HA (checked on every frame without the lock).
    streaming: AtomicBool,
}

impl Link {
    pub fn new(handle: Handle) -> Self {
        Link {
            handle,
            state: Mutex::default(),
            streaming: AtomicBool::new(false),
        }
    }

    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(state: &LinkState, event: Event) {
        if let Some(peer) = &state.peer {
            let _ = peer.out.send(event);
        }
    }

    fn connect(&self, addr: SocketAddr, out: Outbox) -> u64 {
        let mut state = self.state();
        state.connections += 1;
        let id = state.connections;
        if let Some(old) = state.peer.replace(Peer { id, addr, out }) {
            log::info!("wyoming: Home Assistant at {addr} replaces {}", old.addr);
        } else {
            log::info!("wyoming: Home Assistant connected from {addr}; it answers the turns");
            notify::status("connected to Home Assistant");
        }
        state.said_local = false;
        id
    }

    /// The connection `id` ended: a turn HA had not answered yet is answered locally.
    fn disconnect(&self, id: u64) {
        let mut state = self.state();
        if state.peer.as_ref().is_none_or(|p| p.id != id) {
            return;
        }
        state.peer = None;
        self.streaming.store(false, Ordering::SeqCst);
        state.to_report.clear();
        if std::mem::take(&mut state.paused) {
            self.handle.mute(false);
        }
        log::warn!(
            "wyoming: Home Assistant disconnected; hearken answers on its own until it is back"
        );
        notify::status("Home Assistant disconnected; answering locally");
        state.said_local = true;
        if let Some(turn) = state.turn.take() {
            if !std::mem::take(&mut state.answered) {
                self.handle.remote_lost(turn);
            }
        }
    }
}

impl Remote for Link {
    fn take_turn(&self, turn: u64, trigger: &Trigger) -> bool {
        let mut state = self.state();
        if state.peer.is_none() || state.paused {
            if !state.said_local {
                state.said_local = true;
                log::info!("wyoming: Home Assistant is not connected; hearken answers on its own");
            }
            return false;
        }
        if let Some(old) = state.turn.take() {
            if !std::mem::take(&mut state.answered) {
                log::debug!("wyoming: turn {old} ended before Home Assistant answered it");
            }
        }
        let wake_word_name = match trigger {
            Trigger::Wake { word, .. } => {
                let name = WakeWordName::from_config(word).as_str().to_string();
                Self::send(
                    &state,
                    Event::Detection(Detection {
                        name: Some(name.clone()),
                        timestamp: None,
                    }),
                );
                Some(name)
            }
            Trigger::PushToTalk | Trigger::FollowUp => None,
        };
        Self::send(
            &state,
            Event::RunPipeline(RunPipeline {
                start_stage: PipelineStage::Asr,
                end_stage: PipelineStage::Tts,
                wake_word_name,
                restart_on_end: false,
            }),
        );
        state.turn = Some(turn);
        state.answered = false;
        state.streamed = 0;
        self.streaming.store(true, Ordering::SeqCst);
        log::info!("wyoming: turn {turn} goes to Home Assistant");
        true
    }

    fn answers(&self, turn: u64) -> bool {
        let state = self.state();
        state.turn == Some(turn) && (state.peer.is_some() || state.answered)
    }

    fn hear(&self, frame: &[i16]) {
        if !self.streaming.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state();
        let timestamp = state.streamed * 1000 / SAMPLE_RATE as u64;
        state.streamed += frame.len() as u64;
        Self::send(
            &state,
            Event::AudioChunk(AudioChunk {
                format: AudioFormat::mono16(SAMPLE_RATE),
                timestamp: Some(timestamp),
                audio: pcm_bytes(frame),
            }),
        );
    }

    fn played(&self, turn: u64) {
        let mut state = self.state();
        if state.turn == Some(turn) {
            state.turn = None;
            state.answered = false;
        }
        if let Some(i) = state.to_report.iter().position(|&t| t == turn) {
            state.to_report.remove(i);
            Self::send(&state, Event::Played);
        }
    }
}

/// Speech HA is sending.
struct Incoming {
    rate: u32,
    samples: Vec<i16>,
}

struct SatelliteSession {
    link: Arc<Link>,
    id: u64,
    incoming: Option<Incoming>,
    /// What HA's `synthesize` said the coming speech is.
    text: String,
    /// Timers of this connection that went off: cancelling the last one stops the ring.
    ringing: Vec<String>,
}

impl SatelliteSession {
    fn new(link: Arc<Link>, id: u64) -> Self {
        SatelliteSession {
            link,
            id,
            incoming: None,
            text: String::new(),
            ringing: Vec::new(),
        }
    }

    fn take(&mut self, event: Event) -> Result<(), String> {
        let link = &self.link;
        match event {
            Event::RunSatellite => {
                let mut state = link.state();
                if std::mem::take(&mut state.paused) {
                    log::info!("wyoming: Home Assistant resumed the satellite");
                    link.handle.mute(false);
                }
            }
            Event::PauseSatellite => {
                let mut state = link.state();
                link.streaming.store(false, Ordering::SeqCst);
                if !state.paused {
                    state.paused = true;
                    log::info!("wyoming: Home Assistant paused the satellite; muted");
                    link.handle.mute(true);
                }
            }
            // A remote start (`supports_trigger`): a turn as the button starts one.
            Event::RunPipeline(_) => {
                log::info!("wyoming: Home Assistant starts a turn");
                link.handle.push_to_talk();
            }
            Event::Transcript(t) => {
                link.streaming.store(false, Ordering::SeqCst);
                log::info!(
                    "wyoming: Home Assistant heard {:?}",
                    t.text.unwrap_or_default()
                );
            }
            Event::Synthesize(s) => self.text = s.text,
            Event::AudioStart(start) => {
                check_format(start.format)?;
                self.incoming = Some(Incoming {
                    rate: start.format.rate,
                    samples: Vec::new(),
                });
            }
            Event::AudioChunk(chunk) => {
                check_format(chunk.format)?;
                let incoming = self.incoming.get_or_insert_with(|| Incoming {
                    rate: chunk.format.rate,
                    samples: Vec::new(),
                });
                let channels = chunk.format.channels.max(1) as usize;
                incoming
                    .samples
                    .extend(pcm_samples(&chunk.audio).into_iter().step_by(channels));
            }
            Event::AudioStop => {
                if let Some(incoming) = self.incoming.take() {
                    let mut state = link.state();
                    let turn = match state.turn {
                        Some(turn) if !state.answered => {
                            state.answered = true;
                            turn
                        }
                        _ => {
                            log::info!("wyoming: an announcement from Home Assistant");
                            link.handle.announcement_turn()
                        }
                    };
                    state.to_report.push(turn);
                    link.handle.speak_remote(RemoteSpeech {
                        turn,
                        text: std::mem::take(&mut self.text),
                        rate: incoming.rate,
                        samples: incoming.samples,
                    });
                }
            }
            Event::Error(e) => {
                log::warn!("wyoming: Home Assistant: {}", e.text);
                let mut state = link.state();
                if let (Some(turn), false) = (state.turn, state.answered) {
                    link.streaming.store(false, Ordering::SeqCst);
                    state.turn = None;
                    link.handle.remote_lost(turn);
                }
            }
            Event::TimerStarted(t) => log::info!(
                "wyoming: timer {} started ({} s)",
                t.name.unwrap_or(t.id),
                t.total_seconds
            ),
            Event::TimerFinished(t) => {
                log::info!("wyoming: timer {} finished; ringing", t.id);
                self.ringing.push(t.id);
                link.handle.ring(true);
            }
            Event::TimerCancelled(t) => {
                let before = self.ringing.len();
                self.ringing.retain(|id| *id != t.id);
                if self.ringing.len() < before && self.ringing.is_empty() {
                    log::info!("wyoming: timer {} cancelled; ringing stops", t.id);
                    link.handle.ring(false);
                } else {
                    log::info!("wyoming: timer {} cancelled", t.id);
                }
            }
            other => log::debug!("wyoming: {other:?}"),
        }
        Ok(())
    }
}

impl Session for SatelliteSession {
    fn handle<'a>(
        &'a mut self,
        event: Event,
        _out: &'a Outbox,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move { self.take(event) })
    }
}

impl Drop for SatelliteSession {
    fn drop(&mut self) {
        self.link.disconnect(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::Pipeline;
    use tokio::sync::mpsc;

    fn linked() -> (Arc<Link>, SatelliteSession, mpsc::UnboundedReceiver<Event>) {
        let link = Arc::new(Link::new(Pipeline::new().handle()));
        let (out, rx) = mpsc::unbounded_channel();
        let id = link.connect("127.0.0.1:1".parse().unwrap(), out);
        let session = SatelliteSession::new(link.clone(), id);
        (link, session, rx)
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[test]
    fn without_home_assistant_the_turn_stays_local() {
        let link = Link::new(Pipeline::new().handle());
        assert!(!link.take_turn(
            1,
            &Trigger::Wake {
                word: "alexa".into(),
                score: 0.9,
            }
        ));
        assert!(!link.answers(1));
    }

    #[test]
    fn a_turn_is_announced_and_streamed_until_the_transcript() {
        let (link, mut session, mut rx) = linked();
        assert!(link.take_turn(
            3,
            &Trigger::Wake {
                word: "hey_jarvis_v0.1".into(),
                score: 0.9,
            }
        ));
        assert!(link.answers(3));
        link.hear(&[1, -1]);
        let sent = drain(&mut rx);
        assert!(matches!(&sent[0], Event::Detection(d) if d.name.as_deref() == Some("hey_jarvis")));
        let Event::RunPipeline(run) = &sent[1] else {
            panic!("{sent:?}")
        };
        assert_eq!(
            (run.start_stage, run.end_stage),
            (PipelineStage::Asr, PipelineStage::Tts)
        );
        let Event::AudioChunk(chunk) = &sent[2] else {
            panic!("{sent:?}")
        };
        assert_eq!(chunk.format, AudioFormat::mono16(16_000));
        assert_eq!(pcm_samples(&chunk.audio), vec![1, -1]);
        session
            .take(Event::Transcript(super::super::event::Text {
                text: Some("hi".into()),
            }))
            .unwrap();
        link.hear(&[5, 5]);
        assert!(drain(&mut rx).is_empty(), "streamed after the transcript");
        // The button's turn has no detection.
        assert!(link.take_turn(4, &Trigger::PushToTalk));
        assert!(matches!(drain(&mut rx)[0], Event::RunPipeline(_)));
    }

    #[test]
    fn home_assistant_leaving_gives_the_turn_back() {
        let (link, session, _rx) = linked();
        assert!(link.take_turn(7, &Trigger::PushToTalk));
        drop(session);
        assert!(!link.answers(7));
        assert!(!link.take_turn(8, &Trigger::PushToTalk));
    }

    #[test]
    fn speech_that_is_not_16_bit_closes_the_connection() {
        let (_link, mut session, _rx) = linked();
        let err = session
            .take(Event::AudioStart(super::super::event::AudioStart {
                format: AudioFormat {
                    rate: 22050,
                    width: 4,
                    channels: 1,
                },
                timestamp: None,
            }))
            .unwrap_err();
        assert!(err.contains("only 16-bit PCM"), "{err}");
    }
}
