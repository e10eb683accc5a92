//! `WS /v1/voice`: the voice loop for a remote client, on the daemon's own ASR, LLM and TTS
//! code ([`crate::asr::build`], [`speak_once_until`]) with a history of its own, so a
//! remote turn and a microphone turn never share state. The protocol is in README.md
//! ("The local API").
//!
//! One session at a time (`busy` otherwise): it loads its own recognizer (the listener
//! thread owns the daemon's) and a voice for each answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use futures::stream::{BoxStream, SplitSink};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::listen::ClientSlot;
use super::Api;
use crate::asr::{AsrEvent, Recognizer};
use crate::config::Config;
use crate::llm::{ChatMessage, ChatModel, History, LlmError};
use crate::models::ModelStore;
use crate::pipeline::{
    speak_once_until, timeline::stamp, MemorySpeaker, Outcome, Speaker, Speech, Spoken, Timeline,
};

/// The only rate the client may send: the recognizer's.
pub const SAMPLE_RATE: u32 = 16_000;
/// Audio chunks waiting for a client that does not read; past this it is disconnected.
const AUDIO_BACKLOG: usize = 512;
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Incoming {
    Start { sample_rate: u32 },
    Stop,
    BargeIn,
}

pub async fn upgrade(
    State(api): State<Api>,
    Extension(slot): Extension<ClientSlot>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(api.max_frame_bytes)
        .max_frame_size(api.max_frame_bytes)
        .on_upgrade(move |socket| async move {
            let busy = api.voice.clone().try_acquire_owned();
            let (tx, rx) = socket.split();
            let mut session = Session::new(api, tx);
            match busy {
                Ok(_one) => session.run(rx).await,
                Err(_) => {
                    session
                        .error("busy", "another voice session is running; try again later")
                        .await;
                }
            }
            drop(slot);
        })
}

/// An answer being spoken, and what it sends on the way.
struct Answering {
    barge_in: CancellationToken,
    text: mpsc::UnboundedReceiver<String>,
    audio: mpsc::Receiver<(u32, Vec<i16>)>,
    done: tokio::task::JoinHandle<Result<(Spoken, u32), String>>,
    question: String,
    timeline: Timeline,
}

struct Session {
    api: Api,
    tx: SplitSink<WebSocket, Message>,
    asr: Option<Box<dyn Recognizer>>,
    listening: bool,
    history: History,
    answering: Option<Answering>,
    /// When the utterance being listened to started (the timeline's origin).
    started: Option<Instant>,
    closed: bool,
}

impl Session {
    fn new(api: Api, tx: SplitSink<WebSocket, Message>) -> Self {
        let history = History::new(api.config.llm.history_tokens as usize);
        Session {
            api,
            tx,
            asr: None,
            listening: false,
            history,
            answering: None,
            started: None,
            closed: false,
        }
    }

