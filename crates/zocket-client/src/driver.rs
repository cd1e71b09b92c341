//! The connection task: connects, runs each connection ([`session`](crate::session)), and
//! between connections waits with backoff, until the client is closed or every handle is gone.

use crate::builder::Config;
use crate::client::{Client, Control, Outbound, Reply, Shared};
use crate::connect::{Resume, Socket};
use crate::state::ABNORMAL;
use crate::wire::{self, Inbound, SessionFrame};
use crate::{ClientError, ConnectionState, connect};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// The re-join hook, run after each reconnection.
pub(crate) type Hook<O> = Arc<dyn Fn(Client<O>) -> BoxFuture<'static, ()> + Send + Sync>;

/// How many messages the re-join hook may queue ahead of the outbox.
const PRIORITY: usize = 64;
/// How long a reconnection that asked to resume waits for the server's `__session` frame
/// (which a server with resume on sends first) before it takes the session for a fresh one.
const SESSION_WAIT: Duration = Duration::from_secs(2);

/// Why the client stops for good.
pub(crate) struct Stop {
    pub(crate) code: u16,
    pub(crate) reason: String,
    /// Told once closed, for [`Client::close`].
    pub(crate) done: Option<oneshot::Sender<()>>,
}

impl Stop {
    pub(crate) fn new(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            done: None,
        }
    }
}

/// What interrupts a connection attempt or the wait before one.
pub(crate) enum Interrupt {
    Stop(Stop),
    Reconnect,
}

/// The connection task's state.
pub(crate) struct Driver<O> {
    pub(crate) config: Arc<Config>,
    pub(crate) shared: Arc<Shared<O>>,
    pub(crate) events: Option<broadcast::Sender<O>>,
    pub(crate) outbox: mpsc::Receiver<Outbound>,
    pub(crate) priority: mpsc::Receiver<Outbound>,
    priority_tx: mpsc::Sender<Outbound>,
    pub(crate) control: mpsc::Receiver<Control>,
    control_tx: mpsc::Sender<Control>,
    pub(crate) alive: mpsc::Receiver<()>,
    pub(crate) hook: Option<Hook<O>>,
    /// Calls written and waiting for their replies, by id.
    pub(crate) pending: HashMap<u64, oneshot::Sender<Reply>>,
    /// The server's session (resume on): its last token and the highest `seq` received. `None`
    /// until a server sends one, with resume off, and after a close or `reconnect`.
    pub(crate) session: Option<Resume>,
}

impl<O: crate::ServerEvents> Driver<O> {
    pub(crate) fn new(
        config: Arc<Config>,
        shared: Arc<Shared<O>>,
        outbox: mpsc::Receiver<Outbound>,
        control: mpsc::Receiver<Control>,
        control_tx: mpsc::Sender<Control>,
        alive: mpsc::Receiver<()>,
        hook: Option<Hook<O>>,
    ) -> Self {
        let events = shared.events.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (priority_tx, priority) = mpsc::channel(PRIORITY);
        Self {
            config,
            shared,
            events,
            outbox,
            priority,
            priority_tx,
            control,
            control_tx,
            alive,
            hook,
            pending: HashMap::new(),
            session: None,
        }
    }

    /// A `__session` frame: the token to resume with next time; a fresh session's events are
    /// numbered from 1 again. Returns whether this connection resumed the session.
    pub(crate) fn on_session(&mut self, frame: SessionFrame) -> bool {
        if !self.config.resume {
            return false;
        }
        let kept = match (&self.session, frame.resumed) {
            (Some(session), true) => Some(session.last_seq),
            _ => None,
        };
        self.session = Some(Resume {
            token: frame.token,
            last_seq: kept.unwrap_or(0),
        });
        kept.is_some()
    }

    /// An event's `seq` (resume on), remembered to ask for what follows it after a drop.
    pub(crate) fn on_seq(&mut self, frame: &[u8]) {
        // (No let chains: they need Rust 1.88, the crates' rust-version is 1.87.)
        let Some(session) = &mut self.session else { return };
        if let Some(seq) = wire::seq(self.shared.codec, frame) {
            session.last_seq = session.last_seq.max(seq);
        }
    }

    /// A handle for the re-join hook: its messages go ahead of the outbox, and it does not
    /// keep the client alive.
    pub(crate) fn hook_client(&self) -> Client<O> {
        Client {
            shared: self.shared.clone(),
            outbox: self.priority_tx.clone(),
            control: self.control_tx.clone(),
            alive: None,
        }
    }

