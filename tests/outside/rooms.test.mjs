// Rooms, direct sends, the admin middleware, failing handlers and presence.
// Run: ZOCKET_CONFORMANCE_BIN=/path/to/conformance npm test (or from scripts/test).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from './client.mjs';
import { QUIET_MS, assertErrorPayload, assertInvalidInput, assertUsable, never, open, uniq, useServer } from './harness.mjs';

useServer();

describe('rooms', () => {
  test('rooms.join returns the client’s rooms, sorted and without duplicates', async () => {
    const c = await open();
    const p = uniq('room');
    assert.deepEqual(await c.call('rooms.join', { room: `${p}-zeta` }), [`${p}-zeta`]);
    assert.deepEqual(await c.call('rooms.join', { room: `${p}-alpha` }), [`${p}-alpha`, `${p}-zeta`]);
    assert.deepEqual(await c.call('rooms.join', { room: `${p}-mid` }), [`${p}-alpha`, `${p}-mid`, `${p}-zeta`]);
    assert.deepEqual(await c.call('rooms.join', { room: `${p}-alpha` }), [`${p}-alpha`, `${p}-mid`, `${p}-zeta`]);
    // Another client's rooms are its own.
    const d = await open();
    assert.deepEqual(await d.call('rooms.join', { room: `${p}-mid` }), [`${p}-mid`]);
  });

  test('rooms.join room length: 1 and 64 chars accepted, 0 and 65 refused', async () => {
    const c = await open();
    const sixtyFour = '€'.repeat(64); // 192 bytes, 64 chars
    assert.deepEqual(await c.call('rooms.join', { room: 'x' }), ['x']);
    assert.deepEqual((await c.call('rooms.join', { room: sixtyFour })).includes(sixtyFour), true);
    const ascii64 = 'r'.repeat(64);
    assert.ok((await c.call('rooms.join', { room: ascii64 })).includes(ascii64));
    for (const room of ['', 'r'.repeat(65), '€'.repeat(65)]) {
      assertInvalidInput(await c.callError('rooms.join', { room }), [['room']], `rooms.join of ${[...room].length} chars`);
    }
    assertInvalidInput(await c.callError('rooms.join', { room: 3 }), [['room']], 'rooms.join {room: 3}');
    assertInvalidInput(await c.callError('rooms.join', {}), [['room']], 'rooms.join {}');
    const rooms = await c.call('rooms.leave', { room: 'not-a-member-room' });
    assert.deepEqual(rooms, ['x', ascii64, sixtyFour].sort(), 'refused joins must not add rooms');
  });

  test('rooms.leave returns the remaining rooms sorted; leaving a room one is not in changes nothing', async () => {
    const c = await open();
    const p = uniq('leave');
    await c.call('rooms.join', { room: `${p}-c` });
    await c.call('rooms.join', { room: `${p}-a` });
    assert.deepEqual(await c.call('rooms.join', { room: `${p}-b` }), [`${p}-a`, `${p}-b`, `${p}-c`]);
    assert.deepEqual(await c.call('rooms.leave', { room: `${p}-b` }), [`${p}-a`, `${p}-c`]);
    assert.deepEqual(await c.call('rooms.leave', { room: `${p}-never` }), [`${p}-a`, `${p}-c`]);
    assert.deepEqual(await c.call('rooms.leave', { room: `${p}-b` }), [`${p}-a`, `${p}-c`]);
    assert.deepEqual(await c.call('rooms.leave', { room: `${p}-a` }), [`${p}-c`]);
    assert.deepEqual(await c.call('rooms.leave', { room: `${p}-c` }), []);
    assert.deepEqual(await c.call('rooms.leave', { room: `${p}-c` }), []);
    assertInvalidInput(await c.callError('rooms.leave', { room: null }), [['room']], 'rooms.leave {room: null}');
  });

  test('rooms.send reaches every member (non-member sender included) and nobody else', async () => {
    const room = uniq('room-send');
    const [m1, m2, outsider, sender] = [await open(), await open(), await open(), await open()];
    await m1.call('rooms.join', { room });
    await m2.call('rooms.join', { room });
    await outsider.call('rooms.join', { room: `${room}-elsewhere` });

    const text = uniq('to the room');
    const seen = [m1, m2].map((m) => m.waitFor('room.message', (p) => p.text === text));
    assert.equal(await sender.call('rooms.send', { room, text }), null, 'a non-member may send to a room');
    for (const payload of await Promise.all(seen)) {
      assert.deepEqual(payload, { room, text, from: sender.token });
    }

    // A member sending reaches itself too.
    const text2 = uniq('from a member');
    const seen2 = [m1, m2].map((m) => m.waitFor('room.message', (p) => p.text === text2));
    assert.equal(await m1.call('rooms.send', { room, text: text2 }), null);
    for (const payload of await Promise.all(seen2)) {
      assert.deepEqual(payload, { room, text: text2, from: m1.token });
    }

    // After leaving, a client no longer gets the room's messages.
    await m2.call('rooms.leave', { room });
    const text3 = uniq('after leaving');
    const seen3 = m1.waitFor('room.message', (p) => p.text === text3);
    await sender.call('rooms.send', { room, text: text3 });
    await seen3;

    await sleep(QUIET_MS);
    for (const [who, c] of [['outsider', outsider], ['sender', sender]]) {
      assert.deepEqual(c.received('room.message', (p) => p.room === room), [], `${who} must get nothing`);
    }
    assert.deepEqual(m2.received('room.message', (p) => p.text === text3), [], 'a client that left gets nothing');
    assert.equal(m1.received('room.message', (p) => p.text === text).length, 1, 'delivered exactly once');
  });

  test('rooms.send to an empty room succeeds and delivers nothing', async () => {
    const [a, b] = [await open(), await open()];
    const room = uniq('empty-room');
    assert.equal(await a.call('rooms.send', { room, text: 'anyone?' }), null);
    assertInvalidInput(await a.callError('rooms.send', { room }), [['text']], 'rooms.send without text');
    await sleep(QUIET_MS);
    assert.deepEqual([...a.received('room.message'), ...b.received('room.message')].filter((p) => p.room === room), []);
  });
});


