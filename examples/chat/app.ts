// The chat page: the TypeScript client, typed by the chat router's generated types
// (chat.gen.ts), so every call and event below is checked against the Rust server.
import { createClient, RpcError, type ZocketClient } from "@zocket-rs/client";
import type { AppRouter, Message } from "./chat.gen.js";

const MAX_ENTRIES = 200; // per room, in memory and in the DOM

type Entry = ({ kind: "msg" } & Pick<Message, "from" | "text" | "ts">) | { kind: "notice"; text: string };
interface Room {
  entries: Entry[];
  members: Set<string>;
  unread: boolean;
  /** Events that arrive while a join call is in flight, or null. */
  buffer: Entry[] | null;
}

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
/** Creates an element; text always goes through textContent, so user data is never parsed as HTML. */
const h = (tag: string, className = "", text = "") => {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
};
const ui = {
  nickForm: $<HTMLFormElement>("#nick-form"),
  nick: $<HTMLInputElement>("#nick"),
  status: $("#status"),
  rooms: $("#rooms"),
  joinForm: $<HTMLFormElement>("#join-form"),
  roomInput: $<HTMLInputElement>("#room-input"),
  suggestions: $("#room-suggestions"),
  leave: $<HTMLButtonElement>("#leave"),
  messages: $("#messages"),
  members: $("#members"),
  error: $("#error"),
  sendForm: $<HTMLFormElement>("#send-form"),
  text: $<HTMLInputElement>("#text"),
};

// ---------- state ----------
let client: ZocketClient<AppRouter> | null = null;
let nick = "";
let everOpened = false; // has this session connected at least once?
let countdown = 0;
const rooms = new Map<string, Room>();
let active: string | null = null;

// ---------- connection ----------
function setStatus(text: string, state: string, resumed = false) {
  ui.status.textContent = text;
  ui.status.dataset.state = state;
  ui.status.dataset.resumed = String(resumed);
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const c = createClient<AppRouter>(`${proto}//${location.host}/ws`, {
    headers: { nick },
    reconnect: { minDelayMs: 500, maxDelayMs: 10_000 },
    // Notices a connection that went silent (a laptop that slept, a dropped network).
    heartbeat: { intervalMs: 20_000, timeoutMs: 10_000 },
  });
  client = c;
  setStatus("connecting…", "connecting");

  c.onOpen(async ({ resumed }) => {
    everOpened = true;
    clearInterval(countdown);
    setStatus(resumed ? `connected as ${nick} (resumed)` : `connected as ${nick}`, "open", resumed);
    clearError();
    // The server took this connection over the dropped one's session: still in every room,
    // and what was missed meanwhile is arriving now, in order, through the usual listeners.
    if (resumed) return;
    // A fresh session: re-join every room we were in (history is re-rendered), or start in the lobby.
    const wanted = rooms.size ? [...rooms.keys()] : ["lobby"];
    await Promise.all(wanted.map((room) => join(room, { focus: false })));
    if (!active || !rooms.has(active)) setActive(wanted.find((r) => rooms.has(r)) ?? null);
    void refreshSuggestions();
  });
  c.onClose(({ code }) => {
    if (client !== c) return;
    if (!everOpened) {
      // The upgrade never succeeded: most likely the nickname was refused (HTTP 400).
      c.close();
      setStatus("disconnected", "closed");
      showError("CONNECT_FAILED", `could not connect as "${nick}": the server refused the nickname (1–24 characters) or is unreachable`);
      return;
    }
    setStatus(`disconnected (${code})`, "closed");
  });
  c.onReconnecting(({ attempt, delayMs }) => {
    const due = Date.now() + delayMs;
    const tick = () =>
      setStatus(`reconnecting in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))}s (attempt ${attempt})`, "retry");
    clearInterval(countdown);
    tick();
    countdown = window.setInterval(tick, 250);
  });

  c.on.chat.message((m) => addEntry(m.room, { kind: "msg", from: m.from, text: m.text, ts: m.ts }));
  c.on.chat.joined(({ room, nick: who }) => {
    const r = rooms.get(room);
    if (!r) return;
    r.members.add(who);
    addEntry(room, { kind: "notice", text: `${who} joined` });
    if (room === active) renderMembers();
  });
  c.on.chat.left(({ room, nick: who }) => {
    const r = rooms.get(room);
    if (!r) return;
    r.members.delete(who);
    addEntry(room, { kind: "notice", text: `${who} left` });
    if (room === active) renderMembers();
  });
}

