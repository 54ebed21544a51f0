#!/usr/bin/env bash
# Distribution benchmark: publishing the `api` example to a loopback docker-registry, and
# installing it from there, against installing it from its directory, in one hyperfine run.
# Every install is a fresh one (the store and compiled cache are emptied before each run), so
# each includes the AOT compile; the difference is what the registry costs.
#
# Uses a release build in $LMI_BENCH_TARGET (default ~/.cache/lmi-target-release).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${LMI_BENCH_TARGET:-$HOME/.cache/lmi-target-release}"
CARGO_TARGET_DIR="$target" cargo build --release -p lmi >&2
lmi="$target/release/lmi"
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
command -v docker-registry >/dev/null || { echo "bench: needs docker-registry (apt-get install docker-registry)" >&2; exit 2; }
[ -f plugins/api/api.wasm ] || { echo "bench: run 'make plugins' first" >&2; exit 2; }
api="$PWD/plugins/api"

. bench/support/home.sh

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.05; done

ref="oci://127.0.0.1:$port/bench/api:1.0.0"
"$lmi" plugin publish "$api" "$ref" >/dev/null 2>&1
reset="rm -rf $work/data/lmi/plugins $work/cache/lmi/compiled"
echo "api component: $(stat -c %s "$api/api.wasm") bytes"
hyperfine --warmup 2 --runs "${RUNS:-10}" --export-json "$work/registry.json" \
  --prepare "true" --prepare "$reset" --prepare "$reset" \
  -n "publish (loopback registry)" "$lmi plugin publish $api $ref" \
  -n "install from the registry" "$lmi plugin install $ref --yes" \
  -n "install from the directory" "$lmi plugin install $api --yes" \
  >/dev/null 2>"$work/hyperfine.err" ||
  { cat "$work/hyperfine.err" >&2; echo "bench: a benchmarked command failed" >&2; exit 1; }
python3 - "$work/registry.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
d = r["install from the directory"]["median"]
for name, x in r.items():
    print(f"{name}: median {x['median']*1000:.0f} ms (min {x['min']*1000:.0f}, max {x['max']*1000:.0f}), {x['median']/d:.2f}x the directory install")
PY
