#!/usr/bin/env bash
# Runs orgjobs' benchmark, then the peers' (graphile-worker, pg-boss, procrastinate, pgbench from
# ../shared/bench-peers), one after another on this machine, and prints the ratios.
# Usage: bench/run.sh [PEER ...]   peers to run (default: graphile-worker pg-boss);
#        bench/run.sh none         orgjobs only, ratios against bench/peer-anchors.json
# Env: REPS (peer repetitions, default 1), PEERS_SRC (default ../shared/bench-peers).
# Results: bench/results/run-<UTC timestamp>/ (orgjobs.jsonl, peers/*.jsonl, ratios.md).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
scripts/ensure-postgres
OUT="$HERE/results/run-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
{ nproc; free -g | awk '/Mem/{print $2 " GiB"}'; psql -h 127.0.0.1 -U postgres -Atc 'select version()'; } > "$OUT/machine.txt" 2>/dev/null || true

cargo build --release --quiet --bin orgjobs-bench
./target/release/orgjobs-bench --json "$OUT/orgjobs.jsonl" 2>/dev/null

PEERS=("$@")
[ ${#PEERS[@]} -eq 0 ] && PEERS=(graphile-worker pg-boss)
if [ "${PEERS[0]}" != none ]; then
  SRC=${PEERS_SRC:-$ROOT/../shared/bench-peers}
  WORK=$(mktemp -d)/bench-peers
  cp -r "$SRC" "$WORK"          # the shared copy may be read-only
  chmod -R u+w "$WORK"
  RESULTS_DIR="$OUT/peers" REPS=${REPS:-1} "$WORK/run-all.sh" "${PEERS[@]}" >/dev/null
fi
python3 "$HERE/ratios.py" "$OUT" | tee "$OUT/ratios.md"