/** Drops the current connection on purpose and forgets all rooms. */
function stop() {
  clearInterval(countdown);
  client?.close();
  client = null;
  rooms.clear();
  active = null;
  render();
}

// ---------- chat actions ----------
async function join(room: string, { focus = true } = {}): Promise<boolean> {
  if (!client) return false;
  const known = rooms.get(room);
  if (known && !known.buffer && focus) {
    setActive(room); // already in it: just switch
    return true;
  }
  const r: Room = known ?? { entries: [], members: new Set(), unread: false, buffer: null };
  r.buffer = [];
  rooms.set(room, r);
  try {
    const res = await client.chat.join({ room });
    const key = (m: Pick<Message, "ts" | "from" | "text">) => `${m.ts}\n${m.from}\n${m.text}`;
    const seen = new Set(res.history.map(key));
    const late = r.buffer.filter((e) => e.kind !== "msg" || !seen.has(key(e)));
    const history: Entry[] = res.history.map((m) => ({ kind: "msg", from: m.from, text: m.text, ts: m.ts }));
    // Re-joining after a reconnect: keep what the page showed that the server no longer has
    // (a restarted server starts with no history), then the server's history.
    const kept = known ? known.entries.filter((e) => e.kind !== "msg" || !seen.has(key(e))) : [];
    const rejoined: Entry[] = known ? [{ kind: "notice", text: "reconnected" }] : [];
    r.entries = [...kept, ...rejoined, ...history, ...late].slice(-MAX_ENTRIES);
    r.members = new Set(res.members);
    r.buffer = null;
    if (focus || room === active) setActive(room);
    else renderRooms();
    return true;
  } catch (err) {
    r.buffer = null;
    if (!known) rooms.delete(room);
    showCallError(err, "chat.join");
    renderRooms();
    return false;
  }
}

async function leave(room: string) {
  if (!client) return;
  try {
    const remaining = await client.chat.leave({ room });
    rooms.delete(room);
    // The server's list is authoritative; drop anything it no longer has us in.
    for (const name of [...rooms.keys()]) if (!remaining.includes(name)) rooms.delete(name);
    if (!active || !rooms.has(active)) setActive(remaining.find((n) => rooms.has(n)) ?? null);
    else renderRooms();
    void refreshSuggestions();
  } catch (err) {
    showCallError(err, "chat.leave");
  }
}

async function send() {
  if (!client) return;
  if (!active) return showError("NO_ROOM", "join a room first");
  const text = ui.text.value;
  try {
    await client.chat.send({ room: active, text });
    // Clear only what was sent: anything typed while the call was in flight stays.
    if (ui.text.value === text) ui.text.value = "";
    clearError();
  } catch (err) {
    showCallError(err, "chat.send");
  }
}

/** Fills the join input's suggestions with the server's room list. */
async function refreshSuggestions() {
  if (!client) return;
  try {
    const list = await client.chat.rooms();
    ui.suggestions.replaceChildren(
      ...list.map(({ room, members }) => {
        const opt = h("option") as HTMLOptionElement;
        opt.value = room;
        opt.label = `${members} online`;
        return opt;
      }),
    );
  } catch {
    // Suggestions are optional.
  }
}

