// Self-test of the test IdP and the browser driver, without Rust: `npm test --prefix tests/idp`.
// Each test starts server.mjs on an ephemeral port and plays the part of the app.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

function startIdp(env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'server.mjs'), '--port', '0', '--watch-stdin'], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^READY (.*)$/m);
      if (m) resolve({ child, ...JSON.parse(m[1]), stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`idp exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`idp not ready in 30s: ${err}`)), 30_000).unref();
  });
}

const form = (obj) => new URLSearchParams(obj).toString();
async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {} };
}
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const jwtPayload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

function runBrowser(url, env = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    execFile(path.join(here, 'browser.sh'), [url], { env: { ...process.env, ...env }, timeout: 70_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (error.code ?? -1) : 0, stderr, ms: Date.now() - t0 });
    });
  });
}

// The app's loopback listener: resolves with the callback's query.
function callbackListener() {
  return new Promise((resolve) => {
    let got;
    const received = new Promise((r) => { got = r; });
    const server = http.createServer((req, res) => {
      const u = new URL(req.url, 'http://127.0.0.1');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('you may close this window');
      if (u.pathname === '/callback') got(u.searchParams);
    });
    server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port, received, close: () => server.close() }));
  });
}

let idp;
before(async () => {
  const t0 = Date.now();
  idp = await startIdp();
  console.log(`# idp ready in ${Date.now() - t0} ms at ${idp.issuer}`);
});
after(() => idp?.child.kill('SIGTERM'));

test('discovery names the exact issuer and the endpoints', async () => {
  const d = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
  assert.equal(d.issuer, `http://127.0.0.1:${idp.port}`);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'revocation_endpoint', 'device_authorization_endpoint', 'userinfo_endpoint']) {
    assert.ok(d[k]?.startsWith(idp.issuer), k);
  }
  const jwks = await (await fetch(d.jwks_uri)).json();
  assert.equal(jwks.keys[0].alg, 'RS256');
  assert.equal(jwks.keys[0].d, undefined, 'private part must not be published');
});

test('client_credentials (basic and post) issue a JWT and count', async () => {
  await fetch(`${idp.issuer}/__test/reset`, { method: 'POST' });
  const basic = `Basic ${Buffer.from('lmi-service:service-secret-123').toString('base64')}`;
  const a = await post(`${idp.issuer}/token`, { grant_type: 'client_credentials', scope: 'api:read' }, { authorization: basic });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  assert.equal(a.json.scope, 'api:read');
  assert.equal(a.json.expires_in, 300);
  assert.equal(jwtPayload(a.json.access_token).aud, 'urn:lmi:test-api');
  const b = await post(`${idp.issuer}/token`, {
    grant_type: 'client_credentials', client_id: 'lmi-service', client_secret: 'service-secret-123', audience: 'https://api.example.test',
  });
  assert.equal(b.status, 200);
  assert.equal(jwtPayload(b.json.access_token).aud, 'https://api.example.test');
  const bad = await post(`${idp.issuer}/token`, { grant_type: 'client_credentials', client_id: 'lmi-service', client_secret: 'nope' });
  assert.equal(bad.status, 401);
  const c = await (await fetch(`${idp.issuer}/__test/counters`)).json();
  assert.equal(c.token.client_credentials, 3);
});

