#!/usr/bin/env bash
# Connection reuse: a plugin's N `send-request` calls in one run (`lmi request-flood N
# v1/items`, the hostile test plugin granted service_requests) against a native Rust loop
# making the same N authenticated GETs over one kept-alive connection
# (host/examples/native_requests.rs), both against the same loopback keep-alive server
# (bench/support/keep_alive_server.py). Reports the TCP connections one run opens and the
# ratio of wall-time medians. Target: one connection, lmi within 1.5x of the native loop.
#
#   bench/service-requests.sh [path/to/lmi]
#
# Without an argument lmi is built (release) into $CARGO_TARGET_DIR (default target/); the
# native loop is always built there. The token is fetched once before timing (warm cache),
# as both sides then make only the service requests.
# Environment: N (default 200), RUNS (default 20), WARMUP (default 3), OUT (JSON export).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
if [[ $# -ge 1 ]]; then
    lmi=$1
    cargo build --release -p lmi --example native_requests >&2
else
    cargo build --release -p lmi --bin lmi --example native_requests >&2
    lmi=$target/release/lmi
fi
native=$target/release/examples/native_requests
[[ -x $lmi ]] || { echo "bench: no lmi binary at $lmi" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench: needs python3 (the keep-alive server)" >&2; exit 2; }
[[ -f tests/plugins/hostile/hostile.wasm ]] || { echo "bench: run 'make plugins' first" >&2; exit 2; }
n=${N:-200}
runs=${RUNS:-20}
warmup=${WARMUP:-3}

work=$(mktemp -d)
server_pid=
cleanup() {
    [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A throw-away home; nothing else from the caller's environment reaches lmi.
export HOME=$work XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data
unset LMI_ENV LMI_ACCESS_TOKEN HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
export LMI_LOG_FILE=off LMI_PLUGIN_TIMEOUT_SECS=300

count_file=$work/connections
python3 bench/support/keep_alive_server.py --count-file "$count_file" >"$work/server.out" &
server_pid=$!
for _ in $(seq 100); do grep -q '^READY' "$work/server.out" 2>/dev/null && break; sleep 0.05; done
port=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$work/server.out")
[[ -n $port ]] || { echo "bench: the keep-alive server did not start" >&2; exit 1; }
base=http://127.0.0.1:$port

mkdir -p "$XDG_CONFIG_HOME/lmi/env"
printf 'default_environment=bench\n' >"$XDG_CONFIG_HOME/lmi/.env"
cat >"$XDG_CONFIG_HOME/lmi/env/bench.env" <<ENV
OAUTH_TOKEN_URL=$base/token
OAUTH_SERVICE_URL=$base/api
OAUTH_GRANT_TYPE=client_credentials
OAUTH_CLIENT_ID=bench
OAUTH_CLIENT_SECRET=bench-secret-8c2f
ENV
cp -r tests/plugins/hostile "$work/hostile"
printf '\n[permissions]\nservice_requests = true\nenvironments = ["bench"]\n' >>"$work/hostile/lmi-plugin.toml"
"$lmi" plugin install "$work/hostile" --yes >/dev/null 2>&1

connections() { cat "$count_file" 2>/dev/null || echo 0; }
# One run of each, counting the connections it opens (the first lmi run also fetches the token).
"$lmi" request-flood 1 v1/items >/dev/null
before=$(connections)
"$lmi" request-flood "$n" v1/items >"$work/flood.out"
lmi_conns=$(( $(connections) - before ))
grep -q "^request-flood: $n status 200$" "$work/flood.out" ||
    { echo "bench: lmi request-flood did not get $n answers:" >&2; tail -3 "$work/flood.out" >&2; exit 1; }
before=$(connections)
"$native" "$base/api/v1/items" "$n" bench-token-5d1e
native_conns=$(( $(connections) - before ))

out=${OUT:-$work/service-requests.json}
echo "lmi: $lmi ($("$lmi" --version | head -1)); $n requests per run to $base"
hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$out" \
    -n "native loop ($n requests)" "$native $base/api/v1/items $n bench-token-5d1e" \
    -n "lmi request-flood $n" "$lmi request-flood $n v1/items"

read -r mnative mlmi < <(jq -r '[.results[].median] | map(. * 1000) | @tsv' "$out")
ratio=$(awk -v a="$mlmi" -v b="$mnative" 'BEGIN { printf "%.2f", a / b }')
printf 'connections per run: lmi %d, native %d (target: 1)\n' "$lmi_conns" "$native_conns"
printf 'median: native %.1f ms, lmi %.1f ms, ratio %sx (target <= 1.5x)\n' "$mnative" "$mlmi" "$ratio"
status=0
[[ $lmi_conns -le 1 ]] || { echo "more than one connection per run" >&2; status=1; }
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.5) }' || { echo "ratio above target" >&2; status=1; }
exit $status
