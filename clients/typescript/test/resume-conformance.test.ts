// Resume against the real conformance server (RESUME_WINDOW_MS set): a client whose TCP
// connection is cut abruptly (no close frame, as a network drops it) while messages flow to its
// room reconnects, resumes, and gets every message once and in order.
import assert from "node:assert/strict";
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { createClient, type OpenInfo, type WebSocketConstructor, type ZocketClient } from "../src/index.js";
import type { AppRouter } from "./conformance.gen.js";
import { startServer, type RunningServer } from "./server.js";

const WAIT_MS = 10_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP proxy on 127.0.0.1 to `port`, whose connections `cut()` destroys at once (no close frame). */
async function proxy(port: number) {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = tcpConnect(port, "127.0.0.1");
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

  test("cut mid-stream, reconnected after 1-1.5 s: every room message once, in order, resumed", async () => {
    const link = await proxy(server.port);
    try {
      const reader = client(link.url, "reader");
      const writer = client(server.url, "writer");
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
    } finally {
      await link.close();
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
