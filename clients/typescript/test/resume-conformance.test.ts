// Resume against the real conformance server (RESUME_WINDOW_MS set): a client whose TCP
// connection is cut abruptly (no close frame, as a network drops it) while messages flow to its
// room reconnects, resumes, and gets every message once and in order; on the same node, and on
// another node of a cluster (two conformance servers on one real redis-server, REDIS_URL set).
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { createClient, type OpenInfo, type WebSocketConstructor, type ZocketClient } from "../src/index.js";
import type { AppRouter } from "./conformance.gen.js";
import { startServer, type RunningServer } from "./server.js";

const WAIT_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A TCP proxy on 127.0.0.1 to `port`, whose connections `cut()` destroys at once (no close
 * frame); `retarget(other)` sends the connections made from then on to another port, as a load
 * balancer moves a client to another node.
 */
async function proxy(port: number) {
  let target = port;
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = tcpConnect(target, "127.0.0.1");
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    inbound.on("close", () => outbound.destroy());
    outbound.on("close", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    retarget(port: number) {
      target = port;
    },
    /** Destroys every connection through it, both sides: each sees EOF or a reset, no close frame. */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A redis-server of its own on a free loopback port, without persistence. */
async function startRedis(): Promise<{ url: string; port: number; subscribers(channel: string): number; stop(): void }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  const cli = (...args: string[]) =>
    spawnSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).stdout ?? "";
  await until("redis-server to answer", () => cli("PING").trim() === "PONG");
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    subscribers: (channel) => Number(cli("PUBSUB", "NUMSUB", channel).trim().split("\n")[1] ?? 0),
    stop: () => void child.kill("SIGKILL"),
  };
}

async function until(what: string, ok: () => boolean, ms = WAIT_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("resume against the conformance server (RESUME_WINDOW_MS=10000)", () => {
  let server: RunningServer;
  const clients: ZocketClient<AppRouter>[] = [];
  before(async () => {
    server = await startServer(0, { RESUME_WINDOW_MS: "10000" });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.stop();
  });

  function client(url: string, token: string, reconnect = { minDelayMs: 1_000, maxDelayMs: 1_500 }) {
    const c = createClient<AppRouter>(url, {
      headers: { token },
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      reconnect,
    });
    clients.push(c);
    const opens: OpenInfo[] = [];
    c.onOpen((info) => opens.push(info));
    return { c, opens };
  }

  /**
   * The reader, through `link`, is cut a third of the way into a stream of messages a writer (at
   * `writerUrl`) sends to its room, reconnects (to `reconnectTo`, if given) and must resume with
   * every message once and in order, then live ones, as the same client in the same room.
   */
  async function cutMidStream(link: Awaited<ReturnType<typeof proxy>>, writerUrl: string, reconnectTo?: number) {
    const reader = client(link.url, "reader");
    const writer = client(writerUrl, "writer");
    await until("both open", () => reader.opens.length === 1 && writer.opens.length === 1);
    assert.deepEqual(reader.opens, [{ resumed: false }]);
    const readerId = (await reader.c.whoami()).clientId;
    await reader.c.rooms.join({ room: "busy" });
    const got: string[] = [];
    reader.c.on.room.message((m) => got.push(m.text));
    const closes: number[] = [];
    reader.c.onClose((info) => closes.push(info.code));

    // The writer sends 0..TOTAL-1 at a steady pace; the link is cut a third of the way in.
    const TOTAL = 150;
    const sent: string[] = [];
    const writing = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        const text = `m${i}`;
        await writer.c.rooms.send({ room: "busy", text });
        sent.push(text);
        await sleep(15);
      }
    })();
    await until("a third sent", () => sent.length >= TOTAL / 3);
    if (reconnectTo !== undefined) link.retarget(reconnectTo);
    link.cut();
    await until("the drop to show", () => closes.length === 1);
    const seenAtDrop = got.length;
    assert.ok(seenAtDrop < TOTAL, "the drop happened mid-stream");
    await until("the reconnect", () => reader.opens.length === 2);
    assert.deepEqual(reader.opens[1], { resumed: true });
    await writing;
    await until("every message", () => got.length >= TOTAL).catch(() => {
      assert.deepEqual(got, sent, `not every message came (${got.length} of ${TOTAL}; seen at the drop ${seenAtDrop}; opens ${JSON.stringify(reader.opens)}; closes ${JSON.stringify(closes)}; readyState ${reader.c.readyState})`);
    });
    await sleep(200); // anything doubled would show by now
    assert.equal(closes[0], 1006, "dropped without a close frame");
    assert.ok(sent.length - seenAtDrop > 10, `messages were sent while it was away (${seenAtDrop} seen at the drop)`);
    assert.deepEqual(got, sent, "every message once, in order");
    // The same session: same client id, still in the room, no re-join needed.
    const me = await reader.c.whoami();
    assert.equal(me.clientId, readerId);
    assert.deepEqual(await reader.c.rooms.leave({ room: "nowhere" }), ["busy"]);
    // Live traffic after the replay.
    await writer.c.rooms.send({ room: "busy", text: "live" });
    await until("the live message", () => got.at(-1) === "live");
    assert.equal(got.length, TOTAL + 1);
    reader.c.close();
    writer.c.close();
  }

  test("cut mid-stream, reconnected after 1-1.5 s: every room message once, in order, resumed", async () => {
    const link = await proxy(server.port);
    try {
      await cutMidStream(link, server.url);
    } finally {
      await link.close();
    }
  });

  test("cut mid-stream on node A, reconnected to node B of the same cluster: resumed there, nothing lost or doubled", async () => {
    const redis = await startRedis();
    const env = { RESUME_WINDOW_MS: "10000", REDIS_URL: redis.url };
    const [a, b] = [await startServer(0, env), await startServer(0, env)];
    const link = await proxy(a.port);
    try {
      await until("both nodes subscribed", () => redis.subscribers("zocket:all") === 2);
      await cutMidStream(link, b.url, b.port);
    } finally {
      await link.close();
      await a.stop();
      await b.stop();
      redis.stop();
    }
  });

  test("a client that closed on purpose gets a fresh session, not its old one", async () => {
    const { c, opens } = client(server.url, "quitter", { minDelayMs: 50, maxDelayMs: 100 });
    await until("open", () => opens.length === 1);
    const first = (await c.whoami()).clientId;
    await c.rooms.join({ room: "gone" });
    c.reconnect(); // a close frame ends the session
    await until("the reconnect", () => opens.length === 2);
    assert.deepEqual(opens, [{ resumed: false }, { resumed: false }]);
    assert.notEqual((await c.whoami()).clientId, first);
    assert.deepEqual(await c.rooms.leave({ room: "nowhere" }), [], "the rooms went with the session");
  });
});
