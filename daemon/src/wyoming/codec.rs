//! Wyoming framing: one JSON header line (`type`, optional `data`, `data_length`,
//! `payload_length`, `version`), then `data_length` bytes of JSON merged over the header's
//! `data`, then `payload_length` raw bytes.
//!
//! Writing always sends `data` as its own block: Home Assistant reads header lines with a
//! 64 KiB limit, and an `info` with many wake words would not fit inline. Reading accepts
//! inline `data`, `null` for the optional header fields and fields it does not know. Every
//! length is bounded ([`Limits`]) so a peer cannot make the daemon allocate without end, and
//! a frame whose header has arrived must complete within [`Limits::body_timeout`]: a peer
//! that announced more bytes than it sends is dropped instead of stalling the connection.

use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The protocol version written into every header: the `wyoming` package release whose
/// behaviour this codec was checked against.
pub const VERSION: &str = "1.10.2";

/// One event as it travels: its type, its data object and its payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    pub kind: String,
    pub data: Map<String, Value>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest header line, newline included.
    pub header: usize,
    pub data: usize,
    pub payload: usize,
    /// How long the rest of a frame may take once its header line has arrived.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Home Assistant's own reader limit.
            header: 64 * 1024,
            data: 1024 * 1024,
            // A minute of 48 kHz stereo 32-bit audio; real chunks are a few KiB.
            payload: 16 * 1024 * 1024,
            body_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("header line longer than {limit} bytes")]
    HeaderTooLong { limit: usize },
    #[error("malformed header line: {0}")]
    BadHeader(String),
    #[error("{field} {length} is over the limit of {limit} bytes")]
    TooLarge {
        field: &'static str,
        length: u64,
        limit: usize,
    },
    #[error("malformed data block of {kind}: {message}")]
    BadData { kind: String, message: String },
    #[error("the connection ended inside a {kind} frame ({what} incomplete)")]
    Truncated { kind: String, what: &'static str },
    #[error("the rest of a {kind} frame did not arrive within {} s ({what} incomplete)", .timeout.as_secs())]
    Stalled {
        kind: String,
        what: &'static str,
        timeout: Duration,
    },
}

/// Reads the next frame; `Ok(None)` at a clean end of the stream (between frames).
pub async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: &Limits,
) -> Result<Option<Frame>, CodecError> {
    let mut line = Vec::new();
    let limit = limits.header as u64;
    let n = (&mut *reader)
        .take(limit)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        if n as u64 >= limit {
            return Err(CodecError::HeaderTooLong {
                limit: limits.header,
            });
        }
        return Err(CodecError::Truncated {
            kind: "(unknown)".into(),
            what: "header line",
        });
    }
    let header: Map<String, Value> = serde_json::from_slice(&line)
        .map_err(|e| CodecError::BadHeader(format!("{e}: {}", preview(&line))))?;
    let kind = match header.get("type") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => {
            return Err(CodecError::BadHeader(format!(
                "no \"type\" string: {}",
                preview(&line)
            )))
        }
    };
    let mut data = match header.get("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(d)) => d.clone(),
        Some(other) => {
            return Err(CodecError::BadHeader(format!(
                "\"data\" of {kind} is {other}, not an object"
            )))
        }
    };
    let data_length = length(&header, "data_length", &kind, limits.data)?;
    let payload_length = length(&header, "payload_length", &kind, limits.payload)?;
    let body = async {
        if data_length > 0 {
            let block = read_block(reader, data_length, &kind, "data").await?;
            let extra: Map<String, Value> =
                serde_json::from_slice(&block).map_err(|e| CodecError::BadData {
                    kind: kind.clone(),
                    message: e.to_string(),
                })?;
            data.extend(extra);
        }
        let payload = read_block(reader, payload_length, &kind, "payload").await?;
        Ok::<_, CodecError>((data, payload))
    };
    let (data, payload) = match tokio::time::timeout(limits.body_timeout, body).await {
        Ok(body) => body?,
        Err(_) => {
            return Err(CodecError::Stalled {
                kind,
                what: if data_length > 0 {
                    "data or payload"
                } else {
                    "payload"
                },
                timeout: limits.body_timeout,
            })
        }
    };
    Ok(Some(Frame {
        kind,
        data,
        payload,
    }))
}

