//! A multi-room chat: a web page at `/` and the WebSocket at `/ws`, both routes of a plain
//! `axum::Router` (the WebSocket endpoint is mounted with `Server::method_router`, as it would
//! be in an existing axum app).
//!
//! The page (`examples/chat/app.ts`, `index.html`) is written against the TypeScript client
//! (`clients/typescript`) and this router's generated types (`examples/chat/chat.gen.ts`, from
//! `cargo run --example chat -- --export-ts examples/chat/chat.gen.ts`), and bundled with
//! esbuild into `examples/chat/dist`, which the server serves (`CHAT_WEB_DIR` overrides it).
//!
//! Run: `scripts/chat` (builds the page, then `cargo run --example chat`; port from `PORT`,
//! default 3000) and open <http://127.0.0.1:3000> in two browser windows. On two nodes:
//! `scripts/chat-cluster` runs a redis-server and the chat on ports 3000 and 3001 with
//! `REDIS_URL` set; a page on each chats as if on one server.
//!
//! Protocol (connect to `/ws?nick=NAME`, 1 to 24 characters, else HTTP 400):
//! - `chat.join {room}` replies `{room, history: [{room, from, text, ts}], members: [nick]}`
//!   and sends `chat.joined {room, nick}` to the other members;
//! - `chat.leave {room}` replies the caller's remaining rooms and sends `chat.left {room, nick}`
//!   to the remaining members (as does a disconnect, for every room the client was in);
//! - `chat.send {room, text}` sends `chat.message {room, from, text, ts}` to every member,
//!   the sender included; `FORBIDDEN` if the caller is not a member;
//! - `chat.rooms` replies `[{room, members}]` for every room that has members.
//!
//! The nicknames and the rooms' histories are the application state (`State<ChatState>`),
//! given once to the server. The last 50 messages of each room are kept in memory; a room's history is freed once it has
//! been empty for ten minutes, and at most 1000 rooms are kept.
//!
//! Session resume is on (`RESUME_WINDOW_MS`, default two minutes; `0` turns it off): a page
//! whose connection drops (a phone switching networks, a laptop waking up) and reconnects within
//! the window keeps its rooms and gets every message sent meanwhile, once and in order, and the
//! others do not see it leave; `chat.left` goes out when the window passes without it. Each
//! session keeps up to 256 KiB of recent messages for that. In a cluster the page may come back
//! through another node: the session moves there (`resume_across_nodes`), and `on_move` moves
//! its nickname from one node's state to the other's.
//!
//! `/metrics` serves the server's metrics (see `zocket`'s metrics) in Prometheus' text format,
//! through `metrics-exporter-prometheus`, a dependency of this example only.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use garde::Validate;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use zocket::{
    CallError, ClientId, Config, Ctx, Disconnected, Handle, Input, Json, Moved, Outgoing, Reject, Resume, Rooms,
    Sender, Server, State, TS, Zocket,
};

/// Messages kept per room.
pub(crate) const HISTORY: usize = 50;
/// Rooms kept (with members or with history) at most.
pub(crate) const MAX_ROOMS: usize = 1000;
/// How long an empty room's history is kept.
const IDLE: Duration = Duration::from_secs(600);
/// How often idle rooms are looked for.
const SWEEP: Duration = Duration::from_secs(60);
/// How long a dropped page's session waits for it, unless `RESUME_WINDOW_MS` says otherwise.
const RESUME_WINDOW: Duration = Duration::from_secs(120);
/// How many bytes of recent messages each session keeps for a resume.
const RESUME_BYTES: usize = 256 * 1024;

#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(length(chars, min = 1, max = 24))]
    nick: String,
}

#[derive(Debug, Clone, Serialize, TS)]
pub(crate) struct Message {
    room: String,
    from: String,
    text: String,
    ts: u64,
}

#[derive(Debug, Outgoing)]
pub(crate) enum Out {
    #[zocket(route = "chat.message")]
    Message(Message),
    #[zocket(route = "chat.joined")]
    Joined { room: String, nick: String },
    #[zocket(route = "chat.left")]
    Left { room: String, nick: String },
}