    /// Runs until the client stops; `opened` learns how the first attempt went.
    pub(crate) async fn run(mut self, opened: oneshot::Sender<Result<(), ClientError>>) {
        let tls = match connect::tls(&self.config) {
            Ok(tls) => tls,
            Err(error) => {
                let _ = opened.send(Err(error));
                return self.finish(Stop::new(ABNORMAL, "bad TLS settings"));
            }
        };
        let mut opened = Some(opened);
        let mut attempt: u32 = 0;
        let mut reconnected = false;
        let stop = loop {
            let config = self.config.clone();
            let resume = self.session.clone().filter(|_| config.resume);
            let result = tokio::select! {
                result = open(&config, tls.clone(), resume.as_ref()) => result,
                interrupt = self.interrupted() => match interrupt {
                    Interrupt::Stop(stop) => break stop,
                    Interrupt::Reconnect => {
                        self.session = None;
                        continue;
                    }
                },
            };
            match result {
                Ok(Opened { socket, session, first }) => {
                    attempt = 0;
                    let resumed = match session {
                        Some(frame) => self.on_session(frame),
                        None => {
                            if resume.is_some() {
                                // Asked, but the server no longer has resume on.
                                self.session = None;
                            }
                            false
                        }
                    };
                    self.shared.set_state(ConnectionState::Open { resumed });
                    // Whoever connected stopped waiting: nobody has this client.
                    if opened.take().is_some_and(|opened| opened.send(Ok(())).is_err()) {
                        break Stop::new(1000, "");
                    }
                    if let Some(first) = first {
                        self.on_message(first);
                    }
                    // A resumed session kept its rooms: the re-join hook is for fresh ones.
                    let ended = self.session(socket, reconnected && !resumed).await;
                    reconnected = true;
                    self.fail_pending(|| ClientError::Disconnected);
                    match ended {
                        Ended::Lost { code, reason } => {
                            self.shared.set_state(ConnectionState::Closed { code, reason });
                        }
                        Ended::Replace => {
                            // Closed on purpose (a close frame): the server ended the session.
                            self.session = None;
                            self.shared.set_state(ConnectionState::Closed {
                                code: 1000,
                                reason: "reconnecting".into(),
                            });
                            continue;
                        }
                        Ended::Stop(stop) => break stop,
                    }
                }
                Err(error) => {
                    self.shared.set_error(error.clone());
                    if let Some(opened) = opened.take() {
                        let _ = opened.send(Err(error));
                        break Stop::new(ABNORMAL, "");
                    }
                    if connect::is_permanent(&error) {
                        break Stop::new(ABNORMAL, error.to_string());
                    }
                }
            }
            let Some(backoff) = &self.config.reconnect else {
                break Stop::new(ABNORMAL, "connection lost (reconnecting is off)");
            };
            attempt = attempt.saturating_add(1);
            if !backoff.allows(attempt) {
                break Stop::new(ABNORMAL, format!("gave up after {} attempts", attempt - 1));
            }
            let delay = backoff.delay(attempt);
            self.shared.set_state(ConnectionState::Reconnecting { attempt, delay });
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                interrupt = self.interrupted() => if let Interrupt::Stop(stop) = interrupt {
                    break stop;
                },
            }
        };
        self.finish(stop);
    }

    /// Waits for a close, a reconnect request, or the last handle to go.
    async fn interrupted(&mut self) -> Interrupt {
        tokio::select! {
            Some(command) = self.control.recv() => match command {
                Control::Close { code, reason, done } => Interrupt::Stop(Stop { code, reason, done: Some(done) }),
                Control::Reconnect => Interrupt::Reconnect,
            },
            None = self.alive.recv() => Interrupt::Stop(Stop::new(1000, "")),
        }
    }

    /// Fails every call in flight.
    pub(crate) fn fail_pending(&mut self, error: impl Fn() -> ClientError) {
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(error()));
        }
    }

    /// Stops for good: fails what is in flight or queued, ends every subscription.
    fn finish(mut self, stop: Stop) {
        self.fail_pending(|| ClientError::Closed);
        // Dropping a queued call's reply channel fails it with `Closed`.
        self.outbox.close();
        while self.outbox.try_recv().is_ok() {}
        self.priority.close();
        while self.priority.try_recv().is_ok() {}
        let closed = ConnectionState::Closed {
            code: stop.code,
            reason: stop.reason,
        };
        if !matches!(*self.shared.state.borrow(), ConnectionState::Closed { .. }) {
            self.shared.set_state(closed);
        }
        self.events = None;
        self.shared.events.lock().unwrap_or_else(PoisonError::into_inner).take();
        self.shared
            .changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(done) = stop.done {
            let _ = done.send(());
        }
    }
}

/// An open connection, and how its session went when the client asked to resume one.
pub(crate) struct Opened {
    socket: Socket,
    /// The server's `__session` frame, when it was awaited and came.
    session: Option<SessionFrame>,
    /// The first frame, when it was awaited and was something else (a server with resume off).
    first: Option<Message>,
}

/// Connects; when resuming, waits (at most [`SESSION_WAIT`], and the connect timeout) for the
/// server's first frame, which says whether the session was taken over, so that the state
/// reports it and the re-join hook runs or not accordingly. Nothing is sent meanwhile.
async fn open(config: &Config, tls: Option<connect::Tls>, resume: Option<&Resume>) -> Result<Opened, ClientError> {
    let mut socket = connect::open(config, tls, resume).await?;
    if resume.is_none() {
        return Ok(Opened {
            socket,
            session: None,
            first: None,
        });
    }
    let wait = SESSION_WAIT.min(config.connect_timeout);
    let first = tokio::time::timeout(wait, async {
        loop {
            match socket.next().await {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => return Ok(Some(message)),
                Some(Ok(Message::Close(_))) | None => {
                    return Err(ClientError::Connection("closed before the session was known".into()));
                }
                Some(Ok(_)) => {} // pings, pongs
                Some(Err(error)) => return Err(ClientError::Connection(error.to_string())),
            }
        }
    })
    .await
    .unwrap_or(Ok(None))?;
    let session = first.as_ref().and_then(|message| {
        let data: &[u8] = match message {
            Message::Text(text) => text.as_bytes(),
            Message::Binary(data) => data,
            _ => return None,
        };
        match wire::decode(config.codec, data) {
            Ok(Inbound::Session(frame)) => Some(frame),
            _ => None,
        }
    });
    let first = if session.is_some() { None } else { first };
    Ok(Opened { socket, session, first })
}

/// How a connection ended.
pub(crate) enum Ended {
    /// Closed by the server, broken, or found dead: reconnect with backoff.
    Lost { code: u16, reason: String },
    /// [`Client::reconnect`]: connect again at once.
    Replace,
    /// Stop for good.
    Stop(Stop),
}
