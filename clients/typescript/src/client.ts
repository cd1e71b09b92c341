import { ConnectionError, RpcError, TimeoutError } from "./errors.js";
import type {
  AnyRouter,
  CallOptions,
  CloseInfo,
  OpenInfo,
  ReconnectInfo,
  Unsubscribe,
  ZocketClient,
} from "./types.js";

/** The protocol version sent as `x-zocket-version`, as the original client does. */
export const ZOCKET_VERSION = "0.1.0";

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/** What the client needs of a WebSocket: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Header values: sent as URL query parameters (browsers cannot set WebSocket headers). */
type HeaderValue = string | number | boolean | null | undefined;

/**
 * How long a reconnect that asked to resume waits for the server's `__session` frame (sent first
 * by a server with resume on) before it is announced as a fresh session anyway.
 */
const SESSION_WAIT_MS = 2_000;

/** Reconnecting: exponential backoff with jitter. */
export interface ReconnectOptions {
  /** The first retry's delay (before jitter). Default 500 ms. */
  minDelayMs?: number;
  /** The longest delay. Default 10 s. */
  maxDelayMs?: number;
  /** How much each retry's delay grows. Default 2. */
  factor?: number;
  /** Up to this fraction of each delay is taken off at random, so clients spread out. Default 0.5. */
  jitter?: number;
  /** Gives up (and rejects queued calls) after this many failed retries in a row. Default: never. */
  maxRetries?: number;
}

/** Noticing a dead connection that never closed (a half-open TCP connection). */
export interface HeartbeatOptions {
  /** After this long without hearing anything, the client sends a probe. Default 25 s. */
  intervalMs?: number;
  /** If nothing at all is heard this long after the probe, the connection is dropped and reconnected. Default 10 s. */
  timeoutMs?: number;
}

/** Options of `createClient`. */
export interface ClientOptions<H = Record<string, HeaderValue>> {
  /** Connection headers, sent as URL query parameters. */
  headers?: H;
  /** The WebSocket class. Default: `globalThis.WebSocket` (Node 20 has none: pass `ws`'s). */
  WebSocket?: WebSocketConstructor;
  /** Default timeout of every call. Default 10 s. */
  callTimeoutMs?: number;
  /** Gives up on a connection attempt that has not opened after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** Automatic reconnect (default on). `false` turns it off. */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Probes a quiet connection and reconnects when the probe goes unanswered (default off).
   * The server's WebSocket pings are answered by the browser itself and never seen by scripts,
   * so the probe is a message: `__ping`, which a Zocket for Rust server answers (with a
   * `NOT_FOUND` error reply, which the client ignores). Any message heard counts.
   */
  heartbeat?: boolean | HeartbeatOptions;
  /**
   * Resumes the session after a dropped connection (default on): when the server has resume on
   * it sends a session token, and an automatic reconnect asks for the same session back, with
   * every event missed meanwhile (`__session` and `__seq` query parameters). `onOpen` says
   * whether it worked (`resumed`). A server with resume off sends no token; nothing changes.
   */
  resume?: boolean;
  /** Connects at once (default) or only at the first `reconnect()`. */
  connect?: boolean;
  onOpen?: (info: OpenInfo) => void;
  onClose?: (info: CloseInfo) => void;
  onError?: (error: unknown) => void;
  /** Logs the client's doings to the console. */
  debug?: boolean;
}

/** `createClient`'s options argument: required exactly when the headers have required fields. */
export type ClientOptionsArg<H> = {} extends H
  ? [options?: ClientOptions<H>]
  : [options: ClientOptions<H> & { headers: H }];

interface Pending {
  route: string;
  frame: string;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  cleanup: () => void;
  sent: boolean;
}

const RESERVED = new Set([
  "on",
  "call",
  "onOpen",
  "onClose",
  "onError",
  "onReconnecting",
  "close",
  "reconnect",
  "readyState",
  "lastError",
  "then",
]);

/**
 * A typed client for a Zocket server. `R` is the `AppRouter` type generated from the Rust router
 * (`zocket::typescript::export`).
 *
 * ```ts
 * import { createClient } from "@zocket-rs/client";
 * import type { AppRouter } from "./app.gen.js";
 *
 * const client = createClient<AppRouter>("ws://127.0.0.1:3000", { headers: { token: "abc" } });
 * client.on.chat.onMessage((m) => console.log(`${m.from}: ${m.text}`));
 * const sum = await client.math.add({ a: 1, b: 2 });
 * ```
 */
