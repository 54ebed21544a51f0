#!/usr/bin/env bash
# The cost the environment policy gate adds to a dispatch with a valid session, with a
# release build, the real test IdP (tests/idp, signing in with the device grant: no browser
# needed) and a private Secret Service (scripts/with-keyring). In one hyperfine run per round,
# alternating, the hostile fixture's `args` (no SSO check of its own) in:
#   - `open`:      an environment without policy (the baseline);
#   - `sso`:       LMI_REQUIRE_SSO=true;
#   - `groups`:    LMI_REQUIRE_SSO=true and LMI_SSO_ALLOWED_GROUPS=lmi-users;
#   - `protected`: the same and LMI_PROTECTED=true (the banner, to /dev/null);
# and for comparison the plugin's own `requires_sso` gate (`sso-only` in `open`). The session
# is fresh (access tokens last an hour), so the gate reads the token-free summary.
#
# Uses a release build in $LMI_BENCH_TARGET (default ~/.cache/lmi-target-release).
# Needs: hyperfine, curl, node + `npm ci --prefix tests/idp`, `make plugins`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LMI_POLICY_BENCH_INNER:-}" ]; then
  LMI_POLICY_BENCH_INNER=1 exec scripts/with-keyring "$0" "$@"
fi
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || { echo "bench: needs dbus-run-session and gnome-keyring-daemon" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench: needs curl" >&2; exit 2; }
[ -d tests/idp/node_modules/oidc-provider ] || { echo "bench: run 'npm ci --prefix tests/idp' first" >&2; exit 2; }
[ -f tests/plugins/hostile/hostile.wasm ] || { echo "bench: run 'make plugins' first" >&2; exit 2; }

target="${LMI_BENCH_TARGET:-$HOME/.cache/lmi-target-release}"
CARGO_TARGET_DIR="$target" cargo build --release -p lmi >&2
lmi="$target/release/lmi"

work=$(mktemp -d)
idp_pid=
login_pid=
. tests/idp/start.sh
cleanup() {
  [ -z "$login_pid" ] || kill "$login_pid" 2>/dev/null || true
  stop_idp
  rm -rf "$work"
}
trap cleanup EXIT
export HOME="$work" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" XDG_DATA_HOME="$work/data"
export LMI_LOG_FILE=off
mkdir -p "$XDG_CONFIG_HOME/lmi/env"

IDP_ACCESS_TOKEN_TTL=3600 start_idp "$work" || exit 1
printf 'OAUTH_SSO_ISSUER=%s\nOAUTH_SSO_CLIENT_ID=lmi-cli\n' "$issuer" >"$XDG_CONFIG_HOME/lmi/.env"
env_dir="$XDG_CONFIG_HOME/lmi/env"
: >"$env_dir/open.env"
printf 'LMI_REQUIRE_SSO=true\n' >"$env_dir/sso.env"
printf 'LMI_REQUIRE_SSO=true\nLMI_SSO_ALLOWED_GROUPS=lmi-users\n' >"$env_dir/groups.env"
printf 'LMI_REQUIRE_SSO=true\nLMI_SSO_ALLOWED_GROUPS=lmi-users\nLMI_PROTECTED=true\n' >"$env_dir/protected.env"
"$lmi" plugin install tests/plugins/hostile --yes >/dev/null 2>&1

# Sign in with the device grant; the provider's test endpoint approves the code.
"$lmi" login sso --device --no-browser 2>"$work/login.err" >/dev/null &
login_pid=$!
code=
for _ in $(seq 300); do
  code=$(grep -Eo '^[[:space:]]*[A-Z]{4}-[A-Z]{4}[[:space:]]*$' "$work/login.err" | tr -d '[:space:]' | head -1 || true)
  [ -n "$code" ] && break
  sleep 0.1
done
[ -n "$code" ] || { echo "bench: lmi login printed no device code:" >&2; cat "$work/login.err" >&2; exit 1; }
curl -fsS -H 'content-type: application/json' -d "{\"user_code\":\"$code\",\"login\":\"alice\"}" \
  "$issuer/__test/device/approve" >/dev/null
wait "$login_pid"
login_pid=
for env in open sso groups protected; do
  "$lmi" -e "$env" args ok >/dev/null 2>&1 || { echo "bench: lmi -e $env args failed" >&2; exit 1; }
done
"$lmi" -e open sso-only | grep -q STARTED

rounds="${ROUNDS:-5}"
runs="${LMI_BENCH_RUNS:-100}"
for round in $(seq "$rounds"); do
  hyperfine --warmup 10 --runs "$runs" -N --export-json "$work/policy.$round.json" \
    -n "no policy" "$lmi -e open args" \
    -n "LMI_REQUIRE_SSO" "$lmi -e sso args" \
    -n "LMI_REQUIRE_SSO + groups" "$lmi -e groups args" \
    -n "+ protected (banner)" "$lmi -e protected args" \
    -n "requires_sso (plugin's)" "$lmi -e open sso-only" >/dev/null 2>"$work/hyperfine.err" ||
    { cat "$work/hyperfine.err" >&2; echo "bench: a benchmarked command failed" >&2; exit 1; }
done
python3 - "$work" "$rounds" "$runs" <<'PY'
import json, statistics, sys
work, rounds, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names = ["no policy", "LMI_REQUIRE_SSO", "LMI_REQUIRE_SSO + groups", "+ protected (banner)", "requires_sso (plugin's)"]
medians = {n: [] for n in names}
for i in range(1, rounds + 1):
    r = {x["command"]: x for x in json.load(open(f"{work}/policy.{i}.json"))["results"]}
    for n in names:
        medians[n].append(r[n]["median"])
base = statistics.median(medians["no policy"])
print(f"dispatch median, {rounds} rounds of {runs} runs (median of the rounds' medians):")
for n in names:
    m = statistics.median(medians[n])
    deltas = [medians[n][i] - medians["no policy"][i] for i in range(rounds)]
    extra = "" if n == "no policy" else f"  ({statistics.median(deltas) * 1000:+.2f} ms against no policy, per-round median)"
    print(f"  {n:26s} {m * 1000:6.2f} ms{extra}")
PY
