// The wire format and the protocol-level errors: BAD_REQUEST, NOT_FOUND, __error.
// Run: ZOCKET_CONFORMANCE_BIN=/path/to/conformance npm test (or from scripts/test).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshRpcId, sleep } from './client.mjs';
import { QUIET_MS, assertErrorPayload, assertIssues, assertUsable, never, nextError, open, rawCall, uniq, useServer } from './harness.mjs';

useServer();

describe('wire format', () => {
  test('a call gets exactly one __rpc_res {type, payload, rpcId} echoing its rpcId', async () => {
    const c = await open();
    const rpcId = `id with "quotes", \\ backslash, unicode é ✓ ${uniq('r')}`;
    const reply = await rawCall(c, JSON.stringify({ type: 'greet', payload: { name: 'Ada' }, rpcId }), rpcId);
    assert.deepEqual(reply, { type: '__rpc_res', payload: 'Hello, Ada!', rpcId });
    await sleep(QUIET_MS);
    const all = c.frames.filter((f) => f.data?.rpcId === rpcId);
    assert.equal(all.length, 1, `exactly one reply expected, got ${all.map((f) => f.text).join(' | ')}`);
  });

  test('an __rpc_err carries {code, message} and the rpcId', async () => {
    const c = await open();
    const rpcId = freshRpcId();
    const reply = await rawCall(c, JSON.stringify({ type: 'fail.boom', rpcId }), rpcId);
    assert.equal(reply.type, '__rpc_err');
    assert.equal(reply.rpcId, rpcId);
    assertErrorPayload(reply.payload, 'INTERNAL', 'fail.boom');
  });

  test('a handler that returns nothing replies with "payload": null (present, not omitted)', async () => {
    const c = await open();
    for (const [route, payload] of [
      ['chat.message', { text: uniq('void') }],
      ['system.announce', { text: uniq('void') }],
      ['rooms.send', { room: uniq('void-room'), text: 'x' }],
      ['direct.send', { to: 'nobody-at-all', text: 'x' }],
      ['admin.pushTick', { n: 1 }],
    ]) {
      const rpcId = freshRpcId();
      const reply = await rawCall(c, JSON.stringify({ type: route, payload, rpcId }), rpcId);
      assert.equal(reply.type, '__rpc_res', `${route}: ${JSON.stringify(reply)}`);
      assert.ok(Object.hasOwn(reply, 'payload'), `${route}: the reply must carry "payload": ${JSON.stringify(reply)}`);
      assert.equal(reply.payload, null, route);
    }
  });

  test('a message without rpcId that succeeds gets no reply at all', async () => {
    const c = await open();
    const name = uniq('no-reply');
    c.emit('greet', { name });
    // A later call on the same connection is answered; the first one never is.
    assert.equal(await c.call('greet', { name: 'after' }), 'Hello, after!');
    await sleep(QUIET_MS);
    const echoes = c.frames.filter((f) => f.text.includes(name));
    assert.deepEqual(echoes.map((f) => f.text), [], 'a message without rpcId must not be answered');
    assert.deepEqual(c.errors, []);
  });

  test('a binary frame is read as UTF-8 JSON text, like a text frame', async () => {
    const c = await open();
    const rpcId = freshRpcId();
    const reply = c.waitForReply(rpcId);
    await c.sendRaw(Buffer.from(JSON.stringify({ type: 'greet', payload: { name: 'Zoë ✓' }, rpcId }), 'utf8'), {
      binary: true,
    });
    assert.deepEqual(await reply, { type: '__rpc_res', payload: 'Hello, Zoë ✓!', rpcId });
    // A binary fire-and-forget message works too.
    const observer = await open();
    const text = uniq('binary-chat');
    const seen = observer.waitFor('chat.onMessage', (p) => p.text === text);
    await c.sendRaw(Buffer.from(JSON.stringify({ type: 'chat.message', payload: { text } })), { binary: true });
    assert.deepEqual(await seen, { text, from: c.token });
  });

  test('invalid UTF-8 in a text frame closes the connection with 1007; others are unaffected', async () => {
    const bystander = await open();
    const c = await open();
    // `ws` sends a Buffer as a text frame (opcode 1) unchanged when told `binary: false`.
    await c.sendRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    const { code } = await c.waitForClose();
    assert.equal(code, 1007, 'invalid UTF-8 in a text frame must close with 1007');
    await assertUsable(bystander, 'bystander');
  });
});


