//! A stage that dies never leaves a daemon that runs but no longer listens: the loop stops
//! with an error naming the stage (and `hearken run` exits non-zero, so systemd restarts
//! it), and the panic is an error record naming the thread, the turn and the state. The real loop, real models and real file-backed ALSA devices, with one engine
//! wrapped to fail the way a broken model or a bug would.

mod common;

use common::llm_url;
use common::rig::{config, conversation, rig, run_with, run_with_setup, Part};
use futures::stream::{BoxStream, StreamExt};
use hearken::hw::{self, Button, Edge, Frame, HwError, Leds};
use hearken::llm::{ChatMessage, ChatModel, LlmError};
use hearken::pipeline::{self, Engines, PipelineError};
use hearken::tts::{Synthesizer, TtsError};
use hearken::vad::{VadError, VadEvent, VoiceDetector};
use hearken::wake::{Detection, WakeEngine, WakeError};
use tokio_util::sync::CancellationToken;

/// Frames of 80 ms before a wrapped engine breaks: about 2.4 s into the recording.
const BREAK_AT: usize = 30;

struct WakePanics {
    inner: Box<dyn WakeEngine>,
    frames: usize,
}

impl WakeEngine for WakePanics {
    fn process(&mut self, frame: &[i16]) -> Result<Vec<Detection>, WakeError> {
        self.frames += 1;
        if self.frames == BREAK_AT {
            panic!("wake word model state corrupted");
        }
        self.inner.process(frame)
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
}

struct VadFails {
    inner: Box<dyn VoiceDetector>,
    calls: usize,
}

impl VoiceDetector for VadFails {
    fn process(&mut self, samples: &[i16]) -> Result<Vec<VadEvent>, VadError> {
        self.calls += 1;
        if self.calls >= BREAK_AT {
            return Err(VadError::Inference {
                path: "silero_vad.onnx".into(),
                message: "output tensor has shape [0]".into(),
            });
        }
        self.inner.process(samples)
    }
    fn in_speech(&self) -> bool {
        self.inner.in_speech()
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
}

/// The LLM client with a bug that panics on its first answer.
struct LlmPanicsOnce {
    inner: std::sync::Arc<dyn ChatModel>,
    calls: std::sync::atomic::AtomicUsize,
}

impl ChatModel for LlmPanicsOnce {
    fn stream(
        &self,
        messages: Vec<ChatMessage>,
        cancel: CancellationToken,
    ) -> BoxStream<'static, Result<String, LlmError>> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return futures::stream::once(async { panic!("stream parser index out of range") })
                .boxed();
        }
        self.inner.stream(messages, cancel)
    }
}

struct TtsPanics {
    inner: Box<dyn Synthesizer>,
}

impl Synthesizer for TtsPanics {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }
    fn synthesize(
        &mut self,
        _text: &str,
        _sink: &mut dyn FnMut(&[i16]) -> bool,
    ) -> Result<(), TtsError> {
        panic!("voice model returned no audio tensor");
    }
}

/// The error records of this process (the panic hook's among them).
struct Errors(std::sync::Mutex<Vec<String>>);

impl log::Log for Errors {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Error
    }
    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

static ERRORS: Errors = Errors(std::sync::Mutex::new(Vec::new()));

/// Installs the daemon's panic hook (as `hearken` does at start) and a logger keeping the
/// error records.
fn logged_panics() -> &'static Errors {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&ERRORS).unwrap();
        log::set_max_level(log::LevelFilter::Error);
        hearken::pipeline::supervise::log_panics();
    });
    &ERRORS
}

/// The loop stopped because `stage` died, and its error says `says`.
fn died_at(err: &PipelineError, stage: &str, says: &str) {
    let message = err.to_string();
    eprintln!("{message}");
    assert!(
        matches!(err, PipelineError::StageDied { exit, .. } if exit.stage == stage),
        "{err:?}"
    );
    assert!(message.contains(says), "{message}");
}

/// The panic hook's error record of the panic whose message holds `message`.
fn panic_record(message: &str) -> String {
    let errors = logged_panics().0.lock().unwrap().clone();
    errors
        .iter()
        .find(|l| l.contains(message))
        .cloned()
        .unwrap_or_else(|| panic!("no panic record in {errors:?}"))
}

fn engines(llm: &str) -> (hearken::config::Config, Engines) {
    // Before the rig's own logger can take the place.
    logged_panics();
    let config = config(llm);
    let engines = pipeline::build_engines(&config).unwrap();
    (config, engines)
}

/// A question, then a long silence the loop never reaches the end of.
fn question() -> Vec<i16> {
    conversation(&[Part::Say("alexa_capital"), Part::Silence(20.0)])
}

#[test]
fn a_listener_panic_stops_the_loop_naming_the_stage() {
    let rig = rig();
    let (config, mut engines) = engines(&llm_url());
    engines.wake = Box::new(WakePanics {
        inner: engines.wake,
        frames: 0,
    });
    let err = run_with(&rig, &config, engines, &question(), |_| {}).unwrap_err();
    died_at(
        &err,
        "listener",
        "the listener thread panicked: wake word model state corrupted",
    );
    // The record names the thread and where the conversation was: the question after the
    // wake word was being heard.
    let record = panic_record("wake word model state corrupted");
    assert!(
        record.starts_with("panic in thread `hearken-listener` during turn 1 (listening): "),
        "{record}"
    );
    assert!(record.contains("supervision.rs:"), "{record}");
}

#[test]
fn a_tts_thread_panic_stops_the_loop_naming_the_stage() {
    let rig = rig();
    let (config, mut engines) = engines(&llm_url());
    engines.tts = Box::new(TtsPanics { inner: engines.tts });
    let err = run_with(&rig, &config, engines, &question(), |_| {}).unwrap_err();
    died_at(&err, "tts", "voice model returned no audio tensor");
    let record = panic_record("voice model returned no audio tensor");
    // The answer was being spoken when the voice broke.
    assert!(
        record.starts_with("panic in thread `hearken-tts` during turn 1 ("),
        "{record}"
    );
}

