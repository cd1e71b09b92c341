//! One open connection: writes the outbox (the re-join hook's messages first), reads replies
//! and events, and probes a silent server, until the connection ends.

use crate::client::{Control, Outbound};
use crate::connect::Socket;
use crate::driver::{Driver, Ended, Stop};
use crate::state::ABNORMAL;
use crate::wire::{self, Inbound};
use crate::{ClientError, ServerEvents};
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use zocket_protocol::Codec;

/// How many queued messages go out in one write.
const BATCH: usize = 64;
/// How long closing politely may take.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// How often calls whose callers stopped waiting are forgotten.
const SWEEP: Duration = Duration::from_secs(1);
/// A heartbeat that never fires.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);

impl<O: ServerEvents> Driver<O> {
    /// Runs one open connection until it ends.
    pub(crate) async fn session(&mut self, mut socket: Socket, reconnected: bool) -> Ended {
        let mut hook = match (&self.hook, reconnected) {
            (Some(hook), true) => {
                let run = hook(self.hook_client());
                // Queued messages wait for the hook, but not longer than a call would.
                Some(tokio::spawn(tokio::time::timeout(self.config.call_timeout, run)))
            }
            _ => None,
        };
        let heartbeat = self.config.heartbeat;
        let interval = heartbeat.map_or(NEVER, |h| h.interval());
        let silence = tokio::time::sleep(interval);
        tokio::pin!(silence);
        let mut probed = false;
        let mut sweep = tokio::time::interval(SWEEP);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);

        let ended = loop {
            let room = self.pending.len() < self.config.max_in_flight;
            let hook_running = hook.is_some();
            tokio::select! {
                Some(command) = self.control.recv() => match command {
                    Control::Close { code, reason, done } => {
                        close(&mut socket, code, &reason).await;
                        break Ended::Stop(Stop { code, reason, done: Some(done) });
                    }
                    Control::Reconnect => {
                        close(&mut socket, 1000, "reconnecting").await;
                        break Ended::Replace;
                    }
                },
                None = self.alive.recv() => {
                    close(&mut socket, 1000, "").await;
                    break Ended::Stop(Stop::new(1000, ""));
                }
                Some(message) = self.priority.recv() => {
                    if let Err(lost) = self.write(&mut socket, vec![message]).await {
                        break lost;
                    }
                }
                Some(first) = self.outbox.recv(), if room && !hook_running => {
                    let mut batch = vec![first];
                    while batch.len() < BATCH && self.pending.len() + batch.len() < self.config.max_in_flight {
                        match self.outbox.try_recv() {
                            Ok(message) => batch.push(message),
                            Err(_) => break,
                        }
                    }
                    if let Err(lost) = self.write(&mut socket, batch).await {
                        break lost;
                    }
                }
                frame = socket.next() => {
                    probed = false;
                    silence.as_mut().reset(Instant::now() + interval);
                    match frame {
                        None => break lost("the connection closed"),
                        Some(Err(error)) => break lost(error.to_string()),
                        Some(Ok(Message::Text(text))) => self.on_frame(text.as_bytes()),
                        Some(Ok(Message::Binary(data))) => self.on_frame(&data),
                        Some(Ok(Message::Close(frame))) => {
                            // Sends the close reply tungstenite queued.
                            let _ = tokio::time::timeout(CLOSE_GRACE, socket.flush()).await;
                            let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                            break Ended::Lost { code, reason };
                        }
                        Some(Ok(_)) => {} // pings (answered by tungstenite), pongs
                    }
                }
                () = &mut silence, if heartbeat.is_some() => {
                    let heartbeat = heartbeat.unwrap_or_default();
                    if probed {
                        break lost(format!("no traffic for {:?}", heartbeat.deadline()));
                    }
                    probed = true;
                    silence.as_mut().reset(Instant::now() + heartbeat.deadline() - heartbeat.interval());
                    let ping = tokio::time::timeout(self.config.write_timeout, socket.send(Message::Ping(Default::default())));
                    match ping.await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => break lost(error.to_string()),
                        Err(_) => break lost("a ping could not be written in time"),
                    }
                }
                _ = sweep.tick() => self.pending.retain(|_, reply| !reply.is_closed()),
                _ = async {
                    match hook.as_mut() {
                        Some(running) => {
                            let _ = running.await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                }, if hook_running => {
                    hook = None;
                }
            }
        };
        if let Some(hook) = hook {
            hook.abort();
        }
        ended
    }

    /// Writes messages in one flush, remembering the calls among them; calls whose caller
    /// stopped waiting are not sent.
    async fn write(&mut self, socket: &mut Socket, batch: Vec<Outbound>) -> Result<(), Ended> {
        let codec = self.shared.codec;
        let mut frames = Vec::with_capacity(batch.len());
        for message in batch {
            if let Some((id, reply)) = message.call {
                if reply.is_closed() {
                    continue;
                }
                self.pending.insert(id, reply);
            }
            frames.push(message.frame);
        }
        if frames.is_empty() {
            return Ok(());
        }
        let write = async {
            for frame in frames {
                socket.feed(to_message(codec, frame)).await?;
            }
            socket.flush().await
        };
        match tokio::time::timeout(self.config.write_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(lost(error.to_string())),
            Err(_) => Err(lost(format!(
                "a write took longer than {:?}",
                self.config.write_timeout
            ))),
        }
    }

    /// One message from the server: a frame, or something with no frame in it.
    pub(crate) fn on_message(&mut self, message: Message) {
        match message {
            Message::Text(text) => self.on_frame(text.as_bytes()),
            Message::Binary(data) => self.on_frame(&data),
            _ => {}
        }
    }

    /// One frame from the server.
    fn on_frame(&mut self, data: &[u8]) {
        let codec = self.shared.codec;
        match wire::decode(codec, data) {
            Ok(Inbound::Reply(id, payload)) => {
                if let Some(reply) = self.pending.remove(&id) {
                    let _ = reply.send(Ok(payload.map(<[u8]>::to_vec)));
                }
            }
            Ok(Inbound::Failed(id, error)) => {
                if let Some(reply) = self.pending.remove(&id) {
                    let _ = reply.send(Err(ClientError::Server(error)));
                }
            }
            Ok(Inbound::Error(error)) => self.shared.set_error(ClientError::Server(error)),
            // The first frame of a connection the client did not ask to resume.
            Ok(Inbound::Session(frame)) => {
                self.on_session(frame);
            }
            Ok(Inbound::Event(route, payload)) => {
                self.on_seq(data);
                let Some(events) = self.events.as_ref().filter(|e| e.receiver_count() > 0) else {
                    return;
                };
                match wire::event::<O>(codec, route, payload) {
                    Ok(event) => {
                        let _ = events.send(event);
                    }
                    Err(error) => self.shared.set_error(error),
                }
            }
            Err(error) => self.shared.set_error(error),
        }
    }
}

fn lost(reason: impl Into<String>) -> Ended {
    Ended::Lost {
        code: ABNORMAL,
        reason: reason.into(),
    }
}

/// A frame as a WebSocket message: text for JSON (which is UTF-8), binary for MessagePack.
fn to_message(codec: Codec, frame: Vec<u8>) -> Message {
    match codec {
        Codec::MsgPack => Message::binary(frame),
        // serde_json writes UTF-8; the server reads a binary frame as JSON text too.
        _ => String::from_utf8(frame).map_or_else(|e| Message::binary(e.into_bytes()), Message::text),
    }
}

/// Closes politely: the close frame, then the server's reply, within a grace period.
async fn close(socket: &mut Socket, code: u16, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if socket.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    })
    .await;
}
