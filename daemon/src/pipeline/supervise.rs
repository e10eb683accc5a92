//! Supervision: every pipeline thread reports its exit (and a panic's message) to the
//! controller, each stage keeps a progress counter for the service watchdog, and a repeating
//! engine error is counted against a budget instead of being played as an error cue forever.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::State;

/// A pipeline thread (or a daemon task: an accept loop) that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub stage: &'static str,
    /// The panic's message, if it panicked.
    pub panic: Option<String>,
    /// The error it gave up on, if it returned one.
    pub error: Option<String>,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.panic, &self.error) {
            (Some(message), _) => write!(f, "the {} thread panicked: {message}", self.stage),
            (None, Some(error)) => write!(f, "the {} thread failed: {error}", self.stage),
            (None, None) => write!(f, "the {} thread exited", self.stage),
        }
    }
}

/// What a supervised thread or task returns: nothing, or the error it gave up on.
pub trait Outcome {
    fn failure(self) -> Option<String>;
}

impl Outcome for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display> Outcome for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

fn exit_of<R: Outcome>(stage: &'static str, ended: std::thread::Result<R>) -> Exit {
    match ended {
        Ok(outcome) => Exit {
            stage,
            panic: None,
            error: outcome.failure(),
        },
        Err(p) => Exit {
            stage,
            panic: Some(panic_message(p.as_ref())),
            error: None,
        },
    }
}

/// Starts `f` on a named thread; whatever way it ends, `on_exit` hears about it.
pub fn spawn<R: Outcome>(
    stage: &'static str,
    on_exit: impl FnOnce(Exit) + Send + 'static,
    f: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("hearken-{stage}"))
        .spawn(move || {
            on_exit(exit_of(
                stage,
                std::panic::catch_unwind(AssertUnwindSafe(f)),
            ))
        })
}

/// [`spawn`] for a task on the current tokio runtime (an accept loop): whatever way it
/// ends, `on_exit` hears about it; aborting the task (a normal stop) reports nothing.
pub fn spawn_task<R: Outcome>(
    stage: &'static str,
    on_exit: impl FnOnce(Exit) + Send + 'static,
    task: impl std::future::Future<Output = R> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    use futures::FutureExt;
    tokio::spawn(async move {
        let ended = AssertUnwindSafe(task).catch_unwind().await;
        on_exit(exit_of(stage, ended));
    })
}

/// Whether an accept loop can go on after `e`. Running out of descriptors or memory, or
/// a client that gave up before it was accepted, passes; a listener that is no longer a
/// listening socket never comes back, and retrying it would leave a daemon that looks
/// alive but accepts nobody.
pub fn accept_can_go_on(e: &std::io::Error) -> bool {
    !matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT)
    )
}

/// Where the conversation loop is (the turn under way, the state), for the panic hook:
/// process-wide, as the hook is.
static LOOP_AT: Mutex<(Option<u64>, State)> = Mutex::new((None, State::Idle));

/// The loop entered `state` during `turn`.
pub fn entered(turn: Option<u64>, state: State) {
    *LOOP_AT.lock().unwrap_or_else(|e| e.into_inner()) = (turn, state);
}

/// Logs every panic, on whatever thread, as an error record naming the thread, the turn and
/// the state the loop was in (the journal then has it with the rest of the log, not only
/// on stderr), then runs the hook that was there before. Whether the process goes on is the
/// thread's supervisor's business: a pipeline stage's panic stops the loop
/// ([`spawn`]), an answer task's fails that answer.
pub fn log_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        // try_lock: the panic may have come while this thread held it.
        let at = LOOP_AT.try_lock().map(|at| *at).ok();
        let during = match at {
            Some((Some(turn), state)) => format!("during turn {turn} ({})", state_name(state)),
            Some((None, state)) => format!("with no turn under way ({})", state_name(state)),
            None => "while the loop's state was changing".into(),
        };
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        log::error!(
            "panic in thread `{name}` {during}: {}{location}",
            panic_message(info.payload())
        );
        previous(info);
    }));
}

fn state_name(state: State) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{state:?}"))
}

pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Waits up to `limit` for `threads` to end, handing every signal that arrives meanwhile
/// to `on_signal` (their exit reports among them); joins those that ended and leaves the
/// rest. Returns how many were still running.
pub async fn join_within<S>(
    threads: Vec<std::thread::JoinHandle<()>>,
    signals: &mut tokio::sync::mpsc::UnboundedReceiver<S>,
    limit: Duration,
    mut on_signal: impl FnMut(S),
) -> usize {
    let deadline = tokio::time::Instant::now() + limit;
    // A thread is finished just after it sent its exit: poll rather than count reports.
    let poll = Duration::from_millis(10);
    while threads.iter().any(|t| !t.is_finished()) && tokio::time::Instant::now() < deadline {
        let wake = deadline.min(tokio::time::Instant::now() + poll);
        match tokio::time::timeout_at(wake, signals.recv()).await {
            Ok(Some(signal)) => on_signal(signal),
            Ok(None) => tokio::time::sleep_until(wake).await,
            Err(_) => {}
        }
    }
    let mut running = 0;
    for t in threads {
        if t.is_finished() {
            let _ = t.join();
        } else {
            running += 1;
        }
    }
    running
}

