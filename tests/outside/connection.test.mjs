// Connection headers: validation before the upgrade, refusals, query over header.
// Run: ZOCKET_CONFORMANCE_BIN=/path/to/conformance npm test (or from scripts/test).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ZocketClient, expectRefusedUpgrade, zocketUrl } from './client.mjs';
import { assertIssues, open, serverUrl, track, useServer } from './harness.mjs';

useServer();

describe('connection headers', () => {
  test('a missing token -> HTTP 400 {"error":"Invalid headers","details":[{path:["token"],...}]}', async () => {
    const res = await expectRefusedUpgrade(zocketUrl(serverUrl(), {}));
    assertInvalidHeaders(res, 'missing token');
    const withVersionOnly = await expectRefusedUpgrade(zocketUrl(serverUrl(), { 'client-version': '2.0.0' }));
    assertInvalidHeaders(withVersionOnly, 'missing token, client-version given');
  });

  test('a too-short token -> HTTP 400 naming token', async () => {
    for (const token of ['ab', 'x', '']) {
      const res = await expectRefusedUpgrade(zocketUrl(serverUrl(), { token }));
      assertInvalidHeaders(res, `token ${JSON.stringify(token)}`);
    }
    // Exactly three characters is enough.
    const c = await open('abc');
    assert.equal((await c.call('whoami')).userId, 'abc');
  });

  test('a token starting with "banned" -> HTTP 401 {"error":"User is banned"}', async () => {
    for (const token of ['banned', 'banned-user', 'bannedX']) {
      const res = await expectRefusedUpgrade(zocketUrl(serverUrl(), { token }));
      assert.equal(res.status, 401, `token ${token}: ${res.body}`);
      assert.deepEqual(res.json, { error: 'User is banned' }, `token ${token}: body ${res.body}`);
    }
    // Only a prefix counts.
    const c = await open('not-banned');
    assert.equal((await c.call('whoami')).userId, 'not-banned');
  });

  test('headers may come as HTTP headers', async () => {
    const c = await ZocketClient.connect(serverUrl(), {}, {
      httpHeaders: { token: 'from-http-header', 'client-version': '3.1.4' },
    });
    track(c);
    assert.deepEqual(
      { ...(await c.call('whoami')), clientId: 'x' },
      { clientId: 'x', userId: 'from-http-header', clientVersion: '3.1.4' },
    );
    const banned = await expectRefusedUpgrade(zocketUrl(serverUrl(), {}), { httpHeaders: { token: 'banned-by-header' } });
    assert.equal(banned.status, 401);
    assert.deepEqual(banned.json, { error: 'User is banned' });
    const short = await expectRefusedUpgrade(zocketUrl(serverUrl(), {}), { httpHeaders: { token: 'no' } });
    assertInvalidHeaders(short, 'short token in an HTTP header');
  });

  test('a query parameter wins over an HTTP header of the same name', async () => {
    const c = await ZocketClient.connect(serverUrl(), { token: 'from-query', 'client-version': '1.2.3' }, {
      httpHeaders: { token: 'from-header', 'client-version': '9.9.9' },
    });
    track(c);
    const me = await c.call('whoami');
    assert.equal(me.userId, 'from-query');
    assert.equal(me.clientVersion, '1.2.3');

    // The winner decides validation too.
    const short = await expectRefusedUpgrade(zocketUrl(serverUrl(), { token: 'no' }), {
      httpHeaders: { token: 'a-valid-header-token' },
    });
    assertInvalidHeaders(short, 'short query token over a valid header');
    const banned = await expectRefusedUpgrade(zocketUrl(serverUrl(), { token: 'banned-in-query' }), {
      httpHeaders: { token: 'fine-header-token' },
    });
    assert.equal(banned.status, 401);
    const fine = await ZocketClient.connect(serverUrl(), { token: 'fine-query-token' }, {
      httpHeaders: { token: 'banned-header-token' },
    });
    track(fine);
    assert.equal((await fine.call('whoami')).userId, 'fine-query-token');
  });

  test('unknown query parameters and headers are ignored', async () => {
    const url = new URL(zocketUrl(serverUrl(), { token: 'ignores-extras' }));
    url.searchParams.set('unknown', 'value');
    url.searchParams.set('another', '');
    assert.equal(url.searchParams.get('x-zocket-version'), '0.1.0');
    const c = await ZocketClient.connect(serverUrl(), {}, {
      rawUrl: url.toString(),
      httpHeaders: { 'x-custom-header': 'whatever' },
    });
    track(c);
    const me = await c.call('whoami');
    assert.equal(me.userId, 'ignores-extras');
    assert.equal(me.clientVersion, '1.0.0');
  });
});

function assertInvalidHeaders(res, context) {
  assert.equal(res.status, 400, `${context}: status ${res.status}, body ${res.body}`);
  assert.ok(res.json && typeof res.json === 'object', `${context}: the body must be JSON: ${res.body}`);
  assert.equal(res.json.error, 'Invalid headers', `${context}: ${res.body}`);
  assert.ok(Array.isArray(res.json.details), `${context}: details must be a list: ${res.body}`);
  assertIssues(res.json.details, [['token']], `${context} details`);
  assert.equal(res.json.details.length, 1, `${context}: only token fails: ${res.body}`);
}
