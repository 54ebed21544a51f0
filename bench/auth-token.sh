#!/usr/bin/env bash
# `lmi auth token` with a warm cache against `lmi --version`, in the same hyperfine run.
# Target: the warm-cache token within 1.5x of --version (a cache hit reads two small files
# and makes no network call, no lock).
#
#   bench/auth-token.sh [path/to/lmi]     (default: $CARGO_TARGET_DIR/release/lmi)
#
# The cache is warmed by one real client_credentials request to the test OpenID provider
# (tests/idp, needs `npm ci --prefix tests/idp`). Without Node or its modules, a valid cache
# file is planted instead and the token endpoint points at a closed port, so a cache miss
# would fail loudly rather than be measured.
# Environment: RUNS (default 200), WARMUP (default 10), OUT (JSON export, default a temp file).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
lmi=${1:-${CARGO_TARGET_DIR:-$repo/target}/release/lmi}
[[ -x $lmi ]] || { echo "no lmi binary at $lmi (build with: cargo build --release -p lmi)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }
runs=${RUNS:-200}
warmup=${WARMUP:-10}

work=$(mktemp -d)
idp_pid=
. "$repo/tests/idp/start.sh"
cleanup() {
    stop_idp
    rm -rf "$work"
}
trap cleanup EXIT

# A throw-away home; nothing else from the caller's environment reaches lmi.
export HOME=$work XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data
unset LMI_ENV LMI_ACCESS_TOKEN LMI_LOG_FILE
mkdir -p "$XDG_CONFIG_HOME/lmi/env"
printf 'default_environment=bench\n' >"$XDG_CONFIG_HOME/lmi/.env"

if command -v node >/dev/null && [[ -d $repo/tests/idp/node_modules/oidc-provider ]]; then
    start_idp "$work" || exit 1
    cat >"$XDG_CONFIG_HOME/lmi/env/bench.env" <<EOF
OAUTH_TOKEN_URL=$issuer/token
OAUTH_GRANT_TYPE=client_credentials
OAUTH_CLIENT_ID=lmi-service
OAUTH_CLIENT_SECRET=service-secret-123
OAUTH_SCOPE=api:read
EOF
    "$lmi" auth token >/dev/null
    warmed="one client_credentials request to the test IdP ($issuer)"
    # From here on the provider is not needed: stop it so a cache miss would show as an error.
    stop_idp
else
    cat >"$XDG_CONFIG_HOME/lmi/env/bench.env" <<EOF
OAUTH_TOKEN_URL=http://127.0.0.1:9/token
OAUTH_GRANT_TYPE=client_credentials
OAUTH_CLIENT_ID=bench
OAUTH_CLIENT_SECRET=bench-secret
EOF
    mkdir -p -m 700 "$XDG_CACHE_HOME/lmi/tokens"
    now=$(date +%s)
    (umask 077; printf '{"access_token":"bench-token","token_type":"Bearer","expires_at":%d,"obtained_at":%d}\n' \
        $((now + 3600)) "$now" >"$XDG_CACHE_HOME/lmi/tokens/bench.json")
    warmed="a planted cache file (Node or tests/idp/node_modules missing)"
fi
"$lmi" auth token >/dev/null || { echo "warm-cache lmi auth token failed" >&2; exit 1; }

out=${OUT:-$work/auth-token.json}
echo "lmi: $lmi ($("$lmi" --version | head -1)); cache warmed by $warmed"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out" \
    -n 'lmi --version' "$lmi --version" \
    -n 'lmi auth token (warm cache)' "$lmi auth token"

read -r version token < <(jq -r '[.results[].mean] | map(. * 1000) | @tsv' "$out")
read -r mversion mtoken < <(jq -r '[.results[].median] | map(. * 1000) | @tsv' "$out")
ratio=$(awk -v a="$token" -v b="$version" 'BEGIN { printf "%.2f", a / b }')
mratio=$(awk -v a="$mtoken" -v b="$mversion" 'BEGIN { printf "%.2f", a / b }')
printf 'mean:   --version %.2f ms, auth token %.2f ms, ratio %sx (target <= 1.5x)\n' "$version" "$token" "$ratio"
printf 'median: --version %.2f ms, auth token %.2f ms, ratio %sx\n' "$mversion" "$mtoken" "$mratio"
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }' || { echo "ratio above target" >&2; exit 1; }