describe('direct.send', () => {
  test('delivers chat.onMessage {text, from} to that one client only', async () => {
    const [a, b, c] = [await open(), await open(), await open()];
    const { clientId } = await b.call('whoami');
    const text = uniq('psst');
    const seen = b.waitFor('chat.onMessage', (p) => p.text === text);
    assert.equal(await a.call('direct.send', { to: clientId, text }), null);
    assert.deepEqual(await seen, { text, from: a.token });
    await sleep(QUIET_MS);
    assert.deepEqual(a.received('chat.onMessage', (p) => p.text === text), [], 'not to the sender');
    assert.deepEqual(c.received('chat.onMessage', (p) => p.text === text), [], 'not to a third client');
    assert.equal(b.received('chat.onMessage', (p) => p.text === text).length, 1, 'exactly once');
  });

  test('to an unknown client id succeeds and delivers nothing', async () => {
    const [a, b] = [await open(), await open()];
    const text = uniq('into the void');
    for (const to of ['no-such-client', uniq('ghost'), '']) {
      assert.equal(await a.call('direct.send', { to, text }), null, `direct.send to ${JSON.stringify(to)}`);
    }
    await sleep(QUIET_MS);
    for (const c of [a, b]) {
      assert.deepEqual(c.received('chat.onMessage', (p) => p.text === text), []);
    }
    assert.equal((await a.callError('direct.send', { text })).code, 'INVALID_INPUT', 'direct.send without to');
  });

  test('to a client that disconnected succeeds and delivers nothing', async () => {
    const [a, b] = [await open(), await open()];
    const { clientId } = await b.call('whoami');
    await b.close();
    await sleep(100);
    const text = uniq('too late');
    assert.equal(await a.call('direct.send', { to: clientId, text }), null);
    await sleep(QUIET_MS);
    assert.deepEqual(a.received('chat.onMessage', (p) => p.text === text), []);
  });
});


