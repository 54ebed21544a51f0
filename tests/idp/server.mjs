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

// ---------------------------------------------------------------------------------------------
// Emulation profiles (IDP_PROFILE, read once): the quirks of real providers, each emulated by
// configuring oidc-provider (issuer path, `routes`, client metadata, claims) or by wrapping it
// (the node handler below rewrites raw requests; koa middleware before/after oidc-provider
// rewrites parameters and responses). README.md says which quirk is which and where it was
// checked against the provider's documentation.
//
// `issuerPath`: the issuer's path. `mount`: the prefix every provider URL has; the node handler
// strips it and sets req.baseUrl, which oidc-provider's OIDCContext#urlFor uses as the mount
// path, so discovery, every endpoint, redirects and cookie paths name the external URLs.
// `aliases`: extra external paths (after the mount) served by an internal one.

// A made-up tenant (not a real Entra tenant).
const ENTRA_TENANT = 'c0ffee00-1d9e-4a7b-9c35-00000000a019';
const OKTA_ROUTES = (base) => ({
  authorization: `${base}/authorize`,
  token: `${base}/token`,
  jwks: `${base}/keys`,
  revocation: `${base}/revoke`,
  device_authorization: `${base}/device/authorize`,
  userinfo: `${base}/userinfo`,
  introspection: `${base}/introspect`,
  end_session: `${base}/logout`,
  code_verification: '/activate',
});
const KEYCLOAK_OIDC = '/protocol/openid-connect';
const PROFILES = {
  generic: { issuerPath: '', mount: '', routes: {} },
  entra: {
    issuerPath: `/${ENTRA_TENANT}/v2.0`,
    mount: `/${ENTRA_TENANT}`,
    aliases: { '/v2.0/.well-known/openid-configuration': '/.well-known/openid-configuration' },
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      jwks: '/discovery/v2.0/keys',
      device_authorization: '/oauth2/v2.0/devicecode',
      userinfo: '/oidc/userinfo',
      end_session: '/oauth2/v2.0/logout',
    },
    revocation: false,
    introspection: false,
    tokenBytes: { access: 2200, refresh: 1700 },
  },
  'okta-org': { issuerPath: '', mount: '', routes: OKTA_ROUTES('/oauth2/v1'), okta: true },
  'okta-custom': { issuerPath: '/oauth2/default', mount: '/oauth2/default', routes: OKTA_ROUTES('/v1'), okta: true },
  keycloak: {
    issuerPath: '/realms/lmi',
    mount: '/realms/lmi',
    routes: {
      authorization: `${KEYCLOAK_OIDC}/auth`,
      token: `${KEYCLOAK_OIDC}/token`,
      jwks: `${KEYCLOAK_OIDC}/certs`,
      revocation: `${KEYCLOAK_OIDC}/revoke`,
      device_authorization: `${KEYCLOAK_OIDC}/auth/device`,
      userinfo: `${KEYCLOAK_OIDC}/userinfo`,
      introspection: `${KEYCLOAK_OIDC}/token/introspect`,
      end_session: `${KEYCLOAK_OIDC}/logout`,
    },
  },
  auth0: {
    issuerPath: '/',
    mount: '',
    routes: {
      authorization: '/authorize',
      token: '/oauth/token',
      revocation: '/oauth/revoke',
      device_authorization: '/oauth/device/code',
      jwks: '/.well-known/jwks.json',
      userinfo: '/userinfo',
      end_session: '/oidc/logout',
      code_verification: '/activate',
    },
    introspection: false,
  },
  google: {
    issuerPath: '',
    mount: '',
    routes: {
      authorization: '/o/oauth2/v2/auth',
      token: '/token',
      jwks: '/oauth2/v3/certs',
      revocation: '/revoke',
      device_authorization: '/device/code',
      userinfo: '/v1/userinfo',
    },
    introspection: false,
  },
};
const PROFILE_NAME = process.env.IDP_PROFILE || 'generic';
if (!Object.hasOwn(PROFILES, PROFILE_NAME)) {
  die(`IDP_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}, got ${JSON.stringify(PROFILE_NAME)}`);
}
const PROFILE = PROFILES[PROFILE_NAME];
const ROUTES = { ...DEFAULT_ROUTES(), ...PROFILE.routes };
function DEFAULT_ROUTES() {
  return {
    authorization: '/auth',
    token: '/token',
    jwks: '/jwks',
    revocation: '/token/revocation',
    introspection: '/token/introspection',
    device_authorization: '/device/auth',
    code_verification: '/device',
    userinfo: '/me',
    end_session: '/session/end',
  };
}

