#!/usr/bin/env bash
# Dispatch benchmark: `lmi hello` (installed, precompiled) against a native Rust hello-world
# process in the same hyperfine run; the ratio of medians; peak memory of one dispatch; and
# the install (validate + AOT compile) time of a component of about 1 MiB.
#
# Uses a release build in $LMI_BENCH_TARGET (default ~/.cache/lmi-target-release).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${LMI_BENCH_TARGET:-$HOME/.cache/lmi-target-release}"
CARGO_TARGET_DIR="$target" cargo build --release -p lmi >&2
lmi="$target/release/lmi"
# The function layout (host/dispatch.order) only helps while its names match this build.
if [ -s host/dispatch.order ] && command -v nm >/dev/null; then
  total=$(wc -l < host/dispatch.order)
  found=$(nm --defined-only "$lmi" | awk '{print $3}' | sort -u | comm -12 - <(sort -u host/dispatch.order) | wc -l)
  echo "dispatch.order: $found of $total functions found in this build" >&2
  [ "$found" -ge $((total * 9 / 10)) ] ||
    echo "bench: host/dispatch.order is stale; run scripts/gen-dispatch-order and rebuild" >&2
fi
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
[ -f plugins/hello/hello.wasm ] || { echo "bench: run 'make plugins' first" >&2; exit 2; }

. bench/support/home.sh

"$lmi" plugin install plugins/hello --yes 2>/dev/null
# A shared VM's noise comes in bursts longer than one hyperfine benchmark, so one burst can
# land on either side of a single comparison. Alternate short pairs instead and take the
# median of the per-round ratios (ROUNDS=1 gives the plain single comparison).
rounds="${ROUNDS:-5}"
for round in $(seq "$rounds"); do
  hyperfine --warmup 10 --runs 100 -N --export-json "$work/dispatch.$round.json" \
    -n native "$work/native" -n "lmi hello" "$lmi hello" >/dev/null 2>"$work/hyperfine.err" ||
    { cat "$work/hyperfine.err" >&2; echo "bench: a benchmarked command failed" >&2; exit 1; }
done
status=0
if python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
natives, lmis, ratios = [], [], []
for i in range(1, rounds + 1):
    r = {x["command"]: x for x in json.load(open(f"{work}/dispatch.{i}.json"))["results"]}
    n, l = r["native"]["median"], r["lmi hello"]["median"]
    natives.append(n); lmis.append(l); ratios.append(l / n)
    print(f"round {i}: lmi hello {l*1000:.2f} ms, native {n*1000:.2f} ms, ratio {l/n:.2f}x")
ratio = statistics.median(ratios)
print(f"dispatch median: lmi hello {statistics.median(lmis)*1000:.2f} ms, "
      f"native {statistics.median(natives)*1000:.2f} ms, "
      f"ratio {ratio:.2f}x (median of {rounds} rounds of 100 runs each; target <= 3x)")
sys.exit(0 if ratio <= 3 else 1)
PY
then :; else echo "bench: dispatch ratio above target" >&2; status=1; fi

peak=$( { /usr/bin/time -f '%M' "$lmi" hello >/dev/null; } 2>&1 | tail -1)
echo "dispatch peak RSS: $((peak / 1024)) MiB ($peak KiB; target < 30 MiB)"
[ "$peak" -lt $((30 * 1024)) ] || { echo "bench: dispatch peak RSS above target" >&2; status=1; }

# A component of about 1 MiB of real code: the api plugin built without optimisation and
# without debug info (~1.5 MiB).
CARGO_TARGET_DIR="$target" CARGO_PROFILE_DEV_DEBUG=0 cargo build -q -p api --target wasm32-wasip2 >&2
big="$target/wasm32-wasip2/debug/api.wasm"
mkdir -p "$work/big"
cp plugins/api/lmi-plugin.toml "$work/big/"
cp "$big" "$work/big/api.wasm"
size=$(stat -c %s "$work/big/api.wasm")
hyperfine --warmup 1 --runs 10 -N -n "install $((size / 1024)) KiB component" \
  "$lmi plugin install $work/big --yes" >&2
echo "install: see the hyperfine line above ($((size / 1024)) KiB component)"
exit "$status"
