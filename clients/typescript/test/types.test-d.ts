// Type tests: compiled by `tsc` in `npm test`, never run. Every `@ts-expect-error` line must be
// an error, so a type surface that stops catching a misuse fails the build ("Unused
// '@ts-expect-error' directive"); every other line must compile.
import WebSocket from "ws";
import { createClient, RpcError, type OpenInfo, type ZocketClient } from "../src/index.js";
import type { AppRouter, Whoami } from "./conformance.gen.js";

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T extends true>(_ok?: T): void {}

declare const client: ZocketClient<AppRouter>;

export async function correctUses(): Promise<void> {
  // Calls: the input the Rust type takes, the reply the Rust handler returns.
  const greeting = await client.greet({ name: "Ada" });
  expectType<Equal<typeof greeting, string>>();
  const sum = await client.math.add({ a: 1, b: 2.5 });
  expectType<Equal<typeof sum, number>>();
  const me = await client.whoami();
  expectType<Equal<typeof me, Whoami>>();
  const id: string = me.clientId;
  void id;
  const rooms = await client.rooms.join({ room: "lobby" });
  expectType<Equal<typeof rooms, string[]>>();
  const nothing = await client.chat.message({ text: "hi" }, { timeoutMs: 500 });
  expectType<Equal<typeof nothing, null>>();
  await client.slow.echo({ text: "x", delayMs: 10 }, { signal: new AbortController().signal });
  await client.admin.secret();
  await client.call("admin.pushTick", { n: 3 });
  const viaCall = await client.call("whoami");
  expectType<Equal<typeof viaCall, Whoami>>();

  // Subscriptions: the payload of each outgoing route, and an unsubscribe.
  const stop = client.on.chat.onMessage((m) => {
    expectType<Equal<typeof m, { text: string; from: string }>>();
  });
  stop();
  client.on.presence.left(({ userId, rooms: left }) => {
    const who: string = userId;
    const where: string[] = left;
    void who;
    void where;
  });
  client.on.system.tick((t) => t.n.toFixed());

  // Lifecycle and state.
  client.onOpen(() => {});
  client.onOpen((info) => {
    expectType<Equal<typeof info, OpenInfo>>();
    expectType<Equal<typeof info.resumed, boolean>>();
  });
  client.onClose(({ code, reason }) => void [code.toFixed(), reason.trim()]);
  client.onError((e) => (e instanceof RpcError ? e.issues.map((i) => i.path) : e));
  const state: number = client.readyState;
  void [state, client.lastError];
  client.reconnect();
  client.close();

  // Creating a client: the required `token` header; `client-version` may be left out.
  createClient<AppRouter>("ws://127.0.0.1:3000", { headers: { token: "abc" }, WebSocket });
  createClient<AppRouter>("ws://127.0.0.1:3000", {
    headers: { token: "abc", "client-version": "2.0.0" },
    WebSocket,
    callTimeoutMs: 2_000,
    reconnect: { minDelayMs: 100, maxDelayMs: 1_000 },
    heartbeat: { intervalMs: 5_000, timeoutMs: 2_000 },
    resume: false,
    onOpen: ({ resumed }) => void (resumed ? "kept" : "refetch"),
  });
}

export async function misuse(): Promise<void> {
  // @ts-expect-error an unknown route
  await client.greeet({ name: "Ada" });
  // @ts-expect-error an unknown route in a known namespace
  await client.math.subtract({ a: 1, b: 2 });
  // @ts-expect-error an unknown route by name
  await client.call("math.subtract", { a: 1, b: 2 });
  // @ts-expect-error a wrong payload field
  await client.greet({ nam: "Ada" });
  // @ts-expect-error a missing payload field
  await client.math.add({ a: 1 });
  // @ts-expect-error a wrong payload type
  await client.math.add({ a: "1", b: 2 });
  // @ts-expect-error a payload for a route that takes none
  await client.whoami({ verbose: true });
  // @ts-expect-error no payload for a route that needs one
  await client.greet();
  // @ts-expect-error a namespace is not a route
  await client.math({ a: 1, b: 2 });

  // @ts-expect-error a wrong reply type
  const notANumber: number = await client.greet({ name: "Ada" });
  // @ts-expect-error a wrong reply field
  const nope = (await client.whoami()).userName;
  // @ts-expect-error a reply that is null, not a value
  const nothing: string = await client.chat.message({ text: "hi" });
  void [notANumber, nope, nothing];

  // @ts-expect-error an unknown outgoing route
  client.on.chat.onMesage(() => {});
  // @ts-expect-error an incoming route is not an outgoing one
  client.on.greet(() => {});
  // @ts-expect-error a wrong callback payload type
  client.on.system.tick((t: { n: string }) => t);
  // @ts-expect-error a wrong callback payload field
  client.on.chat.onMessage((m) => m.sender);

  // @ts-expect-error the open event has `resumed`, nothing else
  client.onOpen((info) => info.resumd);
  // @ts-expect-error `resumed` is a boolean
  client.onOpen(({ resumed }) => resumed.toFixed());
  // @ts-expect-error `resume` is on or off
  createClient<AppRouter>("ws://127.0.0.1:3000", { headers: { token: "abc" }, WebSocket, resume: "yes" });

  // @ts-expect-error the required `token` header is missing
  createClient<AppRouter>("ws://127.0.0.1:3000", { headers: {}, WebSocket });
  // @ts-expect-error no options at all, though `token` is required
  createClient<AppRouter>("ws://127.0.0.1:3000");
  // @ts-expect-error a header of the wrong type
  createClient<AppRouter>("ws://127.0.0.1:3000", { headers: { token: 42 }, WebSocket });
}
