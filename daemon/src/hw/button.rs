//! The talk button: a pure classifier from raw timed edges (bounces included) to gestures,
//! the mapping from a gesture and the conversation's state to an action, and the thread
//! that drives a [`Button`] backend into a pipeline [`Handle`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Button, HwError};
use crate::config::checked;
use crate::pipeline::supervise;
use crate::pipeline::{Handle, State};

/// What a double press does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoublePress {
    /// Stop the answer (or the turn being listened to), as a press while speaking does.
    Stop,
    /// Nothing: presses are reported at once, without waiting for a second one.
    None,
}

/// `[hw.button]`: timing thresholds and the double press's action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ButtonConfig {
    /// A level must hold this long to count as an edge (contact bounce is shorter).
    #[serde(deserialize_with = "checked::u32_in::<_, 0, 500>")]
    pub debounce_ms: u32,
    /// Held this long, a press is a long press (mute toggle), reported while still held.
    #[serde(deserialize_with = "checked::u32_in::<_, 200, 10_000>")]
    pub long_press_ms: u32,
    /// A second press starting within this long after a release is a double press.
    #[serde(deserialize_with = "checked::u32_in::<_, 50, 2_000>")]
    pub double_press_ms: u32,
    pub double_press: DoublePress,
}

impl Default for ButtonConfig {
    fn default() -> Self {
        ButtonConfig {
            debounce_ms: 30,
            long_press_ms: 1000,
            double_press_ms: 400,
            double_press: DoublePress::Stop,
        }
    }
}

/// What the classifier recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gesture {
    /// A short press (reported on release, or once the double-press window closed).
    Press,
    /// Two short presses, reported as the second one goes down.
    DoublePress,
    /// Held for `long_press_ms`: reported at that moment, while still held.
    LongPress,
    /// The release that ends a long press, with how long the button was held.
    HoldEnd { held: Duration },
}

/// Debounce and gesture recognition over timed raw edges. Pure: time is whatever clock the
/// edges are stamped in; [`Classifier::advance`] lets timeouts (debounce settling, long
/// press, the double-press window) fire without an edge.
#[derive(Debug, Clone)]
pub struct Classifier {
    debounce: Duration,
    long_press: Duration,
    /// `None`: double presses are off.
    double_press: Option<Duration>,
    /// The debounced level.
    stable: bool,
    /// The last raw level and when it began.
    raw: bool,
    raw_at: Duration,
    /// When the debounced press began.
    down_at: Option<Duration>,
    long_fired: bool,
    /// A short press released at this time, waiting to see if a second one comes.
    pending: Option<Duration>,
    /// The second press of a double press: its release reports nothing.
    swallow: bool,
}

impl Classifier {
    pub fn new(config: &ButtonConfig) -> Self {
        Classifier {
            debounce: Duration::from_millis(config.debounce_ms.into()),
            long_press: Duration::from_millis(config.long_press_ms.into()),
            double_press: (config.double_press != DoublePress::None)
                .then(|| Duration::from_millis(config.double_press_ms.into())),
            stable: false,
            raw: false,
            raw_at: Duration::ZERO,
            down_at: None,
            long_fired: false,
            pending: None,
            swallow: false,
        }
    }

    /// Whether the button is (debounced) held.
    pub fn pressed(&self) -> bool {
        self.stable
    }

    /// A raw edge: the line went to `pressed` at `at` (edges must come in time order).
    pub fn edge(&mut self, at: Duration, pressed: bool) -> Vec<Gesture> {
        let mut out = self.advance(at);
        if pressed != self.raw {
            self.raw = pressed;
            self.raw_at = at;
        }
        // A zero debounce settles at once.
        out.extend(self.advance(at));
        out
    }