describe('BAD_REQUEST', () => {
  const noRpcId = [
    ['not JSON', 'this is not json'],
    ['truncated JSON', '{"type":"greet"'],
    ['an empty JSON array', '[]'],
    ['a JSON number', '42'],
    ['a JSON string', '"greet"'],
    ['JSON null', 'null'],
    ['an object without type', '{"payload":{"name":"x"}}'],
    ['a numeric type', '{"type":5,"payload":null}'],
    ['a null type', '{"type":null}'],
    ['an object type', '{"type":{"route":"greet"}}'],
    ['a missing type with a non-string rpcId', '{"payload":1,"rpcId":7}'],
    ['a JSON array shaped like [type, payload]', '["chat.message", {"text": "array-not-object"}]'],
    ['a non-string type with a non-string rpcId', '{"type":["greet"],"rpcId":{"id":"x"}}'],
  ];
  for (const [what, text] of noRpcId) {
    test(`${what} -> __error BAD_REQUEST, connection stays open`, async () => {
      const c = await open();
      const error = await nextError(c, () => c.sendRaw(text), what);
      assertErrorPayload(error, 'BAD_REQUEST', what);
      assert.equal(c.isOpen, true);
      await assertUsable(c, what);
      assert.equal(c.errors.length, 1, `one __error expected: ${JSON.stringify(c.errors)}`);
    });
  }

  test('a JSON array shaped like [type, payload, rpcId] is BAD_REQUEST, not a call', async () => {
    const c = await open();
    const rpcId = freshRpcId();
    const reply = c.waitForFrame(
      (d) => d && (d.type === '__error' || ((d.type === '__rpc_res' || d.type === '__rpc_err') && d.rpcId === rpcId)),
      { what: 'a reply to a JSON array' },
    );
    await c.sendRaw(JSON.stringify(['greet', { name: 'array' }, rpcId]));
    const { data } = await reply;
    assert.notEqual(data.type, '__rpc_res', `a JSON array was run as a call: ${JSON.stringify(data)}`);
    assertErrorPayload(data.payload, 'BAD_REQUEST', 'JSON array');
    await assertUsable(c, 'after a JSON array');
  });

  const withRpcId = [
    ['a missing type', (id) => JSON.stringify({ payload: { name: 'x' }, rpcId: id })],
    ['a numeric type', (id) => JSON.stringify({ type: 5, payload: null, rpcId: id })],
    ['a null type', (id) => JSON.stringify({ type: null, rpcId: id })],
    ['an array type', (id) => JSON.stringify({ type: ['greet'], payload: { name: 'x' }, rpcId: id })],
    ['a boolean type', (id) => JSON.stringify({ rpcId: id, type: true })],
  ];
  for (const [what, build] of withRpcId) {
    test(`${what} with a string rpcId -> __rpc_err BAD_REQUEST with that id`, async () => {
      const c = await open();
      const rpcId = freshRpcId();
      const reply = await rawCall(c, build(rpcId), rpcId);
      assert.equal(reply.type, '__rpc_err', JSON.stringify(reply));
      assert.equal(reply.rpcId, rpcId);
      assertErrorPayload(reply.payload, 'BAD_REQUEST', what);
      await sleep(50);
      assert.deepEqual(c.errors, [], 'no __error when the reply went to the rpcId');
      await assertUsable(c, what);
    });
  }
});


describe('NOT_FOUND', () => {
  test('an unknown route with rpcId -> __rpc_err NOT_FOUND', async () => {
    const c = await open();
    for (const route of ['no.such.route', 'admin', 'chat.onMessage', 'Greet', 'greet ']) {
      const error = await c.callError(route, {});
      assertErrorPayload(error.payload, 'NOT_FOUND', route);
    }
    await assertUsable(c);
  });

  test('an unknown route without rpcId -> __error NOT_FOUND naming the route', async () => {
    const c = await open();
    const route = uniq('no.such.route');
    const error = await nextError(c, () => c.emit(route, { x: 1 }), route);
    assertErrorPayload(error, 'NOT_FOUND', route);
    assert.equal(error.route, route);
    await assertUsable(c);
  });
});


describe('fire-and-forget failures (no rpcId) -> __error', () => {
  test('INVALID_INPUT names the route and lists the issues', async () => {
    const c = await open();
    const error = await nextError(c, () => c.emit('math.add', { a: 'x' }), 'math.add');
    assertErrorPayload(error, 'INVALID_INPUT', 'math.add');
    assert.equal(error.route, 'math.add');
    assertIssues(error.issues, [['a'], ['b']], 'math.add {a:"x"}');
  });

  test('a failing handler -> __error INTERNAL naming the route', async () => {
    const c = await open();
    const error = await nextError(c, () => c.emit('fail.boom'), 'fail.boom');
    assertErrorPayload(error, 'INTERNAL', 'fail.boom');
    assert.equal(error.route, 'fail.boom');
    assert.doesNotMatch(error.message, /database|fire/i, 'no internals may leak');
    await assertUsable(c);
  });

  test('a refusing middleware -> __error FORBIDDEN naming the route', async () => {
    const c = await open();
    const error = await nextError(c, () => c.emit('admin.secret'), 'admin.secret');
    assertErrorPayload(error, 'FORBIDDEN', 'admin.secret');
    assert.equal(error.route, 'admin.secret');
  });

  test('a failed chat.message broadcasts nothing', async () => {
    const c = await open();
    const observer = await open();
    const error = await nextError(c, () => c.emit('chat.message', { text: '' }), 'chat.message');
    assertErrorPayload(error, 'INVALID_INPUT', 'chat.message');
    assert.equal(error.route, 'chat.message');
    assertIssues(error.issues, [['text']]);
    await sleep(QUIET_MS);
    assert.deepEqual(observer.received('chat.onMessage', (p) => p.from === c.token), []);
  });
});