export function createClient<R extends AnyRouter>(
  url: string | URL,
  ...args: ClientOptionsArg<R["headers"]>
): ZocketClient<R> {
  const options = (args[0] ?? {}) as ClientOptions<Record<string, HeaderValue>>;
  return new Client(url, options).proxy as unknown as ZocketClient<R>;
}

/** The original client's name for `createClient`. */
export const createZocketClient = createClient;

class Client {
  readonly proxy: object;
  private readonly WS: WebSocketConstructor;
  private readonly url: string;
  private readonly callTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoff: Required<ReconnectOptions> | null;
  private readonly heartbeat: Required<HeartbeatOptions> | null;
  private readonly debug: boolean;
  private readonly resume: boolean;

  private socket: WebSocketLike | null = null;
  /** `close()` was called: no reconnect until `reconnect()`. */
  private stopped = false;
  private attempt = 0;
  private seq = 0;
  /**
   * The server's session for this client (resume on): the last token it sent and the highest
   * `seq` of the events received since, sent back on an automatic reconnect. `null` until the
   * server sends one, and after `close()`/`reconnect()` (which end the session on purpose).
   */
  private session: { token: string; lastSeq: number } | null = null;
  /** The current socket is open and announced (`onOpen` ran for it; queued calls went out). */
  private ready = false;
  private lastError: unknown = null;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private deadTimer: ReturnType<typeof setTimeout> | undefined;
  private sessionTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>();
  private readonly openListeners = new Set<(info: OpenInfo) => void>();
  private readonly closeListeners = new Set<(info: CloseInfo) => void>();
  private readonly errorListeners = new Set<(error: unknown) => void>();
  private readonly reconnectListeners = new Set<(info: ReconnectInfo) => void>();
  private readonly routeProxies = new Map<string, unknown>();
  private readonly eventProxies = new Map<string, unknown>();

