//! systemd's notify protocol (`Type=notify`): `READY=1` once models are loaded and both
//! audio devices are started, a `STATUS=` line a person reads in `systemctl status`,
//! `EXTEND_TIMEOUT_USEC=` while models load, `STOPPING=1`, and the watchdog.
//!
//! The watchdog (`WATCHDOG=1` every half of `WATCHDOG_USEC`) is only fed while the
//! pipeline shows progress: the listener takes capture frames (every 80 ms while the
//! microphone delivers) and the output thread goes round its loop (at least every 50 ms).
//! A wedged capture, listener or output thread therefore stops the pings and systemd
//! restarts the service. A microphone that is gone and being reopened is not a wedge: the
//! capture thread is alive and retrying, so the listener's silence is excused then (and
//! `STATUS=` says so). The controller moves only on events, so it is not judged.
//!
//! Every function here does nothing when `NOTIFY_SOCKET` is unset (not under systemd).

use std::time::Duration;

use sd_notify::NotifyState;

use super::events;
use crate::pipeline::{Handle, StageProgress, State};

/// True when a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty())
}

fn send(states: &[NotifyState]) {
    if !enabled() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        log::debug!("sd_notify: {e}");
    }
}

/// `STATUS=`: one line for `systemctl status`.
pub fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// How long each `EXTEND_TIMEOUT_USEC=` asks for, sent every [`EXTEND_EVERY`] while loading.
const EXTEND_BY: Duration = Duration::from_secs(30);
const EXTEND_EVERY: Duration = Duration::from_secs(10);
/// Loading longer than this is taken as hung: the extensions stop and systemd's start
/// timeout (and watchdog) end it.
const MAX_LOADING: Duration = Duration::from_secs(300);

