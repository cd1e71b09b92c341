/** The error codes a Zocket server sends in `__rpc_err` and `__error` frames. */
export type ServerErrorCode =
  | "BAD_REQUEST"
  | "NOT_FOUND"
  | "INVALID_INPUT"
  | "FORBIDDEN"
  | "INTERNAL"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED";

/** One failing field of an `INVALID_INPUT` error: where it is in the payload, and why. */
export interface Issue {
  path: Array<string | number>;
  message: string;
}

/** Base class of every error this client produces; `code` tells them apart. */
export class ZocketError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "ZocketError";
    this.code = code;
  }
}

/**
 * The server refused or failed a call (an `__rpc_err` reply), or reported a failed message
 * (an `__error` frame): `code`, `message`, and for `INVALID_INPUT` one issue per failing field.
 */
export class RpcError extends ZocketError {
  declare readonly code: ServerErrorCode | (string & {});
  /** Every failing field (empty unless the code is `INVALID_INPUT`). */
  readonly issues: Issue[];
  /** The route the failed message named, when the server says so or the call is known. */
  readonly route: string | undefined;

  constructor(code: string, message: string, issues: Issue[] = [], route?: string) {
    super(code, message);
    this.name = "RpcError";
    this.issues = issues;
    this.route = route;
  }

  /** Reads the payload of an `__rpc_err` / `__error` frame, whatever it holds. */
  static fromPayload(payload: unknown, route?: string): RpcError {
    const p = (typeof payload === "object" && payload !== null ? payload : {}) as Record<string, unknown>;
    const code = typeof p.code === "string" ? p.code : "INTERNAL";
    const message = typeof p.message === "string" ? p.message : "the server reported an error";
    const issues = Array.isArray(p.issues) ? (p.issues as Issue[]) : [];
    const named = typeof p.route === "string" ? p.route : route;
    return new RpcError(code, message, issues, named);
  }
}

/** A call got no reply within its timeout. */
export class TimeoutError extends ZocketError {
  declare readonly code: "TIMEOUT";
  readonly route: string;
  readonly timeoutMs: number;

  constructor(route: string, timeoutMs: number) {
    super("TIMEOUT", `${route} got no reply within ${timeoutMs} ms`);
    this.name = "TimeoutError";
    this.route = route;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A call that cannot complete because of the connection: `DISCONNECTED` when the socket closed
 * after the call was sent (it may or may not have run, so it is never re-sent), `CLOSED` when
 * the client was closed or gave up reconnecting.
 */
export class ConnectionError extends ZocketError {
  declare readonly code: "DISCONNECTED" | "CLOSED";
  readonly route: string | undefined;

  constructor(code: "DISCONNECTED" | "CLOSED", message: string, route?: string) {
    super(code, message);
    this.name = "ConnectionError";
    this.route = route;
  }
}