#[test]
fn a_vad_that_keeps_failing_stops_the_loop_after_its_error_budget() {
    let rig = rig();
    let (config, mut engines) = engines(&llm_url());
    engines.vad = Box::new(VadFails {
        inner: engines.vad,
        calls: 0,
    });
    let err = run_with(&rig, &config, engines, &question(), |_| {}).unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    assert!(
        matches!(err, PipelineError::EngineErrors { count: 11, .. }),
        "{err:?}"
    );
    assert!(message.contains("output tensor has shape [0]"), "{message}");
}

#[test]
fn the_capture_thread_ending_stops_a_live_loop() {
    let rig = rig();
    let (config, engines) = engines(&llm_url());
    // The capture thread ends with its input, as it would if it died: the daemon must
    // not sit there deaf.
    rig.live.store(true, std::sync::atomic::Ordering::SeqCst);
    let input = conversation(&[Part::Silence(3.0)]);
    let result = run_with(&rig, &config, engines, &input, |_| {});
    rig.live.store(false, std::sync::atomic::Ordering::SeqCst);
    let err = result.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, PipelineError::InputEnded { .. }), "{err:?}");
    assert!(err.to_string().contains("the microphone's input ended"));
}

#[test]
fn an_answer_task_panic_fails_that_answer_only_and_the_next_turn_is_answered() {
    let rig = rig();
    logged_panics();
    // Patient with the server on shared cores: the second answer must not time out.
    let config = common::rig::config_with(
        &llm_url(),
        "first_token_timeout_s = 60.0\nanswer_timeout_s = 180.0",
        "",
    );
    let mut engines = pipeline::build_engines(&config).unwrap();
    engines.llm = std::sync::Arc::new(LlmPanicsOnce {
        inner: engines.llm,
        calls: Default::default(),
    });
    let input = conversation(&[
        Part::Say("alexa_capital"),
        Part::Silence(4.0),
        Part::Say("alexa_sum"),
        Part::Silence(8.0),
    ]);
    let turns = run_with(&rig, &config, engines, &input, |_| {}).expect("the loop goes on");
    for t in &turns {
        eprintln!("{}", t.json_line());
    }
    assert_eq!(turns.len(), 2, "{turns:?}");
    let broken = &turns[0];
    assert!(
        broken.error.as_deref().is_some_and(
            |e| e.contains("the answer task panicked: stream parser index out of range")
        ),
        "{broken:?}"
    );
    let next = &turns[1];
    assert!(next.error.is_none() && !next.fallback, "{next:?}");
    assert!(!next.reply.trim().is_empty(), "{next:?}");
    let record = panic_record("stream parser index out of range");
    assert!(record.contains("during turn 1 (thinking)"), "{record}");
}

/// A talk button on a GPIO chip that goes away 2 s in (a USB GPIO expander unplugged):
/// waiting on its line then fails as the cdev backend's does, with the kernel's ENODEV.
struct ButtonOnAChipThatGoes {
    start: std::time::Instant,
}

impl Button for ButtonOnAChipThatGoes {
    fn now(&self) -> std::time::Duration {
        self.start.elapsed()
    }
    fn wait_edge(&mut self, timeout: std::time::Duration) -> Result<Option<Edge>, HwError> {
        if self.start.elapsed() < std::time::Duration::from_secs(2) {
            std::thread::sleep(timeout);
            return Ok(None);
        }
        Err(HwError::Device {
            device: "GPIO button".into(),
            message: std::io::Error::from_raw_os_error(libc::ENODEV).to_string(),
        })
    }
}

/// LEDs whose driver has a bug that panics on the 30th frame (1 s in at 30 fps).
struct LedsPanic {
    frames: usize,
}

impl Leds for LedsPanic {
    fn count(&self) -> usize {
        3
    }
    fn show(&mut self, _frame: &Frame) -> Result<(), HwError> {
        self.frames += 1;
        if self.frames == 30 {
            panic!("LED frame index out of range");
        }
        Ok(())
    }
    fn off(&mut self) -> Result<(), HwError> {
        Ok(())
    }
}

/// The loop with the board's threads started on it as `hearken run` starts them.
fn run_with_board(parts: hw::Parts) -> PipelineError {
    let rig = rig();
    let (config, engines) = engines(&llm_url());
    let mut board = None;
    let result = run_with_setup(
        &rig,
        &config,
        engines,
        &question(),
        |pipeline| board = Some(hw::Hw::start(parts, &config.hw, &pipeline.handle()).unwrap()),
        |_| {},
    );
    board.expect("the board started").stop();
    result.unwrap_err()
}

#[test]
fn a_button_whose_gpio_chip_went_away_stops_the_loop_naming_the_stage() {
    let err = run_with_board(hw::Parts {
        leds: None,
        button: Some(Box::new(ButtonOnAChipThatGoes {
            start: std::time::Instant::now(),
        })),
    });
    died_at(
        &err,
        "button",
        "the button thread failed: GPIO button: No such device",
    );
}

#[test]
fn an_led_thread_panic_stops_the_loop_naming_the_stage() {
    let err = run_with_board(hw::Parts {
        leds: Some(Box::new(LedsPanic { frames: 0 })),
        button: None,
    });
    died_at(
        &err,
        "leds",
        "the leds thread panicked: LED frame index out of range",
    );
    let record = panic_record("LED frame index out of range");
    assert!(
        record.starts_with("panic in thread `hearken-leds` "),
        "{record}"
    );
}
