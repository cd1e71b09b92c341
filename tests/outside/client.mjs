// A small Zocket client that behaves on the wire like the original TypeScript client:
// - connection headers go into the URL query, plus `x-zocket-version=0.1.0`;
// - `binaryType = 'arraybuffer'`;
// - every call sends `{"type", "payload", "rpcId"}` with a fresh string rpcId (fire-and-forget
//   routes included) and waits for its `__rpc_res` / `__rpc_err`;
// - `on(route, cb)` subscribes to server events.
// On top of that it keeps every frame it receives, the `__error` frames and the close code, and
// can send raw frames, so that tests can look at the wire.

import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

export const ZOCKET_VERSION = '0.1.0';
export const DEFAULT_TIMEOUT_MS = 5_000;

/** An `__rpc_err` reply as an Error: `code`, `message`, `issues` (and the raw `payload`, `rpcId`). */
export class ZocketRpcError extends Error {
  constructor(payload, rpcId) {
    super(payload && typeof payload.message === 'string' ? payload.message : 'RPC error');
    this.name = 'ZocketRpcError';
    this.code = payload?.code;
    this.issues = payload?.issues;
    this.payload = payload;
    this.rpcId = rpcId;
  }
}

/** Builds the URL the original client would open: headers in the query, plus its version. */
export function zocketUrl(baseUrl, headers = {}) {
  const url = new URL(baseUrl);
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  url.searchParams.set('x-zocket-version', ZOCKET_VERSION);
  return url.toString();
}

/** Waits for `promise`, failing with `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let rpcCounter = 0;
/** A fresh string rpcId. */
export function freshRpcId() {
  rpcCounter += 1;
  return `${randomUUID()}-${rpcCounter}`;
}

function decodeData(data) {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return String(data);
}

