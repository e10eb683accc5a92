//! The LLM stream target: hearken's real client (`OpenAiChat`) reads an answer from a local
//! TCP server that replies with the fuzzed bytes, so the whole path is exercised: HTTP,
//! chunked transfer, server-sent events, the JSON of each chunk and hearken's own handling.
//!
//! Input layout: byte 0 picks the HTTP status, byte 1 the size of the HTTP chunks the body
//! is sent in (0: all at once), the rest is the body.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use hearken::llm::{ChatMessage, ChatModel, LlmConfig, LlmError, OpenAiChat, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::driver::Rng;

pub const TOKENS: &[&str] = &[
    "data: ",
    "data:",
    "\n\n",
    "\r\n",
    "\r",
    "event: error\n",
    "id: 1\n",
    "retry: 10\n",
    ": keep-alive\n",
    "data: [DONE]\n\n",
    "\"choices\":",
    "\"delta\":",
    "\"content\":",
    "\"finish_reason\":\"stop\"",
    "\"role\":\"assistant\"",
    "null",
    "{}",
    "[]",
    "\\u0000",
    "\\ud83d",
    "\\ud83d\\ude00",
    "\"error\":{\"message\":\"x\"}",
    "\"index\":0",
];

const STATUSES: [u16; 16] = [
    200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 500, 401, 429, 404,
];

struct Rig {
    runtime: tokio::runtime::Runtime,
    chat: OpenAiChat,
    /// What the server sends next: status, chunk size, body.
    reply: Arc<Mutex<(u16, usize, Vec<u8>)>>,
}

fn rig() -> &'static Rig {
    static RIG: OnceLock<Rig> = OnceLock::new();
    RIG.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let reply = Arc::new(Mutex::new((200, 0, Vec::new())));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a local port");
        let addr = listener.local_addr().unwrap();
        let served = Arc::clone(&reply);
        runtime.spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let reply = served.lock().unwrap().clone();
                tokio::spawn(serve(socket, reply));
            }
        });
        let cfg = LlmConfig {
            base_url: format!("http://{addr}/v1"),
            retries: 0,
            connect_timeout_s: 2.0,
            first_token_timeout_s: 2.0,
            answer_timeout_s: 2.0,
            ..LlmConfig::default()
        };
        let chat = OpenAiChat::new(&cfg).expect("client");
        Rig {
            runtime,
            chat,
            reply,
        }
    })
}

