#!/usr/bin/env node
// A real OpenID provider (npm `oidc-provider` 9.x) on loopback, for lmi's test-suite only.
//
//   node tests/idp/server.mjs --port 0 [--watch-stdin]
//
// Prints exactly one line to stdout once it is listening:
//   READY {"issuer":"http://127.0.0.1:PORT","port":PORT}
// and serves until SIGTERM/SIGINT (or, with --watch-stdin, until its stdin closes: the Rust
// harness passes that so an orphaned provider dies with the test process that started it).
//
// Everything it knows lives in memory and is gone when it exits; the signing key is generated
// at start, so restarting on the same port is also a signing-key rotation.
// See README.md for the clients, the environment knobs and the /__test endpoints.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import querystring from 'node:querystring';

// ---------------------------------------------------------------------------------------------
// Arguments and environment (read once, at start).

function parseArgs(argv) {
  const out = { port: 0, watchStdin: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--port') {
      out.port = Number(argv[(i += 1)]);
    } else if (a.startsWith('--port=')) {
      out.port = Number(a.slice('--port='.length));
    } else if (a === '--watch-stdin') {
      out.watchStdin = true;
    } else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node server.mjs [--port N] [--watch-stdin]\n');
      process.exit(0);
    } else {
      die(`unknown argument ${JSON.stringify(a)} (usage: node server.mjs [--port N] [--watch-stdin])`);
    }
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) {
    die('--port needs an integer between 0 and 65535');
  }
  return out;
}

function die(msg) {
  process.stderr.write(`idp: ${msg}\n`);
  process.exit(2);
}

function envSeconds(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) die(`${name} must be a positive whole number of seconds, got ${JSON.stringify(raw)}`);
  return n;
}

const args = parseArgs(process.argv.slice(2));
// See the /auth middleware below.
const STRICT_OFFLINE_ACCESS = ['1', 'true', 'yes'].includes((process.env.IDP_STRICT_OFFLINE_ACCESS || '').toLowerCase());
const TTL = {
  access: envSeconds('IDP_ACCESS_TOKEN_TTL', 300),
  id: envSeconds('IDP_ID_TOKEN_TTL', 300),
  refresh: envSeconds('IDP_REFRESH_TOKEN_TTL', 86400),
};
// Imported after the arguments are checked. oidc-provider warns that Node 20 is not its
// supported LTS; it works on it. Its other "attention" lines (dev interactions are enabled, ...)
// are expected for a test provider.
const { default: Provider } = await import('oidc-provider');

const log = (...parts) => process.stderr.write(`idp: ${parts.join(' ')}\n`);

// The resource (audience) client_credentials tokens are minted for when the request names none.
// A request may name its own with RFC 8707 `resource=` or, Auth0-style, `audience=`.
const DEFAULT_API_RESOURCE = 'urn:lmi:test-api';
const API_SCOPES = 'api:read api:write';

// ---------------------------------------------------------------------------------------------
// Storage: a plain in-memory adapter (same contract as oidc-provider's MemoryAdapter), ours so
// that POST /__test/forget can drop every token, grant and session at once.

const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const grantMembers = new Map(); // grantId -> Set of store keys
const userCodes = new Map(); // userCode -> DeviceCode id
const sessionUids = new Map(); // session uid -> Session id
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