/// A length field: absent, `null` or 0 mean none; anything else must be a count within
/// `limit`.
fn length(
    header: &Map<String, Value>,
    field: &'static str,
    kind: &str,
    limit: usize,
) -> Result<usize, CodecError> {
    let length = match header.get(field) {
        None | Some(Value::Null) => return Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| {
            CodecError::BadHeader(format!(
                "{field} of {kind} is {v}, not a non-negative integer"
            ))
        })?,
    };
    if length > limit as u64 {
        return Err(CodecError::TooLarge {
            field,
            length,
            limit,
        });
    }
    Ok(length as usize)
}

async fn read_block<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    len: usize,
    kind: &str,
    what: &'static str,
) -> Result<Vec<u8>, CodecError> {
    let mut block = vec![0; len];
    match reader.read_exact(&mut block).await {
        Ok(_) => Ok(block),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(CodecError::Truncated {
            kind: kind.into(),
            what,
        }),
        Err(e) => Err(e.into()),
    }
}

fn preview(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// Writes one frame: header line, then the data block (if any), then the payload.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frame: &Frame,
) -> std::io::Result<()> {
    writer.write_all(&encode(frame)).await?;
    writer.flush().await
}

/// A frame's bytes, as [`write_frame`] sends them.
pub fn encode(frame: &Frame) -> Vec<u8> {
    let data = if frame.data.is_empty() {
        Vec::new()
    } else {
        serde_json::to_vec(&frame.data).expect("a JSON map always serializes")
    };
    let mut header = Map::new();
    header.insert("type".into(), Value::String(frame.kind.clone()));
    header.insert("version".into(), Value::String(VERSION.into()));
    if !data.is_empty() {
        header.insert("data_length".into(), data.len().into());
    }
    if !frame.payload.is_empty() {
        header.insert("payload_length".into(), frame.payload.len().into());
    }
    let mut out = serde_json::to_vec(&header).expect("a JSON map always serializes");
    out.push(b'\n');
    out.extend_from_slice(&data);
    out.extend_from_slice(&frame.payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_all(bytes: &[u8], limits: Limits) -> Vec<Result<Option<Frame>, String>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut reader = tokio::io::BufReader::new(bytes);
            let mut out = Vec::new();
            loop {
                let r = read_frame(&mut reader, &limits).await;
                let stop = !matches!(r, Ok(Some(_)));
                out.push(r.map_err(|e| e.to_string()));
                if stop {
                    return out;
                }
            }
        })
    }

    fn one(bytes: &[u8]) -> Result<Option<Frame>, String> {
        read_all(bytes, Limits::default()).remove(0)
    }

    fn frame(kind: &str, data: Value, payload: &[u8]) -> Frame {
        Frame {
            kind: kind.into(),
            data: data.as_object().cloned().unwrap_or_default(),
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn data_goes_in_its_own_block_and_reads_back() {
        let f = frame(
            "audio-chunk",
            json!({"rate": 16000, "width": 2, "channels": 1, "timestamp": null}),
            &[1, 2, 3, 4],
        );
        let bytes = encode(&f);
        let newline = bytes.iter().position(|&b| b == b'\n').unwrap();
        let header: Value = serde_json::from_slice(&bytes[..newline]).unwrap();
        assert!(header.get("data").is_none());
        let data_length = header["data_length"].as_u64().unwrap() as usize;
        assert_eq!(header["payload_length"], 4);
        assert_eq!(header["version"], VERSION);
        assert_eq!(bytes.len(), newline + 1 + data_length + 4);
        assert_eq!(one(&bytes), Ok(Some(f)));
    }

    #[test]
    fn a_frame_without_data_or_payload_is_just_a_header() {
        let bytes = encode(&frame("describe", json!({}), &[]));
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!("{{\"type\":\"describe\",\"version\":\"{VERSION}\"}}\n")
        );
    }

    #[test]
    fn inline_data_is_merged_under_the_block_and_nulls_unknowns_are_accepted() {
        let block = br#"{"text":"from block"}"#;
        let bytes = [
            format!(
                r#"{{"type":"ping","data":{{"text":"inline","extra":1}},"data_length":{},"payload_length":null,"version":null,"future":true}}"#,
                block.len()
            )
            .into_bytes(),
            b"\n".to_vec(),
            block.to_vec(),
        ]
        .concat();
        let got = one(&bytes).unwrap().unwrap();
        assert_eq!(got.kind, "ping");
        assert_eq!(got.data["text"], "from block");
        assert_eq!(got.data["extra"], 1);
        assert!(got.payload.is_empty());
    }

    #[test]
    fn end_of_stream_between_frames_is_clean() {
        let mut bytes = encode(&frame("ping", json!({"text": "a"}), &[]));
        bytes.extend(encode(&frame("played", json!({}), &[])));
        let got = read_all(&bytes, Limits::default());
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], Ok(None));
    }

    #[test]
    fn malformed_headers_are_errors() {
        for (bytes, expect) in [
            (&b"not json\n"[..], "malformed header line"),
            (b"{\"data\":{}}\n", "no \"type\" string"),
            (b"[1,2]\n", "malformed header line"),
            (b"{\"type\":\"x\",\"data\":3}\n", "not an object"),
            (
                b"{\"type\":\"x\",\"data_length\":-1}\n",
                "not a non-negative",
            ),
            (b"{\"type\":\"x\"", "header line incomplete"),
        ] {
            let err = one(bytes).unwrap_err();
            assert!(err.contains(expect), "{err:?} lacks {expect:?}");
        }
    }

    #[test]
    fn a_lying_data_length_is_caught() {
        // Longer than what follows: the block swallows the next header and is not JSON.
        let mut bytes = b"{\"type\":\"ping\",\"data_length\":30}\n{\"text\":\"a\"}".to_vec();
        bytes.extend(encode(&frame("ping", json!({"text": "b"}), &[])));
        let err = one(&bytes).unwrap_err();
        assert!(err.contains("malformed data block of ping"), "{err}");
        // Longer than anything the peer ever sends: the stream ends inside the frame.
        let err = one(b"{\"type\":\"ping\",\"data_length\":300}\n{}").unwrap_err();
        assert!(err.contains("ended inside a ping frame"), "{err}");
    }

    #[test]
    fn a_peer_that_stops_mid_frame_is_dropped_after_the_body_timeout() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(1024);
            client
                .write_all(b"{\"type\":\"audio-chunk\",\"payload_length\":100}\n1234")
                .await
                .unwrap();
            let limits = Limits {
                body_timeout: Duration::from_millis(50),
                ..Limits::default()
            };
            let mut reader = tokio::io::BufReader::new(server);
            let r = read_frame(&mut reader, &limits).await;
            drop(client);
            r.unwrap_err().to_string()
        });
        assert!(err.contains("did not arrive within"), "{err}");
    }

    #[test]
    fn oversized_frames_are_refused_before_reading_them() {
        let limits = Limits {
            header: 64,
            data: 16,
            payload: 32,
            ..Limits::default()
        };
        let long = format!("{{\"type\":\"x\",\"pad\":\"{}\"}}\n", "a".repeat(100));
        let err = read_all(long.as_bytes(), limits).remove(0).unwrap_err();
        assert!(err.contains("longer than 64 bytes"), "{err}");
        let err = read_all(b"{\"type\":\"x\",\"data_length\":17}\n", limits)
            .remove(0)
            .unwrap_err();
        assert!(
            err.contains("data_length 17 is over the limit of 16"),
            "{err}"
        );
        let err = read_all(b"{\"type\":\"x\",\"payload_length\":1000000}\n", limits)
            .remove(0)
            .unwrap_err();
        assert!(err.contains("payload_length 1000000 is over"), "{err}");
    }
}
