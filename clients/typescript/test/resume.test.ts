// Resume after a dropped connection, against a scripted server that speaks the resume wire
// (`__session` first, `seq` on events, `__session`/`__seq` on the reconnect's URL). The same
// against the real conformance server is in resume-conformance.test.ts.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { ConnectionError, createClient, type OpenInfo, type WebSocketConstructor, type ZocketClient } from "../src/index.js";
import type { AppRouter } from "./conformance.gen.js";

const WAIT_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One connection the scripted server accepted: its query, what it received, and the socket. */
interface Conn {
  query: URLSearchParams;
  socket: WebSocket;
  received: { type: string; rpcId?: string; payload?: { name?: string }; at: number }[];
  /** When the server sent `__session` on it (ms since the epoch), if it did. */
  sessionSentAt: number | null;
}

/** A scripted server on 127.0.0.1: `onConnection` decides what each connection is sent. */
async function scripted(onConnection: (conn: Conn, index: number) => void | Promise<void>) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const conns: Conn[] = [];
  const waiters: (() => void)[] = [];
  server.on("connection", (socket: WebSocket, request: IncomingMessage) => {
    const conn: Conn = {
      query: new URL(request.url ?? "/", "ws://x").searchParams,
      socket,
      received: [],
      sessionSentAt: null,
    };
    socket.on("message", (data) => {
      const frame = JSON.parse(String(data)) as { type: string; rpcId?: string; payload?: { name?: string } };
      conn.received.push({ ...frame, at: Date.now() });
    });
    conns.push(conn);
    for (const wake of waiters.splice(0)) wake();
    void onConnection(conn, conns.length - 1);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    conns,
    /** Resolves once the server has had `n` connections. */
    async connections(n: number): Promise<Conn[]> {
      const deadline = Date.now() + WAIT_MS;
      while (conns.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for connection ${n}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 50);
        });
      }
      return conns;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}

function session(conn: Conn, token: string, resumed: boolean): void {
  conn.sessionSentAt = Date.now();
  conn.socket.send(JSON.stringify({ type: "__session", payload: { token, resumed } }));
}

function tick(conn: Conn, n: number, seq?: number): void {
  conn.socket.send(JSON.stringify({ type: "system.tick", payload: { n }, ...(seq === undefined ? {} : { seq }) }));
}

const clients: ZocketClient<AppRouter>[] = [];
function client(url: string, options: { resume?: boolean; connectTimeoutMs?: number } = {}) {
  const opens: OpenInfo[] = [];
  const ticks: number[] = [];
  const c = createClient<AppRouter>(url, {
    headers: { token: "resumer" },
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    reconnect: { minDelayMs: 50, maxDelayMs: 100 },
    ...options,
  });
  clients.push(c);
  c.onOpen((info) => opens.push(info));
  c.on.system.tick((t) => ticks.push(t.n));
  return { c, opens, ticks };
}

async function until(what: string, ok: () => boolean, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

after(() => {
  for (const c of clients) c.close();
});

test("a dropped connection resumes: the token and last seq go back, onOpen says resumed", async () => {
  const server = await scripted((conn, i) => {
    if (i === 0) {
      session(conn, "token-1", false);
      for (let n = 1; n <= 3; n++) tick(conn, n, n);
    } else if (i === 1) {
      // What a server with resume on does: the new token, then the missed events, in order.
      const resumed = conn.query.get("__session") === "token-1" && conn.query.get("__seq") === "3";
      session(conn, "token-2", resumed);
      for (let n = 4; n <= 5; n++) tick(conn, n, n);
    } else {
      session(conn, "token-3", conn.query.get("__session") === "token-2");
    }
  });
  try {
    const { c, opens, ticks } = client(server.url);
    await until("3 events", () => ticks.length === 3);
    const [first] = await server.connections(1);
    assert.equal(first!.query.get("__session"), null, "a first connection asks for no session");
    assert.equal(first!.query.get("token"), "resumer");
    first!.socket.terminate(); // no close frame: the way a network drops it
    await until("the resumed events", () => ticks.length === 5);
    const second = (await server.connections(2))[1]!;
    assert.equal(second.query.get("__session"), "token-1");
    assert.equal(second.query.get("__seq"), "3");
    assert.equal(second.query.get("token"), "resumer", "the headers still go");
    assert.deepEqual(ticks, [1, 2, 3, 4, 5], "seq is not part of the payload, and nothing is doubled");
    assert.deepEqual(opens, [{ resumed: false }, { resumed: true }]);

    // The next drop sends the newest token and the highest seq, across the resume.
    second.socket.terminate();
    const third = (await server.connections(3))[2]!;
    assert.equal(third.query.get("__session"), "token-2");
    assert.equal(third.query.get("__seq"), "5");
    await until("the third open", () => opens.length === 3);
    assert.deepEqual(opens[2], { resumed: true });
    assert.equal(c.readyState, 1);
  } finally {
    await server.close();
  }
});

test("a refused resume is a fresh session: onOpen says so, and seq counts from the new session", async () => {
  const server = await scripted((conn, i) => {
    if (i === 0) {
      session(conn, "old", false);
      for (let n = 1; n <= 4; n++) tick(conn, n, n);
    } else if (i === 1) {
      session(conn, "new", false); // window expired, say
      tick(conn, 10, 1);
    } else {
      session(conn, "newer", false);
    }
  });
  try {
    const { opens, ticks } = client(server.url);
    await until("4 events", () => ticks.length === 4);
    server.conns[0]!.socket.terminate();
    await until("the fresh session's event", () => ticks.length === 5);
    assert.deepEqual(opens, [{ resumed: false }, { resumed: false }]);
    assert.equal(server.conns[1]!.query.get("__session"), "old");
    assert.equal(server.conns[1]!.query.get("__seq"), "4");
    server.conns[1]!.socket.terminate();
    const third = (await server.connections(3))[2]!;
    assert.equal(third.query.get("__session"), "new");
    assert.equal(third.query.get("__seq"), "1", "the new session's seq, not the old one's 4");
  } finally {
    await server.close();
  }
});

test("calls made while resuming wait for the __session frame; a call in flight still fails at the drop", async () => {
  const server = await scripted(async (conn, i) => {
    conn.socket.on("message", (data) => {
      const frame = JSON.parse(String(data)) as { type: string; rpcId?: string };
      if (frame.type === "greet" && frame.rpcId) {
        conn.socket.send(JSON.stringify({ type: "__rpc_res", payload: "hi", rpcId: frame.rpcId }));
      }
    });
    if (i === 0) return session(conn, "t1", false);
    await sleep(200); // a slow `__session`
    session(conn, "t2", true);
  });
  try {
    const { c, opens } = client(server.url);
    await until("open", () => opens.length === 1);
    const inFlight = c.slow.echo({ text: "lost", delayMs: 10_000 }); // never answered
    await until("the call to arrive", () => server.conns[0]!.received.length === 1);
    server.conns[0]!.socket.terminate();
    const error = await inFlight.then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ConnectionError && error.code === "DISCONNECTED", String(error));
    const queued = c.greet({ name: "queued" }); // made while disconnected
    const second = (await server.connections(2))[1]!;
    await until("the client to see the socket open", () => c.readyState === 1);
    assert.equal(second.sessionSentAt, null);
    const during = c.greet({ name: "during" }); // made while the socket is open, before `__session`
    assert.equal(await queued, "hi");
    assert.equal(await during, "hi");
    assert.ok(second.sessionSentAt !== null);
    assert.ok(
      second.received.every((f) => f.at >= second.sessionSentAt!),
      "nothing was sent before the server said how the session went",
    );
    assert.deepEqual(
      second.received.map((f) => `${f.type}:${f.payload?.name}`),
      ["greet:queued", "greet:during"],
      "in order; the call in flight at the drop is not sent again",
    );
    assert.deepEqual(opens, [{ resumed: false }, { resumed: true }]);
  } finally {
    await server.close();
  }
});