// ---------- rendering ----------
function addEntry(room: string, entry: Entry) {
  const r = rooms.get(room);
  if (!r) return;
  if (r.buffer) {
    r.buffer.push(entry); // join reply still pending
    return;
  }
  r.entries.push(entry);
  if (r.entries.length > MAX_ENTRIES) r.entries.splice(0, r.entries.length - MAX_ENTRIES);
  if (room !== active) {
    r.unread = true;
    renderRooms();
    return;
  }
  const box = ui.messages;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.append(entryNode(room, entry));
  while (box.childElementCount > MAX_ENTRIES) box.firstElementChild?.remove();
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function entryNode(room: string, e: Entry) {
  if (e.kind === "notice") {
    const node = h("div", "notice", e.text);
    node.dataset.room = room;
    return node;
  }
  const node = h("div", e.from === nick ? "msg mine" : "msg");
  node.dataset.room = room;
  const date = new Date(e.ts);
  const time = h("time") as HTMLTimeElement;
  if (!Number.isNaN(date.getTime())) {
    time.dateTime = date.toISOString();
    time.title = date.toLocaleString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  node.append(time, h("span", "from", e.from), h("span", "text", e.text));
  return node;
}

function setActive(room: string | null) {
  active = room;
  const r = room === null ? undefined : rooms.get(room);
  if (r) r.unread = false;
  render();
}

function render() {
  renderRooms();
  renderMessages();
  renderMembers();
}

function renderRooms() {
  ui.rooms.replaceChildren(
    ...[...rooms.keys()].sort().map((name) => {
      const li = h("li", name === active ? "active" : "", name);
      li.dataset.room = name;
      li.tabIndex = 0;
      li.setAttribute("role", "button");
      if (rooms.get(name)?.unread) li.classList.add("unread");
      return li;
    }),
  );
  ui.leave.disabled = !active;
  ui.leave.textContent = active ? `Leave ${active}` : "Leave";
}

function renderMessages() {
  const r = active === null ? undefined : rooms.get(active);
  const room = active ?? "";
  ui.messages.replaceChildren(...(r ? r.entries.slice(-MAX_ENTRIES).map((e) => entryNode(room, e)) : []));
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function renderMembers() {
  const r = active === null ? undefined : rooms.get(active);
  ui.members.replaceChildren(...(r ? [...r.members].sort() : []).map((m) => h("li", m === nick ? "me" : "", m)));
}

/** Shows a failed call: the server's code, message and every failing field. */
function showCallError(err: unknown, route: string) {
  if (err instanceof RpcError) {
    const issues = err.issues.map((i) => `• ${i.path.join(".") || "(payload)"}: ${i.message}`);
    showError(err.code, `${err.message} (${route})`, issues);
  } else if (err instanceof Error) {
    showError((err as { code?: string }).code ?? "ERROR", `${err.message} (${route})`);
  } else {
    showError("ERROR", `${String(err)} (${route})`);
  }
}

function showError(code: string, message: string, details: string[] = []) {
  ui.error.textContent = [`${code}: ${message}`, ...details].join("\n");
}
function clearError() {
  ui.error.textContent = "";
}

// ---------- wiring ----------
ui.nickForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = ui.nick.value.trim();
  if (!name) return showError("INVALID_NICK", "enter a nickname (1–24 characters)");
  stop();
  clearError();
  nick = name;
  everOpened = false;
  connect();
  ui.text.focus();
});

ui.joinForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const room = ui.roomInput.value.trim();
  if (!room) return;
  if (await join(room)) {
    ui.roomInput.value = "";
    clearError();
    void refreshSuggestions();
  }
});

ui.leave.addEventListener("click", () => {
  if (active) void leave(active);
});

ui.rooms.addEventListener("click", (e) => {
  const li = (e.target as HTMLElement).closest<HTMLElement>("[data-room]");
  if (li?.dataset.room) setActive(li.dataset.room);
});
ui.rooms.addEventListener("keydown", (e) => {
  const li = (e.target as HTMLElement).closest<HTMLElement>("[data-room]");
  if (li?.dataset.room && (e.key === "Enter" || e.key === " ")) {
    e.preventDefault();
    setActive(li.dataset.room);
  }
});

ui.sendForm.addEventListener("submit", (e) => {
  e.preventDefault();
  void send();
});
