//! The TCP side: accepts Home Assistant's connections and runs one session per connection.
//! Every session answers `describe` and `ping` the same way; the rest goes to its
//! [`Session`] (the satellite, or the engines offered as services). A frame that breaks the
//! protocol closes that connection with a log line and nothing else: the daemon's own loop
//! never depends on a peer behaving.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::codec::{self, Limits};
use super::event::{Event, Info};
use crate::pipeline::supervise;

/// Where a session's events to the peer go; a writer task sends them in order.
pub type Outbox = mpsc::UnboundedSender<Event>;

/// What one connection does with the events beyond `describe` and `ping`.
pub trait Session: Send + 'static {
    /// Handles one event from the peer. An `Err` closes the connection with that reason.
    fn handle<'a>(
        &'a mut self,
        event: Event,
        out: &'a Outbox,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// Makes the session of each new connection, and says what `info` holds.
pub trait Role: Send + Sync + 'static {
    fn info(&self) -> Info;
    /// `None` refuses the connection (logged by the role).
    fn session(&self, peer: SocketAddr, out: &Outbox) -> Option<Box<dyn Session>>;
}

/// Binds `addr`, with an error naming the key it came from.
pub async fn bind(addr: &str, key: &str) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{key} = {addr:?}: cannot listen: {e}")))
}

/// Accepts connections until the task is dropped, or until accepting fails for good (the
/// error, for the supervisor). Each connection is its own task: one whose session panics
/// closes, and the rest go on.
pub async fn serve(
    listener: TcpListener,
    role: std::sync::Arc<dyn Role>,
    limits: Limits,
) -> Result<(), std::io::Error> {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let role = role.clone();
                tokio::spawn(async move { connection(stream, peer, role.as_ref(), limits).await });
            }
            Err(e) if supervise::accept_can_go_on(&e) => {
                // Out of descriptors and the like: wait a little rather than spin.
                log::warn!("wyoming: accepting a connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, role: &dyn Role, limits: Limits) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (out, mut outbox) = mpsc::unbounded_channel::<Event>();
    let writer = tokio::spawn(async move {
        while let Some(event) = outbox.recv().await {
            if let Err(e) = codec::write_frame(&mut write, &event.to_frame()).await {
                log::info!("wyoming: {peer}: cannot send: {e}");
                break;
            }
        }
    });
    let Some(mut session) = role.session(peer, &out) else {
        return;
    };
    log::info!("wyoming: {peer} connected");
    let mut reader = BufReader::new(read);
    let why = loop {
        let frame = match codec::read_frame(&mut reader, &limits).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        };
        let event = match Event::from_frame(frame) {
            Ok(event) => event,
            Err(e) => break Some(e.to_string()),
        };
        match event {
            Event::Describe => {
                let _ = out.send(Event::Info(role.info()));
            }
            Event::Ping(text) => {
                let _ = out.send(Event::Pong(text));
            }
            Event::Unknown(kind) => log::debug!("wyoming: {peer}: ignoring a {kind} event"),
            event => {
                if let Err(e) = session.handle(event, &out).await {
                    break Some(e);
                }
            }
        }
    };
    match why {
        None => log::info!("wyoming: {peer} disconnected"),
        Some(why) => log::warn!("wyoming: {peer}: {why}; closing the connection"),
    }
    // The session goes first: it may still queue a last event (the satellite's goodbye).
    drop(session);
    drop(out);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wyoming::event::Transcribe;

    /// A role whose sessions panic on the first event they handle (a bug in a session).
    struct Panics;

    struct PanickingSession;

    impl Session for PanickingSession {
        fn handle<'a>(
            &'a mut self,
            _event: Event,
            _out: &'a Outbox,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            Box::pin(async { panic!("session state out of step") })
        }
    }

    impl Role for Panics {
        fn info(&self) -> Info {
            Info::default()
        }
        fn session(&self, _peer: SocketAddr, _out: &Outbox) -> Option<Box<dyn Session>> {
            Some(Box::new(PanickingSession))
        }
    }

    async fn send(stream: &mut TcpStream, event: Event) {
        codec::write_frame(stream, &event.to_frame()).await.unwrap();
    }

    #[tokio::test]
    async fn a_session_that_panics_closes_its_connection_and_the_server_goes_on() {
        let listener = bind("127.0.0.1:0", "wyoming.listen").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(
            listener,
            std::sync::Arc::new(Panics),
            Limits::default(),
        ));

        let mut broken = TcpStream::connect(addr).await.unwrap();
        send(&mut broken, Event::Transcribe(Transcribe::default())).await;
        let mut reader = BufReader::new(broken);
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            codec::read_frame(&mut reader, &Limits::default()),
        )
        .await
        .expect("the connection closes");
        assert!(matches!(closed, Ok(None) | Err(_)), "{closed:?}");

        let mut next = TcpStream::connect(addr).await.unwrap();
        send(&mut next, Event::Describe).await;
        let mut reader = BufReader::new(next);
        let frame = codec::read_frame(&mut reader, &Limits::default())
            .await
            .unwrap()
            .expect("an answer");
        assert_eq!(
            Event::from_frame(frame).unwrap(),
            Event::Info(Info::default())
        );
        assert!(!server.is_finished());
        server.abort();
    }
}