    async fn run(&mut self, mut rx: futures::stream::SplitStream<WebSocket>) {
        while !self.closed {
            tokio::select! {
                message = rx.next() => match message {
                    Some(Ok(Message::Text(text))) => self.on_text(&text).await,
                    Some(Ok(Message::Binary(bytes))) => self.on_audio(&bytes).await,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
                out = next_output(self.answering.as_mut()) => match out {
                    Output::Text(delta) => {
                        self.send(json!({"type": "assistant_text", "delta": delta})).await
                    }
                    Output::Audio(rate, samples) => self.send_audio(rate, samples).await,
                    Output::Done(done) => self.on_done(*done).await,
                },
            }
        }
        if let Some(a) = self.answering.take() {
            a.barge_in.cancel();
        }
    }

    async fn on_text(&mut self, text: &str) {
        let message = match serde_json::from_str::<Incoming>(text) {
            Ok(m) => m,
            Err(e) => {
                let code = if e.is_syntax() || e.is_eof() {
                    "malformed_json"
                } else if e.to_string().contains("unknown variant") {
                    "unknown_type"
                } else {
                    "invalid_message"
                };
                return self.error(code, &e.to_string()).await;
            }
        };
        match message {
            Incoming::Start { sample_rate } if sample_rate != SAMPLE_RATE => {
                self.error(
                    "bad_sample_rate",
                    &format!("sample_rate {sample_rate} is not supported: send 16-bit mono PCM at {SAMPLE_RATE} Hz"),
                )
                .await
            }
            Incoming::Start { .. } => self.start().await,
            Incoming::Stop if self.listening => {
                self.listening = false;
                let speech_end = Instant::now();
                let finished = self.with_asr(|asr| asr.finish()).await;
                match finished {
                    Ok(text) => self.answer(text, speech_end).await,
                    Err(e) => self.error("asr_failed", &e).await,
                }
            }
            Incoming::Stop => self.error("not_started", "\"stop\" before \"start\"").await,
            Incoming::BargeIn => {
                if let Some(a) = &self.answering {
                    a.barge_in.cancel();
                }
            }
        }
    }

    async fn start(&mut self) {
        // A new question cuts off the answer still playing, as the wake word does.
        if let Some(a) = &self.answering {
            a.barge_in.cancel();
        }
        if self.asr.is_none() {
            let config = self.api.config.clone();
            let built = tokio::task::spawn_blocking(move || {
                let store = ModelStore::new(&config.models);
                crate::asr::build(&config.asr, &config.vad, &store).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match built {
                Ok(asr) => self.asr = Some(asr),
                Err(e) => return self.error("asr_failed", &e).await,
            }
        }
        let _ = self
            .with_asr(|asr| {
                asr.begin();
                Ok(String::new())
            })
            .await;
        self.listening = true;
        self.started = Some(Instant::now());
        self.send(json!({"type": "started", "sample_rate": SAMPLE_RATE}))
            .await;
    }

    async fn on_audio(&mut self, bytes: &[u8]) {
        if !self.listening {
            return self
                .error(
                    "not_started",
                    "audio before \"start\": send {\"type\":\"start\",\"sample_rate\":16000} first",
                )
                .await;
        }
        if bytes.len() % 2 != 0 {
            return self
                .error("bad_frame", "an audio frame must hold whole 16-bit samples")
                .await;
        }
        let samples: Vec<f32> = bytes
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        let Some(mut asr) = self.asr.take() else {
            return;
        };
        let (asr, events) = tokio::task::spawn_blocking(move || {
            let events = asr.feed(&samples);
            (asr, events)
        })
        .await
        .expect("the ASR task does not panic");
        self.asr = Some(asr);
        match events {
            Ok(events) => {
                for event in events {
                    match event {
                        AsrEvent::Partial(text) => {
                            self.send(json!({"type": "transcript_partial", "text": text}))
                                .await
                        }
                        // The recognizer's endpoint: the user paused.
                        AsrEvent::Final(text) => {
                            self.listening = false;
                            self.answer(text, Instant::now()).await;
                            break;
                        }
                    }
                }
            }
            Err(e) => self.error("asr_failed", &e.to_string()).await,
        }
    }

    /// Runs `f` on the recognizer off the runtime's threads.
    async fn with_asr(
        &mut self,
        f: impl FnOnce(&mut dyn Recognizer) -> Result<String, crate::asr::AsrError> + Send + 'static,
    ) -> Result<String, String> {
        let Some(mut asr) = self.asr.take() else {
            return Err("no recognizer".into());
        };
        let (asr, result) = tokio::task::spawn_blocking(move || {
            let result = f(asr.as_mut());
            (asr, result)
        })
        .await
        .expect("the ASR task does not panic");
        self.asr = Some(asr);
        result.map_err(|e| e.to_string())
    }

    async fn answer(&mut self, text: String, speech_end: Instant) {
        let mut timeline = Timeline::default();
        if let Some(at) = self.started.take() {
            stamp(&mut timeline.speech_start, at);
        }
        stamp(&mut timeline.speech_end, speech_end);
        stamp(&mut timeline.endpoint, speech_end);
        stamp(&mut timeline.asr_final, Instant::now());
        let question = text.trim().to_string();
        self.send(json!({"type": "transcript_final", "text": question}))
            .await;
        if question.is_empty() {
            let timeline = timeline.to_ms();
            self.send(json!({"type": "done", "transcript": "", "reply": "", "interrupted": false, "timeline": timeline}))
                .await;
            return;
        }
        let messages = self
            .history
            .messages(&self.api.config.llm.system_prompt, &question);
        let (text_tx, text) = mpsc::unbounded_channel();
        let (audio_tx, audio) = mpsc::channel(AUDIO_BACKLOG);
        let barge_in = CancellationToken::new();
        let config = self.api.config.clone();
        let cut = barge_in.clone();
        let done =
            tokio::spawn(async move { speak(config, messages, text_tx, audio_tx, cut).await });
        stamp(&mut timeline.llm_request, Instant::now());
        self.answering = Some(Answering {
            barge_in,
            text,
            audio,
            done,
            question,
            timeline,
        });
    }

    async fn send_audio(&mut self, rate: u32, samples: Vec<i16>) {
        self.send(json!({"type": "audio_chunk", "sample_rate": rate, "samples": samples.len()}))
            .await;
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        self.send_message(Message::Binary(bytes.into())).await;
    }

    async fn on_done(&mut self, done: Result<(Spoken, u32), String>) {
        let Some(mut a) = self.answering.take() else {
            return;
        };
        // What was sent before the end still goes out first.
        while let Ok(delta) = a.text.try_recv() {
            self.send(json!({"type": "assistant_text", "delta": delta}))
                .await;
        }
        while let Ok((rate, samples)) = a.audio.try_recv() {
            self.send_audio(rate, samples).await;
        }
        match done {
            Ok((spoken, _)) => {
                let t = &mut a.timeline;
                for (slot, at) in [
                    (&mut t.llm_first_token, spoken.first_token),
                    (&mut t.first_tts_audio, spoken.first_tts_audio),
                    (&mut t.first_sample_written, spoken.first_sample_written),
                    (&mut t.playback_end, spoken.playback_end),
                ] {
                    if let Some(at) = at {
                        stamp(slot, at);
                    }
                }
                let interrupted = matches!(spoken.outcome, Outcome::Interrupted);
                if matches!(spoken.outcome, Outcome::Played | Outcome::Interrupted) {
                    self.history.record(&a.question, &spoken.played);
                }
                let error = match &spoken.outcome {
                    Outcome::Failed(why) => Some(why.clone()),
                    _ => None,
                };
                self.send(json!({
                    "type": "done",
                    "transcript": a.question,
                    "reply": spoken.played,
                    "interrupted": interrupted,
                    "fallback": matches!(spoken.outcome, Outcome::Fallback),
                    "error": error,
                    "timeline": a.timeline.to_ms(),
                }))
                .await;
            }
            Err(e) => self.error("answer_failed", &e).await,
        }
    }

    async fn error(&mut self, code: &str, message: &str) {
        self.send(json!({"type": "error", "code": code, "message": message}))
            .await;
    }

    async fn send(&mut self, value: Value) {
        self.send_message(Message::Text(value.to_string().into()))
            .await;
    }

    async fn send_message(&mut self, message: Message) {
        if self.closed {
            return;
        }
        match tokio::time::timeout(SEND_TIMEOUT, self.tx.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => self.closed = true,
            Err(_) => {
                log::warn!("api: a voice client stopped reading; disconnecting it");
                self.closed = true;
            }
        }
    }
}

/// What an answer sends next.
enum Output {
    Text(String),
    Audio(u32, Vec<i16>),
    Done(Box<Result<(Spoken, u32), String>>),
}

/// Text and audio as they come; the end once both channels are drained and closed.
async fn next_output(a: Option<&mut Answering>) -> Output {
    let Some(a) = a else {
        return std::future::pending().await;
    };
    tokio::select! {
        biased;
        Some(delta) = a.text.recv() => Output::Text(delta),
        Some((rate, samples)) = a.audio.recv() => Output::Audio(rate, samples),
        done = &mut a.done => {
            Output::Done(Box::new(done.unwrap_or_else(|e| Err(format!("the answer task failed: {e}")))))
        }
    }
}

/// Asks the LLM and speaks the answer through the daemon's reply code, into the socket.
async fn speak(
    config: Arc<Config>,
    messages: Vec<ChatMessage>,
    text: mpsc::UnboundedSender<String>,
    audio: mpsc::Sender<(u32, Vec<i16>)>,
    barge_in: CancellationToken,
) -> Result<(Spoken, u32), String> {
    let voice_config = config.clone();
    let tts = tokio::task::spawn_blocking(move || {
        let store = ModelStore::new(&voice_config.models);
        crate::tts::PiperVoice::new(&voice_config.tts, &store)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let rate = crate::tts::Synthesizer::sample_rate(&tts);
    let llm = crate::llm::OpenAiChat::new(&config.llm).map_err(|e| e.to_string())?;
    let llm = Arc::new(Teed {
        inner: Arc::new(llm),
        text,
    });
    let speaker = SocketSpeaker {
        memory: MemorySpeaker::new(),
        rate,
        audio,
        barge_in: barge_in.clone(),
    };
    let speech = Speech::Answer { messages, llm };
    speak_once_until(Box::new(tts), Box::new(speaker), speech, None, barge_in)
        .await
        .map(|spoken| (spoken, rate))
        .map_err(|e| e.to_string())
}

/// The LLM, its deltas also sent to the client as they stream.
struct Teed {
    inner: Arc<dyn ChatModel>,
    text: mpsc::UnboundedSender<String>,
}

impl ChatModel for Teed {
    fn stream(
        &self,
        messages: Vec<ChatMessage>,
        cancel: CancellationToken,
    ) -> BoxStream<'static, Result<String, LlmError>> {
        let text = self.text.clone();
        self.inner
            .stream(messages, cancel)
            .inspect(move |delta| {
                if let Ok(delta) = delta {
                    let _ = text.send(delta.clone());
                }
            })
            .boxed()
    }
}

/// Plays into the socket: every chunk the output thread writes is sent as it comes (the
/// client buffers and plays it). A client that falls [`AUDIO_BACKLOG`] chunks behind has
/// the answer cut off rather than the output thread wait.
struct SocketSpeaker {
    memory: MemorySpeaker,
    rate: u32,
    audio: mpsc::Sender<(u32, Vec<i16>)>,
    barge_in: CancellationToken,
}

impl Speaker for SocketSpeaker {
    fn write(&mut self, samples: &[i16]) -> usize {
        if samples.is_empty() {
            return 0;
        }
        if self.audio.try_send((self.rate, samples.to_vec())).is_err() {
            self.barge_in.cancel();
        }
        self.memory.write(samples)
    }
    fn flush(&mut self) {
        self.memory.flush();
    }
    fn arm(&mut self) {
        self.memory.arm();
    }
    fn first_write(&self) -> Option<Instant> {
        self.memory.first_write()
    }
    fn is_idle(&self) -> bool {
        self.memory.is_idle()
    }
    fn ended_at(&self) -> Option<Instant> {
        self.memory.ended_at()
    }
    fn written(&self) -> u64 {
        self.memory.written()
    }
}