export class ZocketClient {
  /**
   * Opens a connection. `headers` go into the query string like the original client does;
   * `httpHeaders` are real HTTP headers on the upgrade request (the original cannot send those).
   * Rejects if the server refuses the upgrade, with an Error carrying `status` and `body`.
   */
  static connect(baseUrl, headers = {}, { httpHeaders, timeoutMs = DEFAULT_TIMEOUT_MS, rawUrl } = {}) {
    const url = rawUrl ?? zocketUrl(baseUrl, headers);
    const ws = new WebSocket(url, { headers: httpHeaders, perMessageDeflate: false });
    ws.binaryType = 'arraybuffer';
    const client = new ZocketClient(ws, url);
    const opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (req, res) => {
        readBody(res).then((body) => {
          const error = new Error(`upgrade refused with HTTP ${res.statusCode}: ${body}`);
          error.status = res.statusCode;
          error.body = body;
          error.headers = res.headers;
          req.destroy();
          reject(error);
        }, reject);
      });
      ws.once('error', reject);
    });
    return withTimeout(opened, timeoutMs, `connecting to ${url}`);
  }

  constructor(ws, url) {
    this.ws = ws;
    this.url = url;
    /** Every frame received, parsed (`{ data, binary, at }`, `data` null if not JSON). */
    this.frames = [];
    /** Every `__error` payload received. */
    this.errors = [];
    /** Replies for an rpcId that already had one (must stay empty: exactly one reply per call). */
    this.duplicateReplies = [];
    /** Replies for rpcIds this client never sent through call() (raw sends), by rpcId. */
    this.rawReplies = new Map();
    this.closeInfo = null;
    this.pending = new Map();
    this.settled = new Set();
    this.listeners = new Map();
    this.waiters = new Set();
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        for (const { reject } of this.pending.values()) {
          reject(new Error(`connection closed (${code}) before the reply`));
        }
        this.pending.clear();
        resolve(this.closeInfo);
        for (const waiter of this.waiters) {
          waiter.reject(new Error(`connection closed (${code}) while waiting for ${waiter.what}`));
        }
        this.waiters.clear();
      });
    });
    // Errors after the handshake (e.g. a reset while sending) must not crash the process.
    ws.on('error', (error) => {
      this.socketError = error;
    });
    // `ws` swallows errors of its TCP socket (e.g. ECONNRESET); keep them for diagnostics.
    ws.once('open', () => {
      ws._socket?.on('error', (error) => {
        this.transportError = error;
      });
    });
    ws.addEventListener('message', (event) => this.#onMessage(event.data));
  }

  #onMessage(raw) {
    const binary = typeof raw !== 'string';
    let data = null;
    const text = decodeData(raw);
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
    const frame = { data, text, binary, at: Date.now() };
    this.frames.push(frame);
    for (const waiter of [...this.waiters]) {
      if (waiter.match(frame)) {
        this.waiters.delete(waiter);
        waiter.resolve(frame);
      }
    }
    if (!data || typeof data !== 'object') return;
    const { type, payload, rpcId } = data;
    if (type === '__rpc_res' || type === '__rpc_err') {
      const pending = this.pending.get(rpcId);
      if (pending) {
        this.pending.delete(rpcId);
        this.settled.add(rpcId);
        if (type === '__rpc_res') pending.resolve(payload);
        else pending.reject(new ZocketRpcError(payload, rpcId));
      } else if (this.settled.has(rpcId) || this.rawReplies.has(rpcId)) {
        this.duplicateReplies.push(data);
      } else {
        this.rawReplies.set(rpcId, data);
      }
      return;
    }
    if (type === '__error') {
      this.errors.push(payload);
      return;
    }
    for (const cb of this.listeners.get(type) ?? []) cb(payload);
  }

  /** Calls a route the way the original client does, resolving with `__rpc_res`'s payload. */
  call(route, payload, { timeoutMs = DEFAULT_TIMEOUT_MS, rpcId = freshRpcId() } = {}) {
    const reply = new Promise((resolve, reject) => {
      this.pending.set(rpcId, { resolve, reject });
    });
    this.send({ type: route, payload, rpcId });
    return withTimeout(reply, timeoutMs, `reply to ${route} (rpcId ${rpcId})`).finally(() => {
      this.pending.delete(rpcId);
    });
  }

  /** Calls and resolves with the ZocketRpcError it must fail with (fails if it succeeds). */
  async callError(route, payload, options) {
    try {
      const result = await this.call(route, payload, options);
      throw Object.assign(new Error(`${route} succeeded with ${JSON.stringify(result)}, expected an error`), {
        unexpectedSuccess: true,
      });
    } catch (error) {
      if (error instanceof ZocketRpcError) return error;
      throw error;
    }
  }

  /** Sends `{type, payload}` with no rpcId (what a fire-and-forget message without a reply looks like). */
  emit(route, payload) {
    this.send({ type: route, payload });
  }

  /** Sends one JSON value as a text frame. */
  send(value) {
    this.sendRaw(JSON.stringify(value));
  }

  /** Sends raw data: a string as a text frame, a Buffer as a binary frame unless `binary: false`. */
  sendRaw(data, options = {}) {
    return new Promise((resolve, reject) => {
      this.ws.send(data, { binary: typeof data !== 'string', ...options }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  /** Subscribes to a server event; returns the unsubscribe function. */
  on(route, cb) {
    if (!this.listeners.has(route)) this.listeners.set(route, new Set());
    this.listeners.get(route).add(cb);
    return () => this.listeners.get(route)?.delete(cb);
  }

  /** Events of `route` received so far (payloads), optionally filtered. */
  received(route, predicate = () => true) {
    return this.frames
      .filter((f) => f.data && f.data.type === route && predicate(f.data.payload))
      .map((f) => f.data.payload);
  }

  /** The next (or an already received) frame matching `predicate(frame.data, frame)`. */
  waitForFrame(predicate, { timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a frame', includePast = true } = {}) {
    const match = (frame) => {
      try {
        return Boolean(predicate(frame.data, frame));
      } catch {
        return false;
      }
    };
    if (includePast) {
      const seen = this.frames.find(match);
      if (seen) return Promise.resolve(seen);
    }
    if (this.closeInfo) {
      return Promise.reject(new Error(`connection already closed (${this.closeInfo.code}), no ${what}`));
    }
    let waiter;
    const found = new Promise((resolve, reject) => {
      waiter = { match, resolve, reject, what };
      this.waiters.add(waiter);
    });
    return withTimeout(found, timeoutMs, what)
      .catch((error) => {
        const last = this.frames.slice(-5).map((f) => f.text.slice(0, 300));
        error.message += `; last frames received on ${this.url}: ${JSON.stringify(last)}`;
        throw error;
      })
      .finally(() => this.waiters.delete(waiter));
  }

  /** Waits for an event of `route` whose payload matches; resolves with the payload. */
  async waitFor(route, predicate = () => true, options = {}) {
    const frame = await this.waitForFrame((d) => d && d.type === route && predicate(d.payload), {
      what: `event ${route}`,
      ...options,
    });
    return frame.data.payload;
  }

  /** Waits for an `__error` frame whose payload matches; resolves with the payload. */
  async waitForError(predicate = () => true, options = {}) {
    const frame = await this.waitForFrame((d) => d && d.type === '__error' && predicate(d.payload), {
      what: 'an __error frame',
      ...options,
    });
    return frame.data.payload;
  }

  /** Waits for the reply (`__rpc_res` or `__rpc_err` frame) to a raw message with this rpcId. */
  async waitForReply(rpcId, options = {}) {
    const frame = await this.waitForFrame(
      (d) => d && (d.type === '__rpc_res' || d.type === '__rpc_err') && d.rpcId === rpcId,
      { what: `a reply with rpcId ${JSON.stringify(rpcId)}`, ...options },
    );
    return frame.data;
  }

  /** Resolves with `{ code, reason }` when the connection closes, failing after `timeoutMs`. */
  waitForClose({ timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    return withTimeout(this.closed, timeoutMs, `the connection to close (${this.url})`);
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Closes the connection normally and waits until it is closed (terminating if it hangs). */
  async close({ timeoutMs = 2_000 } = {}) {
    if (this.ws.readyState === WebSocket.CLOSED) return this.closeInfo;
    if (this.ws.readyState !== WebSocket.CLOSING) this.ws.close(1000);
    try {
      return await withTimeout(this.closed, timeoutMs, 'close');
    } catch {
      this.ws.terminate();
      return this.closed;
    }
  }
}

/**
 * Opens a WebSocket upgrade that the server must refuse; resolves with `{ status, body, json,
 * headers }` read through the `ws` client's 'unexpected-response' event. Fails if the upgrade
 * succeeds.
 */
export function expectRefusedUpgrade(url, { httpHeaders, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
  const ws = new WebSocket(url, { headers: httpHeaders, perMessageDeflate: false });
  const outcome = new Promise((resolve, reject) => {
    ws.once('unexpected-response', (req, res) => {
      readBody(res).then((body) => {
        let json;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        req.destroy();
        resolve({ status: res.statusCode, body, json, headers: res.headers });
      }, reject);
    });
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade to ${url} was accepted, expected a refusal`));
    });
    ws.on('error', (error) => reject(error));
  });
  return withTimeout(outcome, timeoutMs, `the refused upgrade to ${url}`);
}

function readBody(res) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    res.on('data', (chunk) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}
