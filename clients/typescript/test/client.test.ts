// Runtime tests of the client against the real conformance server (examples/conformance.rs),
// typed by the types generated from its Rust router (conformance.gen.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import {
  ConnectionError,
  createClient,
  RpcError,
  TimeoutError,
  type ClientOptions,
  type CloseInfo,
  type OpenInfo,
  type ReconnectInfo,
  type WebSocketConstructor,
  type ZocketClient,
} from "../src/index.js";
import type { AppRouter, Headers } from "./conformance.gen.js";
import { startServer, type RunningServer } from "./server.js";

type Client = ZocketClient<AppRouter>;
const WAIT_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the next value `subscribe` delivers, or fails after `ms`. */
function next<T>(subscribe: (listener: (value: T) => void) => () => void, ms = WAIT_MS, what = "an event"): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, ms);
    const stop = subscribe((value) => {
      clearTimeout(timer);
      stop();
      resolve(value);
    });
  });
}

/** A client of the server under test, opened; closed after the test file. */
const clients: Client[] = [];
async function connect(
  server: RunningServer,
  token: string,
  options: Omit<ClientOptions<Headers>, "headers" | "WebSocket"> & { headers?: Partial<Headers> } = {},
): Promise<Client> {
  const client = createClient<AppRouter>(server.url, {
    ...options,
    headers: { token, ...options.headers },
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  clients.push(client);
  await next<OpenInfo>((cb) => client.onOpen(cb), WAIT_MS, `${token} to connect`);
  return client;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    const value = await promise;
    assert.fail(`expected a rejection, got ${JSON.stringify(value)}`);
  } catch (error) {
    return error;
  }
}

after(() => {
  for (const client of clients) client.close();
});

describe("against one server", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  test("calls resolve with the handler's reply", async () => {
    const ada = await connect(server, "ada", { headers: { "client-version": "2.0.0" } });
    assert.equal(await ada.greet({ name: "Ada" }), "Hello, Ada!");
    assert.equal(await ada.math.add({ a: 1, b: 2.5 }), 3.5);
    assert.equal(await ada.slow.echo({ text: "later", delayMs: 20 }), "later");
    const me = await ada.whoami();
    assert.equal(me.userId, "ada");
    assert.equal(me.clientVersion, "2.0.0"); // headers travel as query parameters
    assert.match(me.clientId, /^[0-9a-f]{32}$/);
    assert.deepEqual(await ada.rooms.join({ room: "b" }), ["b"]);
    assert.deepEqual(await ada.call("rooms.join", { room: "a" }), ["a", "b"]);
    assert.deepEqual(await ada.rooms.leave({ room: "b" }), ["a"]);
    assert.equal(await ada.chat.message({ text: "hi" }), null); // a handler that returns nothing
    assert.equal(ada.readyState, 1);
  });

  test("a header left out takes its default", async () => {
    const bob = await connect(server, "bob");
    assert.equal((await bob.whoami()).clientVersion, "1.0.0");
  });

  test("__rpc_err replies reject with a typed RpcError", async () => {
    const eve = await connect(server, "eve");
    const invalid = await rejection(eve.math.add({ a: "1", b: null } as never));
    assert.ok(invalid instanceof RpcError);
    assert.equal(invalid.code, "INVALID_INPUT");
    assert.equal(invalid.route, "math.add");
    assert.deepEqual(invalid.issues.map((i) => i.path).sort(), [["a"], ["b"]]);
    assert.ok(invalid.issues.every((i) => typeof i.message === "string" && i.message.length > 0));

    const tooLong = await rejection(eve.chat.message({ text: "x".repeat(501) }));
    assert.ok(tooLong instanceof RpcError && tooLong.code === "INVALID_INPUT");
    assert.deepEqual(tooLong.issues[0]?.path, ["text"]);

    const forbidden = await rejection(eve.admin.secret());
    assert.ok(forbidden instanceof RpcError);
    assert.equal(forbidden.code, "FORBIDDEN");
    assert.equal(forbidden.message, "Admins only");

    const boom = await rejection(eve.fail.boom());
    assert.ok(boom instanceof RpcError && boom.code === "INTERNAL");
    assert.ok(!boom.message.includes("database"), "no internals leak");
    const panic = await rejection(eve.fail.panic());
    assert.ok(panic instanceof RpcError && panic.code === "INTERNAL");

    const untyped = eve.call as (route: string, input?: unknown) => Promise<unknown>;
    const unknown = await rejection(untyped("no.such.route"));
    assert.ok(unknown instanceof RpcError && unknown.code === "NOT_FOUND");

    // The connection is still fine.
    assert.equal(await eve.greet({ name: "Eve" }), "Hello, Eve!");
  });

  test("the admin middleware lets the admin through", async () => {
    const admin = await connect(server, "admin-token");
    assert.equal(await admin.admin.secret(), "top secret");
  });

  test("broadcasts reach every client, the sender too", async () => {
    const a = await connect(server, "alice");
    const b = await connect(server, "bert");
    const atA = next((cb) => a.on.chat.onMessage(cb));
    const atB = next((cb) => b.on.chat.onMessage(cb));
    await a.chat.message({ text: "hello all" });
    assert.deepEqual(await atA, { text: "hello all", from: "alice" });
    assert.deepEqual(await atB, { text: "hello all", from: "alice" });

    const announced = next((cb) => b.on.system.announcement(cb));
    await a.system.announce({ text: "news" });
    assert.deepEqual(await announced, { text: "news" });
  });

  test("pushes from outside any handler arrive", async () => {
    const a = await connect(server, "ticker");
    const tick = next((cb) => a.on.system.tick(cb));
    await a.admin.pushTick({ n: 41 });
    assert.deepEqual(await tick, { n: 41 });
  });

  test("room messages reach members only; direct messages one client", async () => {
    const member = await connect(server, "member");
    const outsider = await connect(server, "outsider");
    await member.rooms.join({ room: "den" });
    const seenByOutsider: unknown[] = [];
    outsider.on.room.message((m) => seenByOutsider.push(m));
    const atMember = next((cb) => member.on.room.message(cb));
    await outsider.rooms.send({ room: "den", text: "knock knock" }); // a non-member may send
    assert.deepEqual(await atMember, { room: "den", text: "knock knock", from: "outsider" });

    const { clientId } = await member.whoami();
    const direct = next((cb) => member.on.chat.onMessage(cb));
    const seenDirect: unknown[] = [];
    outsider.on.chat.onMessage((m) => seenDirect.push(m));
    await outsider.direct.send({ to: clientId, text: "psst" });
    assert.deepEqual(await direct, { text: "psst", from: "outsider" });
    // A round trip later, nothing else arrived at the outsider.
    await outsider.greet({ name: "sync" });
    assert.deepEqual(seenByOutsider, []);
    assert.deepEqual(seenDirect, []);
  });

  test("presence.left names who left and the rooms it was in", async () => {
    const stays = await connect(server, "stays");
    const leaves = await connect(server, "leaves");
    await leaves.rooms.join({ room: "z" });
    await leaves.rooms.join({ room: "y" });
    const left = next((cb) => stays.on.presence.left(cb), WAIT_MS, "presence.left");
    leaves.close();
    assert.deepEqual(await left, { userId: "leaves", rooms: ["y", "z"] });
  });

  test("an unsubscribed listener hears nothing more", async () => {
    const c = await connect(server, "subscriber");
    const heard: string[] = [];
    const stop = c.on.system.announcement((m) => heard.push(`first:${m.text}`));
    c.on.system.announcement((m) => heard.push(`second:${m.text}`));
    const one = next((cb) => c.on.system.announcement(cb));
    await c.system.announce({ text: "1" });
    await one;
    stop();
    const two = next((cb) => c.on.system.announcement(cb));
    await c.system.announce({ text: "2" });
    await two;
    assert.deepEqual(heard, ["first:1", "second:1", "second:2"]);
  });

  test("a listener that throws does not stop the others; onError hears it", async () => {
    const c = await connect(server, "thrower");
    const errors: unknown[] = [];
    c.onError((e) => errors.push(e));
    c.on.system.announcement(() => {
      throw new Error("listener bug");
    });
    const heard = next((cb) => c.on.system.announcement(cb));
    await c.system.announce({ text: "still delivered" });
    assert.deepEqual(await heard, { text: "still delivered" });
    assert.equal((errors[0] as Error).message, "listener bug");
  });

  test("calls time out: per call and per client", async () => {
    const c = await connect(server, "slowpoke", { callTimeoutMs: 150 });
    const started = Date.now();
    const perCall = await rejection(c.slow.echo({ text: "x", delayMs: 2_000 }, { timeoutMs: 50 }));
    assert.ok(perCall instanceof TimeoutError);
    assert.equal(perCall.code, "TIMEOUT");
    assert.equal(perCall.route, "slow.echo");
    const perClient = await rejection(c.slow.echo({ text: "x", delayMs: 2_000 }));
    assert.ok(perClient instanceof TimeoutError && perClient.timeoutMs === 150);
    assert.ok(Date.now() - started < 1_500, "timeouts do not wait for the reply");
    // The connection still works, and a fast call beats the client's timeout.
    assert.equal(await c.slow.echo({ text: "quick", delayMs: 0 }), "quick");
  });

  test("an aborted call rejects with the signal's reason", async () => {
    const c = await connect(server, "aborter");
    const controller = new AbortController();
    const call = c.slow.echo({ text: "x", delayMs: 1_000 }, { signal: controller.signal });
    controller.abort(new Error("changed my mind"));
    assert.equal(((await rejection(call)) as Error).message, "changed my mind");
  });

  test("close() rejects pending calls, stops for good; calls after it reject", async () => {
    const c = await connect(server, "closer");
    const closed = next<CloseInfo>((cb) => c.onClose(cb));
    const pending = c.slow.echo({ text: "x", delayMs: 2_000 });
    c.close();
    const error = await rejection(pending);
    assert.ok(error instanceof ConnectionError);
    assert.equal((await closed).code, 1000);
    assert.equal(c.readyState, 3);
    const after = await rejection(c.greet({ name: "late" }));
    assert.ok(after instanceof ConnectionError && after.code === "CLOSED");
    await sleep(700); // longer than the first reconnect delay: still closed
    assert.equal(c.readyState, 3);
  });

  test("reconnect() opens a fresh connection with a new client id", async () => {
    const c = await connect(server, "again");
    const first = (await c.whoami()).clientId;
    const reopened = next<OpenInfo>((cb) => c.onOpen(cb));
    c.reconnect();
    await reopened;
    assert.notEqual((await c.whoami()).clientId, first);
  });
});

