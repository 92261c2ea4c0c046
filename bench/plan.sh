#!/usr/bin/env bash
# Measures 'felhom-converge plan' against 'sim serve --latency 10ms
# --workers 3' (pveproxy's worker pool) for hosts of N guests whose desired
# state matches the live host exactly, and prints a table of medians over
# REPEAT runs: wall time against the request-bound floor (N+1) × 10ms / 3,
# API requests per plan, CPU per guest and peak RSS of the plan process.
#
#   bash bench/plan.sh            # N = 10 100 500 1000, 5 runs each
#   SIZES="100" REPEAT=3 bash bench/plan.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 100 500 1000"}
REPEAT=${REPEAT:-5}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

go build -o "$tmp/felhom-converge" ./cmd/felhom-converge
go build -o "$tmp/gendesired" ./bench/gendesired
go build -o "$tmp/runstat" ./bench/runstat

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s", m}'; }

printf '| guests | wall (median) | floor | wall / floor | requests | CPU / guest | peak RSS |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
for n in $SIZES; do
  extra=$((n - 3)); [ "$extra" -lt 0 ] && extra=0
  env="$tmp/sim-$n.env"
  "$tmp/felhom-converge" sim serve --listen 127.0.0.1:0 --env-file "$env" --latency 10ms --workers 3 \
    --guests "$extra" --admin >/dev/null 2>&1 &
  sim=$!
  for _ in $(seq 200); do [ -s "$env" ] && break; sleep 0.05; done
  set -a; . "$env"; set +a
  export FELHOM_CONVERGE_HOST=pve-demo FELHOM_CONVERGE_STATE_DIR="$tmp/state-$n"
  "$tmp/gendesired" -out "$tmp/desired-$n.hcl"
  total=$(grep -c '^guest ' "$tmp/desired-$n.hcl")
  counters() {
    curl -sk -H "Authorization: PVEAPIToken=$FELHOM_CONVERGE_PROXMOX_TOKEN" "$FELHOM_CONVERGE_PROXMOX_ENDPOINT/_sim/counters" |
      grep -o '"[A-Z]* [^"]*": *[0-9]*' | awk -F': *' '{s+=$2} END {print s+0}'
  }
  : >"$tmp/runs"
  for _ in $(seq "$REPEAT"); do
    before=$(counters)
    "$tmp/runstat" "$tmp/felhom-converge" plan "$tmp/desired-$n.hcl" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    after=$(counters)
    grep -q '^No changes' "$tmp/out" || { echo "plan of a matching host has steps:" >&2; cat "$tmp/out" >&2; exit 1; }
    stat=$(tail -1 "$tmp/err")
    echo "$stat requests=$((after - before))" >>"$tmp/runs"
  done
  field() { sed -E "s/.*$1=([0-9.]+).*/\1/" "$tmp/runs" | median; }
  wall=$(field wall_s); user=$(field user_s); sys=$(field sys_s); rss=$(field maxrss_kib); reqs=$(field requests)
  floor=$(awk -v n="$total" 'BEGIN {printf "%.3f", (n+1)*0.010/3}')
  awk -v n="$total" -v w="$wall" -v f="$floor" -v r="$reqs" -v u="$user" -v s="$sys" -v m="$rss" 'BEGIN {
    printf "| %d | %.3f s | %.3f s | %.2f | %d | %.3f ms | %.1f MiB |\n", n, w, f, w/f, r, (u+s)*1000/n, m/1024 }'
  kill "$sim"; wait "$sim" 2>/dev/null || true
done
