#!/usr/bin/env bash
# Runs orgjobs' benchmark, then the peers' (graphile-worker, pg-boss, procrastinate, pgbench from
# ../shared/bench-peers), one after another on this machine, and prints the ratios.
# Usage: bench/run.sh [PEER ...]   peers to run (default: pgbench graphile-worker pg-boss
#                                  procrastinate, about 70 minutes with REPS=3);
#        bench/run.sh none         orgjobs only, ratios against bench/peer-anchors.json
# Env: REPS (repetitions of orgjobs and of each peer, default 3; figures are medians),
#      W5_SIZES (default 10000,100000,1000000,10000000), PEERS_SRC (default ../shared/bench-peers).
# Results: bench/results/run-<UTC timestamp>/ (orgjobs-N.jsonl, peers/*.jsonl, ratios.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
scripts/ensure-postgres
OUT="$HERE/results/run-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
{ nproc; free -g | awk '/Mem/{print $2 " GiB"}'; psql -h 127.0.0.1 -U postgres -Atc 'select version()'; } > "$OUT/machine.txt" 2>/dev/null || true

REPS=${REPS:-3}
cargo build --release --quiet --bin orgjobs-bench
# orgjobs REPS times (W5, whose largest backlog takes minutes to insert, once); ratios.py takes
# the median of each figure.
for r in $(seq "$REPS"); do
  if [ "$r" = 1 ]; then WL=w1,w2,w3,w4,w5,w6; else WL=w1,w2,w3,w4,w6; fi
  ./target/release/orgjobs-bench --workloads "$WL" --w5-sizes "${W5_SIZES:-10000,100000,1000000,10000000}" \
    --json "$OUT/orgjobs-$r.jsonl" 2>/dev/null
done

PEERS=("$@")
[ ${#PEERS[@]} -eq 0 ] && PEERS=(pgbench graphile-worker pg-boss procrastinate)
if [ "${PEERS[0]}" != none ]; then
  SRC=${PEERS_SRC:-$ROOT/../shared/bench-peers}
  WORK=$(mktemp -d)/bench-peers
  cp -r "$SRC" "$WORK"          # the shared copy may be read-only
  chmod -R u+w "$WORK"
  RESULTS_DIR="$OUT/peers" REPS=$REPS "$WORK/run-all.sh" "${PEERS[@]}" >/dev/null
fi
python3 "$HERE/ratios.py" "$OUT" | tee "$OUT/ratios.md"
