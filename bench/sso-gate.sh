#!/usr/bin/env bash
# SSO figures, with a release build, the real test IdP (tests/idp), the headless browser and a
# private Secret Service (scripts/with-keyring):
#   1. the time from the browser's redirect to `lmi login sso` exiting (code exchange, ID-token
#      validation, keychain write), over a few logins;
#   2. the cost the requires_sso gate adds to a dispatch with a valid session: `lmi sso-only`
#      (requires_sso) against `lmi args` (same plugin, no SSO check) in one hyperfine run, with
#      the session in the keychain and, opted in, in a file.
#
# Uses a release build in $LMI_BENCH_TARGET (default ~/.cache/lmi-target-release).
# Needs: hyperfine, node + `npm ci --prefix tests/idp`, chromium, `make plugins`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LMI_SSO_BENCH_INNER:-}" ]; then
  LMI_SSO_BENCH_INNER=1 exec scripts/with-keyring "$0" "$@"
fi
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || { echo "bench: needs dbus-run-session and gnome-keyring-daemon" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
[ -d tests/idp/node_modules/oidc-provider ] || { echo "bench: run 'npm ci --prefix tests/idp' first" >&2; exit 2; }
[ -f tests/plugins/hostile/hostile.wasm ] || { echo "bench: run 'make plugins' first" >&2; exit 2; }
logins="${LMI_BENCH_LOGINS:-5}"

target="${LMI_BENCH_TARGET:-$HOME/.cache/lmi-target-release}"
CARGO_TARGET_DIR="$target" cargo build --release -p lmi >&2
lmi="$target/release/lmi"
repo=$(pwd)

work=$(mktemp -d)
idp_pid=
. tests/idp/start.sh
cleanup() { stop_idp; rm -rf "$work"; }
trap cleanup EXIT
export HOME="$work" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" XDG_DATA_HOME="$work/data"
export LMI_LOG_FILE=off
mkdir -p "$XDG_CONFIG_HOME/lmi"

# The provider: access tokens last an hour, so no refresh happens during the benchmark.
IDP_ACCESS_TOKEN_TTL=3600 start_idp "$work" || exit 1
printf 'OAUTH_SSO_ISSUER=%s\nOAUTH_SSO_CLIENT_ID=lmi-cli\n' "$issuer" >"$XDG_CONFIG_HOME/lmi/.env"
export BROWSER="$repo/tests/idp/browser.sh" LMI_TEST_LOGIN=alice

# 1. Redirect -> exit: the time between lmi logging the redirect and its exit.
cat >"$work/login.py" <<'PY'
import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
redirect = None
for line in p.stderr:
    if "received the browser's redirect" in line:
        redirect = time.monotonic()
code = p.wait()
end = time.monotonic()
if code != 0 or redirect is None:
    sys.exit(f"login failed (exit {code})")
print(f"{(end - redirect) * 1000:.1f}")
PY
samples=()
for i in $(seq "$logins"); do
  samples+=("$(python3 "$work/login.py" "$lmi" -v login sso --force)")
done
python3 - "${samples[@]}" <<'PY'
import statistics, sys
ms = sorted(float(x) for x in sys.argv[1:])
print(f"login: browser redirect -> `lmi login sso` exit: median {statistics.median(ms):.1f} ms "
      f"(min {ms[0]:.1f}, max {ms[-1]:.1f}, n={len(ms)}; session in the Secret Service)")
PY

# 2. The gate: the same plugin with and without requires_sso, session in the keychain ...
"$lmi" plugin install tests/plugins/hostile --yes >/dev/null 2>&1
"$lmi" sso-only | grep -q STARTED
# ... and in an opted-in file (a second login, stored there).
LMI_SSO_STORAGE=file "$lmi" login sso --force >/dev/null 2>&1
LMI_SSO_STORAGE=file "$lmi" sso-only | grep -q STARTED

hyperfine --warmup 10 --runs "${LMI_BENCH_RUNS:-100}" -N --export-json "$work/gate.json" \
  -n "no SSO check" "env LMI_SSO_STORAGE=keychain $lmi args" \
  -n "requires_sso, keychain" "env LMI_SSO_STORAGE=keychain $lmi sso-only" \
  -n "requires_sso, file" "env LMI_SSO_STORAGE=file $lmi sso-only" >&2
python3 - "$work/gate.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
base = r["no SSO check"]["median"]
print(f"dispatch median without an SSO check: {base * 1000:.2f} ms")
for name in ("requires_sso, keychain", "requires_sso, file"):
    m = r[name]["median"]
    print(f"dispatch median {name}: {m * 1000:.2f} ms ({(m - base) * 1000:+.2f} ms for the gate)")
PY