async function codeFlow(env = {}, { issuer = idp.issuer, extra = {} } = {}) {
  const app = await callbackListener();
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const redirectUri = `http://127.0.0.1:${app.port}/callback`;
  const state = b64url(crypto.randomBytes(16));
  const auth = new URL(`${issuer}/auth`);
  auth.search = form({
    ...extra,
    client_id: 'lmi-cli',
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    state,
    nonce: 'n-0S6_WzA2Mj',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  const browser = await runBrowser(auth.href, env);
  const params = await Promise.race([app.received, new Promise((r) => setTimeout(() => r(null), 1000))]);
  app.close();
  return { browser, params, redirectUri, verifier, state };
}

test('authorization code + PKCE through the real browser, then refresh rotation and revocation', async () => {
  const { browser, params, redirectUri, verifier, state } = await codeFlow({ LMI_TEST_LOGIN: 'bob' });
  console.log(`# browser login took ${browser.ms} ms`);
  assert.equal(browser.code, 0, browser.stderr);
  assert.ok(params, 'callback received');
  assert.equal(params.get('state'), state);
  assert.equal(params.get('iss'), idp.issuer);
  const tok = await post(`${idp.issuer}/token`, {
    grant_type: 'authorization_code', client_id: 'lmi-cli', code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier,
  });
  assert.equal(tok.status, 200, JSON.stringify(tok.json));
  const id = jwtPayload(tok.json.id_token);
  assert.equal(id.sub, 'bob');
  assert.equal(id.email, 'bob@example.test');
  assert.equal(id.name, 'Test User bob');
  assert.equal(id.nonce, 'n-0S6_WzA2Mj');
  assert.equal(id.aud, 'lmi-cli');
  assert.equal(id.exp - id.iat, 300, 'IDP_ID_TOKEN_TTL default');
  assert.equal(tok.json.expires_in, 300);
  assert.ok(tok.json.refresh_token);

  const r1 = await post(`${idp.issuer}/token`, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: tok.json.refresh_token });
  assert.equal(r1.status, 200, JSON.stringify(r1.json));
  assert.notEqual(r1.json.refresh_token, tok.json.refresh_token, 'rotated');
  const reuse = await post(`${idp.issuer}/token`, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: tok.json.refresh_token });
  assert.equal(reuse.json.error, 'invalid_grant');

  const { status } = await post(`${idp.issuer}/token/revocation`, { client_id: 'lmi-cli', token: tok.json.access_token });
  assert.equal(status, 200);
});

test('deny at consent sends error=access_denied to the app', async () => {
  const { browser, params } = await codeFlow({ LMI_TEST_BROWSER_ACTION: 'deny' });
  assert.equal(browser.code, 0, browser.stderr);
  assert.equal(params.get('error'), 'access_denied');
});

test('the browser fails clearly when the app is not listening', async () => {
  const app = await callbackListener();
  const port = app.port;
  app.close();
  const auth = new URL(`${idp.issuer}/auth`);
  auth.search = form({
    client_id: 'lmi-cli', response_type: 'code', redirect_uri: `http://127.0.0.1:${port}/callback`, scope: 'openid',
    code_challenge: b64url(crypto.createHash('sha256').update('x'.repeat(43)).digest()), code_challenge_method: 'S256',
  });
  const browser = await runBrowser(auth.href);
  assert.notEqual(browser.code, 0);
  assert.match(browser.stderr, /did not answer/);
});

async function deviceStart() {
  const d = await post(`${idp.issuer}/device/auth`, { client_id: 'lmi-cli', scope: 'openid profile email offline_access' });
  assert.equal(d.status, 200, JSON.stringify(d.json));
  return d.json;
}
const pollDevice = (deviceCode) => post(`${idp.issuer}/token`, {
  grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'lmi-cli', device_code: deviceCode,
});

test('device flow through the browser', async () => {
  const d = await deviceStart();
  assert.equal((await pollDevice(d.device_code)).json.error, 'authorization_pending');
  const browser = await runBrowser(d.verification_uri_complete, { LMI_TEST_BROWSER_ACTION: 'device', LMI_TEST_LOGIN: 'carol' });
  assert.equal(browser.code, 0, browser.stderr);
  const tok = await pollDevice(d.device_code);
  assert.equal(tok.status, 200, JSON.stringify(tok.json));
  assert.equal(jwtPayload(tok.json.id_token).email, 'carol@example.test');
  assert.ok(tok.json.refresh_token);
});

test('device flow through the browser, typing the code', async () => {
  const d = await deviceStart();
  const browser = await runBrowser(d.verification_uri, { LMI_TEST_BROWSER_ACTION: 'device', LMI_TEST_USER_CODE: d.user_code });
  assert.equal(browser.code, 0, browser.stderr);
  assert.equal((await pollDevice(d.device_code)).status, 200);
});

test('device flow denied in the browser', async () => {
  const d = await deviceStart();
  const browser = await runBrowser(d.verification_uri_complete, { LMI_TEST_BROWSER_ACTION: 'device-deny' });
  assert.equal(browser.code, 0, browser.stderr);
  assert.equal((await pollDevice(d.device_code)).json.error, 'access_denied');
});