function envFlag(name, dflt) {
  const raw = (process.env[name] ?? '').toLowerCase();
  if (raw === '') return dflt;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  return die(`${name} must be on or off, got ${JSON.stringify(process.env[name])}`);
}
function envBytes(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 60_000) die(`${name} must be a whole number of bytes up to 60000 (0: no padding), got ${JSON.stringify(raw)}`);
  return n;
}
// IDP_HIDE_DISCOVERY=field,field: discovery leaves these fields out (the endpoints still
// work): a provider whose document omits an endpoint it has (Auth0's revocation, in older
// tenants; a device endpoint not advertised).
const HIDE_DISCOVERY = (process.env.IDP_HIDE_DISCOVERY || '').split(',').map((f) => f.trim()).filter(Boolean);
// IDP_DEVICE_GRANT=off: the CLI client is registered without the device grant.
const DEVICE_GRANT = envFlag('IDP_DEVICE_GRANT', true);
// IDP_REDIRECT_PORTS=p1,p2: the only loopback ports registered for the CLI's redirect URI
// (exact match, port included). Okta profiles always match exactly (no port by default).
const REDIRECT_PORTS = (() => {
  const raw = process.env.IDP_REDIRECT_PORTS;
  if (raw === undefined) return PROFILE.okta ? [] : null;
  const ports = raw.split(',').map((p) => p.trim()).filter(Boolean).map(Number);
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) die(`IDP_REDIRECT_PORTS must be a comma-separated list of ports, got ${JSON.stringify(raw)}`);
  return ports;
})();
// Padded token sizes (0 = the real token as is).
const TOKEN_BYTES = {
  access: envBytes('IDP_ACCESS_TOKEN_BYTES', PROFILE.tokenBytes?.access ?? 0),
  refresh: envBytes('IDP_REFRESH_TOKEN_BYTES', PROFILE.tokenBytes?.refresh ?? 0),
};
// The native client the profile registers.
const CLI_CLIENT = PROFILE_NAME === 'google'
  ? { id: 'lmi-desktop', secret: 'GOCSPX-lmi-desktop-test-secret' }
  : { id: 'lmi-cli', secret: null };

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
    authorization: 0,
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
// POST /__test/claims: per-login overrides merged over the profile's claims (null removes one).
const userClaims = new Map(); // login -> { claim: value | null }
// Claims oidc-provider may release (with the `profile` scope) besides the standard ones, so
// that an override can add them. Anything else is refused by /__test/claims.
const EXTRA_CLAIMS = ['upn', 'hasgroups', 'oid', 'tid', 'given_name', 'family_name', 'nickname', 'picture', 'roles', 'hd', 'login_hint'];
// Entra emits at most 200 groups in a JWT; past that, a distributed-claims pointer to Graph.
const ENTRA_GROUP_LIMIT = 200;

