// Each incoming route of the contract: replies, broadcasts, validation, concurrency.
// Run: ZOCKET_CONFORMANCE_BIN=/path/to/conformance npm test (or from scripts/test).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshRpcId, sleep } from './client.mjs';
import { QUIET_MS, assertInvalidInput, never, open, rawCall, release, uniq, useServer } from './harness.mjs';

useServer();

describe('chat.message', () => {
  test('broadcasts chat.onMessage {text, from: user_id} to every client, sender included', async () => {
    const [a, b, c] = [await open(), await open(), await open()];
    const text = uniq('hello everyone');
    const seen = [a, b, c].map((x) => x.waitFor('chat.onMessage', (p) => p.text === text));
    assert.equal(await b.call('chat.message', { text }), null);
    for (const payload of await Promise.all(seen)) {
      assert.deepEqual(payload, { text, from: b.token });
    }
  });

  test('text length: 1 and 500 chars accepted (counted in chars), 0 and 501 refused', async () => {
    const sender = await open();
    const observer = await open();
    // 500 non-ASCII chars are 1000+ bytes: the limit counts characters.
    for (const text of ['x', 'é'.repeat(500), 'a'.repeat(499) + 'ü']) {
      const seen = observer.waitFor('chat.onMessage', (p) => p.text === text);
      assert.equal(await sender.call('chat.message', { text }), null, `length ${[...text].length}`);
      assert.equal((await seen).from, sender.token);
    }
    for (const text of ['', 'a'.repeat(501), 'é'.repeat(501)]) {
      const error = await sender.callError('chat.message', { text });
      assertInvalidInput(error, [['text']], `chat.message of ${[...text].length} chars`);
    }
    for (const payload of [{}, { text: 5 }, { text: null }, null, 'hello']) {
      const error = await sender.callError('chat.message', payload);
      assert.equal(error.code, 'INVALID_INPUT', `chat.message ${JSON.stringify(payload)}`);
    }
    await sleep(QUIET_MS);
    const refused = observer.received(
      'chat.onMessage',
      (p) => p.from === sender.token && (p.text === '' || [...p.text].length > 500),
    );
    assert.deepEqual(refused, [], 'refused messages must not be broadcast');
  });
});


describe('broadcast timing', () => {
  test('broadcasts reach a client right after its upgrade completed', async () => {
    // Once the client's WebSocket is open it is connected, and a broadcast made after that
    // (causally: we wait for 'open' before asking another client to broadcast) must reach it.
    // Repeated, with and without a pause first, because a gap would only show now and then.
    const sender = await open();
    const misses = [];
    const rounds = 150;
    for (let i = 0; i < rounds; i += 1) {
      if (i % 2 === 1) await sleep(20); // an idle server: its threads are parked
      const newcomer = await open(uniq('newcomer'), {}, { settle: false });
      const text = uniq('welcome');
      const seen = newcomer.waitFor('system.announcement', (p) => p.text === text, { timeoutMs: 500 });
      assert.equal(await sender.call('system.announce', { text }), null);
      try {
        await seen;
      } catch {
        misses.push(i);
      }
      await release(newcomer);
      if (misses.length >= 5) break; // evidence enough; keep the suite short
    }
    assert.deepEqual(
      misses,
      [],
      `clients open before a broadcast never received it (within 500 ms), in rounds ${misses.join(', ')} ` +
        `of the first ${misses.length ? misses.at(-1) + 1 : rounds}`,
    );
  });
});


describe('system.announce', () => {
  test('broadcasts system.announcement {text} to every client', async () => {
    const [a, b, c] = [await open(), await open(), await open()];
    const text = uniq('attention');
    const seen = [a, b, c].map((x) => x.waitFor('system.announcement', (p) => p.text === text));
    assert.equal(await c.call('system.announce', { text }), null);
    for (const payload of await Promise.all(seen)) {
      assert.deepEqual(payload, { text });
    }
    const error = await a.callError('system.announce', { text: 42 });
    assertInvalidInput(error, [['text']], 'system.announce {text: 42}');
  });
});


