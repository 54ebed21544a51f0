#!/usr/bin/env node
// A headless "user" for lmi's tests, usable as $BROWSER: run with ONE argument, a URL.
//
//   browser.sh 'http://127.0.0.1:PORT/auth?client_id=lmi-cli&...'   (authorization code flow)
//   browser.sh 'http://127.0.0.1:PORT/device?user_code=BCDF-GHJK'   (device flow)
//
// It drives Debian's /usr/bin/chromium through playwright-core with a fresh profile, signs in
// at the test provider's dev login form (tests/idp/server.mjs), answers the consent page, and
// exits 0 once the flow is over:
//   * code flow: the browser was redirected to the app's loopback `/callback` and the app's
//     listener answered it (any HTTP status);
//   * device flow: the provider showed its "Sign-in Success" page (or, when denying, the
//     "interrupted" page).
// Anything else exits non-zero with a message (6: the provider showed an error page); it never
// runs longer than the deadline.
//
// Environment:
//   LMI_TEST_LOGIN            login name to sign in as (default alice; any password works)
//   LMI_TEST_BROWSER_ACTION   approve (default; `login` is the same) | deny (cancel at consent:
//                             the app gets error=access_denied) | device (approve, and expect
//                             the device flow's end page) | device-deny
//   LMI_TEST_USER_CODE        device flow: the code to type when the URL does not carry it
//   LMI_TEST_BROWSER_LOG      also append the log lines to this file
//   LMI_TEST_BROWSER_TIMEOUT  overall deadline in seconds (default 60, at most 60)
//   LMI_TEST_CHROMIUM         browser executable (default /usr/bin/chromium)
//   LMI_TEST_BROWSER_ANY_CERT 1: accept any server certificate (a provider on the tests' CA)
//
// An app usually spawns $BROWSER and does not wait for it: this program finishes its job on
// its own, and only talks to loopback addresses (every other request is aborted).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const started = Date.now();
const logFile = process.env.LMI_TEST_BROWSER_LOG || '';

function log(msg) {
  const line = `browser.sh [${((Date.now() - started) / 1000).toFixed(2)}s] ${msg}\n`;
  process.stderr.write(line);
  if (logFile) {
    try {
      fs.appendFileSync(logFile, line);
    } catch {
      // a log we cannot write must not fail the login
    }
  }
}

// URLs carry codes and state: log their shape, not their secrets.
function redact(href) {
  try {
    const u = new URL(href);
    for (const key of [...u.searchParams.keys()]) {
      if (!['error', 'error_description', 'iss', 'client_id', 'scope', 'response_type', 'redirect_uri', 'code_challenge_method'].includes(key)) {
        u.searchParams.set(key, '…');
      }
    }
    return u.href.replaceAll('%E2%80%A6', '…');
  } catch {
    return String(href).slice(0, 80);
  }
}

let browserContext;
let profileDir;
let exiting = false;