// A stable GUID-shaped id for a login (Entra's oid).
function guidOf(text) {
  const h = crypto.createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function profileClaims(sub) {
  switch (PROFILE_NAME) {
    case 'entra':
      // No email; the UPN-shaped preferred_username (an assumption: a work account's UPN).
      return { sub, name: `Test User ${sub}`, preferred_username: `${sub}@contoso.test`, oid: guidOf(sub), tid: ENTRA_TENANT };
    case 'google':
      // Google has no preferred_username and no groups claim.
      return { sub, email: `${sub}@example.test`, email_verified: true, name: `Test User ${sub}` };
    case 'auth0':
      return { sub, email: `${sub}@example.test`, email_verified: true, name: `Test User ${sub}`, nickname: sub, preferred_username: sub };
    default:
      return { sub, email: `${sub}@example.test`, email_verified: true, name: `Test User ${sub}`, preferred_username: sub };
  }
}

async function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      const claims = profileClaims(sub);
      const dflt = PROFILE_NAME === 'google' ? null : DEFAULT_GROUPS;
      const groups = userGroups.has(sub) ? userGroups.get(sub) : dflt;
      if (groups !== null) claims.groups = groups;
      for (const [name, value] of Object.entries(userClaims.get(sub) ?? {})) {
        if (value === null) delete claims[name];
        else claims[name] = value;
      }
      if (PROFILE_NAME === 'entra' && Array.isArray(claims.groups) && claims.groups.length > ENTRA_GROUP_LIMIT) {
        // Groups overage: Entra leaves `groups` out and points at Graph (OpenID Connect Core
        // §5.6.2 distributed claims; oidc-provider passes _claim_names/_claim_sources through).
        delete claims.groups;
        claims._claim_names = { groups: 'src1' };
        claims._claim_sources = { src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${sub}/getMemberObjects` } };
      }
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
        // The CLI: a public native client (RFC 8252); with the google profile a "Desktop app"
        // client whose (not secret) secret the token endpoint requires in the body.
        client_id: CLI_CLIENT.id,
        client_name: 'lmi (test)',
        // `native` + a loopback http redirect URI: oidc-provider then accepts the same URI
        // with ANY port (RFC 8252 §7.3), see Client#redirectUriAllowed. Exact ports
        // (IDP_REDIRECT_PORTS, Okta) are checked in front of oidc-provider.
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        // public client => PKCE is required (pkce.required), and for google too
        ...(CLI_CLIENT.secret
          ? { client_secret: CLI_CLIENT.secret, token_endpoint_auth_method: 'client_secret_post' }
          : { token_endpoint_auth_method: 'none' }),
        grant_types: ['authorization_code', 'refresh_token', ...(DEVICE_GRANT ? ['urn:ietf:params:oauth:grant-type:device_code'] : [])],
        response_types: ['code'],
        id_token_signed_response_alg: 'RS256',
        scope: PROFILE_NAME === 'okta-org' ? 'openid profile email offline_access groups' : 'openid profile email offline_access',
      },
    ],

    // Only the code flow (no implicit/hybrid response types in discovery).
    responseTypes: ['code', 'none'],

    // Supported scopes; `profile`/`email` come with their claims below.
    // okta-org: `groups` only with the `groups` scope; okta-custom: a claim configured to be
    // always included (here: with `openid`).
    scopes: ['openid', 'offline_access', 'profile', 'email', ...(PROFILE_NAME === 'okta-org' ? ['groups'] : [])],
    claims: {
      openid: ['sub', ...(PROFILE_NAME === 'okta-custom' ? ['groups'] : [])],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', ...(PROFILE.okta ? [] : ['groups']), ...EXTRA_CLAIMS],
      ...(PROFILE_NAME === 'okta-org' ? { groups: ['groups'] } : {}),
    },
    routes: ROUTES,
    // By default oidc-provider keeps scope-derived claims (email, name) out of the ID token when
    // an access token for userinfo is also issued; the CLI reads them from the ID token.
    conformIdTokenClaims: false,

    findAccount,

    // PKCE: S256 only (the default set), required for every client that uses the code flow.
    pkce: { required: () => true },

    // Always rotate refresh tokens: each refresh returns a new one and consumes the old one;
    // presenting a consumed one revokes the whole grant (reuse detection).
    // (google: refresh tokens are not rotated, and the refresh response carries none.)
    rotateRefreshToken: () => PROFILE_NAME !== 'google',

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
      revocation: { enabled: PROFILE.revocation !== false },
      introspection: { enabled: PROFILE.introspection !== false },
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
        // auth0: `audience=` on the authorization or device request becomes `resource=`
        // (rewritten in front of oidc-provider); the code, device and refresh grants then use
        // the granted resource, so the access token is a JWT for that audience.
        defaultResource(ctx, _client, oneOf) {
          if (oneOf) return oneOf;
          if (ctx.oidc.route === 'token' && ctx.oidc.params.grant_type === 'client_credentials') {
            const audience = ctx.oidc.body?.audience;
            return typeof audience === 'string' && audience ? audience : DEFAULT_API_RESOURCE;
          }
          return undefined;
        },
        useGrantedResource: () => PROFILE_NAME === 'auth0',
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
  // A resource (auth0: `audience=`) is granted too, as the consent page would.
  const resources = [code.params.resource ?? []].flat().filter(Boolean);
  for (const resource of resources) grant.addResourceScope(resource, scope);
  const grantId = await grant.save();
  Object.assign(code, {
    accountId: login,
    authTime: Math.floor(Date.now() / 1000),
    grantId,
    scope,
    // no browser session backs this approval, so nothing may expire with one
    expiresWithSession: false,
    ...(resources.length ? { resource: resources.length === 1 ? resources[0] : resources } : {}),
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
      case 'POST /__test/claims': {
        // {"login": "bob", "claims": {"upn": "...", "preferred_username": null}}: merged over
        // the profile's claims in the ID token and at userinfo (null removes a claim);
        // without "claims", the login is back to the profile's claims.
        const body = await readBody(req);
        if (typeof body.login !== 'string' || !body.login) return sendJson(res, 400, { error: 'login is required' });
        if (!Object.prototype.hasOwnProperty.call(body, 'claims')) {
          userClaims.delete(body.login);
          return sendJson(res, 200, { login: body.login, claims: null });
        }
        const claims = body.claims;
        if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return sendJson(res, 400, { error: 'claims must be a JSON object' });
        const releasable = new Set(['sub', 'email', 'email_verified', 'name', 'preferred_username', 'groups', ...EXTRA_CLAIMS]);
        const unknown = Object.keys(claims).filter((k) => !releasable.has(k));
        if (unknown.length) return sendJson(res, 400, { error: `cannot release ${unknown.join(', ')}: claims may be ${[...releasable].join(', ')}` });
        userClaims.set(body.login, claims);
        log(`claims of ${body.login} -> ${JSON.stringify(claims).slice(0, 200)}`);
        return sendJson(res, 200, { login: body.login, claims });
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

// ---------------------------------------------------------------------------------------------
// Wrapping oidc-provider: padded tokens, the error pages and answers of the emulated providers.

// Padded tokens (IDP_ACCESS_TOKEN_BYTES / IDP_REFRESH_TOKEN_BYTES): the client gets the real
// token followed by random filler up to the size; presented again (refresh grant, revocation,
// userinfo), it is translated back to the real one before oidc-provider sees it.
const paddedTokens = new Map(); // padded -> real
function padToken(real, bytes) {
  if (typeof real !== 'string' || !bytes || real.length >= bytes) return real;
  const filler = crypto.randomBytes(bytes).toString('base64url').slice(0, bytes - real.length);
  const padded = `${real}${filler}`;
  paddedTokens.set(padded, real);
  if (paddedTokens.size > 20_000) paddedTokens.delete(paddedTokens.keys().next().value);
  return padded;
}
const unpadToken = (value) => (typeof value === 'string' && paddedTokens.get(value)) || value;

const page400 = (title, body) => page(title, body);
const escapeHtml = (text) => String(text).replace(/[<>&"]/g, '');

// The endpoints the request log and the counters see (by internal path, after the mount).
function endpointOf(ctx) {
  if (ctx.method === 'OPTIONS') return null;
  switch (ctx.path) {
    case ROUTES.token: return 'token';
    case ROUTES.revocation: return PROFILE.revocation === false ? null : 'revocation';
    case ROUTES.device_authorization: return ctx.method === 'POST' ? 'device_authorization' : null;
    case ROUTES.userinfo: return 'userinfo';
    case ROUTES.authorization: return 'authorization';
    default: return null;
  }
}
const AUTHORIZATION_LOGGED = ['scope', 'audience', 'access_type', 'prompt', 'redirect_uri'];
const DEVICE_LOGGED = ['scope', 'audience'];
const pick = (source, keys) => Object.fromEntries(keys.filter((k) => typeof source?.[k] === 'string').map((k) => [k, source[k]]));

// The body of the token-ish POSTs, read before oidc-provider (which then takes req.body): the
// only way to translate padded tokens and Auth0's `audience` in a form body.
const REWRITTEN_BODIES = new Set([ROUTES.token, ROUTES.revocation, ROUTES.device_authorization, ROUTES.userinfo, ROUTES.introspection]);
const REWRITE_BODIES = PROFILE_NAME !== 'generic' || TOKEN_BYTES.access > 0 || TOKEN_BYTES.refresh > 0;
async function rewriteBody(req, path) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 56 * 1024) throw Object.assign(new Error('request entity too large'), { status: 413 });
    chunks.push(chunk);
  }
  const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  for (const key of ['refresh_token', 'token', 'access_token']) {
    if (params.has(key)) params.set(key, unpadToken(params.get(key)));
  }
  // auth0: the device request's `audience` is the resource its tokens are for.
  if (PROFILE_NAME === 'auth0' && path === ROUTES.device_authorization && params.get('audience') && !params.has('resource')) {
    params.set('resource', params.get('audience'));
  }
  // google: /revoke authenticates no client (the token alone); oidc-provider's revocation
  // endpoint does, so a request without a secret gets the desktop client's.
  if (PROFILE_NAME === 'google' && path === ROUTES.revocation && !params.has('client_secret') && !req.headers.authorization) {
    params.set('client_id', CLI_CLIENT.id);
    params.set('client_secret', CLI_CLIENT.secret);
  }
  req.body = params.toString();
}

// Request shaping in front of oidc-provider, and response shaping behind it.
function profileMiddleware() {
  return async (ctx, next) => {
    const endpoint = endpointOf(ctx);
    if (endpoint === 'authorization') {
      const q = new URLSearchParams(ctx.querystring);
      // Exact redirect URIs (Okta; any profile with IDP_REDIRECT_PORTS): the provider shows an
      // error page and does not redirect.
      if (REDIRECT_PORTS !== null && q.has('redirect_uri')
        && !REDIRECT_PORTS.some((p) => q.get('redirect_uri') === `http://127.0.0.1:${p}/callback`)) {
        ctx.status = 400;
        ctx.type = 'html';
        ctx.body = PROFILE.okta
          ? page400('400 Bad Request', '<p id="error">The \'redirect_uri\' parameter must be a Login redirect URI in the client app settings.</p>')
          : page400('oops! something went wrong', '<pre id="error">invalid_redirect_uri: redirect_uri did not match any of the client\'s registered redirect_uris</pre>');
        return undefined;
      }
      const scopes = (q.get('scope') || '').split(' ').filter(Boolean);
      if (PROFILE_NAME === 'google' && ctx.method === 'GET') {
        if (scopes.includes('offline_access')) {
          const valid = scopes.filter((x) => x !== 'offline_access');
          ctx.status = 400;
          ctx.type = 'html';
          ctx.body = page400('Access blocked: Authorization Error', `<p id="error">Some requested scopes were invalid. {valid=[${escapeHtml(valid.join(', '))}], invalid=[offline_access]}</p><p>Error 400: invalid_scope</p>`);
          return undefined;
        }
        // A refresh token only with access_type=offline and prompt=consent.
        const prompts = (q.get('prompt') || '').split(' ');
        if (q.get('access_type') === 'offline' && prompts.includes('consent')) {
          q.set('scope', [...scopes, 'offline_access'].join(' '));
          ctx.querystring = q.toString();
        }
      } else if (ctx.method === 'GET') {
        // offline_access. oidc-provider follows OpenID Connect Core §11 to the letter: on an
        // authorization request it silently drops `offline_access` (=> no refresh token)
        // unless the request says prompt=consent. §11 also allows "other conditions
        // permitting offline access"; common providers (Okta, Auth0, Keycloak) issue refresh
        // tokens to native apps on the scope alone. So for a request that names
        // offline_access and no prompt at all, we add prompt=consent: the user still sees (and
        // the browser script still answers) a real consent page. IDP_STRICT_OFFLINE_ACCESS=1
        // turns this off, to test an app against the strict rule.
        let changed = false;
        if (!STRICT_OFFLINE_ACCESS && !q.has('prompt') && !q.has('request') && !q.has('request_uri') && scopes.includes('offline_access')) {
          q.set('prompt', 'consent');
          changed = true;
        }
        if (PROFILE_NAME === 'auth0' && q.get('audience') && !q.has('resource')) {
          q.set('resource', q.get('audience'));
          changed = true;
        }
        if (changed) ctx.querystring = q.toString();
      }
    }
    const body = typeof ctx.req.body === 'string' ? new URLSearchParams(ctx.req.body) : null;
    if (endpoint === 'device_authorization' && !DEVICE_GRANT && PROFILE.okta) {
      ctx.status = 400;
      ctx.body = {
        error: 'unauthorized_client',
        error_description: 'The client is not authorized to use the provided grant type. Configured grant types: [authorization_code, refresh_token].',
      };
      return undefined;
    }
    // Google's answer to a device request from a client of another type than "TVs and
    // Limited Input devices" (the Desktop client lmi uses for the browser).
    if (endpoint === 'device_authorization' && !DEVICE_GRANT && PROFILE_NAME === 'google') {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'Invalid client type.' };
      return undefined;
    }
    if (endpoint === 'token' && PROFILE_NAME === 'google' && body?.get('client_id') === CLI_CLIENT.id
      && !body.get('client_secret') && !ctx.get('authorization')) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'client_secret is missing.' };
      return undefined;
    }

    await next();

    if (endpoint === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const out = ctx.body;
      if (PROFILE_NAME === 'google' && body?.get('grant_type') === 'refresh_token') delete out.refresh_token;
      if (PROFILE_NAME === 'keycloak' && out.refresh_token) out.refresh_expires_in = TTL.refresh;
      // A JWT access token (client_credentials, auth0 audience) stays verifiable: only opaque
      // ones are padded.
      if (typeof out.access_token === 'string' && !out.access_token.includes('.')) out.access_token = padToken(out.access_token, TOKEN_BYTES.access);
      if (out.refresh_token) out.refresh_token = padToken(out.refresh_token, TOKEN_BYTES.refresh);
    }
    return undefined;
  };
}

