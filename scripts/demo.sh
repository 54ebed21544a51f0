#!/usr/bin/env bash
# The main job, end to end, in a throw-away home: install the example plugins from plugins/,
# start a local OpenID provider, configure an environment for it, and dispatch plugin commands.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
lmi="$target/debug/lmi"
[ -x "$lmi" ] || { echo "demo: build first: cargo build -p lmi" >&2; exit 2; }

home=$(mktemp -d)
idp_pid=
page_pid=
. tests/idp/start.sh
cleanup() { stop_idp; [ -z "$page_pid" ] || kill "$page_pid" 2>/dev/null || true; rm -rf "$home"; }
trap cleanup EXIT
export HOME="$home" XDG_CONFIG_HOME="$home/config" XDG_CACHE_HOME="$home/cache" XDG_DATA_HOME="$home/data"
run() { echo; echo "\$ lmi $*"; "$lmi" "$@"; }

run plugin install plugins/hello --yes
run plugin install plugins/api --yes
run plugin list
run hello demo user

# A local identity provider (tests/idp: npm oidc-provider) and an environment using it, set up
# without an editor: `lmi env add` checks every answer, tries the grant, then writes the file.
# The secret comes on stdin, never as an argument; it goes to the OS keychain unless
# --store-in-file says otherwise (the demo's throw-away home may have no keychain). On a
# terminal, `lmi setup` asks all of this interactively.
start_idp "$home" || exit 1
echo; echo "\$ echo \$SECRET | lmi env add demo --service-url $issuer/ --token-url $issuer/token --grant client_credentials --client-id lmi-service --scope api:read --secret-stdin --store-in-file"
echo service-secret-123 | "$lmi" env add demo --service-url "$issuer/" --token-url "$issuer/token" \
  --grant client_credentials --client-id lmi-service --scope api:read --secret-stdin --store-in-file
run config set default_environment demo
run env show demo   # every key and where it comes from; the secret never shown
run env list
run auth status
run hello
# The api plugin sends an authenticated request to the environment's service (here the
# provider itself serves as the service).
run api get .well-known/openid-configuration | cut -c1-160
# Plugins ask lmi whether colour is wanted (contract 0.2's terminal.info): forced here, the
# same answer comes back indented and coloured.
run --color always api get .well-known/openid-configuration | sed -n 1,6p
run auth status   # the service token is now cached (never shown)

# Single sign-on. `whoami` is marked requires_sso: without a session lmi refuses it before the
# plugin is loaded (exit 4, with the login hint).
cat >> "$XDG_CONFIG_HOME/lmi/.env" <<ENV
OAUTH_SSO_ISSUER=$issuer
OAUTH_SSO_CLIENT_ID=lmi-cli
# The demo's session goes to a 0600 file; without this line it goes to the OS keychain.
LMI_SSO_STORAGE=file
ENV
run whoami && exit 1 || echo "(refused with exit $?)"
# Sign in: the browser step is played by a headless Chromium (tests/idp/browser.sh) when the
# machine has one; else the demo says so and skips what needs a session.
if [ -x "${LMI_TEST_CHROMIUM:-/usr/bin/chromium}" ]; then
  echo; echo "\$ lmi login sso    # the browser signs in as alice (headless)"
  BROWSER=tests/idp/browser.sh LMI_TEST_LOGIN=alice LMI_TEST_BROWSER_ACTION=approve \
    LMI_TEST_BROWSER_LOG="$home/browser.log" "$lmi" login sso
  run whoami
  signed_in=1
else
  echo; echo "demo: no Chromium here (/usr/bin/chromium), so no browser to sign in with: skipping the sign-in"
  signed_in=
fi

# Environment policy: `prod` requires an SSO session for every command (LMI_REQUIRE_SSO) and is
# protected (a banner names it and the user). The same command runs there once signed in;
# signed out, lmi refuses it before the plugin loads. Each refusal lands in the audit trail.
cp "$XDG_CONFIG_HOME/lmi/env/demo.env" "$XDG_CONFIG_HOME/lmi/env/prod.env"
printf 'LMI_REQUIRE_SSO=true\nLMI_PROTECTED=true\n' >> "$XDG_CONFIG_HOME/lmi/env/prod.env"
run env list
if [ -n "$signed_in" ]; then
  run -e prod whoami
  run logout sso
fi
run -e prod hello && exit 1 || echo "(refused with exit $?)"
echo; echo "\$ tail -n 1 ~/.local/share/lmi/audit.jsonl"
tail -n 1 "$XDG_DATA_HOME/lmi/audit.jsonl"

# Outbound HTTP without credentials (allowed_hosts, contract 0.2). The demo stays offline: a
# local status page (python3's http.server on loopback) stands in for the public one, and a
# copy of the status-page plugin is granted exactly that origin.
mkdir -p "$home/page/api/v2" "$home/status-page"
cat > "$home/page/api/v2/summary.json" <<'JSON'
{"page": {"name": "Demo"}, "status": {"description": "All Systems Operational"},
 "components": [{"name": "API", "status": "operational"}, {"name": "Webhooks", "status": "operational"}]}
JSON
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$home/page" "$port" >/dev/null 2>&1 &
page_pid=$!
cp plugins/status-page/status-page.wasm "$home/status-page/"
sed "s|^allowed_hosts = .*|allowed_hosts = [\"http://127.0.0.1:$port\"]|" \
  plugins/status-page/lmi-plugin.toml > "$home/status-page/lmi-plugin.toml"
for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break; sleep 0.1; done
run plugin install "$home/status-page" --yes
run status-page --page "http://127.0.0.1:$port"
# Any other origin is refused before a connection is made (here, the plugin's default page).
run status-page || true
echo
echo "demo: ok"
