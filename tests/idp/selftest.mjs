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