    /// Lets the clock reach `now`: fires every timeout due by then, in time order.
    pub fn advance(&mut self, now: Duration) -> Vec<Gesture> {
        let mut out = Vec::new();
        while let Some((due, what)) = self.next() {
            if due > now {
                break;
            }
            match what {
                Due::Settle => self.settle(&mut out),
                Due::Long => {
                    self.long_fired = true;
                    out.push(Gesture::LongPress);
                }
                Due::Single => {
                    self.pending = None;
                    out.push(Gesture::Press);
                }
            }
        }
        out
    }

    /// When the next timeout is due, if any (the driver waits for an edge until then).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.next().map(|(at, _)| at)
    }

    fn next(&self) -> Option<(Duration, Due)> {
        let settle = (self.raw != self.stable).then(|| (self.raw_at + self.debounce, Due::Settle));
        let long = match self.down_at {
            // Not while a release is settling: a bounce back keeps it due, a release ends it.
            Some(down) if self.stable && self.raw && !self.long_fired => {
                Some((down + self.long_press, Due::Long))
            }
            _ => None,
        };
        let single = self
            .pending
            .zip(self.double_press)
            .map(|(released, window)| (released + window, Due::Single));
        [settle, long, single]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }

    /// The raw level held for the debounce time: it is the new level, from its raw edge.
    fn settle(&mut self, out: &mut Vec<Gesture>) {
        self.stable = self.raw;
        let at = self.raw_at;
        if self.stable {
            self.down_at = Some(at);
            self.long_fired = false;
            if let (Some(released), Some(window)) = (self.pending, self.double_press) {
                if at <= released + window {
                    self.pending = None;
                    self.swallow = true;
                    // Its hold is not a long press either.
                    self.long_fired = true;
                    out.push(Gesture::DoublePress);
                }
            }
            return;
        }
        let held = self.down_at.take().map_or(Duration::ZERO, |d| at - d);
        if std::mem::take(&mut self.swallow) {
            return;
        }
        if self.long_fired {
            out.push(Gesture::HoldEnd { held });
        } else if self.double_press.is_some() {
            self.pending = Some(at);
        } else {
            out.push(Gesture::Press);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Due {
    Settle,
    Long,
    Single,
}

/// What the button asks of the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start a turn (push-to-talk).
    Talk,
    /// Cut the answer (or the turn being listened to) without starting another.
    Stop,
    Mute(bool),
}

/// The button's meaning in each state: a press while idle talks, while listening, thinking
/// or speaking stops; a long press toggles mute; a double press does what the config says.
/// A short press while muted does nothing (the LEDs say muted; a long press unmutes).
pub fn action(gesture: Gesture, state: State, double: DoublePress) -> Option<Action> {
    let busy = matches!(state, State::Listening | State::Thinking | State::Speaking);
    match gesture {
        Gesture::LongPress => Some(Action::Mute(state != State::Muted)),
        Gesture::HoldEnd { .. } => None,
        _ if state == State::Muted => None,
        Gesture::Press if busy => Some(Action::Stop),
        Gesture::Press => Some(Action::Talk),
        Gesture::DoublePress => match double {
            DoublePress::Stop => busy.then_some(Action::Stop),
            DoublePress::None => None,
        },
    }
}

/// Carries an action out through the pipeline's handle.
pub fn apply(action: Action, handle: &Handle) {
    match action {
        Action::Talk => handle.push_to_talk(),
        Action::Stop => handle.stop_answer(),
        Action::Mute(m) => handle.mute(m),
    }
}

/// The longest the button thread waits before checking `stop`.
const POLL: Duration = Duration::from_millis(50);

/// The button thread's body: waits for edges (interrupts on real hardware), classifies
/// them and drives `handle`, until `stop`. `on_gesture` sees every gesture (for `hw test`
/// and logs). Returns the backend's error if reading the line fails.
pub fn drive(
    mut button: Box<dyn Button>,
    config: &ButtonConfig,
    handle: Option<&Handle>,
    stop: &AtomicBool,
    mut on_gesture: impl FnMut(Gesture, State, Option<Action>),
) -> Result<(), HwError> {
    let mut classifier = Classifier::new(config);
    let state = handle.map(|h| h.state());
    // The classifier's time only goes forward: an edge stamped before the last timeout
    // the driver let fire counts from that moment.
    let mut last = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let now = button.now();
        let wait = classifier
            .next_deadline()
            .map_or(POLL, |due| due.saturating_sub(now).min(POLL));
        let gestures = match button.wait_edge(wait)? {
            Some(edge) => {
                last = last.max(edge.at);
                classifier.edge(last, edge.pressed)
            }
            None => {
                last = last.max(button.now());
                classifier.advance(last)
            }
        };
        for g in gestures {
            let s = state.as_ref().map_or(State::Idle, |s| *s.borrow());
            let act = action(g, s, config.double_press);
            log::info!("button: {g:?} while {s:?} -> {act:?}");
            if let (Some(a), Some(h)) = (act, handle) {
                apply(a, h);
            }
            on_gesture(g, s, act);
        }
    }
    Ok(())
}