#[derive(Debug)]
struct Room {
    history: VecDeque<Message>,
    last_active: Instant,
}

/// What every connection shares: each client's nickname, and each room's history.
#[derive(Debug)]
pub(crate) struct Chat {
    nicks: HashMap<ClientId, String>,
    rooms: HashMap<String, Room>,
    swept: Instant,
}

impl Chat {
    fn new() -> Self {
        let (nicks, rooms, swept) = (HashMap::new(), HashMap::new(), Instant::now());
        Self { nicks, rooms, swept }
    }

    /// The room's entry, made room for if it is new: empty rooms idle for `IDLE` are freed (a
    /// sweep at most every `SWEEP`, or whenever full), then if still full the idlest empty room
    /// goes. A room with members is never freed, so when all are occupied a new one is refused.
    fn room(&mut self, name: &str, hub: &Rooms) -> Result<&mut Room, CallError> {
        if !self.rooms.contains_key(name) {
            let empty = |name: &str| hub.members(name).is_empty();
            if self.rooms.len() >= MAX_ROOMS || self.swept.elapsed() >= SWEEP {
                self.swept = Instant::now();
                (self.rooms).retain(|name, room| room.last_active.elapsed() < IDLE || !empty(name));
            }
            if self.rooms.len() >= MAX_ROOMS {
                let idlest = (self.rooms.iter().filter(|(name, _)| empty(name)))
                    .min_by_key(|(_, room)| room.last_active)
                    .map(|(name, _)| name.clone());
                let idlest = idlest.ok_or_else(|| CallError::forbidden("Too many rooms; join an existing one"))?;
                self.rooms.remove(&idlest);
            }
        }
        let room = self.rooms.entry(name.to_owned()).or_insert_with(|| Room {
            history: VecDeque::with_capacity(HISTORY),
            last_active: Instant::now(),
        });
        room.last_active = Instant::now();
        Ok(room)
    }

    fn touch(&mut self, name: &str) {
        if let Some(room) = self.rooms.get_mut(name) {
            room.last_active = Instant::now();
        }
    }
}

/// The application state: what every connection shares, given once to the server.
pub(crate) type ChatState = Arc<Mutex<Chat>>;

/// The context of a connection: its nickname. Serializable, so that a session can move to
/// another node of a cluster.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Member {
    nick: String,
}

#[derive(Debug, Deserialize, Validate, TS)]
struct RoomName {
    #[garde(length(chars, min = 1, max = 32))]
    room: String,
}

#[derive(Debug, Deserialize, Validate, TS)]
struct Post {
    #[garde(length(chars, min = 1, max = 32))]
    room: String,
    #[garde(length(chars, min = 1, max = 500))]
    text: String,
}

#[derive(Debug, Serialize, TS)]
struct Joined {
    room: String,
    history: Vec<Message>,
    members: Vec<String>,
}