test('device flow approved through /__test/device/approve', async () => {
  const d = await deviceStart();
  const res = await fetch(`${idp.issuer}/__test/device/approve`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: d.user_code, login: 'dave' }),
  });
  assert.equal(res.status, 200, await res.text());
  const tok = await pollDevice(d.device_code);
  assert.equal(tok.status, 200, JSON.stringify(tok.json));
  const id = jwtPayload(tok.json.id_token);
  assert.equal(id.sub, 'dave');
  assert.equal(id.email, 'dave@example.test');
  assert.ok(tok.json.refresh_token);
  const r = await post(`${idp.issuer}/token`, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: tok.json.refresh_token });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  // and /__test/forget makes every refresh token unknown
  await fetch(`${idp.issuer}/__test/forget`, { method: 'POST' });
  const gone = await post(`${idp.issuer}/token`, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: r.json.refresh_token });
  assert.equal(gone.json.error, 'invalid_grant');
});

test('token lifetimes come from the environment', async () => {
  const short = await startIdp({ IDP_ACCESS_TOKEN_TTL: '2', IDP_ID_TOKEN_TTL: '3' });
  try {
    const a = await post(`${short.issuer}/token`, {
      grant_type: 'client_credentials', client_id: 'lmi-service', client_secret: 'service-secret-123', scope: 'api:read',
    });
    assert.equal(a.json.expires_in, 2);
  } finally {
    short.child.kill('SIGTERM');
  }
});

test('IDP_STRICT_OFFLINE_ACCESS=1: offline_access needs prompt=consent', async () => {
  const strict = await startIdp({ IDP_STRICT_OFFLINE_ACCESS: '1' });
  try {
    const exchange = async ({ params, redirectUri, verifier }) => (await post(`${strict.issuer}/token`, {
      grant_type: 'authorization_code', client_id: 'lmi-cli', code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier,
    })).json;
    const without = await codeFlow({}, { issuer: strict.issuer });
    assert.equal(without.browser.code, 0, without.browser.stderr);
    const a = await exchange(without);
    assert.ok(a.id_token && !a.refresh_token, JSON.stringify(a));
    const withConsent = await codeFlow({}, { issuer: strict.issuer, extra: { prompt: 'consent' } });
    const b = await exchange(withConsent);
    assert.ok(b.refresh_token, JSON.stringify(b));
  } finally {
    strict.child.kill('SIGTERM');
  }
});

// ---------------------------------------------------------------------------------------------
// Emulation profiles (IDP_PROFILE): each profile's login through the real browser, then its quirk.

async function startProfile(profile, env = {}) {
  const p = await startIdp({ IDP_PROFILE: profile, ...env });
  const d = await (await fetch(`${p.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)).json();
  return { ...p, d, stop: () => p.child.kill('SIGTERM') };
}

async function profileLogin(p, { login = 'alice', scope = 'openid profile email offline_access', extra = {}, port } = {}) {
  const app = port ? null : await callbackListener();
  const verifier = b64url(crypto.randomBytes(32));
  const redirectUri = `http://127.0.0.1:${port ?? app.port}/callback`;
  const auth = new URL(p.d.authorization_endpoint);
  auth.search = form({
    client_id: p.client_id, response_type: 'code', redirect_uri: redirectUri, scope, state: 'st', nonce: 'nn',
    code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256', ...extra,
  });
  const browser = await runBrowser(auth.href, { LMI_TEST_LOGIN: login });
  const params = app ? await Promise.race([app.received, new Promise((r) => setTimeout(() => r(null), 1000))]) : null;
  app?.close();
  if (!params) return { browser };
  const secret = p.client_secret ? { client_secret: p.client_secret } : {};
  const tok = await post(p.d.token_endpoint, {
    grant_type: 'authorization_code', client_id: p.client_id, code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier, ...secret,
  });
  return { browser, params, tok, redirectUri };
}
const log = async (p) => (await fetch(`${p.origin}/__test/log`)).json();
const setClaims = (p, login, claims) => fetch(`${p.origin}/__test/claims`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login, claims }),
});
const setGroups = (p, login, groups) => fetch(`${p.origin}/__test/groups`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login, groups }),
});

