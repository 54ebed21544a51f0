#!/usr/bin/env bash
# `lmi credential kube` with a warm session against `lmi --version`, in the same hyperfine
# run. Target: within 1.5x of --version (kubectl runs the plugin before every request; a warm
# answer reads the configuration and one stored record, with no lock, no network, no compile).
#
#   bench/credential.sh [path/to/lmi]     (default: $CARGO_TARGET_DIR/release/lmi)
#
# Two warm answers are timed: `--token sso-id` (the SSO session's ID token, from a planted
# session file: LMI_SSO_STORAGE=file, so no keychain round trip is measured) and
# `--token service -e bench` (a planted service-token cache file). The identity provider and
# the token endpoint point at a closed port, so a cache miss would fail loudly rather than
# be measured.
# Environment: RUNS (default 200), WARMUP (default 10), OUT (JSON export, default a temp file).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
lmi=${1:-${CARGO_TARGET_DIR:-$repo/target}/release/lmi}
[[ -x $lmi ]] || { echo "no lmi binary at $lmi (build with: cargo build --release -p lmi)" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 2; }
runs=${RUNS:-200}
warmup=${WARMUP:-10}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A throw-away home; nothing else from the caller's environment reaches lmi.
export HOME=$work XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data
unset LMI_ENV LMI_ACCESS_TOKEN LMI_LOG_FILE KUBERNETES_EXEC_INFO
mkdir -p -m 700 "$XDG_CONFIG_HOME/lmi/env" "$XDG_CACHE_HOME/lmi/tokens" "$XDG_DATA_HOME/lmi"
issuer=http://127.0.0.1:9
cat >"$XDG_CONFIG_HOME/lmi/.env" <<EOF
OAUTH_SSO_ISSUER=$issuer
OAUTH_SSO_CLIENT_ID=lmi-cli
LMI_SSO_STORAGE=file
EOF
cat >"$XDG_CONFIG_HOME/lmi/env/bench.env" <<EOF
OAUTH_TOKEN_URL=$issuer/token
OAUTH_GRANT_TYPE=client_credentials
OAUTH_CLIENT_ID=bench
OAUTH_CLIENT_SECRET=bench-secret
EOF
now=$(date +%s)
exp=$((now + 3600))
(
    umask 077
    printf '{"access_token":"bench-token","token_type":"Bearer","expires_at":%d,"obtained_at":%d}\n' \
        "$exp" "$now" >"$XDG_CACHE_HOME/lmi/tokens/bench.json"
    printf '{"v":1,"iss":"%s","client_id":"lmi-cli","sub":"bench","access_token":"a","refresh_token":"r","expires_at":%d,"obtained_at":%d,"id_token":{"token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2ln","expires_at":%d,"obtained_at":%d}}\n' \
        "$issuer" "$exp" "$now" "$exp" "$now" >"$XDG_DATA_HOME/lmi/sso-session.json"
)
"$lmi" credential kube --token sso-id >/dev/null || { echo "warm lmi credential kube --token sso-id failed" >&2; exit 1; }
"$lmi" -e bench credential kube --token service >/dev/null || { echo "warm lmi credential kube --token service failed" >&2; exit 1; }

out=${OUT:-$work/credential.json}
echo "lmi: $lmi ($("$lmi" --version | head -1))"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out" \
    -n 'lmi --version' "$lmi --version" \
    -n 'lmi credential kube --token sso-id (warm)' "$lmi credential kube --token sso-id" \
    -n 'lmi credential kube --token service (warm)' "$lmi -e bench credential kube --token service"

read -r version sso service < <(jq -r '[.results[].mean] | map(. * 1000) | @tsv' "$out")
ratio() { awk -v a="$1" -v b="$version" 'BEGIN { printf "%.2f", a / b }'; }
printf 'mean: --version %.2f ms, kube sso-id %.2f ms (%sx), kube service %.2f ms (%sx) (target <= 1.5x)\n' \
    "$version" "$sso" "$(ratio "$sso")" "$service" "$(ratio "$service")"
for r in "$(ratio "$sso")" "$(ratio "$service")"; do
    awk -v r="$r" 'BEGIN { exit !(r <= 1.5) }' || { echo "ratio above target" >&2; exit 1; }
done
