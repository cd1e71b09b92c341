// The TypeScript client of Zocket for Rust: typed calls and subscriptions from the `AppRouter`
// type a Rust server generates (`zocket::typescript::export`).
export { createClient, createZocketClient, ZOCKET_VERSION } from "./client.js";
export type {
  ClientOptions,
  ClientOptionsArg,
  HeartbeatOptions,
  ReconnectOptions,
  WebSocketConstructor,
  WebSocketLike,
} from "./client.js";
export { ConnectionError, RpcError, TimeoutError, ZocketError } from "./errors.js";
export type { Issue, ServerErrorCode } from "./errors.js";
export type {
  AnyRouter,
  CallOptions,
  ClientCore,
  CloseInfo,
  EventProxy,
  InputOf,
  Listener,
  OpenInfo,
  OutputOf,
  Procedure,
  ReconnectInfo,
  ReservedName,
  RouteProxy,
  Unsubscribe,
  ZocketClient,
} from "./types.js";