  constructor(url: string | URL, options: ClientOptions<Record<string, HeaderValue>>) {
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WS) {
      throw new Error(
        "zocket: no WebSocket class: this environment has no global WebSocket (Node 20 has none); " +
          "pass one as the `WebSocket` option, e.g. `import WebSocket from 'ws'`",
      );
    }
    this.WS = WS;
    const target = new URL(url);
    for (const [key, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined && value !== null) target.searchParams.set(key, String(value));
    }
    target.searchParams.set("x-zocket-version", ZOCKET_VERSION);
    this.url = target.toString();
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const reconnect = options.reconnect ?? true;
    this.backoff =
      reconnect === false
        ? null
        : {
            minDelayMs: 500,
            maxDelayMs: 10_000,
            factor: 2,
            jitter: 0.5,
            maxRetries: Infinity,
            ...(reconnect === true ? {} : reconnect),
          };
    const heartbeat = options.heartbeat ?? false;
    this.heartbeat =
      heartbeat === false
        ? null
        : { intervalMs: 25_000, timeoutMs: 10_000, ...(heartbeat === true ? {} : heartbeat) };
    this.debug = options.debug ?? false;
    this.resume = options.resume ?? true;
    if (options.onOpen) this.openListeners.add(options.onOpen);
    if (options.onClose) this.closeListeners.add(options.onClose);
    if (options.onError) this.errorListeners.add(options.onError);
    this.proxy = this.rootProxy();
    if (options.connect === false) this.stopped = true;
    else this.connect();
  }

  // ---------- the connection ----------

  private connect(): void {
    // A reconnect asks for the session back: its token and the last event it got.
    const session = this.resume ? this.session : null;
    let url = this.url;
    if (session) {
      const target = new URL(this.url);
      target.searchParams.set("__session", session.token);
      target.searchParams.set("__seq", String(session.lastSeq));
      url = target.toString();
    }
    const socket = new this.WS(url);
    this.socket = socket;
    this.ready = false;
    socket.binaryType = "arraybuffer";
    this.log("connecting", url);
    this.connectTimer = setTimeout(() => {
      if (this.socket === socket && socket.readyState === CONNECTING) {
        this.abandon(socket, 4008, `not connected within ${this.connectTimeoutMs} ms`);
      }
    }, this.connectTimeoutMs);
    socket.addEventListener("open", () => {
      if (this.socket !== socket) return;
      clearTimeout(this.connectTimer);
      this.log("open");
      this.heard();
      if (!session) {
        this.opened(false);
        return;
      }
      // Resuming: the server's first frame (`__session`) says whether it worked. A server that
      // no longer has resume on sends none: its first other frame, or this timer, announces
      // the connection as a fresh session.
      this.sessionTimer = setTimeout(() => {
        if (this.socket === socket && !this.ready) {
          this.log("no __session frame: a fresh session");
          this.session = null;
          this.opened(false);
        }
      }, Math.min(SESSION_WAIT_MS, this.connectTimeoutMs));
    });
    socket.addEventListener("message", (event: { data: unknown }) => {
      if (this.socket !== socket) return;
      this.heard();
      this.receive(event.data);
    });
    socket.addEventListener("error", (event: unknown) => {
      if (this.socket !== socket) return;
      this.lastError = event;
      this.log("error", event);
      this.emit(this.errorListeners, event);
    });
    socket.addEventListener("close", (event: { code?: number; reason?: string; wasClean?: boolean }) => {
      if (this.socket !== socket) return;
      this.closed({ code: event.code ?? 1006, reason: event.reason ?? "", wasClean: event.wasClean ?? false });
    });
  }

  /** The socket is open and its session known: queued calls go out, listeners hear of it. */
  private opened(resumed: boolean): void {
    clearTimeout(this.sessionTimer);
    this.ready = true;
    this.attempt = 0;
    this.lastError = null;
    for (const call of this.pending.values()) if (!call.sent) this.transmit(call);
    this.emit(this.openListeners, { resumed });
  }

  /** The current socket is gone: fail what it carried, tell listeners, maybe reconnect. */
  private closed(info: CloseInfo): void {
    this.log("closed", info);
    this.socket = null;
    this.ready = false;
    clearTimeout(this.sessionTimer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadTimer);
    for (const [id, call] of this.pending) {
      if (!call.sent) continue;
      this.settle(id, call);
      call.reject(
        new ConnectionError("DISCONNECTED", `the connection closed (${info.code}) before ${call.route} replied`, call.route),
      );
    }
    this.emit(this.closeListeners, info);
    if (!this.stopped) this.scheduleReconnect();
  }

  /** Drops a socket that is dead or stuck, without waiting for a closing handshake. */
  private abandon(socket: WebSocketLike, code: number, reason: string): void {
    this.lastError = new Error(reason);
    this.closed({ code, reason, wasClean: false });
    try {
      socket.close(1000, reason.slice(0, 120));
    } catch {
      // A socket still connecting may refuse; it is dropped either way.
    }
  }

  private scheduleReconnect(): void {
    const backoff = this.backoff;
    if (!backoff || this.attempt >= backoff.maxRetries) {
      this.stopped = true;
      this.failQueued("the client stopped reconnecting");
      return;
    }
    const base = Math.min(backoff.maxDelayMs, backoff.minDelayMs * backoff.factor ** this.attempt);
    const delayMs = Math.round(base * (1 - backoff.jitter * Math.random()));
    this.attempt += 1;
    this.log(`reconnecting in ${delayMs} ms (attempt ${this.attempt})`);
    this.emit(this.reconnectListeners, { attempt: this.attempt, delayMs });
    this.retryTimer = setTimeout(() => {
      if (!this.stopped && !this.socket) this.connect();
    }, delayMs);
  }

  /** Something arrived: the connection is alive. Re-arms the heartbeat probe. */
  private heard(): void {
    const heartbeat = this.heartbeat;
    if (!heartbeat) return;
    clearTimeout(this.idleTimer);
    clearTimeout(this.deadTimer);
    const socket = this.socket;
    this.idleTimer = setTimeout(() => {
      if (this.socket !== socket || socket?.readyState !== OPEN) return;
      this.seq += 1;
      this.log("heartbeat probe");
      try {
        socket.send(JSON.stringify({ type: "__ping", rpcId: `__heartbeat-${this.seq}` }));
      } catch {
        // A failing send shows as a close soon enough.
      }
      this.deadTimer = setTimeout(() => {
        if (this.socket === socket) {
          this.abandon(socket, 4000, `no answer from the server within ${heartbeat.timeoutMs} ms`);
        }
      }, heartbeat.timeoutMs);
    }, heartbeat.intervalMs);
  }

  // ---------- frames ----------

  private receive(data: unknown): void {
    let text: string;
    if (typeof data === "string") text = data;
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) text = new TextDecoder().decode(data);
    else return;
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      this.report(new Error(`zocket: the server sent a frame that is not JSON: ${text.slice(0, 100)}`));
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    const { type, payload, rpcId, seq } = frame as { type?: unknown; payload?: unknown; rpcId?: unknown; seq?: unknown };
    if (typeof type !== "string") return;
    if (type === "__session") {
      this.onSession(payload);
      return;
    }
    if (!this.ready) {
      // Asked to resume, but the server's first frame is not `__session`: it has resume off.
      this.session = null;
      this.opened(false);
    }
    if (type === "__rpc_res" || type === "__rpc_err") {
      if (typeof rpcId !== "string") return;
      const call = this.pending.get(rpcId);
      if (!call) return; // timed out, aborted, or a heartbeat probe's answer
      this.settle(rpcId, call);
      if (type === "__rpc_res") call.resolve(payload);
      else call.reject(RpcError.fromPayload(payload, call.route));
    } else if (type === "__error") {
      const error = RpcError.fromPayload(payload);
      this.lastError = error;
      this.emit(this.errorListeners, error);
    } else {
      // An event. With resume on it carries `seq` (1, 2, ... per session), remembered to ask
      // for what comes after it on a reconnect; it plays no part in dispatch.
      if (this.session && typeof seq === "number" && seq > this.session.lastSeq) this.session.lastSeq = seq;
      const listeners = this.listeners.get(type);
      if (listeners) for (const listener of [...listeners]) this.invoke(listener, payload);
    }
  }

  /** `__session {token, resumed}`: the first frame of a server with resume on. */
  private onSession(payload: unknown): void {
    if (!this.resume) return;
    const { token, resumed } = (payload ?? {}) as { token?: unknown; resumed?: unknown };
    if (typeof token !== "string") return;
    const kept = resumed === true && this.session !== null;
    // A fresh session numbers its events from 1 again.
    this.session = { token, lastSeq: kept ? this.session!.lastSeq : 0 };
    this.log(kept ? "session resumed" : "new session");
    if (!this.ready) this.opened(kept);
  }

  // ---------- calls ----------

  call(route: string, input: unknown, options: CallOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.stopped) {
        reject(new ConnectionError("CLOSED", `the client is closed: ${route} was not sent`, route));
        return;
      }
      const { signal } = options;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      this.seq += 1;
      const id = String(this.seq);
      const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
      const onAbort = () => {
        const call = this.pending.get(id);
        if (!call) return;
        this.settle(id, call);
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const call: Pending = {
        route,
        frame: JSON.stringify({ type: route, payload: input, rpcId: id }),
        resolve,
        reject,
        timer: undefined,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
        sent: false,
      };
      if (Number.isFinite(timeoutMs)) {
        call.timer = setTimeout(() => {
          if (this.pending.get(id) !== call) return;
          this.settle(id, call);
          reject(new TimeoutError(route, timeoutMs));
        }, timeoutMs);
      }
      this.pending.set(id, call);
      // Calls made while (re)connecting wait for the socket to open.
      if (this.ready && this.socket?.readyState === OPEN) this.transmit(call);
    });
  }

  private transmit(call: Pending): void {
    try {
      this.socket?.send(call.frame);
      call.sent = true;
    } catch (error) {
      for (const [id, c] of this.pending) if (c === call) this.settle(id, c);
      call.reject(error);
    }
  }

  private settle(id: string, call: Pending): void {
    this.pending.delete(id);
    clearTimeout(call.timer);
    call.cleanup();
  }

  private failQueued(why: string): void {
    for (const [id, call] of this.pending) {
      this.settle(id, call);
      call.reject(new ConnectionError("CLOSED", `${why}: ${call.route} was not answered`, call.route));
    }
  }

  // ---------- control ----------

  close(code = 1000, reason = ""): void {
    this.stopped = true;
    this.session = null; // a close frame ends the session on the server
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    if (socket) {
      this.closed({ code, reason, wasClean: true });
      try {
        socket.close(code, reason);
      } catch {
        // Already closing.
      }
    }
    this.failQueued("the client was closed");
  }

  reconnect(): void {
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.session = null; // closed on purpose (with a close frame): the next session is a fresh one
    const socket = this.socket;
    this.stopped = true; // no scheduled reconnect for the dropped socket
    if (socket) {
      this.closed({ code: 1000, reason: "reconnecting", wasClean: true });
      try {
        socket.close(1000, "reconnecting");
      } catch {
        // Already closing.
      }
    }
    this.stopped = false;
    this.connect();
  }

  // ---------- listeners ----------

  private subscribe(route: string, listener: (payload: unknown) => void): Unsubscribe {
    let set = this.listeners.get(route);
    if (!set) this.listeners.set(route, (set = new Set()));
    const entry = (payload: unknown) => listener(payload);
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.listeners.get(route) === set) this.listeners.delete(route);
    };
  }

  private emit<T>(listeners: Set<(value: T) => void>, value: T): void {
    for (const listener of [...listeners]) this.invoke(listener, value);
  }

  private invoke<T>(listener: (value: T) => void, value: T): void {
    try {
      listener(value);
    } catch (error) {
      this.report(error);
    }
  }

  /** An error of the client's own or of a listener: to the error listeners, or the console. */
  private report(error: unknown): void {
    if (this.errorListeners.size === 0) {
      console.error("zocket:", error);
      return;
    }
    for (const listener of [...this.errorListeners]) {
      try {
        listener(error);
      } catch (again) {
        console.error("zocket: an onError listener threw", again);
      }
    }
  }

  private log(...args: unknown[]): void {
    if (this.debug) console.debug("zocket:", ...args);
  }

  // ---------- the typed surface ----------

  private rootProxy(): object {
    const on = this.eventProxy([]);
    const core: Record<string, unknown> = {
      on,
      call: (route: string, input?: unknown, options?: CallOptions) => this.call(route, input, options),
      onOpen: (listener: (info: OpenInfo) => void) => add(this.openListeners, listener),
      onClose: (listener: (info: CloseInfo) => void) => add(this.closeListeners, listener),
      onError: (listener: (error: unknown) => void) => add(this.errorListeners, listener),
      onReconnecting: (listener: (info: ReconnectInfo) => void) => add(this.reconnectListeners, listener),
      close: (code?: number, reason?: string) => this.close(code, reason),
      reconnect: () => this.reconnect(),
    };
    return new Proxy(core, {
      get: (target, prop) => {
        if (typeof prop !== "string") return undefined;
        if (prop === "readyState") return this.socket?.readyState ?? CLOSED;
        if (prop === "lastError") return this.lastError;
        if (prop === "then") return undefined; // not a thenable
        if (RESERVED.has(prop)) return target[prop];
        return this.routeProxy([prop]);
      },
    });
  }

  /** `client.a.b`: callable (calls route "a.b"), and a namespace of deeper routes. */
  private routeProxy(path: string[]): unknown {
    const route = path.join(".");
    let proxy = this.routeProxies.get(route);
    if (!proxy) {
      proxy = new Proxy(function route() {}, {
        get: (_target, prop) =>
          typeof prop !== "string" || prop === "then" ? undefined : this.routeProxy([...path, prop]),
        apply: (_target, _this, args: unknown[]) => this.call(route, args[0], args[1] as CallOptions | undefined),
      });
      this.routeProxies.set(route, proxy);
    }
    return proxy;
  }

  /** `client.on.a.b`: subscribes to route "a.b", and a namespace of deeper routes. */
  private eventProxy(path: string[]): unknown {
    const route = path.join(".");
    let proxy = this.eventProxies.get(route);
    if (!proxy) {
      proxy = new Proxy(function subscribe() {}, {
        get: (_target, prop) =>
          typeof prop !== "string" || prop === "then" ? undefined : this.eventProxy([...path, prop]),
        apply: (_target, _this, args: unknown[]) => {
          const listener = args[0];
          if (typeof listener !== "function") throw new TypeError(`zocket: on.${route} needs a listener function`);
          return this.subscribe(route, listener as (payload: unknown) => void);
        },
      });
      this.eventProxies.set(route, proxy);
    }
    return proxy;
  }
}

function add<T>(set: Set<T>, value: T): Unsubscribe {
  set.add(value);
  return () => {
    set.delete(value);
  };
}
