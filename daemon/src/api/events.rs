//! `WS /v1/events`: one JSON object per notice, starting with the current state. A client
//! that falls more than the notice backlog behind, or does not take a message within
//! [`SEND_TIMEOUT`], is disconnected: the loop never waits for it.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::listen::ClientSlot;
use super::Api;
use crate::pipeline::Notice;

const SEND_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn upgrade(
    State(api): State<Api>,
    Extension(slot): Extension<ClientSlot>,
    ws: WebSocketUpgrade,
) -> Response {
    // Subscribed now, so nothing between the state sent first and the stream is lost.
    let notices = api.handle.subscribe();
    let state = *api.handle.state().borrow();
    ws.max_message_size(api.max_frame_bytes)
        .max_frame_size(api.max_frame_bytes)
        .on_upgrade(move |socket| async move {
            stream(socket, notices, Notice::State { state }).await;
            drop(slot);
        })
}

async fn stream(
    socket: WebSocket,
    mut notices: tokio::sync::broadcast::Receiver<Notice>,
    first: Notice,
) {
    let (mut tx, mut rx) = socket.split();
    let mut next = Some(first);
    loop {
        if let Some(notice) = next.take() {
            let text = serde_json::to_string(&notice).unwrap_or_default();
            match tokio::time::timeout(SEND_TIMEOUT, tx.send(Message::Text(text.into()))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    log::warn!("api: an event client stopped reading; disconnecting it");
                    return;
                }
            }
        }
        tokio::select! {
            notice = notices.recv() => match notice {
                Ok(n) => next = Some(n),
                Err(RecvError::Lagged(lost)) => {
                    log::warn!("api: an event client fell {lost} events behind; disconnecting it");
                    let _ = tx.send(close(1008, "too slow: events were lost")).await;
                    return;
                }
                Err(RecvError::Closed) => {
                    let _ = tx.send(close(1001, "hearken is stopping")).await;
                    return;
                }
            },
            incoming = rx.next() => match incoming {
                // The stream only goes one way; what the client sends is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

pub fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code,
        reason: reason.to_string().into(),
    }))
}