function storeGet(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class TestAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { payload, expiresAt });
    if (GRANTABLE.has(this.model) && payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (payload.userCode) userCodes.set(payload.userCode, id);
    if (this.model === 'Session' && payload.uid) sessionUids.set(payload.uid, id);
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUserCode(userCode) {
    const id = userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

function forgetEverything() {
  store.clear();
  grantMembers.clear();
  userCodes.clear();
  sessionUids.clear();
}

// ---------------------------------------------------------------------------------------------
// Test counters: every request that reaches the token or revocation endpoint counts, whatever
// its outcome (bad client, bad grant, unsupported grant type...).

const COUNTED_GRANTS = ['client_credentials', 'refresh_token', 'authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'];

function zeroCounters() {
  return {
    token: Object.fromEntries(COUNTED_GRANTS.map((g) => [g, 0])),
    revocation: 0,
    device_authorization: 0,
    userinfo: 0,
  };
}
let counters = zeroCounters();
// The last requests to the counted endpoints, with their outcome (GET /__test/log).
let requestLog = [];

// ---------------------------------------------------------------------------------------------
// Accounts: any login is a user. sub = the login name. Every user is in the group `lmi-users`
// unless POST /__test/groups gave the login other groups (any JSON value, to try odd shapes);
// the `groups` claim is read each time a token is issued, so a refresh sees a change.

const DEFAULT_GROUPS = ['lmi-users'];
const userGroups = new Map(); // login -> the `groups` claim's value

async function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      const claims = {
        sub,
        email: `${sub}@example.test`,
        email_verified: true,
        name: `Test User ${sub}`,
        preferred_username: sub,
      };
      const groups = userGroups.has(sub) ? userGroups.get(sub) : DEFAULT_GROUPS;
      if (groups !== null) claims.groups = groups;
      return claims;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Device-flow pages. oidc-provider's defaults @import a web font from the internet; these are
// the same forms (the `form` argument is oidc-provider's own, with its CSRF token) without any
// outside resource, and with stable ids for the browser script.

const page = (title, body) => `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1>${body}</body></html>`;

async function userCodeInputSource(ctx, form, _out, err) {
  let msg = '<p id="msg">Enter the code displayed on your device</p>';
  if (err && (err.userCode || err.name === 'NoCodeError')) {
    msg = '<p id="error">The code you entered is incorrect. Try again</p>';
  } else if (err && err.name === 'AbortedError') {
    msg = '<p id="error">The Sign-in request was interrupted</p>';
  } else if (err) {
    msg = `<p id="error">There was an error processing your request (${err.name})</p>`;
  }
  ctx.body = page('Device sign-in', `${msg}${form}<button id="device-input-submit" type="submit" form="op.deviceInputForm">Continue</button>`);
}

async function userCodeConfirmSource(ctx, form, client, _deviceInfo, userCode) {
  const name = client.clientName || client.clientId;
  ctx.body = page('Confirm device', `<p><strong id="client">${name.replace(/[<>&"]/g, '')}</strong> shows the code <code id="user-code">${userCode}</code></p>
${form}
<button id="device-confirm" type="submit" form="op.deviceConfirmForm">Continue</button>
<button id="device-abort" type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Abort</button>`);
}

async function successSource(ctx) {
  ctx.body = page('Sign-in Success', '<p id="device-success">Your sign-in was successful, you can now close this page.</p>');
}

// ---------------------------------------------------------------------------------------------
// Provider configuration.

function configuration() {
  // A fresh RS256 signing key per start: ID tokens (and JWT access tokens) are signed with it
  // and it is published at the discovery document's jwks_uri.
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: `test-${crypto.randomBytes(6).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };

  return {
    adapter: TestAdapter,
    jwks: { keys: [signingKey] },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },

    clients: [
      {
        // Service account: client credentials only. oidc-provider accepts the secret both in
        // the Authorization header (client_secret_basic) and in the body (client_secret_post)
        // for a client registered with either of the two.
        client_id: 'lmi-service',
        client_secret: 'service-secret-123',
        client_name: 'lmi service account (test)',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        // (no `scope` metadata: a client's scope may only list OpenID scopes; the API scopes
        // are the resource server's, see resourceIndicators below)
      },
      {
        // The CLI: a public native client (RFC 8252).
        client_id: 'lmi-cli',
        client_name: 'lmi (test)',
        // `native` + a loopback http redirect URI: oidc-provider then accepts the same URI
        // with ANY port (RFC 8252 §7.3), see Client#redirectUriAllowed.
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'none', // public client => PKCE is required (pkce.required)
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
        scope: 'openid profile email offline_access',
      },
    ],

    // Only the code flow (no implicit/hybrid response types in discovery).
    responseTypes: ['code', 'none'],

    // Supported scopes; `profile`/`email` come with their claims below.
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'groups'],
    },
    // By default oidc-provider keeps scope-derived claims (email, name) out of the ID token when
    // an access token for userinfo is also issued; the CLI reads them from the ID token.
    conformIdTokenClaims: false,

    findAccount,

    // PKCE: S256 only (the default set), required for every client that uses the code flow.
    pkce: { required: () => true },

    // Always rotate refresh tokens: each refresh returns a new one and consumes the old one;
    // presenting a consumed one revokes the whole grant (reuse detection).
    rotateRefreshToken: () => true,

    ttl: {
      AccessToken: () => TTL.access,
      ClientCredentials: () => TTL.access,
      IdToken: () => TTL.id,
      RefreshToken: () => TTL.refresh,
      AuthorizationCode: () => 60,
      DeviceCode: () => 600,
      Interaction: () => 600,
      Session: () => 86400,
      Grant: () => Math.max(TTL.refresh, 86400),
    },

    features: {
      // The built-in login form (any login, any password) and consent page at /interaction/:uid.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      userinfo: { enabled: true },
      deviceFlow: { enabled: true, userCodeInputSource, userCodeConfirmSource, successSource },
      rpInitiatedLogout: { enabled: true },
      // Resource indicators (RFC 8707). Without a resource, oidc-provider keeps only OpenID
      // scopes on a client_credentials request (so `api:read` would vanish). We default
      // client_credentials requests to an API resource, which makes the token a JWT
      // (aud = the resource, scope = the granted API scopes, exp = IDP_ACCESS_TOKEN_TTL).
      // The CLI's code/device/refresh flows ask for no resource and get opaque access tokens
      // that work at the userinfo endpoint.
      resourceIndicators: {
        enabled: true,
        defaultResource(ctx, _client, oneOf) {
          if (oneOf) return oneOf;
          if (ctx.oidc.route === 'token' && ctx.oidc.params.grant_type === 'client_credentials') {
            const audience = ctx.oidc.body?.audience;
            return typeof audience === 'string' && audience ? audience : DEFAULT_API_RESOURCE;
          }
          return undefined;
        },
        useGrantedResource: () => false,
        getResourceServerInfo(_ctx, resourceIndicator) {
          return {
            audience: resourceIndicator,
            scope: API_SCOPES,
            accessTokenTTL: TTL.access,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },

    // Errors rendered as HTML at the provider (not redirected to the client) stay readable.
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('oops! something went wrong', `<pre id="error">${JSON.stringify(out, null, 2).replace(/[<>&]/g, '')}</pre>`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Test-only admin endpoints (served before oidc-provider sees the request).

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (!raw) return {};
  if ((req.headers['content-type'] || '').includes('application/json')) return JSON.parse(raw);
  return querystring.parse(raw);
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

// Approves a pending device code as `login` without a browser: what the verification page
// does after login + consent (see oidc-provider's deviceVerificationResponse), done directly.
async function approveDevice(provider, { user_code: userCode, login = 'alice', deny }) {
  if (typeof userCode !== 'string' || !userCode) return [400, { error: 'user_code is required' }];
  const normalized = userCode.toUpperCase().replace(/\W/g, '');
  const code = await provider.DeviceCode.findByUserCode(normalized);
  if (!code) return [404, { error: 'no pending device code with that user_code' }];
  if (code.isExpired) return [410, { error: 'device code expired' }];
  if (code.accountId || code.error) return [409, { error: 'device code already used' }];
  if (deny) {
    Object.assign(code, { error: 'access_denied', errorDescription: 'End-User aborted interaction' });
    await code.save();
    return [200, { denied: true }];
  }
  const scope = String(code.params.scope || 'openid');
  const grant = new provider.Grant({ accountId: login, clientId: code.clientId });
  grant.addOIDCScope(scope);
  const grantId = await grant.save();
  Object.assign(code, {
    accountId: login,
    authTime: Math.floor(Date.now() / 1000),
    grantId,
    scope,
    // no browser session backs this approval, so nothing may expire with one
    expiresWithSession: false,
  });
  await code.save();
  return [200, { approved: true, login, scope }];
}

async function adminRoutes(provider, req, res) {
  const url = new URL(req.url, 'http://127.0.0.1');
  const route = `${req.method} ${url.pathname}`;
  try {
    switch (route) {
      case 'GET /__test/counters':
        return sendJson(res, 200, counters);
      case 'POST /__test/reset':
        counters = zeroCounters();
        requestLog = [];
        return sendJson(res, 200, counters);
      case 'GET /__test/log':
        return sendJson(res, 200, requestLog);
      case 'POST /__test/forget':
        forgetEverything();
        log('forgot every token, grant, session and device code');
        return sendJson(res, 200, { forgotten: true });
      case 'POST /__test/groups': {
        // {"login": "bob", "groups": <any JSON; null leaves the claim out>}; without
        // "groups", the login is back to the default.
        const body = await readBody(req);
        if (typeof body.login !== 'string' || !body.login) return sendJson(res, 400, { error: 'login is required' });
        if (Object.prototype.hasOwnProperty.call(body, 'groups')) userGroups.set(body.login, body.groups);
        else userGroups.delete(body.login);
        log(`groups of ${body.login} -> ${JSON.stringify(userGroups.get(body.login) ?? DEFAULT_GROUPS).slice(0, 200)}`);
        return sendJson(res, 200, { login: body.login });
      }
      case 'POST /__test/device/approve': {
        const [status, body] = await approveDevice(provider, await readBody(req));
        log(`device approve -> ${status} ${JSON.stringify(body)}`);
        return sendJson(res, status, body);
      }
      default:
        return sendJson(res, 404, { error: `no test endpoint ${route}` });
    }
  } catch (err) {
    log(`admin ${route} failed: ${err?.stack || err}`);
    return sendJson(res, 500, { error: String(err?.message || err) });
  }
}

// ---------------------------------------------------------------------------------------------
// Start: listen first (port 0 = ephemeral), then build the provider with the exact issuer.

let handler = (_req, res) => sendJson(res, 503, { error: 'starting' });
// IDP_TLS_CERT and IDP_TLS_KEY (PEM files) serve HTTPS instead, as a company provider would.
const tls = process.env.IDP_TLS_CERT && process.env.IDP_TLS_KEY
  ? { cert: fs.readFileSync(process.env.IDP_TLS_CERT), key: fs.readFileSync(process.env.IDP_TLS_KEY) }
  : null;
const server = tls
  ? https.createServer(tls, (req, res) => handler(req, res))
  : http.createServer((req, res) => handler(req, res));

server.on('error', (err) => die(`cannot listen on 127.0.0.1:${args.port}: ${err.message}`));
server.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration());

  // Counting middleware: runs around oidc-provider's own routing, so it sees the parsed body
  // (ctx.oidc.body) and the final status of every token/revocation/device/userinfo request.
  provider.use(async (ctx, next) => {
    const path = ctx.path;
    const counted = ['/token', '/token/revocation', '/device/auth', '/me'].includes(path) && ctx.method !== 'OPTIONS';
    try {
      await next();
    } finally {
      if (counted) {
        const entry = { at: new Date().toISOString(), path, status: ctx.status };
        if (path === '/token') {
          const grant = ctx.oidc?.body?.grant_type ?? ctx.oidc?.params?.grant_type ?? 'unknown';
          counters.token[grant] = (counters.token[grant] ?? 0) + 1;
          entry.grant_type = grant;
        } else if (path === '/token/revocation') {
          counters.revocation += 1;
        } else if (path === '/device/auth') {
          counters.device_authorization += 1;
        } else {
          counters.userinfo += 1;
        }
        if (ctx.status >= 400 && ctx.body && typeof ctx.body === 'object') entry.error = ctx.body.error;
        requestLog.push(entry);
        if (requestLog.length > 200) requestLog.shift();
        log(`${ctx.method} ${path}${entry.grant_type ? ` grant_type=${entry.grant_type}` : ''} -> ${ctx.status}${entry.error ? ` ${entry.error}` : ''}`);
      }
    }
  });

  // offline_access. oidc-provider follows OpenID Connect Core §11 to the letter: on an
  // authorization request it silently drops `offline_access` (=> no refresh token) unless the
  // request says prompt=consent. §11 also allows "other conditions permitting offline access";
  // common providers (Okta, Auth0, Keycloak) issue refresh tokens to native apps on the scope
  // alone. So for a request that names offline_access and no prompt at all, we add
  // prompt=consent: the user still sees (and the browser script still answers) a real consent
  // page. IDP_STRICT_OFFLINE_ACCESS=1 turns this off, to test an app against the strict rule.
  provider.use(async (ctx, next) => {
    if (!STRICT_OFFLINE_ACCESS && ctx.method === 'GET' && ctx.path === '/auth') {
      const q = new URLSearchParams(ctx.querystring);
      if (!q.has('prompt') && !q.has('request') && !q.has('request_uri')
        && (q.get('scope') || '').split(' ').includes('offline_access')) {
        q.set('prompt', 'consent');
        ctx.querystring = q.toString();
      }
    }
    return next();
  });

  provider.on('server_error', (_ctx, err) => log(`server_error: ${err?.stack || err}`));
  for (const event of ['grant.error', 'authorization.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => log(`${event}: ${err?.error || err?.name}: ${err?.error_description || err?.message}`));
  }

  const app = provider.callback();
  handler = (req, res) => {
    if (req.url.startsWith('/__test/')) return adminRoutes(provider, req, res);
    return app(req, res);
  };

  process.stdout.write(`READY ${JSON.stringify({ issuer, port })}\n`);
  log(`listening as ${issuer} (access/client-credentials ttl ${TTL.access}s, id token ${TTL.id}s, refresh ${TTL.refresh}s)`);
});

function shutdown(signal) {
  log(`${signal}: exiting`);
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (args.watchStdin) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