async function finish(code, msg) {
  if (exiting) return;
  exiting = true;
  // error texts from playwright quote whole URLs: redact those too
  const safe = String(msg).replace(/https?:\/\/[^\s"'<>]+/g, (u) => redact(u));
  log(`${code === 0 ? 'done' : 'FAILED'}: ${safe}`);
  // Closing Chromium can itself hang on a wedged browser: bound it.
  const closing = browserContext ? browserContext.close().catch(() => {}) : Promise.resolve();
  await Promise.race([closing, new Promise((r) => setTimeout(r, 3000))]);
  if (profileDir) fs.rmSync(profileDir, { recursive: true, force: true });
  process.exit(code);
}

// --- arguments and settings ----------------------------------------------------------------------

const argv = process.argv.slice(2);
if (argv.length !== 1 || !/^https?:\/\//.test(argv[0])) {
  log(`usage: browser.sh URL (got ${argv.length} argument(s))`);
  process.exit(2);
}
const startUrl = new URL(argv[0]);
const login = process.env.LMI_TEST_LOGIN || 'alice';
const action = (process.env.LMI_TEST_BROWSER_ACTION || 'approve').toLowerCase();
const ACTIONS = ['approve', 'login', 'deny', 'device', 'device-deny'];
if (!ACTIONS.includes(action)) {
  log(`LMI_TEST_BROWSER_ACTION must be one of ${ACTIONS.join(', ')}, got ${JSON.stringify(action)}`);
  process.exit(2);
}
const deny = action === 'deny' || action === 'device-deny';
const deadlineSecs = Math.min(60, Number(process.env.LMI_TEST_BROWSER_TIMEOUT) || 60);
const executablePath = process.env.LMI_TEST_CHROMIUM || '/usr/bin/chromium';

// The hard deadline: whatever happens, this process is gone by then.
setTimeout(() => finish(3, `gave up after ${deadlineSecs}s (last page: ${lastUrl})`), deadlineSecs * 1000);
setTimeout(() => process.exit(3), (deadlineSecs + 5) * 1000).unref();
process.on('SIGTERM', () => finish(143, 'terminated'));
process.on('SIGINT', () => finish(130, 'interrupted'));
process.on('unhandledRejection', (err) => finish(1, `unexpected error: ${err?.stack || err}`));

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const isLoopback = (href) => {
  try {
    return LOOPBACK.has(new URL(href).hostname);
  } catch {
    return false;
  }
};
if (!isLoopback(startUrl.href)) {
  log(`refusing a non-loopback URL: ${redact(startUrl.href)}`);
  process.exit(2);
}
// The app's redirect target: a loopback URL on another origin than the provider whose path is
// /callback (the provider never serves /callback itself).
const isCallback = (href) => {
  try {
    const u = new URL(href);
    return LOOPBACK.has(u.hostname) && u.origin !== startUrl.origin && u.pathname.endsWith('/callback');
  } catch {
    return false;
  }
};

let lastUrl = redact(startUrl.href);

// --- the browser --------------------------------------------------------------------------------

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  log(`cannot load playwright-core (${err.message}): run \`npm ci --prefix tests/idp\``);
  process.exit(2);
}
if (!fs.existsSync(executablePath)) {
  log(`no browser at ${executablePath} (Debian: apt-get install chromium)`);
  process.exit(2);
}

profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmi-browser-'));
log(`${action} as ${JSON.stringify(login)}: ${lastUrl}`);
try {
  browserContext = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    // The provider may serve HTTPS with the tests' private CA (what lmi must trust is tested
    // in lmi; this browser only plays the user).
    ignoreHTTPSErrors: process.env.LMI_TEST_BROWSER_ANY_CERT === '1',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 20_000,
  });
} catch (err) {
  await finish(2, `cannot start ${executablePath}: ${err.message}`);
}
browserContext.setDefaultTimeout(15_000);
browserContext.setDefaultNavigationTimeout(15_000);

// Loopback only: the provider's pages @import a web font, and nothing here may leave the machine.
await browserContext.route('**/*', (route) => {
  const href = route.request().url();
  if (isLoopback(href)) return route.continue();
  return route.abort('blockedbyclient');
});

const page = browserContext.pages()[0] ?? await browserContext.newPage();

// The flow is over the moment the app's listener answers the callback.
let callbackDone;
const callbackReached = new Promise((resolve) => { callbackDone = resolve; });
page.on('response', (response) => {
  const href = response.url();
  if (isCallback(href) && response.request().isNavigationRequest()) {
    callbackDone({ ok: true, href, status: response.status() });
  }
});
page.on('requestfailed', (request) => {
  const href = request.url();
  if (isCallback(href)) {
    callbackDone({ ok: false, href, error: request.failure()?.errorText });
  }
});
page.on('framenavigated', (frame) => {
  if (frame === page.mainFrame()) lastUrl = redact(frame.url());
});

function reportCallback(result) {
  const params = new URL(result.href).searchParams;
  if (!result.ok) {
    return finish(4, `the app's loopback listener did not answer ${redact(result.href)}: ${result.error}`);
  }
  const outcome = params.has('error') ? `error=${params.get('error')}` : (params.has('code') ? 'code' : 'no code, no error');
  if (deny && !params.has('error')) {
    return finish(5, `denied at consent but the callback carried ${outcome}`);
  }
  return finish(0, `callback ${redact(result.href)} answered ${result.status} (${outcome})`);
}

// --- the state machine: look at the page, act, repeat -----------------------------------------

async function classify() {
  const url = page.url();
  if (isCallback(url)) return 'callback';
  return page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    if (q('input[name="login"]') && q('input[name="password"]')) return 'login';
    if (q('input[name="prompt"][value="consent"]')) return 'consent';
    if (q('[id="op.deviceConfirmForm"]')) return 'device-confirm';
    if (q('#device-success')) return 'device-success';
    if (q('[id="op.deviceInputForm"]')) {
      const err = q('#error')?.textContent || '';
      if (/interrupted/i.test(err)) return 'device-aborted';
      if (err) return 'device-input-error';
      return 'device-input';
    }
    if (q('#error') || /oops/i.test(document.title)) return 'provider-error';
    return 'unknown';
  }).catch(() => 'loading');
}

