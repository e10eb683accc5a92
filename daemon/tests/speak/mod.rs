//! Local TCP stand-ins for misbehaving LLM servers, in front of the real llama.cpp server.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use super::common::host_port;

/// What a proxy saw of one exchange.
#[derive(Debug, Default, Clone)]
pub struct Exchange {
    pub request_body: String,
    pub response: String,
    /// The client hung up before the server had sent everything.
    pub client_left_early: bool,
}

/// A proxy to `upstream_url` that records each exchange and, with `cut_after_events`,
/// drops both connections after that many SSE events, like a server killed mid-answer.
pub struct Proxy {
    pub url: String,
    pub exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Proxy {
    pub fn start(upstream_url: &str, cut_after_events: Option<usize>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let upstream = host_port(upstream_url);
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let log = exchanges.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let upstream = upstream.clone();
                let log = log.clone();
                thread::spawn(move || relay(client, &upstream, cut_after_events, &log));
            }
        });
        Proxy { url, exchanges }
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// The exchanges once `n` have finished: a relay logs its exchange only after the
    /// upstream closed, which can be a moment after the client already has its answer.
    pub fn wait_for_exchanges(&self, n: usize) -> Vec<Exchange> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.exchanges.lock().unwrap().len() < n && std::time::Instant::now() < deadline {
            thread::sleep(std::time::Duration::from_millis(10));
        }
        self.exchanges()
    }
}

fn read_request(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = buf[end + 4..].to_vec();
            while body.len() < len {
                let n = client.read(&mut byte).ok()?;
                if n == 0 {
                    return None;
                }
                body.extend_from_slice(&byte[..n]);
            }
            return Some((head, body));
        }
        let n = client.read(&mut byte).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
}

fn relay(
    mut client: TcpStream,
    upstream: &str,
    cut_after_events: Option<usize>,
    log: &Mutex<Vec<Exchange>>,
) {
    let Some((head, body)) = read_request(&mut client) else {
        return;
    };
    let mut exchange = Exchange {
        request_body: String::from_utf8_lossy(&body).into_owned(),
        ..Exchange::default()
    };
    // One request per connection, so the response ends with the connection.
    let head: Vec<&str> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let mut server = TcpStream::connect(upstream).unwrap();
    server
        .write_all(format!("{}\r\nConnection: close\r\n\r\n", head.join("\r\n")).as_bytes())
        .unwrap();
    server.write_all(&body).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        exchange
            .response
            .push_str(&String::from_utf8_lossy(&buf[..n]));
        if client.write_all(&buf[..n]).is_err() {
            exchange.client_left_early = true;
            break;
        }
        if cut_after_events.is_some_and(|k| exchange.response.matches("data: ").count() >= k) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            break;
        }
    }
    log.lock().unwrap().push(exchange);
}

/// A server that accepts connections and reads requests but never answers.
pub fn stalling_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            let _ = read_request(&mut client);
            held.push(client);
        }
    });
    url
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

/// A server that answers every request with `status` and an OpenAI-style error body;
/// the returned counter counts the requests it got.
pub fn refusing_server(status: u16) -> (String, Arc<Mutex<usize>>) {
    let body = format!(
        "{{\"error\":{{\"message\":\"refused with {status}\",\"type\":\"test\",\"param\":null,\"code\":null}}}}"
    );
    canned_server(format!(
        "HTTP/1.1 {status} Refused\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// A server that answers 200 with an event stream whose events are not chat-completion
/// chunks: a proxy or a server speaking another API.
pub fn garbage_stream_server() -> String {
    let events = "data: {\"id\": 7, \"choices\": \"none\"}\n\ndata: [DONE]\n\n";
    canned_server(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{events}",
        events.len()
    ))
    .0
}

/// A server that sends `response`, verbatim, to every request; the counter counts them.
fn canned_server(response: String) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { break };
            if read_request(&mut client).is_none() {
                continue;
            }
            *seen.lock().unwrap() += 1;
            let _ = client.write_all(response.as_bytes());
        }
    });
    (url, count)
}