test('profile entra: path issuer, no email, groups overage, no revocation, padded tokens that refresh', async () => {
  const p = await startProfile('entra');
  try {
    assert.match(p.issuer, /^http:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}\/v2\.0$/);
    assert.equal(p.d.issuer, p.issuer);
    assert.equal(p.d.revocation_endpoint, undefined);
    assert.ok(p.d.token_endpoint.endsWith('/oauth2/v2.0/token'), p.d.token_endpoint);
    await setGroups(p, 'bob', Array.from({ length: 201 }, (_, i) => `g${i}`));
    await setClaims(p, 'bob', { upn: 'bob@contoso.test', hasgroups: true });
    const { browser, params, tok } = await profileLogin(p, { login: 'bob' });
    assert.equal(browser.code, 0, browser.stderr);
    assert.equal(params.get('iss'), p.issuer);
    assert.equal(tok.status, 200, JSON.stringify(tok.json));
    const id = jwtPayload(tok.json.id_token);
    assert.equal(id.iss, p.issuer);
    assert.equal(id.email, undefined);
    assert.equal(id.preferred_username, 'bob@contoso.test');
    assert.equal(id.upn, 'bob@contoso.test');
    assert.equal(id.hasgroups, true);
    assert.equal(id.groups, undefined);
    assert.deepEqual(id._claim_names, { groups: 'src1' });
    assert.equal(id._claim_sources.src1.endpoint, 'https://graph.microsoft.com/v1.0/users/bob/getMemberObjects');
    assert.equal(tok.json.access_token.length, 2200);
    assert.equal(tok.json.refresh_token.length, 1700);
    const me = await (await fetch(p.d.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.json.access_token}` } })).json();
    assert.equal(me.sub, 'bob');
    assert.equal(me.email, undefined);
    const r = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: p.client_id, refresh_token: tok.json.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.refresh_token.length, 1700);
    // 200 groups fit
    await setGroups(p, 'bob', Array.from({ length: 200 }, (_, i) => `g${i}`));
    const r2 = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: p.client_id, refresh_token: r.json.refresh_token });
    assert.equal(jwtPayload(r2.json.id_token).groups.length, 200);
    const entries = (await log(p)).filter((e) => e.endpoint === 'authorization');
    assert.equal(entries[0].scope, 'openid profile email offline_access');
    assert.equal(entries[0].state, undefined);
  } finally {
    p.stop();
  }
});

test('profile okta-org and okta-custom: paths, exact redirect ports, groups claim, device grant off', async () => {
  const org = await startProfile('okta-org');
  const app = await callbackListener();
  const custom = await startProfile('okta-custom', { IDP_REDIRECT_PORTS: String(app.port), IDP_DEVICE_GRANT: 'off' });
  app.close();
  try {
    assert.equal(org.d.issuer, org.issuer);
    assert.equal(org.d.authorization_endpoint, `${org.origin}/oauth2/v1/authorize`);
    assert.equal(custom.d.issuer, `${custom.origin}/oauth2/default`);
    for (const [k, v] of Object.entries({ authorization_endpoint: 'authorize', token_endpoint: 'token', jwks_uri: 'keys', revocation_endpoint: 'revoke', device_authorization_endpoint: 'device/authorize' })) {
      assert.equal(custom.d[k], `${custom.origin}/oauth2/default/v1/${v}`);
    }
    // no port registered: Okta's error page, and the browser says so (exit 6)
    const refused = await profileLogin(org, {});
    assert.equal(refused.browser.code, 6, refused.browser.stderr);
    assert.match(refused.browser.stderr, /redirect_uri' parameter must be a Login redirect URI/);
    const page = await fetch(`${org.d.authorization_endpoint}?client_id=lmi-cli&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('http://127.0.0.1:1234/callback')}`, { redirect: 'manual' });
    assert.equal(page.status, 400);
    // okta-org: groups only with the groups scope (checked through the device flow, no browser)
    for (const [scope, want] of [['openid profile', undefined], ['openid groups', ['lmi-users']]]) {
      const d = await post(org.d.device_authorization_endpoint, { client_id: 'lmi-cli', scope });
      await fetch(`${org.origin}/__test/device/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: d.json.user_code, login: 'erin' }) });
      const t = await post(org.d.token_endpoint, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'lmi-cli', device_code: d.json.device_code });
      assert.deepEqual(jwtPayload(t.json.id_token).groups, want, scope);
    }
    // okta-custom with IDP_DEVICE_GRANT=off
    const off = await post(custom.d.device_authorization_endpoint, { client_id: 'lmi-cli', scope: 'openid' });
    assert.equal(off.status, 400);
    assert.equal(off.json.error, 'unauthorized_client');
    const entries = (await log(custom)).filter((e) => e.endpoint === 'device_authorization');
    assert.equal(entries.at(-1).scope, 'openid');
  } finally {
    org.stop();
    custom.stop();
  }
});

