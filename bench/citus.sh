#!/usr/bin/env bash
# orgjobs on a Citus cluster, measured (BENCHMARKS.md, "Citus"):
# 1. Where the queue lives: one job (claim; tenant context; a write to the
#    organization's rows; completion; its successor enqueued) with the queue
#    on the coordinator (orgjobs' layout, two-phase commit) against the queue
#    distributed by organization and co-located (one node, one phase), in
#    pgbench (bench/citus/*.sql), alternating, REPS times.
# 2. W2 (orgjobs-bench) on the cluster against the single server.
# A fresh cluster (scripts/citus-cluster: coordinator + 2 workers on this
# machine) is started and stopped. Needs Citus installed (scripts/ensure-citus).
# Env: REPS (default 3), CLIENTS (default 8), SECS (default 20), W2=0 skips part 2.
# Results: bench/results/citus-<UTC timestamp>/.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
scripts/ensure-postgres
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-8}
SECS=${SECS:-20}
OUT="$HERE/results/citus-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
CLUSTER=$(mktemp -d)   # scripts/citus-cluster hands it to the postgres user
scripts/citus-cluster start "$CLUSTER" 2 > "$OUT/cluster.env"
trap 'scripts/citus-cluster stop "$CLUSTER"' EXIT
# shellcheck disable=SC1091
source "$OUT/cluster.env"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COORDINATOR_PORT" -U postgres -d postgres)
"${PSQL[@]}" -f "$HERE/citus/setup.sql" > /dev/null

echo "queue location: $CLIENTS clients, ${SECS}s per run, $REPS runs each (jobs/s)" | tee "$OUT/queue.txt"
for r in $(seq "$REPS"); do
  for v in local distributed; do
    tps=$(pgbench -n -c "$CLIENTS" -j 2 -T "$SECS" -f "$HERE/citus/queue-$v.sql" \
            -h 127.0.0.1 -p "$COORDINATOR_PORT" -U postgres postgres 2>/dev/null \
          | awk '/^tps/ {print $3}')
    echo "run $r $v $tps" | tee -a "$OUT/queue.txt"
  done
done
# Every job's write and completion landed together: as many increments as
# completed jobs, in each layout.
"${PSQL[@]}" -At -c "
  SELECT 'check local: completed=' || (SELECT count(*) FROM q_local WHERE state = 'completed')
         || ' distributed: completed=' || (SELECT count(*) FROM q_dist WHERE state = 'completed')
         || ' increments=' || (SELECT sum(n) FROM items)" | tee -a "$OUT/queue.txt"

if [ "${W2:-1}" != 0 ]; then
  cargo build --release --quiet --bin orgjobs-bench
  for r in $(seq "$REPS"); do
    ./target/release/orgjobs-bench --workloads w2 \
      --database-url "postgres://postgres@127.0.0.1:$COORDINATOR_PORT/orgjobs_bench?sslmode=disable" \
      --json "$OUT/w2-citus-$r.jsonl" > /dev/null
    ./target/release/orgjobs-bench --workloads w2 --json "$OUT/w2-single-$r.jsonl" > /dev/null
  done
  python3 - "$OUT" <<'PY' | tee "$OUT/w2.txt"
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
for where in ("single", "citus"):
    by = {}
    for f in sorted(out.glob(f"w2-{where}-*.jsonl")):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            if "jobs_per_s" in r:
                by.setdefault(r["workload"], []).append(r["jobs_per_s"])
    for w, v in by.items():
        print(f"{where:6} {w:28} median {statistics.median(v):9.1f} jobs/s  runs {[round(x) for x in v]}")
PY
fi
echo "results in $OUT"
