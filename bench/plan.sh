#!/usr/bin/env bash
# Measures 'felhom-converge plan' against 'sim serve --latency LATENCY
# --workers 3' (pveproxy's worker pool) for hosts of N guests whose desired
# state matches the live host exactly, and prints a table of medians over
# REPEAT runs: wall time against the request-bound floor (N+1) × latency / 3,
# API requests per plan, CPU per guest and peak RSS of the plan process.
# With EMBEDDED=1 it measures 'plan --sim DIR' instead: the whole command,
# its own simulator (no latency) included; the requests are not counted.
#
#   bash bench/plan.sh                         # N = 10 100 500 1000, 5 runs each, 10ms
#   SIZES="1000" REPEAT=11 LATENCY=0 bash bench/plan.sh
#   SIZES="1000" EMBEDDED=1 bash bench/plan.sh
#   BIN=/path/to/felhom-converge bash bench/plan.sh   # another build (say, an older commit's)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10 100 500 1000"}
REPEAT=${REPEAT:-5}
LATENCY=${LATENCY:-10ms}
EMBEDDED=${EMBEDDED:-0}
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

if [ -n "${BIN:-}" ]; then
  cp "$BIN" "$tmp/felhom-converge"
else
  go build -o "$tmp/felhom-converge" ./cmd/felhom-converge
fi
go build -o "$tmp/gendesired" ./bench/gendesired
go build -o "$tmp/runstat" ./bench/runstat

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%s", m}'; }
seconds() { awk -v d="$1" 'BEGIN {v=d+0; if (d ~ /ms$/) v/=1000; else if (d ~ /us$|µs$/) v/=1e6; printf "%g", v}'; }

printf '| guests | wall (median) | floor | wall / floor | requests | CPU / guest | peak RSS |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|\n'
for n in $SIZES; do
  extra=$((n - 3)); [ "$extra" -lt 0 ] && extra=0
  env="$tmp/sim-$n.env"
  latency=$LATENCY state=()
  if [ "$EMBEDDED" = 1 ]; then
    latency=0 state=(--state "$tmp/sim-$n/host.json")
    mkdir -p "$tmp/sim-$n"
  fi
  "$tmp/felhom-converge" sim serve --listen 127.0.0.1:0 --env-file "$env" --latency "$latency" --workers 3 \
    --guests "$extra" --admin "${state[@]}" >/dev/null 2>&1 &
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
  plan=("$tmp/felhom-converge" plan "$tmp/desired-$n.hcl")
  if [ "$EMBEDDED" = 1 ]; then
    kill "$sim"; wait "$sim" 2>/dev/null || true
    plan=("$tmp/felhom-converge" plan --sim "$tmp/sim-$n" "$tmp/desired-$n.hcl")
  fi
  : >"$tmp/runs"
  for _ in $(seq "$REPEAT"); do
    before=0 after=0
    [ "$EMBEDDED" = 1 ] || before=$(counters)
    "$tmp/runstat" "${plan[@]}" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    [ "$EMBEDDED" = 1 ] || after=$(counters)
    grep -q '^No changes' "$tmp/out" || { echo "plan of a matching host has steps:" >&2; cat "$tmp/out" >&2; exit 1; }
    stat=$(tail -1 "$tmp/err")
    echo "$stat requests=$((after - before))" >>"$tmp/runs"
  done
  field() { sed -E "s/.*$1=([0-9.]+).*/\1/" "$tmp/runs" | median; }
  wall=$(field wall_s); user=$(field user_s); sys=$(field sys_s); rss=$(field maxrss_kib); reqs=$(field requests)
  cpu=$(awk '{split($2,u,"="); split($3,s,"="); print u[2]+s[2]}' "$tmp/runs" | median)
  floor=$(awk -v n="$total" -v l="$(seconds "$latency")" 'BEGIN {printf "%.3f", (n+1)*l/3}')
  awk -v n="$total" -v w="$wall" -v f="$floor" -v r="$reqs" -v c="$cpu" -v m="$rss" -v e="$EMBEDDED" 'BEGIN {
    ratio = (f > 0) ? sprintf("%.2f", w/f) : "-"; fl = (f > 0) ? sprintf("%.3f s", f) : "-"; rq = e ? "-" : r
    printf "| %d | %.3f s | %s | %s | %s | %.3f ms | %.1f MiB |\n", n, w, fl, ratio, rq, c*1000/n, m/1024 }'
  [ "$EMBEDDED" = 1 ] || { kill "$sim"; wait "$sim" 2>/dev/null || true; }
done
