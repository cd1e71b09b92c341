// Runs the conformance server (examples/conformance.rs) for the runtime tests: the binary named
// by ZOCKET_CONFORMANCE_BIN, else `cargo run --example conformance` from the repository root.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../../..", import.meta.url)); // from build/test/
const READY_TIMEOUT_MS = 120_000;
const LISTENING = /^listening on ws:\/\/127\.0\.0\.1:(\d+)\s*$/m;

export interface RunningServer {
  /** `ws://127.0.0.1:PORT/` */
  url: string;
  port: number;
  /** Graceful stop (SIGINT: the server closes every connection with 1001), SIGKILL after 5 s. */
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP): its sockets stay open but nothing answers. */
  freeze(): void;
  /** Thaws a frozen process (SIGCONT). */
  thaw(): void;
}

/**
 * Starts the server on `port` (0: any free port) and resolves once it listens; `env` adds to its
 * environment (e.g. `RESUME_WINDOW_MS`).
 */
export async function startServer(port = 0, env: Record<string, string> = {}): Promise<RunningServer> {
  const bin = process.env.ZOCKET_CONFORMANCE_BIN;
  const [command, args] = bin ? [bin, []] : ["cargo", ["run", "--quiet", "--example", "conformance"]];
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port), RUST_LOG: process.env.RUST_LOG ?? "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so signals reach the example under cargo too
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not listen in time:\n${output}`)), READY_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = LISTENING.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => reject(error));
    void exited.then(() => reject(new Error(`the server exited before listening:\n${output}`)));
  });
  return {
    url: `ws://127.0.0.1:${listening}/`,
    port: listening,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signal(child, "SIGCONT");
      signal(child, "SIGINT");
      const timer = setTimeout(() => signal(child, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
    freeze: () => signal(child, "SIGSTOP"),
    thaw: () => signal(child, "SIGCONT"),
  };
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, name);
  } catch {
    // Already gone.
  }
}