/// While this lives, systemd's start timeout keeps being extended (slow boards take tens of
/// seconds to load models), the watchdog is fed (if it is armed) and the status says what
/// is happening, for at most [`MAX_LOADING`]. Dropped when loading ends, whichever way.
pub struct Loading {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Loading {
    pub fn start(what: &str) -> Loading {
        if !enabled() {
            return Loading {
                stop: None,
                thread: None,
            };
        }
        let text = format!("loading {what}");
        let every = watchdog_interval().map_or(EXTEND_EVERY, |w| w.min(EXTEND_EVERY));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("hearken-notify".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                loop {
                    if started.elapsed() > MAX_LOADING {
                        log::error!(
                            "still loading {} s after start; no longer extending systemd's start timeout",
                            MAX_LOADING.as_secs()
                        );
                        send(&[NotifyState::Status(&format!("{text}: stuck?"))]);
                        let _ = stopped.recv();
                        break;
                    }
                    send(&[
                        NotifyState::Status(&text),
                        NotifyState::ExtendTimeoutUsec(EXTEND_BY.as_micros() as u32),
                        NotifyState::Watchdog,
                    ]);
                    match stopped.recv_timeout(every) {
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
            })
            .ok();
        Loading {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `READY=1` with the first status.
pub fn ready(words: &str) {
    send(&[
        NotifyState::Ready,
        NotifyState::Status(&state_text(State::Idle, words)),
    ]);
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The daemon is about to exit with `error`: the last status systemd keeps.
pub fn failed(error: &dyn std::fmt::Display) {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status(&format!("error: {error}")),
    ]);
}

/// What `systemctl status` shows for a state of the conversation.
pub fn state_text(state: State, words: &str) -> String {
    match state {
        State::Idle => format!("listening for {words}"),
        State::Listening => "listening to a question".into(),
        State::Thinking => "thinking".into(),
        State::Speaking => "speaking".into(),
        State::FollowUp => "waiting for a follow-up question".into(),
        State::Muted => "muted".into(),
        State::Error => "error (see the journal)".into(),
    }
}

/// The watchdog's ping interval: half of `WATCHDOG_USEC`, when it is set for this process
/// (`WATCHDOG_PID` unset or ours, as sd_watchdog_enabled(3) reads it).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
}

/// Judges whether the pipeline made progress since the last look.
#[derive(Debug, Default)]
pub struct Liveness {
    last: Option<(u64, u64)>,
}

/// What a look at the progress counters found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Alive,
    /// Nothing moved in a stage: its name.
    Stalled(&'static str),
}

impl Liveness {
    /// `mic_reopening`: the capture thread is retrying a lost device, which excuses the
    /// listener's silence. The first look only records the counters.
    pub fn check(&mut self, progress: &StageProgress, mic_reopening: bool) -> Verdict {
        let now = (progress.listener.get(), progress.output.get());
        let verdict = match self.last {
            None => Verdict::Alive,
            Some((listener, _)) if now.0 == listener && !mic_reopening => {
                Verdict::Stalled("listener (or capture)")
            }
            Some((_, output)) if now.1 == output => Verdict::Stalled("output"),
            Some(_) => Verdict::Alive,
        };
        self.last = Some(now);
        verdict
    }
}

/// A device the status and the journal report on: its ALSA name, and whether its thread
/// is reopening it (lost).
pub struct Watched<F: Fn() -> bool> {
    pub name: String,
    pub reopening: F,
}

/// What `STATUS=` shows: a lost device first, then an unreachable LLM server while nothing
/// is under way (a turn in progress shows its own state), else the conversation's state.
pub fn status_text(
    state: State,
    words: &str,
    mic_lost: bool,
    speaker_lost: bool,
    llm_unreachable: Option<&str>,
) -> String {
    match (mic_lost, speaker_lost, llm_unreachable) {
        (true, _, _) => "microphone lost, retrying".into(),
        (_, true, _) => "speaker lost, retrying".into(),
        (_, _, Some(reason)) if matches!(state, State::Idle | State::FollowUp | State::Error) => {
            format!("LLM unreachable: {reason}")
        }
        _ => state_text(state, words),
    }
}

/// Keeps `STATUS=` in step with the conversation's state, the devices and the LLM server,
/// logs each change as a journal record ([`events`]), and feeds the watchdog while the
/// pipeline makes progress. Runs until dropped (select it against the pipeline).
pub async fn serve(
    handle: Handle,
    words: String,
    capture: Watched<impl Fn() -> bool>,
    playback: Watched<impl Fn() -> bool>,
) {
    let mut state = handle.state();
    let mut llm = handle.llm_unreachable();
    let progress = handle.progress();
    let interval = watchdog_interval();
    if let Some(i) = interval {
        log::info!("systemd watchdog: a ping every {} ms", i.as_millis());
    }
    let mut ticker = tokio::time::interval(interval.unwrap_or(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut liveness = Liveness::default();
    let mut stalled: Option<&'static str> = None;
    let (mut mic_lost, mut speaker_lost) = (false, false);
    let mut current = *state.borrow_and_update();
    let mut unreachable: Option<String> = llm.borrow_and_update().clone();
    let mut shown = String::new();
    let mut show = |text: String| {
        if text != shown {
            status(&text);
            shown = text;
        }
    };
    loop {
        tokio::select! {
            changed = state.changed() => {
                if changed.is_err() {
                    // The pipeline is gone; nothing more to report.
                    std::future::pending::<()>().await;
                }
                current = *state.borrow_and_update();
                events::state(current, &state_text(current, &words));
            }
            changed = llm.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
                unreachable = llm.borrow_and_update().clone();
                events::llm(unreachable.as_deref());
            }
            _ = ticker.tick() => {
                let reopening = (capture.reopening)();
                if reopening != mic_lost {
                    mic_lost = reopening;
                    events::device(events::Device::Capture, &capture.name, mic_lost);
                }
                let reopening_speaker = (playback.reopening)();
                if reopening_speaker != speaker_lost {
                    speaker_lost = reopening_speaker;
                    events::device(events::Device::Playback, &playback.name, speaker_lost);
                }
                if interval.is_some() {
                    match liveness.check(&progress, mic_lost) {
                        Verdict::Alive => {
                            if let Some(stage) = stalled.take() {
                                log::warn!("the {stage} thread moves again; watchdog pings resume");
                            }
                            send(&[NotifyState::Watchdog]);
                        }
                        Verdict::Stalled(stage) => {
                            if stalled.is_none() {
                                log::error!(
                                    "the {stage} thread made no progress for {} ms: no watchdog ping (systemd restarts hearken if it stays stuck)",
                                    interval.unwrap_or_default().as_millis()
                                );
                                show(format!("stalled: the {stage} thread is stuck"));
                            }
                            stalled = Some(stage);
                        }
                    }
                }
                if stalled.is_some() {
                    continue;
                }
            }
        }
        show(status_text(
            current,
            &words,
            mic_lost,
            speaker_lost,
            unreachable.as_deref(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_needs_the_listener_and_the_output_to_move() {
        let p = StageProgress::default();
        let mut l = Liveness::default();
        assert_eq!(
            l.check(&p, false),
            Verdict::Alive,
            "first look only records"
        );
        p.listener.tick();
        p.output.tick();
        assert_eq!(l.check(&p, false), Verdict::Alive);
        p.output.tick();
        assert_eq!(
            l.check(&p, false),
            Verdict::Stalled("listener (or capture)")
        );
        p.output.tick();
        assert_eq!(
            l.check(&p, true),
            Verdict::Alive,
            "a reopening mic excuses it"
        );
        p.listener.tick();
        assert_eq!(l.check(&p, false), Verdict::Stalled("output"));
        // The controller moves only on events: not judged.
        p.listener.tick();
        p.output.tick();
        assert_eq!(l.check(&p, false), Verdict::Alive);
    }

    #[test]
    fn a_lost_device_then_an_unreachable_llm_show_over_the_state() {
        let reason = Some("connection refused (127.0.0.1:8080)");
        let shown = |state, mic, speaker, llm| status_text(state, "alexa", mic, speaker, llm);
        assert_eq!(
            shown(State::Idle, false, false, None),
            "listening for alexa"
        );
        assert_eq!(
            shown(State::Idle, false, false, reason),
            "LLM unreachable: connection refused (127.0.0.1:8080)"
        );
        // A turn under way shows itself; idle again, the outage shows until it clears.
        assert_eq!(shown(State::Thinking, false, false, reason), "thinking");
        assert_eq!(
            shown(State::Idle, true, false, reason),
            "microphone lost, retrying"
        );
        assert_eq!(
            shown(State::Speaking, false, true, None),
            "speaker lost, retrying"
        );
    }

    #[test]
    fn status_words() {
        assert_eq!(state_text(State::Idle, "alexa"), "listening for alexa");
        assert_eq!(state_text(State::Thinking, "alexa"), "thinking");
        assert_eq!(state_text(State::Muted, "alexa"), "muted");
    }
}