describe('greet', () => {
  test('returns "Hello, <name>!"', async () => {
    const c = await open();
    assert.equal(await c.call('greet', { name: 'World' }), 'Hello, World!');
    assert.equal(await c.call('greet', { name: '' }), 'Hello, !');
    assert.equal(await c.call('greet', { name: 'Ünïcødé 🚀' }), 'Hello, Ünïcødé 🚀!');
  });

  test('refuses a bad payload with INVALID_INPUT naming the field', async () => {
    const c = await open();
    assertInvalidInput(await c.callError('greet', { name: 5 }), [['name']], 'greet {name: 5}');
    assertInvalidInput(await c.callError('greet', {}), [['name']], 'greet {}');
    assert.equal((await c.callError('greet', undefined)).code, 'INVALID_INPUT', 'greet without payload');
    assert.equal((await c.callError('greet', [1])).code, 'INVALID_INPUT', 'greet [1]');
  });
});


describe('math.add', () => {
  test('returns a + b as a JSON number', async () => {
    const c = await open();
    assert.equal(await c.call('math.add', { a: 1, b: 2 }), 3);
    assert.equal(await c.call('math.add', { a: 2.5, b: -0.25 }), 2.25);
    assert.equal(await c.call('math.add', { a: -7, b: 0 }), -7);
    assert.equal(await c.call('math.add', { a: 1e10, b: 1e10 }), 2e10);
    const rpcId = freshRpcId();
    const reply = await rawCall(c, JSON.stringify({ type: 'math.add', payload: { a: 20, b: 22 }, rpcId }), rpcId);
    assert.equal(typeof reply.payload, 'number', `a JSON number, got ${JSON.stringify(reply.payload)}`);
    assert.equal(reply.payload, 42);
  });

  test('{"a":"1","b":null} -> INVALID_INPUT with issues naming both a and b', async () => {
    const c = await open();
    const error = await c.callError('math.add', { a: '1', b: null });
    assertInvalidInput(error, [['a'], ['b']], 'math.add {a:"1", b:null}');
  });

  test('a payload missing both fields names both; one bad field names that field', async () => {
    const c = await open();
    assertInvalidInput(await c.callError('math.add', {}), [['a'], ['b']], 'math.add {}');
    const onlyB = await c.callError('math.add', { a: 1, b: 'two' });
    assertInvalidInput(onlyB, [['b']], 'math.add {a:1, b:"two"}');
    assert.ok(
      !onlyB.issues.some((i) => JSON.stringify(i.path) === '["a"]'),
      `a is valid and must not be named: ${JSON.stringify(onlyB.issues)}`,
    );
    assert.equal((await c.callError('math.add', undefined)).code, 'INVALID_INPUT', 'math.add without payload');
    assert.equal((await c.callError('math.add', 'a+b')).code, 'INVALID_INPUT', 'math.add "a+b"');
    assert.equal((await c.callError('math.add', [1, 2])).code, 'INVALID_INPUT', 'math.add [1, 2] is not an object');
  });
});