server.on('error', (err) => die(`cannot listen on 127.0.0.1:${args.port}: ${err.message}`));
server.listen(args.port, '127.0.0.1', () => {
  const { port } = server.address();
  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const issuer = `${origin}${PROFILE.issuerPath}`;
  const provider = new Provider(issuer, configuration());

  if (HIDE_DISCOVERY.length > 0) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path.endsWith('/.well-known/openid-configuration') && ctx.body && typeof ctx.body === 'object') {
        for (const field of HIDE_DISCOVERY) delete ctx.body[field];
      }
    });
  }

  // Counting middleware: runs around everything else, so it sees the parsed body
  // (ctx.oidc.body), the request as the client sent it and the final status of every
  // authorization/token/revocation/device/userinfo request.
  provider.use(async (ctx, next) => {
    const endpoint = endpointOf(ctx);
    const path = `${ctx.req.baseUrl || ''}${ctx.path}`;
    const asked = endpoint === 'authorization' ? pick(ctx.query, AUTHORIZATION_LOGGED) : null;
    try {
      await next();
    } finally {
      if (endpoint) {
        const entry = { at: new Date().toISOString(), path, endpoint, status: ctx.status };
        if (endpoint === 'token') {
          const grant = ctx.oidc?.body?.grant_type ?? ctx.oidc?.params?.grant_type ?? new URLSearchParams(ctx.req.body ?? '').get('grant_type') ?? 'unknown';
          counters.token[grant] = (counters.token[grant] ?? 0) + 1;
          entry.grant_type = grant;
        } else if (endpoint === 'authorization') {
          counters.authorization += 1;
          Object.assign(entry, asked);
        } else if (endpoint === 'device_authorization') {
          counters.device_authorization += 1;
          Object.assign(entry, pick(ctx.oidc?.body ?? Object.fromEntries(new URLSearchParams(ctx.req.body ?? '')), DEVICE_LOGGED));
        } else {
          counters[endpoint] += 1;
        }
        if (ctx.status >= 400 && ctx.body && typeof ctx.body === 'object') entry.error = ctx.body.error;
        requestLog.push(entry);
        if (requestLog.length > 200) requestLog.shift();
        log(`${ctx.method} ${path}${entry.grant_type ? ` grant_type=${entry.grant_type}` : ''} -> ${ctx.status}${entry.error ? ` ${entry.error}` : ''}`);
      }
    }
  });
  provider.use(profileMiddleware());

  provider.on('server_error', (_ctx, err) => log(`server_error: ${err?.stack || err}`));
  for (const event of ['grant.error', 'authorization.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => log(`${event}: ${err?.error || err?.name}: ${err?.error_description || err?.message}`));
  }

  const app = provider.callback();
  handler = async (req, res) => {
    if (req.url.startsWith('/__test/')) return adminRoutes(provider, req, res);
    try {
      const url = new URL(req.url, 'http://127.0.0.1');
      let path = url.pathname;
      if (PROFILE.mount) {
        // Mounted: oidc-provider sees the path after the mount, and takes req.baseUrl as the
        // mount path when it builds URLs (OIDCContext#urlFor).
        if (path !== PROFILE.mount && !path.startsWith(`${PROFILE.mount}/`)) {
          return sendJson(res, 404, { error: 'not_found', error_description: `this provider serves under ${PROFILE.mount}/` });
        }
        path = path.slice(PROFILE.mount.length) || '/';
        req.baseUrl = PROFILE.mount;
      }
      path = PROFILE.aliases?.[path] ?? path;
      req.url = `${path}${url.search}`;
      const auth = req.headers.authorization;
      if (typeof auth === 'string' && /^bearer /i.test(auth)) req.headers.authorization = `Bearer ${unpadToken(auth.slice(7).trim())}`;
      if (REWRITE_BODIES && req.method === 'POST' && REWRITTEN_BODIES.has(path)
        && (req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
        await rewriteBody(req, path);
      }
    } catch (err) {
      return sendJson(res, err.status || 400, { error: 'invalid_request', error_description: String(err.message || err) });
    }
    return app(req, res);
  };

  const client = { profile: PROFILE_NAME, client_id: CLI_CLIENT.id, client_secret: CLI_CLIENT.secret };
  process.stdout.write(`READY ${JSON.stringify({ issuer, port, origin, ...client })}\n`);
  log(`listening as ${issuer} (profile ${PROFILE_NAME}; access/client-credentials ttl ${TTL.access}s, id token ${TTL.id}s, refresh ${TTL.refresh}s)`);
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