#[derive(Debug, Serialize, TS)]
struct RoomInfo {
    room: String,
    members: usize,
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

async fn join(
    me: Ctx<Member>,
    State(chat): State<ChatState>,
    rooms: Rooms,
    send: Sender<Out>,
    Input(r): Input<RoomName>,
) -> Result<Json<Joined>, CallError> {
    let (fresh, history, members) = {
        let mut chat = chat.lock();
        chat.nicks.insert(me.client_id().clone(), me.nick.clone());
        let history = chat.room(&r.room, &rooms)?.history.iter().cloned().collect();
        let fresh = rooms.join(&r.room)?;
        let members: BTreeSet<String> = (rooms.members(&r.room).iter())
            .filter_map(|id| chat.nicks.get(id).cloned())
            .collect();
        (fresh, history, members.into_iter().collect())
    };
    if fresh {
        let joined = Out::Joined {
            room: r.room.clone(),
            nick: me.nick.clone(),
        };
        send.emit(joined).except(me.client_id()).to_room(&r.room)?;
    }
    Ok(Json(Joined {
        room: r.room,
        history,
        members,
    }))
}

async fn leave(
    me: Ctx<Member>,
    State(chat): State<ChatState>,
    rooms: Rooms,
    send: Sender<Out>,
    Input(r): Input<RoomName>,
) -> Result<Vec<String>, CallError> {
    if rooms.leave(&r.room) {
        chat.lock().touch(&r.room);
        send.emit(Out::Left {
            room: r.room.clone(),
            nick: me.nick.clone(),
        })
        .to_room(&r.room)?;
    }
    Ok(rooms.current())
}

async fn post(
    me: Ctx<Member>,
    State(chat): State<ChatState>,
    rooms: Rooms,
    send: Sender<Out>,
    Input(p): Input<Post>,
) -> Result<(), CallError> {
    if !rooms.has(&p.room) {
        return Err(CallError::forbidden(format!(
            "Join \"{}\" before sending to it",
            p.room
        )));
    }
    let message = Message {
        room: p.room,
        from: me.nick.clone(),
        text: p.text,
        ts: now_ms(),
    };
    let mut chat = chat.lock();
    let history = &mut chat.room(&message.room, &rooms)?.history;
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(message.clone());
    // Sent under the lock (sending never waits), so every member sees the history's order.
    let room = message.room.clone();
    send.emit(Out::Message(message)).to_room(&room)?;
    Ok(())
}

async fn list(State(chat): State<ChatState>, rooms: Rooms) -> Json<Vec<RoomInfo>> {
    let names: Vec<String> = chat.lock().rooms.keys().cloned().collect();
    let mut list: Vec<RoomInfo> = (names.into_iter())
        .map(|room| RoomInfo {
            members: rooms.members(&room).len(),
            room,
        })
        .filter(|info| info.members > 0)
        .collect();
    list.sort_by(|a, b| a.room.cmp(&b.room));
    Json(list)
}

async fn on_disconnect(gone: Disconnected<Member>, server: Handle<Out>, State(chat): State<ChatState>) {
    let mut chat = chat.lock();
    chat.nicks.remove(&gone.client_id);
    for room in gone.rooms {
        chat.touch(&room);
        let left = Out::Left {
            room: room.clone(),
            nick: gone.ctx.nick.clone(),
        };
        if let Err(error) = server.emit(left).to_room(&room) {
            tracing::error!(%error, "chat.left not sent");
        }
    }
}

/// A session moved to or from this node of a cluster: its nickname is kept where it is.
async fn on_move(moved: Moved<Member>, _server: Handle<Out>, State(chat): State<ChatState>) {
    let mut chat = chat.lock();
    if moved.arrived {
        chat.nicks.insert(moved.client_id, moved.ctx.nick.clone());
    } else {
        chat.nicks.remove(&moved.client_id);
    }
}

/// The chat's settings as `main` runs it: session resume, with the window from
/// `RESUME_WINDOW_MS` (milliseconds; `0` turns resume off) or [`RESUME_WINDOW`]. ([`app`], which
/// the in-process tests use, keeps the defaults: resume off, so a dropped test client leaves at
/// once.)
pub(crate) fn config() -> Config {
    let window = match std::env::var("RESUME_WINDOW_MS") {
        Err(_) => RESUME_WINDOW,
        Ok(ms) => match ms.trim().parse() {
            Ok(ms) => Duration::from_millis(ms),
            Err(_) => {
                eprintln!("RESUME_WINDOW_MS={ms}: not a number of milliseconds");
                std::process::exit(2);
            }
        },
    };
    let resume = (!window.is_zero()).then(|| Resume::new(window, RESUME_BYTES));
    Config::default().resume(resume)
}

/// The chat's WebSocket server; with `REDIS_URL` set, one node of a cluster (messages, joins
/// and leaves reach every node; each node keeps its own history and nicknames, so a join
/// replies with this node's history and members only; a page that drops and reconnects to
/// another node resumes there, its nickname moving with it).
pub(crate) fn app() -> Server<Headers, Out, Member, ChatState> {
    app_with(run::join_cluster_from_env)
}

/// The chat's WebSocket server, with `cluster` applied to the instance (to join a cluster).
pub(crate) fn app_with(
    cluster: impl FnOnce(Zocket<Headers, Out, Member, ChatState>) -> Zocket<Headers, Out, Member, ChatState>,
) -> Server<Headers, Out, Member, ChatState> {
    let zo = Zocket::<Headers, Out>::new()
        .with_state(Arc::new(Mutex::new(Chat::new())))
        .on_connect(|headers: Headers, _id: ClientId| async move { Ok::<_, Reject>(Member { nick: headers.nick }) })
        .on_disconnect(on_disconnect)
        .resume_across_nodes()
        .on_move(on_move);
    let zo = cluster(zo);
    let router = zo
        .router()
        .route("chat.join", join)
        .route("chat.leave", leave)
        .route("chat.send", post)
        .route("chat.rooms", list);
    zo.server(router)
}

/// Where the built page is: `CHAT_WEB_DIR`, else `examples/chat/dist` in this repository.
pub(crate) fn web_dir() -> PathBuf {
    std::env::var_os("CHAT_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/chat/dist"))
}

