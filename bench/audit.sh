#!/usr/bin/env bash
# The cost of the audit trail (issue 13, item 4): the same commands with the trail on (lmi's
# default file, `~/.local/share/lmi/audit.jsonl`) and off (`LMI_AUDIT_LOG=off`), in the same
# hyperfine run, alternating in short rounds (a shared VM's noise comes in bursts):
#   - the hostile plugin's `request-flood N v1/items` (N send-request calls in one run, warm
#     token cache, one keep-alive loopback server, as bench/service-requests.sh): the cost per
#     service request is the difference of the medians divided by N;
#   - `request-flood 1 v1/items`: what a run pays once (opening the file, the SSO summary);
#   - `lmi auth token` with a warm cache: the record of a token handed out;
# and the write path alone, in one process (host/examples/audit_write.rs: 20,000 records into
# a fresh file, 5 times), which the whole-process figures bound but cannot resolve on a busy
# machine.
#
#   bench/audit.sh [path/to/lmi]
#
# Without an argument lmi is built (release) into $CARGO_TARGET_DIR (default target/).
# Environment: N (default 200), RUNS (default 15), ROUNDS (default 5), WARMUP (default 3).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
if [[ $# -ge 1 ]]; then
    lmi=$1
    cargo build --release -p lmi --example audit_write >&2
else
    cargo build --release -p lmi --bin lmi --example audit_write >&2
    lmi=$target/release/lmi
fi
writer=$target/release/examples/audit_write
[[ -x $lmi ]] || { echo "bench: no lmi binary at $lmi" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench: needs python3" >&2; exit 2; }
[[ -f tests/plugins/hostile/hostile.wasm ]] || { echo "bench: run 'make plugins' first" >&2; exit 2; }
n=${N:-200}
runs=${RUNS:-15}
rounds=${ROUNDS:-5}
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
unset LMI_ENV LMI_ACCESS_TOKEN LMI_AUDIT_LOG HTTP_PROXY HTTPS_PROXY http_proxy https_proxy
export LMI_LOG_FILE=off LMI_PLUGIN_TIMEOUT_SECS=300

python3 bench/support/keep_alive_server.py --count-file "$work/connections" >"$work/server.out" &
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

# Warm the token cache, and check both sides do what is measured.
audit=$XDG_DATA_HOME/lmi/audit.jsonl
"$lmi" request-flood "$n" v1/items | grep -q "^request-flood: $n status 200$" ||
    { echo "bench: request-flood did not get $n answers" >&2; exit 1; }
[[ $(wc -l <"$audit") -eq $n ]] || { echo "bench: expected $n audit lines" >&2; exit 1; }
LMI_AUDIT_LOG=off "$lmi" request-flood "$n" v1/items >/dev/null
[[ $(wc -l <"$audit") -eq $n ]] || { echo "bench: LMI_AUDIT_LOG=off still wrote" >&2; exit 1; }

echo "lmi: $lmi ($("$lmi" --version | head -1)); $n requests per run to $base"
# `env` starts both sides, so each pays the same extra exec.
on="env -u LMI_AUDIT_LOG $lmi"
off="env LMI_AUDIT_LOG=off $lmi"
for round in $(seq "$rounds"); do
    hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$work/audit.$round.json" \
        -n "off: request-flood $n" "$off request-flood $n v1/items" \
        -n "on: request-flood $n" "$on request-flood $n v1/items" \
        -n "off: request-flood 1" "$off request-flood 1 v1/items" \
        -n "on: request-flood 1" "$on request-flood 1 v1/items" \
        -n "off: auth token" "$off auth token" \
        -n "on: auth token" "$on auth token" \
        >/dev/null 2>"$work/hyperfine.err" ||
        { cat "$work/hyperfine.err" >&2; echo "bench: a benchmarked command failed" >&2; exit 1; }
done
echo "audit lines written: $(cat "$audit"* | wc -l) in $(ls "$audit"* | wc -l) file(s)"

# Wall time (median) and CPU time (user + system, mean; less disturbed by other load on a
# shared machine), each as the median over the rounds of the on-minus-off difference.
python3 - "$work" "$rounds" "$n" <<'PY'
import json, statistics, sys
work, rounds, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
wall, cpu = {}, {}
for i in range(1, rounds + 1):
    for r in json.load(open(f"{work}/audit.{i}.json"))["results"]:
        wall.setdefault(r["command"], []).append(r["median"])
        cpu.setdefault(r["command"], []).append(r["user"] + r["system"])
def row(name, per=1, unit="us"):
    out = []
    for label, m in (("wall", wall), ("cpu", cpu)):
        off, on = m[f"off: {name}"], m[f"on: {name}"]
        d = statistics.median(b - a for a, b in zip(off, on)) / per
        out.append(f"{label} off {statistics.median(off)*1e3:.2f} ms, on {statistics.median(on)*1e3:.2f} ms, "
                   f"difference {d*1e6:.1f} us")
    return "; ".join(out)
print(f"per service request (request-flood {n}, difference / {n}): {row(f'request-flood {n}', n)}")
print(f"per run with one request (request-flood 1): {row('request-flood 1')}")
print(f"per token (auth token, warm cache): {row('auth token')}")
print(f"(median over {rounds} alternating rounds)")
PY

for _ in 1 2 3 4 5; do "$writer" 20000 2>&1 | sed -n 's/^audit_write: //p'; done >"$work/writer.out"
python3 - "$work/writer.out" <<'PY'
import re, statistics, sys
rows = [tuple(map(float, re.findall(r"([0-9.]+) us", l)[:2])) for l in open(sys.argv[1])]
print(f"write path in one process (audit_write, 5 x 20000 records): first record (opens the file) "
      f"{statistics.median(r[0] for r in rows):.0f} us, then {statistics.median(r[1] for r in rows):.2f} us per record")
PY
