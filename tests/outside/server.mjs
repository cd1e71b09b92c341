// Starts the conformance server under test (examples/conformance.rs) and tells where it listens.
//
// The command is the binary named by ZOCKET_CONFORMANCE_BIN; without it, `cargo run --quiet
// --example conformance` from the repository root. The server always gets PORT=0 (so the kernel
// picks a free port on 127.0.0.1) and we wait for its `listening on ws://127.0.0.1:PORT` line.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const READY_TIMEOUT_MS = 60_000;
const KILL_GRACE_MS = 3_000;
const LISTENING = /^listening on ws:\/\/127\.0\.0\.1:(\d+)\s*$/;
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The command line that runs the server: `{ command, args, cwd, description }`. */
function serverCommand() {
  const bin = process.env.ZOCKET_CONFORMANCE_BIN;
  if (bin) {
    return { command: bin, args: [], cwd: REPO_ROOT, description: bin };
  }
  return {
    command: 'cargo',
    args: ['run', '--quiet', '--example', 'conformance'],
    cwd: REPO_ROOT,
    description: `cargo run --quiet --example conformance (in ${REPO_ROOT})`,
  };
}

/** Keeps the last `limit` characters written to a stream, for error messages. */
function tail(limit = 8_192) {
  let text = '';
  return {
    push(chunk) {
      text = (text + chunk).slice(-limit);
    },
    get text() {
      return text;
    },
  };
}

/**
 * Starts the server. Resolves to `{ url, port, stop, output }` once it listens; `stop()` sends
 * SIGINT, then SIGKILL after 3 s, and resolves when the process is gone.
 */
export async function startServer() {
  const { command, args, cwd, description } = serverCommand();
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that stop() also reaches the example when cargo runs it.
    detached: true,
  });

  const stdout = tail();
  const stderr = tail();
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });

  const port = await new Promise((resolve, reject) => {
    let pending = '';
    let done = false;
    const finish = (error, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(value);
    };
    const details = () =>
      `\n--- command: ${description}\n--- stdout (tail):\n${stdout.text}\n--- stderr (tail):\n${stderr.text}`;

    const timer = setTimeout(() => {
      finish(
        new Error(
          `the conformance server did not print "listening on ws://127.0.0.1:PORT" within ${
            READY_TIMEOUT_MS / 1000
          } s${details()}`,
        ),
      );
      killGroup(child, 'SIGKILL');
    }, READY_TIMEOUT_MS);

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout.push(chunk);
      if (done) return;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop();
      for (const line of lines) {
        const match = LISTENING.exec(line);
        if (match) {
          finish(null, Number(match[1]));
          return;
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.once('error', (error) => {
      finish(new Error(`could not start the conformance server (${description}): ${error.message}`));
    });
    exitPromise.then(({ code, signal }) => {
      finish(
        new Error(
          `the conformance server exited (code ${code}, signal ${signal}) before listening${details()}`,
        ),
      );
    });
  });

  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      if (exited) return exited;
      killGroup(child, 'SIGINT');
      let timer;
      const killed = new Promise((resolve) => {
        timer = setTimeout(() => {
          killGroup(child, 'SIGKILL');
          resolve();
        }, KILL_GRACE_MS);
      });
      await Promise.race([exitPromise, killed]);
      clearTimeout(timer);
      return exitPromise;
    })();
    return stopping;
  };

  return {
    url: `ws://127.0.0.1:${port}/`,
    port,
    stop,
    /** What the server printed so far (tails), for diagnostics. */
    output: () => ({ stdout: stdout.text, stderr: stderr.text }),
    /** `{ code, signal }` once the process ended, else null. */
    exited: () => exited,
  };
}

/** Signals the child's process group (it was spawned detached), falling back to the child. */
function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}
