//! The connection task: connects, runs each connection ([`session`](crate::session)), and
//! between connections waits with backoff, until the client is closed or every handle is gone.

use crate::builder::Config;
use crate::client::{Client, Control, Outbound, Reply, Shared};
use crate::state::ABNORMAL;
use crate::{ClientError, ConnectionState, connect};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use tokio::sync::{broadcast, mpsc, oneshot};

/// The re-join hook, run after each reconnection.
pub(crate) type Hook<O> = Arc<dyn Fn(Client<O>) -> BoxFuture<'static, ()> + Send + Sync>;

/// How many messages the re-join hook may queue ahead of the outbox.
const PRIORITY: usize = 64;

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
            let result = tokio::select! {
                result = connect::open(&config, tls.clone()) => result,
                interrupt = self.interrupted() => match interrupt {
                    Interrupt::Stop(stop) => break stop,
                    Interrupt::Reconnect => continue,
                },
            };
            match result {
                Ok(socket) => {
                    attempt = 0;
                    self.shared.set_state(ConnectionState::Open);
                    // Whoever connected stopped waiting: nobody has this client.
                    if opened.take().is_some_and(|opened| opened.send(Ok(())).is_err()) {
                        break Stop::new(1000, "");
                    }
                    let ended = self.session(socket, reconnected).await;
                    reconnected = true;
                    self.fail_pending(|| ClientError::Disconnected);
                    match ended {
                        Ended::Lost { code, reason } => {
                            self.shared.set_state(ConnectionState::Closed { code, reason });
                        }
                        Ended::Replace => {
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

/// How a connection ended.
pub(crate) enum Ended {
    /// Closed by the server, broken, or found dead: reconnect with backoff.
    Lost { code: u16, reason: String },
    /// [`Client::reconnect`]: connect again at once.
    Replace,
    /// Stop for good.
    Stop(Stop),
}