/// The whole site: the page's files from `web` (`index.html` at `/`), the WebSocket at `/ws`.
/// Files are read on each request, so a rebuilt page needs no restart.
pub(crate) fn site(server: &Server<Headers, Out, Member, ChatState>, web: PathBuf) -> axum::Router {
    let web = Arc::new(web);
    let root = web.clone();
    axum::Router::new()
        .route("/ws", server.method_router())
        .route(
            "/",
            axum::routing::get(move || file(root.clone(), "index.html".to_owned())),
        )
        .route(
            "/{*path}",
            axum::routing::get(move |axum::extract::Path(path): axum::extract::Path<String>| file(web.clone(), path)),
        )
}

/// One file of the page. Only plain names below `web` are served, never a way out of it.
async fn file(web: Arc<PathBuf>, path: String) -> Response {
    let plain = |segment: &str| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if !path.split('/').all(plain) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("map" | "json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(web.join(&path)).await {
        Ok(bytes) => {
            let headers = [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ];
            (headers, bytes).into_response()
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && path == "index.html" => not_built(&web),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            tracing::error!(%error, path, "page file not read");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// What `/` shows until the page is built.
fn not_built(web: &Path) -> Response {
    let dir = web.display().to_string().replace('&', "&amp;").replace('<', "&lt;");
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>zocket chat: page not built</title>\
         <h1>The chat page has not been built</h1>\
         <p>No <code>index.html</code> in <code>{dir}</code>. Build it and run the server with \
         <code>scripts/chat</code>, or build it alone with \
         <code>cd examples/chat &amp;&amp; npm ci &amp;&amp; npm run build</code> \
         (after <code>npm ci &amp;&amp; npm run build</code> in <code>clients/typescript</code>).</p>"
    );
    (StatusCode::SERVICE_UNAVAILABLE, axum::response::Html(page)).into_response()
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    if let Some(exported) = run::export_ts(app) {
        return exported;
    }
    // Metrics (connections, refusals, calls, closes, queue overflows) in Prometheus' text
    // format at /metrics. Installed before the server exists, so every metric is recorded.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(std::io::Error::other)?;
    tokio::runtime::Runtime::new()?.block_on(async {
        run::log();
        let web = web_dir();
        if !web.join("index.html").is_file() {
            tracing::warn!(dir = %web.display(), "the chat page is not built: run scripts/chat");
        }
        let server = app_with(|zo| run::join_cluster_from_env(zo.config(config())));
        run::reach_the_cluster(&server.handle()).await;
        let listener = run::bind("http").await?;
        let site = site(&server, web).route(
            "/metrics",
            axum::routing::get(move || std::future::ready(metrics.render())),
        );
        // zocket::serve rather than axum::serve: the whole site gets the header-read deadline.
        // On ctrl-c every WebSocket is closed (code 1001) and on_disconnect runs for each.
        zocket::serve(listener, server)
            .with_app(site)
            .with_graceful_shutdown(run::ctrl_c())
            .await
    })
}