test('profile okta-custom: a registered port logs in, groups always', async () => {
  const app = await callbackListener();
  const p = await startProfile('okta-custom', { IDP_REDIRECT_PORTS: `1,${app.port}` });
  try {
    const verifier = b64url(crypto.randomBytes(32));
    const redirectUri = `http://127.0.0.1:${app.port}/callback`;
    const auth = new URL(p.d.authorization_endpoint);
    auth.search = form({
      client_id: 'lmi-cli', response_type: 'code', redirect_uri: redirectUri, scope: 'openid offline_access', state: 's',
      code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
    });
    const browser = await runBrowser(auth.href);
    assert.equal(browser.code, 0, browser.stderr);
    const params = await app.received;
    const tok = await post(p.d.token_endpoint, { grant_type: 'authorization_code', client_id: 'lmi-cli', code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(tok.status, 200, JSON.stringify(tok.json));
    assert.deepEqual(jwtPayload(tok.json.id_token).groups, ['lmi-users']);
    assert.equal(jwtPayload(tok.json.id_token).iss, `${p.origin}/oauth2/default`);
  } finally {
    app.close();
    p.stop();
  }
});

test('profile keycloak: realm issuer and paths, refresh_expires_in', async () => {
  const p = await startProfile('keycloak', { IDP_REFRESH_TOKEN_TTL: '1800' });
  try {
    assert.equal(p.d.issuer, `${p.origin}/realms/lmi`);
    assert.equal(p.d.device_authorization_endpoint, `${p.origin}/realms/lmi/protocol/openid-connect/auth/device`);
    assert.equal(p.d.jwks_uri, `${p.origin}/realms/lmi/protocol/openid-connect/certs`);
    const { browser, tok } = await profileLogin(p, {});
    assert.equal(browser.code, 0, browser.stderr);
    assert.equal(tok.json.refresh_expires_in, 1800);
    const r = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: tok.json.refresh_token });
    assert.equal(r.json.refresh_expires_in, 1800);
    const rv = await post(p.d.revocation_endpoint, { client_id: 'lmi-cli', token: r.json.refresh_token });
    assert.equal(rv.status, 200);
  } finally {
    p.stop();
  }
});

