// End to end: the chat example's server and its built page (dist/), two users in headless
// Chromium (Debian's, driven by playwright-core). They join, chat, see each other's messages
// and presence; the server restarts and both pages recover and chat again. A user whose
// connection drops (offline, the TCP connection cut) comes back to every message sent meanwhile
// (resume), on one server and, on two chat nodes sharing a real redis-server, through the other
// node. Screenshots go to target/artifacts/ (ZOCKET_ARTIFACTS overrides it).
//
// The server is ZOCKET_CHAT_BIN, else `cargo run --example chat` from the repository root;
// the browser is CHROMIUM_PATH, else /usr/bin/chromium. `npm run build` must have run.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createServer, connect as tcpConnect } from "node:net";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const WEB_DIR = fileURLToPath(new URL("../dist", import.meta.url));
const ARTIFACTS = process.env.ZOCKET_ARTIFACTS ?? `${REPO_ROOT}target/artifacts`;
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WAIT = { timeout: 15_000 };

/** Starts the chat server on `port` (0: a free one), with `env` added; resolves once it listens. */
async function startChat(port = 0, env = {}) {
  const bin = process.env.ZOCKET_CHAT_BIN;
  const [command, args] = bin ? [bin, []] : ["cargo", ["run", "--quiet", "--example", "chat"]];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), CHAT_WEB_DIR: WEB_DIR, RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const listening = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the chat server did not listen in time:\n${output}`)), 120_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr.on("data", (chunk) => (output += chunk));
    child.once("error", reject);
    exited.then(() => reject(new Error(`the chat server exited before listening:\n${output}`)));
  });
  const signal = (name) => {
    try {
      process.kill(-child.pid, name);
    } catch {
      // Gone already.
    }
  };
  return {
    port: listening,
    url: `http://127.0.0.1:${listening}/`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signal("SIGINT");
      const timer = setTimeout(() => signal("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

let server;
let browser;

before(async () => {
  assert.ok(existsSync(`${WEB_DIR}/index.html`), `no built page in ${WEB_DIR}: run \`npm run build\` first`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await startChat();
  // Playwright starts it headless, without the sandbox (we run as root in CI) and with a fresh
  // profile; the rest keeps Chromium off the network, which this machine does not have.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * A TCP proxy on 127.0.0.1 to the chat server's port: a page loaded through it has its
 * WebSocket through it too. `down()` destroys every connection through it (the page and the
 * server each see the TCP connection end, with no close frame, as when a network drops) and
 * refuses new ones until `up()`; `retarget(other)` sends new connections to another port, as a
 * load balancer moves a client to another node.
 */
async function proxy(port) {
  const sockets = new Set();
  let isUp = true;
  let target = port;
  const server = createServer((inbound) => {
    if (!isUp) return inbound.destroy();
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
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    down() {
      isUp = false;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isUp = true;
    },
    retarget(port) {
      target = port;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A user's page, connected under `nick` (through `url`, else straight to the server). */
async function open(nick, url = server.url) {
  const context = await browser.newContext({ viewport: { width: 900, height: 560 } });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  // Failed reconnect attempts while the server is down are logged by the browser itself.
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/WebSocket connection/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  await page.goto(url);
  await page.fill("#nick", nick);
  await page.click("#connect");
  await page.waitForSelector('#status[data-state="open"]', WAIT);
  await page.waitForSelector('#rooms li.active[data-room="lobby"]', WAIT);
  return { context, page, problems };
}

/** Joins `room` from the page's join form and waits until it is the active room. */
async function joinRoom(page, room) {
  await page.fill("#room-input", room);
  await page.click("#join");
  await page.waitForSelector(`#rooms li.active[data-room="${room}"]`, WAIT);
}

/** The texts of the messages the page shows for its active room, in order. */
const texts = (page) => page.$$eval("#messages .msg .text", (nodes) => nodes.map((n) => n.textContent));

/** The members the page lists for its active room. */
const members = (page) => page.$$eval("#members li", (lis) => lis.map((li) => li.textContent));

/** Waits until the page lists exactly `expected` as members. */
async function waitForMembers(page, expected) {
  await page.waitForFunction(
    (want) => JSON.stringify([...document.querySelectorAll("#members li")].map((li) => li.textContent)) === want,
    JSON.stringify(expected),
    WAIT,
  );
}

/** Sends `text` from the page's message box. */
async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
  await page.waitForFunction(() => document.querySelector("#text").value === "", null, WAIT);
}

/** Waits until the page shows a message `text` from `from`. */
async function waitForMessage(page, from, text) {
  await page.waitForFunction(
    ([f, t]) =>
      [...document.querySelectorAll("#messages .msg")].some(
        (m) => m.querySelector(".from")?.textContent === f && m.querySelector(".text")?.textContent === t,
      ),
    [from, text],
    WAIT,
  );
}

test("two users chat, see each other, and recover from a server restart", async () => {
  const ann = await open("ann");
  const bob = await open("bob");

  // Presence: each sees both (ann learns of bob through chat.joined).
  await waitForMembers(ann.page, ["ann", "bob"]);
  await waitForMembers(bob.page, ["ann", "bob"]);
  await ann.page.waitForSelector("text=bob joined", WAIT);

  // Messages both ways.
  await say(ann.page, "hello bob");
  await waitForMessage(bob.page, "ann", "hello bob");
  await waitForMessage(ann.page, "ann", "hello bob");
  await say(bob.page, "hi ann!");
  await waitForMessage(ann.page, "bob", "hi ann!");

  // A validation error from the server is shown with its failing field.
  await ann.page.fill("#text", "x".repeat(501));
  await ann.page.click("#send");
  await ann.page.waitForFunction(() => /INVALID_INPUT[\s\S]*text/.test(document.querySelector("#error").textContent), null, WAIT);
  await ann.page.fill("#text", "");

  // Rooms: bob opens another room; ann joins it and sees him there.
  await bob.page.fill("#room-input", "dev");
  await bob.page.click("#join");
  await bob.page.waitForSelector('#rooms li.active[data-room="dev"]', WAIT);
  await ann.page.fill("#room-input", "dev");
  await ann.page.click("#join");
  await waitForMembers(ann.page, ["ann", "bob"]);
  await say(ann.page, "in dev now");
  await waitForMessage(bob.page, "ann", "in dev now");

  // The server restarts: both pages notice, reconnect, and re-join their rooms.
  const port = server.port;
  await server.stop();
  await ann.page.waitForSelector('#status[data-state="retry"]', WAIT);
  await bob.page.waitForSelector('#status[data-state="retry"]', WAIT);
  server = await startChat(port);
  await ann.page.waitForSelector('#status[data-state="open"]', { timeout: 30_000 });
  await bob.page.waitForSelector('#status[data-state="open"]', { timeout: 30_000 });
  await waitForMembers(ann.page, ["ann", "bob"]);
  await waitForMembers(bob.page, ["ann", "bob"]);

  await say(bob.page, "back after the restart");
  await waitForMessage(ann.page, "bob", "back after the restart");
  await say(ann.page, "welcome back");
  await waitForMessage(bob.page, "ann", "welcome back");
  assert.deepEqual(await members(ann.page), ["ann", "bob"]);
  // What the page showed before the restart is still there, marked.
  await waitForMessage(ann.page, "ann", "in dev now");
  await ann.page.waitForSelector("text=reconnected", WAIT);
  const rooms = await ann.page.$$eval("#rooms li", (lis) => lis.map((li) => li.dataset.room));
  assert.deepEqual(rooms, ["dev", "lobby"]);

  await ann.page.screenshot({ path: `${ARTIFACTS}/chat.png` });
  await bob.page.screenshot({ path: `${ARTIFACTS}/chat-bob.png` });
  assert.deepEqual(ann.problems, []);
  assert.deepEqual(bob.problems, []);
});

test("a user who drops offline gets every message sent meanwhile, once and in order (resume)", async () => {
  // Cat's page goes through a proxy that can drop its TCP connection. Playwright's
  // `setOffline(true)` alone does not: in Chromium an open WebSocket stays open while offline
  // (messages both ways are held, then delivered when back online), so no drop ever happens.
  // Both are used: offline for the page's other requests, the proxy for the socket.
  const link = await proxy(server.port);
  try {
    const cat = await open("cat", link.url);
    const dan = await open("dan");
    await joinRoom(cat.page, "away");
    await joinRoom(dan.page, "away");
    await waitForMembers(cat.page, ["cat", "dan"]);
    await say(dan.page, "before 1");
    await waitForMessage(cat.page, "dan", "before 1");

    await cat.context.setOffline(true);
    link.down();
    await cat.page.waitForSelector('#status[data-state="retry"]', WAIT);
    const away = ["away 1", "away 2", "away 3", "away 4", "away 5"];
    for (const text of away) await say(dan.page, text);
    assert.deepEqual(await texts(cat.page), ["before 1"], "nothing reached cat while away");

    await cat.context.setOffline(false);
    link.up();
    await cat.page.waitForSelector('#status[data-state="open"]', { timeout: 30_000 });
    await waitForMessage(cat.page, "dan", "away 5");
    await say(dan.page, "after");
    await waitForMessage(cat.page, "dan", "after");
    assert.deepEqual(await texts(cat.page), ["before 1", ...away, "after"], "nothing missing, nothing doubled, in order");
    // Resumed: the same session, so the page did not re-join (no "reconnected" notice) and dan
    // never saw cat leave.
    assert.equal(await cat.page.$eval("#status", (e) => e.dataset.resumed), "true");
    assert.equal(await cat.page.$$eval(".notice", (ns) => ns.filter((n) => n.textContent === "reconnected").length), 0);
    assert.equal(await dan.page.$$eval(".notice", (ns) => ns.filter((n) => n.textContent === "cat left").length), 0);
    assert.deepEqual(await members(cat.page), ["cat", "dan"]);
    await cat.page.screenshot({ path: `${ARTIFACTS}/chat-resumed.png` });
    assert.deepEqual(cat.problems, []);
    assert.deepEqual(dan.problems, []);
  } finally {
    await link.close();
  }
});

/** A redis-server of its own on a free loopback port, without persistence. */
async function startRedis() {
  const probe = createServer();
  await new Promise((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = probe.address().port;
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const deadline = Date.now() + 10_000;
  while (spawnSync("redis-cli", ["-p", String(port), "PING"], { encoding: "utf8" }).stdout?.trim() !== "PONG") {
    assert.ok(Date.now() < deadline, "redis-server did not answer in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill("SIGKILL") };
}

test("on two chat nodes, a user who drops offline on one comes back through the other with nothing missing", async () => {
  // Two chat nodes on one redis-server. Eve's page is loaded from node A through a proxy; while
  // she is offline the proxy is pointed at node B, so her page reconnects there (as a load
  // balancer may send it) and her session moves over: the messages fay sent meanwhile, once and
  // in order, and her nickname (node B's `on_move` adds it to B's state).
  const redis = await startRedis();
  const env = { REDIS_URL: redis.url };
  const nodes = [];
  let link;
  try {
    nodes.push(await startChat(0, env), await startChat(0, env));
    const [a, b] = nodes;
    link = await proxy(a.port);
    const eve = await open("eve", link.url);
    const fay = await open("fay", b.url);
    await joinRoom(eve.page, "across");
    await joinRoom(fay.page, "across");
    await waitForMembers(eve.page, ["eve", "fay"]);
    await say(fay.page, "before");
    await waitForMessage(eve.page, "fay", "before");

    await eve.context.setOffline(true);
    link.retarget(b.port);
    link.down();
    await eve.page.waitForSelector('#status[data-state="retry"]', WAIT);
    const away = ["away 1", "away 2", "away 3", "away 4", "away 5"];
    for (const text of away) await say(fay.page, text);
    assert.deepEqual(await texts(eve.page), ["before"], "nothing reached eve while away");

    await eve.context.setOffline(false);
    link.up();
    await eve.page.waitForSelector('#status[data-state="open"]', { timeout: 30_000 });
    await waitForMessage(eve.page, "fay", "away 5");
    await say(fay.page, "after");
    await waitForMessage(eve.page, "fay", "after");
    await say(eve.page, "hello from node B");
    await waitForMessage(fay.page, "eve", "hello from node B");
    assert.deepEqual(
      await texts(eve.page),
      ["before", ...away, "after", "hello from node B"],
      "nothing missing, nothing doubled, in order",
    );
    assert.equal(await eve.page.$eval("#status", (e) => e.dataset.resumed), "true", "resumed on node B");
    assert.equal(await eve.page.$$eval(".notice", (ns) => ns.filter((n) => n.textContent === "reconnected").length), 0);
    assert.equal(await fay.page.$$eval(".notice", (ns) => ns.filter((n) => n.textContent === "eve left").length), 0);
    // Node B knows eve's nickname now: a newcomer there sees her among the room's members.
    const gus = await open("gus", b.url);
    await joinRoom(gus.page, "across");
    await waitForMembers(gus.page, ["eve", "fay", "gus"]);
    await eve.page.screenshot({ path: `${ARTIFACTS}/chat-resumed-other-node.png` });
    for (const user of [eve, fay, gus]) assert.deepEqual(user.problems, []);
  } finally {
    await link?.close();
    for (const node of nodes) await node.stop();
    redis.stop();
  }
});