describe('admin', () => {
  test('admin.secret is FORBIDDEN for other users', async () => {
    for (const token of ['some-user', 'admin', 'admin-token2', 'ADMIN-TOKEN']) {
      const c = await open(token);
      const error = await c.callError('admin.secret');
      assertErrorPayload(error.payload, 'FORBIDDEN', `admin.secret as ${token}`);
      await assertUsable(c, token);
    }
  });

  test('admin.secret returns "top secret" for token admin-token', async () => {
    const c = await open('admin-token');
    assert.equal(await c.call('admin.secret'), 'top secret');
    assert.equal(await c.call('admin.secret', null), 'top secret');
    const error = await c.callError('admin.secret', { please: true });
    assert.equal(error.code, 'INVALID_INPUT', 'admin.secret takes no payload');
  });

  test('admin.pushTick reaches every client as system.tick {n}', async () => {
    const [a, b, c] = [await open(), await open(), await open('admin-token')];
    const n = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    const seen = [a, b, c].map((x) => x.waitFor('system.tick', (p) => p.n === n));
    assert.equal(await a.call('admin.pushTick', { n }), null);
    for (const payload of await Promise.all(seen)) {
      assert.deepEqual(payload, { n });
    }
    const negative = -n;
    const seenNegative = b.waitFor('system.tick', (p) => p.n === negative);
    assert.equal(await c.call('admin.pushTick', { n: negative }), null);
    assert.deepEqual(await seenNegative, { n: negative });
    for (const bad of [1.5, '3', null]) {
      assertInvalidInput(await a.callError('admin.pushTick', { n: bad }), [['n']], `pushTick n=${JSON.stringify(bad)}`);
    }
  });
});


describe('failures', () => {
  test('fail.boom -> INTERNAL without internals; the connection keeps working', async () => {
    const c = await open();
    const error = await c.callError('fail.boom');
    assertErrorPayload(error.payload, 'INTERNAL', 'fail.boom');
    assert.doesNotMatch(error.message, /database|fire|internal detail/i, 'no internals may leak');
    assert.equal(error.issues, undefined);
    await assertUsable(c, 'after fail.boom');
    assert.equal(c.isOpen, true);
  });

  test('fail.panic -> INTERNAL; the connection, other clients and the server keep working', async () => {
    const other = await open();
    const c = await open();
    for (let i = 0; i < 3; i += 1) {
      const error = await c.callError('fail.panic');
      assertErrorPayload(error.payload, 'INTERNAL', 'fail.panic');
      assert.doesNotMatch(error.message, /fail\.panic was called|panicked/i, 'no internals may leak');
    }
    assert.equal(c.isOpen, true, 'a panicking handler must not close the connection');
    await assertUsable(c, 'after fail.panic');
    await assertUsable(other, 'another client after fail.panic');
    const fresh = await open();
    await assertUsable(fresh, 'a new client after fail.panic');
    // The connection's state survived too.
    const room = uniq('after-panic');
    assert.deepEqual(await c.call('rooms.join', { room }), [room]);
    await c.callError('fail.panic');
    assert.deepEqual(await c.call('rooms.leave', { room: 'x' }), [room]);
  });
});


describe('presence', () => {
  test('on disconnect, presence.left {userId, rooms sorted} reaches every remaining client', async () => {
    const [o1, o2] = [await open(), await open()];
    const leaver = await open(uniq('leaver'));
    const p = uniq('presence');
    await leaver.call('rooms.join', { room: `${p}-b` });
    await leaver.call('rooms.join', { room: `${p}-c` });
    await leaver.call('rooms.join', { room: `${p}-a` });
    await leaver.call('rooms.leave', { room: `${p}-c` });
    const seen = [o1, o2].map((o) => o.waitFor('presence.left', (x) => x.userId === leaver.token));
    await leaver.close();
    for (const payload of await Promise.all(seen)) {
      assert.deepEqual(payload, { userId: leaver.token, rooms: [`${p}-a`, `${p}-b`] });
    }
    await sleep(QUIET_MS);
    assert.equal(o1.received('presence.left', (x) => x.userId === leaver.token).length, 1, 'exactly once');
  });

  test('a client in no room leaves with rooms []; an abrupt disconnect counts too', async () => {
    const observer = await open();
    const quiet = await open(uniq('roomless'));
    const seen = observer.waitFor('presence.left', (x) => x.userId === quiet.token);
    await quiet.close();
    assert.deepEqual(await seen, { userId: quiet.token, rooms: [] });

    const abrupt = await open(uniq('abrupt'));
    const room = uniq('abrupt-room');
    await abrupt.call('rooms.join', { room });
    const seenAbrupt = observer.waitFor('presence.left', (x) => x.userId === abrupt.token);
    abrupt.ws.terminate(); // TCP gone without a close frame
    assert.deepEqual(await seenAbrupt, { userId: abrupt.token, rooms: [room] });
  });
});