// Runs `act` and waits until the main frame has committed a new document (a redirect chain
// commits once; a form that posts back to the same URL still commits a new document).
async function actAndWait(act) {
  const moved = page
    .waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 15_000 })
    .then(() => null, (err) => err);
  await act();
  const err = await moved;
  if (err) throw err;
}

async function run() {
  try {
    await page.goto(startUrl.href, { waitUntil: 'domcontentloaded' });
  } catch (err) {
    // A redirect straight to the callback (an existing session) can abort the first goto.
    if (!isCallback(page.url())) throw err;
  }
  const seen = new Map();
  for (;;) {
    await page.waitForLoadState('domcontentloaded').catch(() => {});
    const url = page.url();
    const state = await classify();
    const times = (seen.get(state) ?? 0) + 1;
    seen.set(state, times);
    if (times > 3 && state !== 'loading') throw new Error(`stuck on the ${state} page at ${redact(url)}`);
    log(`page: ${state} (${redact(url)})`);

    switch (state) {
      case 'callback':
        return; // the response listener reports it
      case 'loading':
        await page.waitForTimeout(100);
        break;
      case 'login':
        await actAndWait(async () => {
          await page.fill('input[name="login"]', login);
          await page.fill('input[name="password"]', 'any-password');
          log(`signing in as ${JSON.stringify(login)}`);
          await page.click('button[type="submit"]');
        });
        break;
      case 'consent':
        if (deny) {
          log('denying at consent ([ Cancel ])');
          await actAndWait(() => page.click('a[href*="/abort"]'));
        } else {
          log('granting consent');
          await actAndWait(() => page.click('form button[type="submit"]'));
        }
        break;
      case 'device-input': {
        const current = await page.inputValue('input[name="user_code"]');
        const code = current || process.env.LMI_TEST_USER_CODE || '';
        if (!code) throw new Error('the device page asks for a user code: pass verification_uri_complete or set LMI_TEST_USER_CODE');
        await page.fill('input[name="user_code"]', code);
        log('entering the user code');
        await actAndWait(() => page.click('#device-input-submit, button[form="op.deviceInputForm"]'));
        break;
      }
      case 'device-confirm':
        log('confirming the device code');
        await actAndWait(() => page.click('#device-confirm, button[form="op.deviceConfirmForm"]:not([name="abort"])'));
        break;
      case 'device-success':
        if (deny) return finish(5, 'asked to deny, but the device sign-in succeeded');
        return finish(0, 'device sign-in succeeded');
      case 'device-aborted':
        if (deny) return finish(0, 'device sign-in denied (the provider shows "interrupted")');
        return finish(5, 'the device sign-in was interrupted');
      case 'device-input-error':
      case 'provider-error':
      case 'unknown': {
        const text = (await page.evaluate(() => document.body?.innerText || '').catch(() => '')).trim().replace(/\s+/g, ' ');
        // An error page at the provider (no redirect to the app: e.g. Okta's unregistered
        // redirect URI, Google's invalid scope) exits 6; anything else unexpected exits 1.
        const err = new Error(`unexpected ${state} page at ${redact(url)}: ${text.slice(0, 400)}`);
        if (state === 'provider-error') err.exitCode = 6;
        throw err;
      }
      default:
        throw new Error(`unhandled state ${state}`);
    }
  }
}

const flow = run().then(
  () => ({ flowEnded: true }),
  (err) => ({ flowError: err }),
);
const first = await Promise.race([callbackReached, flow]);
if (first.href) {
  await reportCallback(first);
} else if (first.flowError) {
  // a failed navigation to the callback shows up as both; prefer the callback's story
  const late = await Promise.race([callbackReached, new Promise((r) => setTimeout(() => r(null), 500))]);
  if (late) await reportCallback(late);
  else await finish(first.flowError.exitCode ?? 1, first.flowError.message.split('\n')[0]);
} else {
  const result = await Promise.race([callbackReached, new Promise((r) => setTimeout(() => r(null), 5000))]);
  if (result) await reportCallback(result);
  else await finish(1, `the flow ended at ${lastUrl} without reaching the app's callback`);
}
