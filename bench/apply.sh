#!/usr/bin/env bash
# Measures 'felhom-converge apply' creating N new guests (each restored from
# the golden image, then started) against 'sim serve --latency 10ms
# --workers 3' (pveproxy's worker pool), with the simulator's tasks taking
# 0 ms and 300 ms, one guest at a time (-parallelism=1) and three at once
# (the default), and prints a table of medians over REPEAT runs, each on a
# fresh simulated host.
#
#   bash bench/apply.sh                      # N = 10 50 100, 3 runs each
#   SIZES="100" TASKS="0ms" REPEAT=5 bash bench/apply.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 50 100"}
TASKS=${TASKS:-"0ms 300ms"}
REPEAT=${REPEAT:-3}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/felhom-converge" ./cmd/felhom-converge
go build -o "$tmp/runstat" ./bench/runstat

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s", m}'; }

# desired N: N new guests, vmid 2000 up, each restored and started.
desired() {
  printf 'host "pve-demo" {\n  node = "pve"\n}\n'
  for i in $(seq 0 $(($1 - 1))); do
    printf '\nguest "g%d" {\n  vmid        = %d\n  from_backup = "local:backup/vzdump-lxc-9000-2026_10_01-12_00_00.tar.zst"\n  rootfs {\n    storage = "local-lvm"\n    size    = "4G"\n  }\n}\n' "$i" $((2000 + i))
  done
}

# one N TASK PARALLEL: one apply on a fresh simulator; prints its wall time.
one() {
  local env="$tmp/sim.env"
  rm -f "$env"
  "$tmp/felhom-converge" sim serve --listen 127.0.0.1:0 --env-file "$env" --latency 10ms --workers 3 \
    --task-duration "$2" --resources-lag 0s >/dev/null 2>&1 &
  local sim=$!
  for _ in $(seq 200); do [ -s "$env" ] && break; sleep 0.05; done
  (
    set -a; . "$env"; set +a
    export FELHOM_CONVERGE_HOST=pve-demo FELHOM_CONVERGE_STATE_DIR="$tmp/state-$$-$RANDOM"
    "$tmp/runstat" "$tmp/felhom-converge" apply -parallelism="$3" "$tmp/desired-$1.hcl" >"$tmp/out" 2>"$tmp/err" ||
      { cat "$tmp/out" "$tmp/err" >&2; exit 1; }
    grep -q "^apply: $(( $1 * 2 )) done$" "$tmp/out" || { echo "apply did not create every guest:" >&2; tail -3 "$tmp/out" >&2; exit 1; }
    tail -1 "$tmp/err" | sed -E 's/.*wall_s=([0-9.]+).*/\1/'
  )
  kill "$sim"; wait "$sim" 2>/dev/null || true
}

printf '| guests | task | one at a time | three at once | ratio |\n'
printf '|---:|---:|---:|---:|---:|\n'
for n in $SIZES; do
  desired "$n" >"$tmp/desired-$n.hcl"
  for task in $TASKS; do
    seq=$(for _ in $(seq "$REPEAT"); do one "$n" "$task" 1; done | median)
    par=$(for _ in $(seq "$REPEAT"); do one "$n" "$task" 3; done | median)
    awk -v n="$n" -v t="$task" -v s="$seq" -v p="$par" 'BEGIN { printf "| %d | %s | %.2f s | %.2f s | %.2f |\n", n, t, s, p, p/s }'
  done
done