test('profile auth0: trailing-slash issuer, audience makes a JWT access token', async () => {
  const p = await startProfile('auth0');
  try {
    assert.equal(p.issuer, `${p.origin}/`);
    assert.equal(p.d.issuer, `${p.origin}/`);
    assert.equal(p.d.token_endpoint, `${p.origin}/oauth/token`);
    assert.equal(p.d.revocation_endpoint, `${p.origin}/oauth/revoke`);
    const plain = await profileLogin(p, {});
    assert.equal(plain.browser.code, 0, plain.browser.stderr);
    assert.equal(plain.params.get('iss'), `${p.origin}/`);
    assert.equal(jwtPayload(plain.tok.json.id_token).iss, `${p.origin}/`);
    assert.ok(!plain.tok.json.access_token.includes('.'), 'opaque without audience');
    const api = await profileLogin(p, { extra: { audience: 'https://api.example.test' } });
    assert.equal(api.tok.status, 200, JSON.stringify(api.tok.json));
    assert.equal(jwtPayload(api.tok.json.access_token).aud, 'https://api.example.test');
    const r = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: api.tok.json.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(jwtPayload(r.json.access_token).aud, 'https://api.example.test');
    const d = await post(p.d.device_authorization_endpoint, { client_id: 'lmi-cli', scope: 'openid offline_access', audience: 'https://api.example.test' });
    assert.equal(d.status, 200, JSON.stringify(d.json));
    await fetch(`${p.origin}/__test/device/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: d.json.user_code }) });
    const t = await post(p.d.token_endpoint, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'lmi-cli', device_code: d.json.device_code });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.equal(jwtPayload(t.json.access_token).aud, 'https://api.example.test');
    const entries = await log(p);
    assert.equal(entries.filter((e) => e.endpoint === 'authorization').at(-1).audience, 'https://api.example.test');
    assert.equal(entries.filter((e) => e.endpoint === 'device_authorization').at(-1).audience, 'https://api.example.test');
  } finally {
    p.stop();
  }
});

test('profile google: offline_access refused, refresh token only with access_type=offline+prompt=consent, secret required', async () => {
  const p = await startProfile('google');
  try {
    assert.equal(p.client_id, 'lmi-desktop');
    assert.equal(p.d.revocation_endpoint, `${p.origin}/revoke`);
    const refused = await profileLogin(p, {});
    assert.equal(refused.browser.code, 6, refused.browser.stderr);
    assert.match(refused.browser.stderr, /invalid=\[offline_access\]/);
    const online = await profileLogin(p, { scope: 'openid email profile' });
    assert.equal(online.tok.status, 200, JSON.stringify(online.tok.json));
    assert.equal(online.tok.json.refresh_token, undefined);
    const offline = await profileLogin(p, { scope: 'openid email profile', extra: { access_type: 'offline', prompt: 'consent' } });
    assert.equal(offline.browser.code, 0, offline.browser.stderr);
    assert.ok(offline.tok.json.refresh_token, JSON.stringify(offline.tok.json));
    const noSecret = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: p.client_id, refresh_token: offline.tok.json.refresh_token });
    assert.equal(noSecret.status, 400);
    assert.deepEqual(noSecret.json, { error: 'invalid_request', error_description: 'client_secret is missing.' });
    const r = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: p.client_id, client_secret: p.client_secret, refresh_token: offline.tok.json.refresh_token });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.refresh_token, undefined, 'Google does not rotate');
    const again = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: p.client_id, client_secret: p.client_secret, refresh_token: offline.tok.json.refresh_token });
    assert.equal(again.status, 200, 'the same refresh token keeps working');
    const rv = await post(p.d.revocation_endpoint, { token: offline.tok.json.refresh_token });
    assert.equal(rv.status, 200);
    const gone = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: p.client_id, client_secret: p.client_secret, refresh_token: offline.tok.json.refresh_token });
    assert.equal(gone.json.error, 'invalid_grant');
    const entry = (await log(p)).filter((e) => e.endpoint === 'authorization').at(-1);
    assert.equal(entry.access_type, 'offline');
    assert.equal(entry.prompt, 'consent');
  } finally {
    p.stop();
  }
});

test('padding is available in any profile', async () => {
  const p = await startProfile('generic', { IDP_ACCESS_TOKEN_BYTES: '3000', IDP_REFRESH_TOKEN_BYTES: '2500' });
  try {
    const d = await post(p.d.device_authorization_endpoint, { client_id: 'lmi-cli', scope: 'openid offline_access' });
    await fetch(`${p.origin}/__test/device/approve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_code: d.json.user_code }) });
    const t = await post(p.d.token_endpoint, { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: 'lmi-cli', device_code: d.json.device_code });
    assert.equal(t.json.access_token.length, 3000);
    assert.equal(t.json.refresh_token.length, 2500);
    assert.equal((await fetch(p.d.userinfo_endpoint, { headers: { authorization: `Bearer ${t.json.access_token}` } })).status, 200);
    const rv = await post(p.d.revocation_endpoint, { client_id: 'lmi-cli', token: t.json.refresh_token });
    assert.equal(rv.status, 200);
    const gone = await post(p.d.token_endpoint, { grant_type: 'refresh_token', client_id: 'lmi-cli', refresh_token: t.json.refresh_token });
    assert.equal(gone.json.error, 'invalid_grant', 'the padded token was translated for the revocation');
  } finally {
    p.stop();
  }
});
