#!/usr/bin/env bash
# Soak: 1,000 sequential runs of an installed plugin, looking for growth.
#
# 1. As users run it: 1,000 `lmi hello` processes. Each is a new process, so the figure that
#    matters is peak RSS (/usr/bin/time %M) of run 1 against run 1,000, plus the disk
#    (compiled cache, token cache, plugin store, log) not growing with the run count.
# 2. In one process (host/examples/soak.rs): the same library calls 1,000 times with one
#    engine, reporting VmRSS after run 1 and after run 1,000 — a leak per run shows here.
#
#   bench/soak.sh            # 1000 runs, release build in $LMI_BENCH_TARGET
#   RUNS=200 PROFILE=debug bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-1000}"
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  target="${LMI_BENCH_TARGET:-$HOME/.cache/lmi-target-release}"
  CARGO_TARGET_DIR="$target" cargo build --release -p lmi --bin lmi --example soak >&2
  bin="$target/release"
else
  target="${CARGO_TARGET_DIR:-$HOME/.cache/lmi-target}"
  CARGO_TARGET_DIR="$target" cargo build -p lmi --bin lmi --example soak >&2
  bin="$target/debug"
fi
lmi="$bin/lmi"
[ -x /usr/bin/time ] || { echo "soak: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
[ -f plugins/hello/hello.wasm ] || { echo "soak: run 'make plugins' first" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME="$work" XDG_CONFIG_HOME="$work/config" XDG_CACHE_HOME="$work/cache" XDG_DATA_HOME="$work/data"
"$lmi" plugin install plugins/hello --yes 2>/dev/null

logsize() { stat -c %s "$work/data/lmi/lmi.log" 2>/dev/null || echo 0; }
disk() { echo $(( $(du -sb "$work/cache" "$work/data" | awk '{s += $1} END {print s}') - $(logsize) )); }
files() { find "$work/cache" "$work/data" | wc -l; }
peak() { { /usr/bin/time -f '%M' "$lmi" hello >/dev/null; } 2>&1 | tail -n 1; }

# The log file is on by default and grows by design (a few lines per run); measure the rest
# of the disk apart from it.
disk_before=$(disk); files_before=$(files)
first=$(peak)
start=$(date +%s.%N)
for ((i = 2; i < runs; i++)); do "$lmi" hello >/dev/null; done
last=$(peak)
secs=$(echo "$(date +%s.%N) - $start" | bc)
log=$(logsize)
disk_after=$(disk); files_after=$(files)
echo "processes: $runs runs of 'lmi hello' in ${secs%.*} s"
echo "processes: peak RSS run 1 = $first KiB, run $runs = $last KiB"
echo "processes: cache+store $disk_before -> $disk_after bytes (log file aside: $log bytes), files $files_before -> $files_after"

"$bin/examples/soak" hello hello "$runs" 2>&1 >/dev/null | sed 's/^soak: /in-process: /'