/// Reads the request (all of it, so that closing does not reset the connection) and
/// answers with `body` in chunks of `chunk` bytes.
async fn serve(mut socket: tokio::net::TcpStream, (status, chunk, body): (u16, usize, Vec<u8>)) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let head = format!(
        "HTTP/1.1 {status} Fuzz\r\ncontent-type: text/event-stream\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let size = if chunk == 0 { body.len().max(1) } else { chunk };
    for piece in body.chunks(size) {
        let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
        frame.extend_from_slice(piece);
        frame.extend_from_slice(b"\r\n");
        if socket.write_all(&frame).await.is_err() || socket.flush().await.is_err() {
            return;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let _ = socket.shutdown().await;
}

pub fn run(data: &[u8]) {
    let (status, chunk, body) = match data {
        [s, c, body @ ..] => (STATUSES[*s as usize % 16], *c as usize, body.to_vec()),
        _ => return,
    };
    let expected = (status == 200).then(|| well_formed(&body)).flatten();
    let rig = rig();
    *rig.reply.lock().unwrap() = (status, chunk, body);
    let items: Vec<Result<String, LlmError>> = rig.runtime.block_on(async {
        let question = vec![ChatMessage::new(Role::User, "Hello?")];
        let stream = rig.chat.stream(question, CancellationToken::new());
        // The client's own deadlines are 2 s; this bound only catches a stream that hangs.
        tokio::time::timeout(Duration::from_secs(10), stream.collect())
            .await
            .expect("the answer stream ends by itself")
    });
    // Deltas, then at most one error, which ends the stream.
    for (i, item) in items.iter().enumerate() {
        match item {
            Ok(text) => assert!(!text.is_empty(), "an empty delta"),
            Err(_) => assert_eq!(i, items.len() - 1, "items after an error: {items:?}"),
        }
    }
    if let Some((text, finished)) = expected {
        let got: String = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .cloned()
            .collect();
        assert_eq!(got, text, "the answer's text");
        match items.last() {
            Some(Err(e)) => assert!(
                !finished && matches!(e, LlmError::Malformed(_)),
                "a well-formed {} answer failed: {e}",
                if finished { "finished" } else { "unfinished" }
            ),
            _ => assert!(
                finished || text.is_empty(),
                "an unfinished answer ended quietly"
            ),
        }
    }
}

/// The text and whether it finished, when `body` is exactly what a well-behaved server
/// sends: `data: <chunk>\n\n` events with complete chunk objects, then `data: [DONE]`.
fn well_formed(body: &[u8]) -> Option<(String, bool)> {
    let body = std::str::from_utf8(body).ok()?;
    let events = body.strip_suffix("\n\n")?.split("\n\n");
    let mut text = String::new();
    let mut finished = false;
    let mut done = false;
    for event in events {
        let data = event.strip_prefix("data: ")?;
        // A lone CR ends a line in server-sent events, as LF does.
        if done || data.contains(['\n', '\r']) {
            return None;
        }
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let chunk: serde_json::Value = serde_json::from_str(data).ok()?;
        // Written back the same: no duplicate keys (the last would win here; the client
        // refuses them), no odd spacing.
        if serde_json::to_string(&chunk).ok()? != data {
            return None;
        }
        let object = chunk.as_object()?;
        if object.len() != 5
            || !object.get("id")?.is_string()
            || !object.get("model")?.is_string()
            || object.get("object")? != "chat.completion.chunk"
            || object
                .get("created")?
                .as_u64()
                .is_none_or(|c| c > u32::MAX as u64)
        {
            return None;
        }
        for (i, choice) in object.get("choices")?.as_array()?.iter().enumerate() {
            let choice = choice.as_object()?;
            if choice.get("index")?.as_u64()? != i as u64 || choice.len() != 3 {
                return None;
            }
            let delta = choice.get("delta")?.as_object()?;
            match delta.get("content") {
                None | Some(serde_json::Value::Null) => {}
                Some(content) => text.push_str(content.as_str()?),
            }
            if delta.keys().any(|k| k != "content" && k != "role")
                || delta.get("role").is_some_and(|r| r != "assistant")
            {
                return None;
            }
            match choice.get("finish_reason")? {
                serde_json::Value::Null => {}
                serde_json::Value::String(r) if r == "stop" || r == "length" => finished = true,
                _ => return None,
            }
        }
    }
    Some((text, finished))
}

/// A well-formed answer: the status and chunk size bytes, then its events.
pub fn generate(rng: &mut Rng) -> Vec<u8> {
    let pieces = [
        "Hello",
        " world",
        ".",
        " ",
        "",
        "é",
        "日本",
        "😀",
        "\n",
        "\"quoted\"",
        "back\\slash",
        "\u{0}",
        "tab\t",
        "Sure,",
        " the answer is 42.",
    ];
    let mut out = vec![0, rng.below(40) as u8];
    let mut event = |choices: serde_json::Value| {
        let chunk = serde_json::json!({
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000u32,
            "model": "fuzz",
            "choices": choices,
        });
        out.extend(format!("data: {chunk}\n\n").bytes());
    };
    event(
        serde_json::json!([{ "index": 0, "delta": { "role": "assistant" }, "finish_reason": null }]),
    );
    for _ in 0..rng.below(12) {
        let text: String = (0..1 + rng.below(3)).map(|_| rng.pick(&pieces)).collect();
        event(
            serde_json::json!([{ "index": 0, "delta": { "content": text }, "finish_reason": null }]),
        );
    }
    if !rng.chance(5) {
        let reason = rng.pick(&["stop", "length"]);
        event(serde_json::json!([{ "index": 0, "delta": {}, "finish_reason": reason }]));
    }
    if !rng.chance(5) {
        out.extend(b"data: [DONE]\n\n");
    }
    out
}