test("a server without resume: no __session, onOpen says not resumed, reconnects ask for nothing", async () => {
  const server = await scripted((conn, i) => tick(conn, i + 1)); // v1: no `__session`, no `seq`
  try {
    const { opens, ticks } = client(server.url);
    await until("the first event", () => ticks.length === 1);
    assert.deepEqual(opens, [{ resumed: false }]);
    server.conns[0]!.socket.terminate();
    await until("the second event", () => ticks.length === 2);
    assert.equal(server.conns[1]!.query.get("__session"), null);
    assert.equal(server.conns[1]!.query.get("__seq"), null);
    assert.deepEqual(opens, [{ resumed: false }, { resumed: false }]);
  } finally {
    await server.close();
  }
});

test("a server that lost resume: its first other frame, or a short wait, opens a fresh session", async () => {
  const server = await scripted((conn, i) => {
    if (i === 0) {
      session(conn, "t1", false);
      tick(conn, 1, 1);
    } else if (i === 1) {
      tick(conn, 2); // restarted with resume off: an event first, no `__session`
    }
    // i === 2: silent
  });
  try {
    const { opens, ticks } = client(server.url, { connectTimeoutMs: 300 });
    await until("the first event", () => ticks.length === 1);
    server.conns[0]!.socket.terminate();
    await until("the second event", () => ticks.length === 2);
    assert.deepEqual(opens, [{ resumed: false }, { resumed: false }], "announced before the event");
    assert.equal(server.conns[1]!.query.get("__session"), "t1");
    // The stale token is forgotten: the next reconnect asks for nothing.
    server.conns[1]!.socket.terminate();
    const third = (await server.connections(3))[2]!;
    assert.equal(third.query.get("__session"), null);
    await until("the third open", () => opens.length === 3);
    assert.deepEqual(opens[2], { resumed: false });
  } finally {
    await server.close();
  }
});

test("a silent server after a resume request is announced as fresh after a short wait", async () => {
  const server = await scripted((conn, i) => {
    if (i === 0) session(conn, "t1", false);
  });
  try {
    const { opens } = client(server.url, { connectTimeoutMs: 300 });
    await until("open", () => opens.length === 1);
    server.conns[0]!.socket.terminate();
    const started = Date.now();
    await until("the second open", () => opens.length === 2);
    assert.deepEqual(opens[1], { resumed: false });
    assert.ok(Date.now() - started >= 250, "it waited for the `__session` frame first");
  } finally {
    await server.close();
  }
});

test("close() and reconnect() end the session on purpose; resume: false never asks", async () => {
  const server = await scripted((conn, i) => session(conn, `t${i}`, conn.query.has("__session")));
  try {
    const { c, opens } = client(server.url);
    await until("open", () => opens.length === 1);
    c.reconnect(); // a close frame: the server ends the session, so the client asks for none
    await until("the second open", () => opens.length === 2);
    assert.equal(server.conns[1]!.query.get("__session"), null);
    c.close();

    const off = client(server.url, { resume: false });
    await until("open", () => off.opens.length === 1);
    server.conns[2]!.socket.terminate();
    await until("the reconnect", () => off.opens.length === 2);
    assert.equal(server.conns[3]!.query.get("__session"), null);
    assert.deepEqual(off.opens, [{ resumed: false }, { resumed: false }]);
  } finally {
    await server.close();
  }
});
