#!/usr/bin/env bash
# The cost of keeping an environment's secret in the OS keychain (issue 17, item 3), with a
# private Secret Service (scripts/with-keyring) and the real test IdP (tests/idp):
#   1. warm: `lmi auth token` with a cached token, the secret in the env file (`file`) against
#      the secret in the keychain only (`kc`). The secret is looked up only for a token
#      request, so the two must be equal: no keychain call on the warm path;
#   2. cold: the same with the cache file removed before each run (hyperfine --prepare), so
#      every run looks the secret up and makes one client_credentials request. The difference
#      of the medians is what the keychain lookup adds to a token fetch;
#   3. the lookup itself, as lmi logs it at -vv ("keychain: read … took N ms"), over cold runs.
# Each pair runs in the same hyperfine invocation, in ROUNDS short rounds (a shared VM's noise
# comes in bursts).
#
#   bench/env-secrets.sh [path/to/lmi]     (default: $CARGO_TARGET_DIR/release/lmi, built)
#
# Needs: hyperfine, secret-tool (libsecret-tools), dbus + gnome-keyring, node and
# `npm ci --prefix tests/idp`. Environment: RUNS (default 30), ROUNDS (default 3), WARMUP (3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
if [ -z "${LMI_SECRETS_BENCH_INNER:-}" ]; then
    LMI_SECRETS_BENCH_INNER=1 exec scripts/with-keyring "$0" "$@"
fi
[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || { echo "bench: needs dbus-run-session and gnome-keyring-daemon" >&2; exit 2; }
for tool in hyperfine secret-tool jq; do
    command -v "$tool" >/dev/null || { echo "bench: needs $tool" >&2; exit 2; }
done
if [[ $# -ge 1 ]]; then
    lmi=$1
else
    cargo build --release -p lmi --bin lmi >&2
    lmi=${CARGO_TARGET_DIR:-$repo/target}/release/lmi
fi
[[ -x $lmi ]] || { echo "bench: no lmi binary at $lmi" >&2; exit 2; }
runs=${RUNS:-30}
rounds=${ROUNDS:-3}
warmup=${WARMUP:-3}

work=$(mktemp -d)
idp_pid=
. tests/idp/start.sh
cleanup() { stop_idp; rm -rf "$work"; }
trap cleanup EXIT
export HOME=$work XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data
export LMI_LOG_FILE=off LMI_AUDIT_LOG=off
unset LMI_ENV LMI_ACCESS_TOKEN OAUTH_CLIENT_SECRET
config=$XDG_CONFIG_HOME/lmi
mkdir -p "$config/env"
start_idp "$work" || exit 1

grant="OAUTH_TOKEN_URL=$issuer/token
OAUTH_GRANT_TYPE=client_credentials
OAUTH_CLIENT_ID=lmi-service
OAUTH_SCOPE=api:read"
printf '%s\nOAUTH_CLIENT_SECRET=service-secret-123\n' "$grant" >"$config/env/file.env"
printf '%s\n' "$grant" >"$config/env/kc.env"
# The item lmi reads for env `kc` here, with the attributes keyring gives its own items.
printf '%s' service-secret-123 | secret-tool store --label "lmi bench: OAUTH_CLIENT_SECRET of kc" \
    service lmi username "kc:OAUTH_CLIENT_SECRET@$config" target default application rust-keyring
for env in file kc; do
    "$lmi" -e "$env" auth token >/dev/null || { echo "bench: lmi -e $env auth token failed" >&2; exit 1; }
done
tokens=$XDG_CACHE_HOME/lmi/tokens
echo "lmi: $lmi ($("$lmi" --version | head -1)); IdP $issuer; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# Runs one hyperfine pair per round; prints "name median_ms" lines for each round.
pair() {
    local label=$1 prepare_file=$2 prepare_kc=$3 round
    for round in $(seq "$rounds"); do
        local out=$work/$label-$round.json
        hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out" \
            ${prepare_file:+--prepare "$prepare_file"} \
            -n "$label: secret in env file" "$lmi -e file auth token" \
            ${prepare_kc:+--prepare "$prepare_kc"} \
            -n "$label: secret in keychain" "$lmi -e kc auth token" >/dev/null 2>"$work/hyperfine.err" ||
            { cat "$work/hyperfine.err" >&2; exit 1; }
        jq -r '.results[] | "\(.command)\t\(.median * 1000)\t\(.mean * 1000)\t\(.stddev * 1000)"' "$out"
    done
}

summary() {
    awk -F'\t' '
        { median[$1] = median[$1] " " sprintf("%.2f", $2); n[$1]++; sum[$1] += $2 }
        END { for (c in median) printf "  %-34s medians (ms):%s   mean of medians %.2f\n", c, median[c], sum[c] / n[c] }' | sort
}

echo "1. warm cache (no token request; no keychain call expected)"
pair warm "" "" | tee "$work/warm.tsv" | summary
echo "2. cold cache (one client_credentials request per run)"
pair cold "rm -f $tokens/file.json" "rm -f $tokens/kc.json" | tee "$work/cold.tsv" | summary
awk -F'\t' '
    /warm: secret in env file/ { wf += $2; nwf++ } /warm: secret in keychain/ { wk += $2; nwk++ }
    /cold: secret in env file/ { cf += $2; ncf++ } /cold: secret in keychain/ { ck += $2; nck++ }
    END {
        printf "warm: keychain - file = %+.2f ms (mean of round medians)\n", wk / nwk - wf / nwf
        printf "cold: keychain - file = %+.2f ms (what the lookup adds to a token fetch)\n", ck / nck - cf / ncf
    }' "$work/warm.tsv" "$work/cold.tsv"

echo "3. the lookup as lmi logs it (cold, -vv, $runs runs)"
for _ in $(seq "$runs"); do
    rm -f "$tokens/kc.json"
    "$lmi" -vv -e kc auth token 2>&1 >/dev/null | sed -n 's/.*keychain: read OAUTH_CLIENT_SECRET of environment `kc` from took \([0-9]*\) ms.*/\1/p'
done | sort -n | awk '{ a[NR] = $1 } END { printf "  keychain read: min %d ms, median %d ms, max %d ms (%d runs)\n", a[1], a[int((NR + 1) / 2)], a[NR], NR }'
# And the warm path makes no keychain call at all (nothing logged):
if "$lmi" -vv -e kc auth token 2>&1 >/dev/null | grep -q 'keychain:'; then
    echo "bench: the warm path called the keychain" >&2
    exit 1
fi
echo "  warm -vv run: no keychain call logged"
