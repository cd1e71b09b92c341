// What every file of the outside suite shares: one conformance server per file, clients that
// are closed after each test, and the assertions on the contract's frames.

import { after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { ZocketClient, ZocketRpcError } from './client.mjs';

/** How long we wait to be confident that something was NOT delivered. */
export const QUIET_MS = 300;
export const KIB = 1024;
export const MIB = 1024 * KIB;
export const never = () => new Promise(() => {});

let server;
const clients = new Set();
let seq = 0;
export const uniq = (prefix) => `${prefix}-${process.pid}-${++seq}`;

/** Closes `client` after the current test, as `open` does for its clients. */
export function track(client) {
  clients.add(client);
  return client;
}

/** Closes `client` now and stops tracking it. */
export async function release(client) {
  clients.delete(client);
  await client.close();
}

/** The server of the current file (started by `useServer`). */
export const serverUrl = () => server.url;

/** Starts a conformance server for the calling test file, and closes its clients after each test. */
export function useServer() {
  before(async () => {
    server = await startServer();
  }, { timeout: 90_000 });

  after(async () => {
    await Promise.all([...clients].map((c) => c.close()));
    if (server) {
      await server.stop();
    }
  });

  afterEach(async () => {
    const open = [...clients];
    clients.clear();
    for (const c of open) {
      assert.deepEqual(c.duplicateReplies, [], `a call got more than one reply on ${c.url}`);
    }
    await Promise.all(open.map((c) => c.close()));
  });
}

/**
 * Opens a client with the given token (query header, like the original client). Unless `settle`
 * is false, it then makes one round trip (whoami), so that the server has certainly finished
 * setting the connection up before the test broadcasts to it: the window between the upgrade
 * and that point is tested on its own ('broadcasts reach a client right after its upgrade').
 */
export async function open(token = uniq('user'), headers = {}, { settle = true, ...options } = {}) {
  const client = await ZocketClient.connect(server.url, { token, ...headers }, options);
  client.token = token;
  clients.add(client);
  if (settle) client.me = await client.call('whoami');
  return client;
}

/** Asserts an INVALID_INPUT error whose issues name each of `paths` (and only valid issue shapes). */
export function assertInvalidInput(error, paths, context = '') {
  assert.ok(error instanceof ZocketRpcError, `${context}: expected an __rpc_err, got ${error}`);
  assert.equal(error.code, 'INVALID_INPUT', `${context}: ${JSON.stringify(error.payload)}`);
  assertIssues(error.issues, paths, context);
}

export function assertIssues(issues, paths, context = '') {
  assert.ok(Array.isArray(issues), `${context}: issues must be a list, got ${JSON.stringify(issues)}`);
  for (const issue of issues) {
    assert.ok(Array.isArray(issue.path), `${context}: issue path must be a list: ${JSON.stringify(issue)}`);
    for (const segment of issue.path) {
      assert.ok(
        typeof segment === 'string' || Number.isInteger(segment),
        `${context}: a path segment is a key or an index: ${JSON.stringify(issue)}`,
      );
    }
    assert.equal(typeof issue.message, 'string', `${context}: issue message: ${JSON.stringify(issue)}`);
    assert.ok(issue.message.length > 0, `${context}: empty issue message`);
  }
  const named = issues.map((i) => JSON.stringify(i.path));
  for (const path of paths) {
    assert.ok(
      named.includes(JSON.stringify(path)),
      `${context}: issues must name ${JSON.stringify(path)}, got ${JSON.stringify(issues)}`,
    );
  }
}

export function assertErrorPayload(payload, code, context = '') {
  assert.ok(payload && typeof payload === 'object', `${context}: error payload ${JSON.stringify(payload)}`);
  assert.equal(payload.code, code, `${context}: ${JSON.stringify(payload)}`);
  assert.equal(typeof payload.message, 'string', `${context}: message must be a string`);
  assert.ok(payload.message.length > 0, `${context}: message must not be empty`);
}

/** Registers for the next `__error` before running `send`, so it cannot be missed. */
export async function nextError(client, send, what) {
  const error = client.waitForError(() => true, {
    includePast: false,
    timeoutMs: 2_000,
    what: `an __error for ${what}`,
  });
  await send();
  return error;
}

/** Sends a raw text frame carrying `rpcId` and returns the reply frame. */
export async function rawCall(client, text, rpcId, options) {
  const reply = client.waitForReply(rpcId, options);
  await client.sendRaw(text);
  return reply;
}

/** A greet round trip: the connection still works. */
export async function assertUsable(client, context = '') {
  const name = uniq('still-here');
  assert.equal(await client.call('greet', { name }), `Hello, ${name}!`, `${context}: connection not usable`);
}

// ---------------------------------------------------------------------------------------------
