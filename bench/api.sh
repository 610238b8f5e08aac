#!/usr/bin/env bash
# The HTTP API's speed, with wrk, on the demo's data, beside its limit:
# pgbench running the GET's own SQL (token lookup, then the tenant
# transaction: context, ticket detail, commit) in the same sitting.
#
#   bench/api.sh            # writes bench/results/api-<time>/ and prints a table
#
# Needs wrk and pgbench (Debian: apt-get install wrk postgresql-contrib).
# Run nothing else meanwhile: figures from one run compare; across runs
# this machine varies by 2x.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"
DB=${API_BENCH_DB:-orgjobs_apibench}
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
ADDR=127.0.0.1:${API_BENCH_PORT:-18181}
SECS=${SECS:-10}
OUT="$HERE/results/api-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

cargo build --release --quiet --bin orgjobs
BIN=$ROOT/target/release/orgjobs
ADMIN_URL="postgres://postgres@$PGHOST:$PGPORT/$DB"
WORKER_URL="postgres://orgjobs_worker@$PGHOST:$PGPORT/$DB"

dropdb -h "$PGHOST" -p "$PGPORT" -U postgres --if-exists "$DB"
"$BIN" --database-url "$ADMIN_URL" demo > "$OUT/demo.txt" 2>&1
psql() { command psql -h "$PGHOST" -p "$PGPORT" -U postgres -d "$DB" -Atq "$@"; }
# The bank (its tickets have triage, suggestions, predictions and drafts).
ORG=$(psql -c "SELECT id FROM public.organizations ORDER BY name LIMIT 1")
TICKET=$(psql -c "SELECT t.id FROM public.tickets t JOIN public.ai_suggestions s
                  ON s.organization_id = t.organization_id AND s.ticket_id = t.id AND s.suggestion_type = 'smart_reply'
                  WHERE t.organization_id = '$ORG' LIMIT 1")
TOKEN=$("$BIN" --database-url "$ADMIN_URL" token create --org "$ORG" --role agent --name bench 2>/dev/null)
TOKEN_ID=$(echo "$TOKEN" | cut -d_ -f2)

DATABASE_URL=$WORKER_URL ORGJOBS_LOG=warn "$BIN" serve --addr "$ADDR" --max-connections 64 \
  --token-rate 1000000 --token-burst 1000000 > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://$ADDR/healthz" >/dev/null && break; sleep 0.2; done

cat > "$OUT/get.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $TOKEN"
EOF
cat > "$OUT/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"subject":"Benchmark: my card has not arrived","body":"Ordered two weeks ago, still nothing."}'
EOF
{
  echo "route,connections,requests_per_s,p50_ms,p99_ms"
  for route in get post; do
    for c in 1 16 64; do
      threads=$(( c < 2 ? 1 : 2 ))
      if [ $route = get ]; then url="http://$ADDR/api/tickets/$TICKET"; else url="http://$ADDR/api/tickets"; fi
      wrk -t$threads -c$c -d${SECS}s --latency -s "$OUT/$route.lua" "$url" > "$OUT/wrk-$route-$c.txt"
      python3 - "$OUT/wrk-$route-$c.txt" "$route" "$c" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", text).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", text).group(1))
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if non2xx:
    sys.exit(f"{sys.argv[1]}: {non2xx.group(1)} non-2xx responses")
print(f"{sys.argv[2]},{sys.argv[3]},{rps:.0f},{p50:.2f},{p99:.2f}")
PY
    done
  done
} > "$OUT/api.csv"

# The limit: the GET's SQL in pgbench, as the server's login, prepared
# (with the server stopped: its connections count against max_connections).
kill $SERVER 2>/dev/null || true
wait $SERVER 2>/dev/null || true
# Values go in as pgbench variables, which -M prepared sends as bound
# parameters, as the server does.
SQL_DETAIL=$(grep -v '^--' crates/orgjobs-api/sql/ticket_detail.sql | sed 's/\$1/:ticket/; s/\$2/:org::uuid/' | tr '\n' ' ')
cat > "$OUT/get.pgbench" <<EOF
SELECT organization_id, role, secret_sha256 FROM orgjobs.api_token(:token_id);
BEGIN;
SELECT pg_catalog.set_config('role', 'orgjobs_tenant', true), pg_catalog.set_config('app.current_org', :org, true);
$SQL_DETAIL;
COMMIT;
EOF
{
  echo "connections,pgbench_tps"
  for c in 1 16 64; do
    tps=$(pgbench -h "$PGHOST" -p "$PGPORT" -U orgjobs_worker -n -M prepared -c $c -j $(( c < 2 ? 1 : 2 )) -T "$SECS" \
            -D token_id="$TOKEN_ID" -D org="$ORG" -D ticket="$TICKET" -f "$OUT/get.pgbench" "$DB" 2>"$OUT/pgbench-$c.err" | awk '/^tps/ {print int($3)}' | head -1)
    [ -n "$tps" ] || { echo "pgbench with $c clients failed: $(cat "$OUT/pgbench-$c.err")" >&2; exit 1; }
    echo "$c,$tps"
  done
} > "$OUT/pgbench.csv"

python3 - "$OUT" <<'PY'
import csv, sys
out = sys.argv[1]
api = list(csv.DictReader(open(f"{out}/api.csv")))
pg = {r["connections"]: float(r["pgbench_tps"]) for r in csv.DictReader(open(f"{out}/pgbench.csv"))}
print("| route | connections | requests/s | p50 ms | p99 ms | pgbench (the GET's SQL) tps | share of the limit |")
print("|---|---|---|---|---|---|---|")
for r in api:
    limit = pg.get(r["connections"]) if r["route"] == "get" else None
    share = f"{float(r['requests_per_s']) / limit:.0%}" if limit else ""
    name = "GET /api/tickets/{id}" if r["route"] == "get" else "POST /api/tickets"
    print(f"| {name} | {r['connections']} | {r['requests_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {int(limit) if limit else ''} | {share} |")
PY
