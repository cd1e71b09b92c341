// Limits: bursts, large messages, oversized messages.
// Run: ZOCKET_CONFORMANCE_BIN=/path/to/conformance npm test (or from scripts/test).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshRpcId, sleep, withTimeout } from './client.mjs';
import { KIB, MIB, assertErrorPayload, assertUsable, never, open, rawCall, uniq, useServer } from './harness.mjs';

useServer();

describe('limits', () => {
  test('a burst of 200 calls on one connection is all answered', async () => {
    const c = await open();
    const calls = [];
    for (let i = 0; i < 200; i += 1) {
      calls.push(c.call('math.add', { a: i, b: 0.5 }, { timeoutMs: 15_000 }));
    }
    const results = await Promise.allSettled(calls);
    const failed = results
      .map((r, i) => [i, r])
      .filter(([, r]) => r.status === 'rejected')
      .map(([i, r]) => `#${i}: ${r.reason?.code ?? ''} ${r.reason?.message}`);
    assert.deepEqual(failed, [], 'every call of the burst must succeed');
    assert.deepEqual(
      results.map((r) => r.value),
      Array.from({ length: 200 }, (_, i) => i + 0.5),
    );
  });

  test('a burst of 200 fire-and-forget messages is all delivered', async () => {
    const sender = await open();
    const observer = await open();
    const tag = uniq('burst');
    const last = observer.waitFor('chat.onMessage', (p) => p.text === `${tag}-199`, { timeoutMs: 15_000 });
    for (let i = 0; i < 200; i += 1) sender.emit('chat.message', { text: `${tag}-${i}` });
    await last;
    await sleep(100);
    const texts = observer.received('chat.onMessage', (p) => p.text.startsWith(`${tag}-`)).map((p) => p.text);
    assert.equal(new Set(texts).size, 200, `all 200 broadcasts expected, got ${texts.length}`);
    assert.deepEqual(sender.errors, [], 'no message of the burst may be refused');
  });

  test('a 64 KiB message is accepted', async () => {
    const c = await open();
    const rpcId = freshRpcId();
    const overhead = Buffer.byteLength(JSON.stringify({ type: 'greet', payload: { name: '' }, rpcId }));
    const name = 'n'.repeat(64 * KIB - overhead);
    const text = JSON.stringify({ type: 'greet', payload: { name }, rpcId });
    assert.equal(Buffer.byteLength(text), 64 * KIB);
    const reply = await rawCall(c, text, rpcId);
    assert.equal(reply.type, '__rpc_res', `${reply.type} ${JSON.stringify(reply.payload).slice(0, 200)}`);
    assert.equal(reply.payload, `Hello, ${name}!`);

    // And broadcast to another client as a 64 KiB announcement.
    const observer = await open();
    const id2 = freshRpcId();
    const overhead2 = Buffer.byteLength(JSON.stringify({ type: 'system.announce', payload: { text: '' }, rpcId: id2 }));
    const big = 'é'.repeat(Math.floor((64 * KIB - overhead2) / 2));
    const seen = observer.waitFor('system.announcement', (p) => p.text === big);
    const frame = JSON.stringify({ type: 'system.announce', payload: { text: big }, rpcId: id2 });
    assert.ok(Buffer.byteLength(frame) <= 64 * KIB && Buffer.byteLength(frame) > 64 * KIB - 2);
    const reply2 = await rawCall(c, frame, id2);
    assert.equal(reply2.type, '__rpc_res');
    await seen;
  });

  test('a 16 MiB message is refused (PAYLOAD_TOO_LARGE or close 1009) while others keep working', async () => {
    const other = await open();

    // Keep another client busy while the big messages go through.
    let otherCalls = 0;
    let otherFailure = null;
    let stop = false;
    const busy = (async () => {
      while (!stop) {
        try {
          await assertUsable(other, 'another client during the 16 MiB message');
        } catch (error) {
          otherFailure = error;
          return;
        }
        otherCalls += 1;
        await sleep(20);
      }
    })();

    // Three attempts, each on a fresh connection, since how the refusal reaches the client can
    // depend on timing; every one of them must be seen as a refusal.
    const outcomes = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const c = await open();
      outcomes.push(await sendHuge(c));
      if (outcomes.at(-1).kind === 'reply' && outcomes.at(-1).reply.type === '__rpc_err') {
        await assertUsable(c, 'after PAYLOAD_TOO_LARGE');
      }
    }
    stop = true;
    await busy;

    const seen = outcomes.map(describeOutcome);
    for (const outcome of outcomes) {
      if (outcome.kind === 'reply') {
        assert.equal(outcome.reply.type, '__rpc_err', `a 16 MiB message was not refused: ${seen}`);
        assertErrorPayload(outcome.reply.payload, 'PAYLOAD_TOO_LARGE', '16 MiB message');
      } else if (outcome.kind === 'error') {
        assertErrorPayload(outcome.error, 'PAYLOAD_TOO_LARGE', '16 MiB message');
      } else {
        assert.equal(outcome.info.code, 1009, `expected PAYLOAD_TOO_LARGE or close 1009 each time, saw: ${seen.join(' | ')}`);
      }
    }
    assert.equal(otherFailure, null, `the other client failed: ${otherFailure?.message}`);
    assert.ok(otherCalls >= 1, 'the other client must have been served meanwhile');
    await assertUsable(other, 'another client after the 16 MiB message');
    const fresh = await open();
    await assertUsable(fresh, 'a new client after the 16 MiB message');
  });
});

/** Sends a 16 MiB greet and resolves with what the client sees first: a reply, an error, a close. */
async function sendHuge(c) {
  const rpcId = freshRpcId();
  const huge = JSON.stringify({ type: 'greet', payload: { name: 'x'.repeat(16 * MIB) }, rpcId });
  assert.ok(Buffer.byteLength(huge) > 16 * MIB);
  return withTimeout(
    Promise.race([
      // A waiter that fails because the connection closed leaves the verdict to `closed`.
      c.waitForReply(rpcId, { timeoutMs: 20_000 }).then((reply) => ({ kind: 'reply', reply }), never),
      c.waitForError((e) => e.code === 'PAYLOAD_TOO_LARGE', { timeoutMs: 20_000 }).then(
        (error) => ({ kind: 'error', error }),
        never,
      ),
      c.closed.then((info) => ({ kind: 'close', info, client: c })),
      c.sendRaw(huge).then(never, () => c.closed.then((info) => ({ kind: 'close', info, client: c }))),
    ]),
    20_000,
    'the server to refuse a 16 MiB message',
  );
}

function describeOutcome(outcome) {
  if (outcome.kind === 'reply') return `reply ${JSON.stringify(outcome.reply).slice(0, 200)}`;
  if (outcome.kind === 'error') return `__error ${JSON.stringify(outcome.error)}`;
  const transport = outcome.client.transportError ? `, transport error ${outcome.client.transportError.code}` : '';
  const frames = outcome.client.frames.slice(1).map((f) => f.text.slice(0, 120));
  return `close ${outcome.info.code} ${JSON.stringify(outcome.info.reason)}${transport}, frames after whoami: ${JSON.stringify(frames)}`;
}