/// A running button thread; stops (and is joined) when dropped.
pub struct ButtonThread {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ButtonThread {
    /// A button that stops working (its GPIO chip gone) or a panic stops the loop
    /// `handle` drives ([`Handle::stage_died`]): a daemon whose button no longer works must
    /// not look healthy, and a restart opens the line again or says why it cannot.
    pub fn spawn(
        button: Box<dyn Button>,
        config: ButtonConfig,
        handle: Handle,
    ) -> std::io::Result<ButtonThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = supervise::spawn("button", handle.on_failure(), move || {
            drive(button, &config, Some(&handle), &flag, |_, _, _| {})
        })?;
        Ok(ButtonThread {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ButtonThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Feeds `(t_ms, pressed)` edges, then lets the clock run to `end_ms`; returns each
    /// gesture with the time (ms) the classifier reported it (the edge's or the timeout's).
    fn run(config: &ButtonConfig, edges: &[(u64, bool)], end_ms: u64) -> Vec<(u64, Gesture)> {
        let mut c = Classifier::new(config);
        let mut out = Vec::new();
        for &(t, level) in edges {
            // Timeouts due before this edge fire first, at their own time.
            while let Some(due) = c.next_deadline().filter(|d| *d < ms(t)) {
                for g in c.advance(due) {
                    out.push((due.as_millis() as u64, g));
                }
            }
            for g in c.edge(ms(t), level) {
                out.push((t, g));
            }
        }
        while let Some(due) = c.next_deadline().filter(|d| *d <= ms(end_ms)) {
            for g in c.advance(due) {
                out.push((due.as_millis() as u64, g));
            }
        }
        out
    }

    /// A contact that bounces for a few ms before it settles on `level` at `t`.
    fn bouncy(t: u64, level: bool) -> Vec<(u64, bool)> {
        vec![
            (t, level),
            (t + 2, !level),
            (t + 3, level),
            (t + 7, !level),
            (t + 9, level),
        ]
    }

    fn no_double() -> ButtonConfig {
        ButtonConfig {
            double_press: DoublePress::None,
            ..ButtonConfig::default()
        }
    }

    #[test]
    fn a_bouncy_short_press_is_one_press_reported_on_release() {
        let mut edges = bouncy(100, true);
        edges.extend(bouncy(300, false));
        // Without double presses: at once, when the release has settled (last bounce at
        // 309 + 30 ms debounce).
        assert_eq!(run(&no_double(), &edges, 2000), vec![(339, Gesture::Press)]);
        // With them: once the 400 ms window after the release (at 309) has closed.
        assert_eq!(
            run(&ButtonConfig::default(), &edges, 2000),
            vec![(709, Gesture::Press)]
        );
    }

    #[test]
    fn glitches_shorter_than_the_debounce_are_ignored() {
        // 20 ms spikes, and a 25 ms dip during a press.
        let edges = [
            (100, true),
            (120, false),
            (500, true),
            (520, false),
            (1000, true),
            (1100, false),
            (1125, true),
            (1300, false),
        ];
        assert_eq!(
            run(&no_double(), &edges, 3000),
            vec![(1330, Gesture::Press)]
        );
        // A longer debounce also swallows what a short one takes as two presses.
        let edges = [(100, true), (160, false), (200, true), (260, false)];
        assert_eq!(run(&no_double(), &edges, 1000).len(), 2);
        let slow = ButtonConfig {
            debounce_ms: 100,
            ..no_double()
        };
        assert!(run(&slow, &edges, 1000).is_empty());
    }

    #[test]
    fn a_long_press_is_reported_while_held_then_its_release() {
        let mut edges = bouncy(100, true);
        edges.extend(bouncy(2500, false));
        // Long from the press's own edge (109, its last bounce), not from the debounce.
        assert_eq!(
            run(&ButtonConfig::default(), &edges, 5000),
            vec![
                (1109, Gesture::LongPress),
                (2539, Gesture::HoldEnd { held: ms(2400) }),
            ]
        );
        // Released just before the threshold: a short press.
        let edges = [(0, true), (990, false)];
        assert_eq!(
            run(&no_double(), &edges, 3000),
            vec![(1020, Gesture::Press)]
        );
    }

    #[test]
    fn two_presses_within_the_window_are_a_double_press() {
        let mut edges = bouncy(100, true);
        edges.extend(bouncy(200, false));
        edges.extend(bouncy(450, true));
        edges.extend(bouncy(550, false));
        // Reported as the second press settles; its release adds nothing, and no single
        // press is left over.
        assert_eq!(
            run(&ButtonConfig::default(), &edges, 3000),
            vec![(489, Gesture::DoublePress)]
        );
        // The second press after the window: two presses.
        let edges = [(100, true), (200, false), (800, true), (900, false)];
        assert_eq!(
            run(&ButtonConfig::default(), &edges, 3000),
            vec![(600, Gesture::Press), (1300, Gesture::Press)]
        );
        // Double presses off: two presses, each at its release.
        let edges = [(100, true), (200, false), (450, true), (550, false)];
        assert_eq!(
            run(&no_double(), &edges, 3000),
            vec![(230, Gesture::Press), (580, Gesture::Press)]
        );
        // A double press whose second press is held is not also a long press.
        let edges = [(100, true), (200, false), (450, true), (3000, false)];
        assert_eq!(
            run(&ButtonConfig::default(), &edges, 5000),
            vec![(480, Gesture::DoublePress)]
        );
    }

    #[test]
    fn zero_debounce_takes_every_edge() {
        let cfg = ButtonConfig {
            debounce_ms: 0,
            ..no_double()
        };
        assert_eq!(
            run(&cfg, &[(100, true), (102, false)], 1000),
            vec![(102, Gesture::Press)]
        );
    }

    #[test]
    fn actions_follow_the_state() {
        use Action::*;
        use Gesture::*;
        let d = super::DoublePress::Stop;
        assert_eq!(action(Press, State::Idle, d), Some(Talk));
        assert_eq!(action(Press, State::FollowUp, d), Some(Talk));
        assert_eq!(action(Press, State::Error, d), Some(Talk));
        for busy in [State::Listening, State::Thinking, State::Speaking] {
            assert_eq!(action(Press, busy, d), Some(Stop));
            assert_eq!(action(DoublePress, busy, d), Some(Stop));
            assert_eq!(action(DoublePress, busy, super::DoublePress::None), None);
        }
        assert_eq!(action(DoublePress, State::Idle, d), None);
        assert_eq!(action(LongPress, State::Idle, d), Some(Mute(true)));
        assert_eq!(action(LongPress, State::Speaking, d), Some(Mute(true)));
        assert_eq!(action(LongPress, State::Muted, d), Some(Mute(false)));
        assert_eq!(action(Press, State::Muted, d), None);
        assert_eq!(action(HoldEnd { held: ms(1500) }, State::Muted, d), None);
    }
}