/// How far a stage has got: bumped on every unit of work or idle wake-up, so a watchdog
/// can tell a stage that is alive from one that is stuck.
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    pub fn tick(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Progress of every stage of a running pipeline.
#[derive(Debug, Default)]
pub struct StageProgress {
    /// Capture frames the listener has taken.
    pub listener: Progress,
    /// Events the controller has handled.
    pub controller: Progress,
    /// TTS jobs taken.
    pub tts: Progress,
    /// Output loop rounds (at least every 50 ms while alive).
    pub output: Progress,
}

/// Engine errors within a sliding window: a few are logged and survived, more than
/// `max` within `window` mean the engine is broken for good.
#[derive(Debug)]
pub struct ErrorBudget {
    max: usize,
    window: Duration,
    seen: VecDeque<Instant>,
    last_logged: Option<Instant>,
    suppressed: usize,
}

/// What to do with one more error.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Log it (`suppressed` similar ones were not logged since the last).
    Log { suppressed: usize },
    /// Too many too often: log nothing more.
    Quiet,
    /// Over budget: give up.
    Exhausted { count: usize },
}

impl ErrorBudget {
    pub fn new(max: usize, window: Duration) -> Self {
        ErrorBudget {
            max,
            window,
            seen: VecDeque::new(),
            last_logged: None,
            suppressed: 0,
        }
    }

    pub fn record(&mut self, at: Instant) -> Verdict {
        while self
            .seen
            .front()
            .is_some_and(|&t| at.duration_since(t) > self.window)
        {
            self.seen.pop_front();
        }
        self.seen.push_back(at);
        if self.seen.len() > self.max {
            return Verdict::Exhausted {
                count: self.seen.len(),
            };
        }
        // At most one log line a second.
        if self
            .last_logged
            .is_some_and(|t| at.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return Verdict::Quiet;
        }
        self.last_logged = Some(at);
        Verdict::Log {
            suppressed: std::mem::take(&mut self.suppressed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A stage body that panics: its type says what a stage returns.
    fn panics(message: &'static str) -> impl FnOnce() + Send {
        move || panic!("{message}")
    }

    #[test]
    fn a_panicking_thread_reports_its_stage_and_message() {
        let (tx, rx) = mpsc::channel();
        let t = spawn(
            "listener",
            move |e| tx.send(e).unwrap(),
            panics("wake model exploded"),
        )
        .unwrap();
        t.join().unwrap();
        let exit = rx.recv().unwrap();
        assert_eq!(exit.stage, "listener");
        assert_eq!(exit.panic.as_deref(), Some("wake model exploded"));
        assert_eq!(
            exit.to_string(),
            "the listener thread panicked: wake model exploded"
        );
    }

    #[test]
    fn a_returning_thread_reports_a_plain_exit() {
        let (tx, rx) = mpsc::channel();
        spawn("tts", move |e| tx.send(e).unwrap(), || {})
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(rx.recv().unwrap().panic, None);
    }

    #[test]
    fn a_thread_that_gives_up_reports_its_error() {
        let (tx, rx) = mpsc::channel();
        spawn(
            "button",
            move |e| tx.send(e).unwrap(),
            || Err::<(), _>("/dev/gpiochip0 line 17: No such device"),
        )
        .unwrap()
        .join()
        .unwrap();
        assert_eq!(
            rx.recv().unwrap().to_string(),
            "the button thread failed: /dev/gpiochip0 line 17: No such device"
        );
    }

    #[test]
    fn a_panicking_task_reports_its_stage_and_an_aborted_one_nothing() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (tx, rx) = mpsc::channel();
        let t = tx.clone();
        runtime.block_on(async move {
            let _ = spawn_task("api", move |e| t.send(e).unwrap(), async {
                panics("router state poisoned")()
            })
            .await;
            let aborted = spawn_task(
                "wyoming satellite",
                move |e| tx.send(e).unwrap(),
                std::future::pending::<()>(),
            );
            aborted.abort();
            let _ = aborted.await;
        });
        let exit = rx.recv().unwrap();
        assert_eq!(exit.stage, "api");
        assert_eq!(exit.panic.as_deref(), Some("router state poisoned"));
        assert!(rx.recv().is_err(), "the aborted task reported an exit");
    }

    #[test]
    fn accept_goes_on_after_running_out_of_descriptors_only() {
        let os = std::io::Error::from_raw_os_error;
        assert!(accept_can_go_on(&os(libc::EMFILE)));
        assert!(accept_can_go_on(&os(libc::ECONNABORTED)));
        assert!(!accept_can_go_on(&os(libc::EBADF)));
        assert!(!accept_can_go_on(&os(libc::EINVAL)));
    }

    #[test]
    fn errors_are_rate_limited_then_exhaust_the_budget() {
        let mut b = ErrorBudget::new(10, Duration::from_secs(10));
        let t0 = Instant::now();
        let frame = Duration::from_millis(80);
        let verdicts: Vec<Verdict> = (0..11).map(|i| b.record(t0 + frame * i)).collect();
        assert_eq!(verdicts[0], Verdict::Log { suppressed: 0 });
        assert!(verdicts[1..10].iter().all(|v| *v == Verdict::Quiet));
        assert_eq!(verdicts[10], Verdict::Exhausted { count: 11 });
    }

    #[test]
    fn errors_spread_over_time_never_exhaust_it() {
        let mut b = ErrorBudget::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..20 {
            let v = b.record(t0 + Duration::from_secs(5) * i);
            assert!(matches!(v, Verdict::Log { .. }), "{i}: {v:?}");
        }
    }
}
