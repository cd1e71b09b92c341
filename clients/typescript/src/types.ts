// The type-level side of the client: from a generated `AppRouter` (routes keyed by full name,
// e.g. "chat.message") to the nested shape users call (`client.chat.message(input)`).

/**
 * What `zocket::typescript::export` generates: the headers type, every incoming route's input
 * and output, every outgoing route's payload, each keyed by its full dotted name.
 */
export interface AnyRouter {
  headers: unknown;
  incoming: { [route: string]: { input: unknown; output: unknown } };
  outgoing: { [route: string]: unknown };
}

/** Stops a subscription. */
export type Unsubscribe = () => void;

/** Per-call options. */
export interface CallOptions {
  /** Rejects with a `TimeoutError` after this long without a reply (default: the client's). */
  timeoutMs?: number;
  /** Rejects the call (with the signal's reason) when aborted. The server may still run it. */
  signal?: AbortSignal;
}

/** The first segment of a dotted name. */
type Head<K extends string> = K extends `${infer H}.${string}` ? H : K;

/** The entries of `M` under the namespace `H`, with `H.` taken off their names. */
type Below<M, H extends string> = {
  [K in keyof M & string as K extends `${H}.${infer Rest}` ? Rest : never]: M[K];
};

/** The function that calls one route. A route without input takes no argument. */
export type Procedure<R> = R extends { input: infer I; output: infer O }
  ? [I] extends [void]
    ? (input?: undefined, options?: CallOptions) => Promise<O>
    : (input: I, options?: CallOptions) => Promise<O>
  : never;

/** Incoming routes as nested namespaces of callable routes. */
export type RouteProxy<M> = {
  [H in Head<keyof M & string>]: (H extends keyof M ? Procedure<M[H]> : unknown) & RouteProxy<Below<M, H>>;
};

/** A listener for one outgoing route's payload. */
export type Listener<P> = (payload: P) => void;

/** Outgoing routes as nested namespaces of subscribe functions. */
export type EventProxy<M> = {
  [H in Head<keyof M & string>]: (H extends keyof M ? (listener: Listener<M[H]>) => Unsubscribe : unknown) &
    EventProxy<Below<M, H>>;
};

/** The input type of route `K`. */
export type InputOf<R extends AnyRouter, K extends keyof R["incoming"]> = R["incoming"][K]["input"];
/** The reply type of route `K`. */
export type OutputOf<R extends AnyRouter, K extends keyof R["incoming"]> = R["incoming"][K]["output"];

/** How the socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/** How a connection opened. */
export interface OpenInfo {
  /**
   * The server took this connection over the session of a dropped one (resume on, within its
   * window): same context and rooms, and every event missed meanwhile is delivered next, once
   * and in order. `false` for a first connection, a fresh session (resume off, or it could
   * not resume: re-join rooms and refetch), and after `close()`/`reconnect()`.
   */
  resumed: boolean;
}

/** A reconnect that is about to happen. */
export interface ReconnectInfo {
  /** 1 for the first retry after a disconnect. */
  attempt: number;
  /** How long until it is tried. */
  delayMs: number;
}

/** The members every client has, whatever its routes. */
export interface ClientCore<R extends AnyRouter> {
  /** Subscriptions to the server's messages: `client.on.chat.onMessage(cb)` returns an unsubscribe. */
  readonly on: EventProxy<R["outgoing"]>;
  /** Calls a route by its full name; the same as `client.a.b(input)`, for any route name. */
  call<K extends keyof R["incoming"] & string>(
    route: K,
    ...args: Parameters<Procedure<R["incoming"][K]>>
  ): Promise<OutputOf<R, K>>;
  /**
   * Runs `listener` each time the socket opens (after every reconnect too), with whether the
   * session was resumed: when it was, rooms and context are kept and missed events follow, so
   * re-join rooms and refetch only when `resumed` is false.
   */
  onOpen(listener: (info: OpenInfo) => void): Unsubscribe;
  /** Runs `listener` each time the socket closes. */
  onClose(listener: (info: CloseInfo) => void): Unsubscribe;
  /** Runs `listener` for socket errors, `__error` frames from the server and throwing listeners. */
  onError(listener: (error: unknown) => void): Unsubscribe;
  /** Runs `listener` when a reconnect is scheduled. */
  onReconnecting(listener: (info: ReconnectInfo) => void): Unsubscribe;
  /** Closes the connection for good: no reconnect, and every pending call is rejected. */
  close(code?: number, reason?: string): void;
  /** Drops the current connection (if any) and connects again at once, even after `close()`. */
  reconnect(): void;
  /** The socket's state: 0 connecting, 1 open, 2 closing, 3 closed (also while waiting to reconnect). */
  readonly readyState: number;
  /** The last error seen (socket error, timeout of the connection, `__error` frame), or null. */
  readonly lastError: unknown;
}

/** The names a route's first segment cannot use on the client object (use `client.call`). */
export type ReservedName = keyof ClientCore<AnyRouter> | "then";

/** A typed client for router `R`: its routes as methods, plus the `ClientCore` members. */
export type ZocketClient<R extends AnyRouter> = Omit<RouteProxy<R["incoming"]>, ReservedName> & ClientCore<R>;