describe('slow.echo', () => {
  test('echoes the text after delayMs, and a slow call delays neither the next reply nor other clients', async () => {
    const c = await open();
    const other = await open();
    const started = Date.now();
    // 5000 is the upper bound of delayMs and must be accepted.
    const slow = c.call('slow.echo', { text: 'slowest', delayMs: 5000 }, { timeoutMs: 10_000 });
    let slowDone = null;
    slow.then(() => {
      slowDone = Date.now();
    }, () => {});
    const medium = c.call('slow.echo', { text: 'medium', delayMs: 300 }, { timeoutMs: 10_000 });

    const t0 = Date.now();
    assert.equal(await c.call('greet', { name: 'quick' }), 'Hello, quick!');
    const quickMs = Date.now() - t0;
    assert.ok(quickMs < 1000, `a quick call behind a slow one took ${quickMs} ms`);
    assert.equal(await c.call('slow.echo', { text: 'zero', delayMs: 0 }), 'zero');

    const t1 = Date.now();
    assert.equal(await other.call('greet', { name: 'other' }), 'Hello, other!');
    assert.ok(Date.now() - t1 < 1000, 'another client was delayed by a slow call');

    assert.equal(await medium, 'medium');
    const mediumMs = Date.now() - started;
    assert.ok(mediumMs >= 280, `slow.echo with delayMs 300 answered after ${mediumMs} ms`);
    assert.ok(mediumMs < 3000, `slow.echo with delayMs 300 answered after ${mediumMs} ms`);
    assert.equal(slowDone, null, 'the 5000 ms call must not be done before the 300 ms one');

    assert.equal(await slow, 'slowest');
    const slowMs = Date.now() - started;
    assert.ok(slowMs >= 4900, `slow.echo with delayMs 5000 answered after ${slowMs} ms`);
    assert.ok(slowMs < 9000, `slow.echo with delayMs 5000 answered after ${slowMs} ms`);
  });

  test('delayMs must be an integer in 0..=5000', async () => {
    const c = await open();
    for (const delayMs of [5001, -1, 1.5, '10', null, 1e9]) {
      const error = await c.callError('slow.echo', { text: 'x', delayMs });
      assertInvalidInput(error, [['delayMs']], `slow.echo delayMs ${JSON.stringify(delayMs)}`);
    }
    assertInvalidInput(await c.callError('slow.echo', { text: 'x' }), [['delayMs']], 'slow.echo without delayMs');
    assert.equal(await c.call('slow.echo', { text: 'ok', delayMs: 1 }), 'ok');
  });

  test('a wrongly typed field and an out-of-range field are both named in issues', async () => {
    const c = await open();
    assertInvalidInput(
      await c.callError('slow.echo', { text: 7, delayMs: 6000 }),
      [['text'], ['delayMs']],
      'slow.echo {text: 7, delayMs: 6000}',
    );
  });
});


describe('whoami', () => {
  test('returns {clientId, userId, clientVersion} with the default client-version 1.0.0', async () => {
    const c = await open('whoami-default');
    const me = await c.call('whoami');
    assert.deepEqual(Object.keys(me).sort(), ['clientId', 'clientVersion', 'userId']);
    assert.equal(typeof me.clientId, 'string');
    assert.ok(me.clientId.length > 0);
    assert.equal(me.userId, 'whoami-default');
    assert.equal(me.clientVersion, '1.0.0');
  });

  test('reports a given client-version', async () => {
    const c = await open('whoami-versioned', { 'client-version': '2.3.4-beta' });
    const me = await c.call('whoami');
    assert.equal(me.userId, 'whoami-versioned');
    assert.equal(me.clientVersion, '2.3.4-beta');
  });

  test('an absent or null payload is accepted, anything else refused with INVALID_INPUT', async () => {
    const c = await open();
    const absentId = freshRpcId();
    const absent = await rawCall(c, JSON.stringify({ type: 'whoami', rpcId: absentId }), absentId);
    assert.equal(absent.type, '__rpc_res', `absent payload: ${JSON.stringify(absent)}`);
    assert.equal(absent.payload.userId, c.token);
    const nullId = freshRpcId();
    const withNull = await rawCall(c, JSON.stringify({ type: 'whoami', payload: null, rpcId: nullId }), nullId);
    assert.equal(withNull.type, '__rpc_res', `null payload: ${JSON.stringify(withNull)}`);
    assert.deepEqual(withNull.payload, absent.payload);
    for (const payload of [{}, { x: 1 }, 0, false, '', [], 'me']) {
      const error = await c.callError('whoami', payload);
      assert.equal(error.code, 'INVALID_INPUT', `whoami with ${JSON.stringify(payload)}: ${JSON.stringify(error.payload)}`);
      assert.ok(Array.isArray(error.issues), `whoami with ${JSON.stringify(payload)}: issues must be a list`);
    }
  });

  test('each connection has its own unique client id, even for the same user', async () => {
    const token = uniq('same-user');
    const conns = [await open(token), await open(token), await open()];
    const ids = await Promise.all(conns.map((x) => x.call('whoami').then((me) => me.clientId)));
    assert.equal(new Set(ids).size, 3, `client ids must be unique: ${ids}`);
    const again = await conns[0].call('whoami');
    assert.equal(again.clientId, ids[0], 'the client id is stable for a connection');
  });
});