describe("when the server goes away", () => {
  test("pending calls reject, and the client reconnects when the server is back", async () => {
    let server = await startServer();
    const port = server.port;
    const c = await connect(server, "survivor", { reconnect: { minDelayMs: 100, maxDelayMs: 400 } });
    const ticks: number[] = [];
    c.on.system.tick((t) => ticks.push(t.n)); // a subscription made before the restart

    const inFlight = c.slow.echo({ text: "lost", delayMs: 3_000 });
    const closed = next<CloseInfo>((cb) => c.onClose(cb), WAIT_MS, "the close");
    const reconnecting = next<ReconnectInfo>((cb) => c.onReconnecting(cb), WAIT_MS, "a reconnect to be scheduled");
    const stopping = server.stop();
    const error = await rejection(inFlight);
    assert.ok(error instanceof ConnectionError, String(error));
    assert.equal(error.code, "DISCONNECTED");
    assert.equal((await closed).code, 1001); // the server's graceful shutdown
    assert.ok((await reconnecting).attempt >= 1);
    await stopping;

    // Calls made while disconnected wait for the connection.
    const queued = c.greet({ name: "patient" });
    const reopened = next<OpenInfo>((cb) => c.onOpen(cb), 30_000, "the reconnect");
    server = await startServer(port);
    try {
      await reopened;
      assert.equal(await queued, "Hello, patient!");
      assert.equal(c.readyState, 1);
      await c.admin.pushTick({ n: 7 });
      await c.greet({ name: "sync" });
      await sleep(50);
      assert.deepEqual(ticks, [7]);
    } finally {
      c.close();
      await server.stop();
    }
  });

  test("the heartbeat notices a server that stopped answering, then reconnects", async () => {
    const server = await startServer();
    const c = await connect(server, "listener", {
      heartbeat: { intervalMs: 200, timeoutMs: 300 },
      connectTimeoutMs: 500,
      reconnect: { minDelayMs: 100, maxDelayMs: 200 },
    });
    try {
      // A quiet but healthy connection is probed and kept.
      const closes: number[] = [];
      c.onClose((info) => closes.push(info.code));
      await sleep(900);
      assert.deepEqual(closes, []);

      const dropped = next<CloseInfo>((cb) => c.onClose(cb), WAIT_MS, "the heartbeat to drop the connection");
      server.freeze();
      const info = await dropped;
      assert.equal(info.code, 4000);
      assert.match(info.reason, /no answer/);
      const reopened = next<OpenInfo>((cb) => c.onOpen(cb), 20_000, "the reconnect");
      await sleep(800); // connection attempts time out meanwhile
      server.thaw();
      await reopened;
      assert.equal(await c.greet({ name: "back" }), "Hello, back!");
    } finally {
      c.close();
      server.thaw();
      await server.stop();
    }
  });

  test("a refused connection is retried until maxRetries, then queued calls reject", async () => {
    const server = await startServer();
    try {
      const c = createClient<AppRouter>(server.url, {
        headers: { token: "banned-user" }, // on_connect refuses it (HTTP 401)
        WebSocket: WebSocket as unknown as WebSocketConstructor,
        reconnect: { minDelayMs: 20, maxDelayMs: 40, maxRetries: 2 },
      });
      const attempts: number[] = [];
      c.onReconnecting(({ attempt }) => attempts.push(attempt));
      const error = await rejection(c.greet({ name: "nobody" }));
      assert.ok(error instanceof ConnectionError && error.code === "CLOSED", String(error));
      assert.deepEqual(attempts, [1, 2]);
      assert.equal(c.readyState, 3);
      assert.ok(c.lastError !== null);
    } finally {
      await server.stop();
    }
  });
});

test("without a WebSocket class the client says what to pass", () => {
  const global = globalThis as { WebSocket?: unknown };
  const saved = global.WebSocket; // Node 20 has none; later versions do
  delete global.WebSocket;
  try {
    assert.throws(
      () => createClient<AppRouter>("ws://127.0.0.1:1/", { headers: { token: "abc" } }),
      /pass one as the `WebSocket` option/,
    );
  } finally {
    if (saved !== undefined) global.WebSocket = saved;
  }
});
