"""Ratios of orgjobs to the best peer per workload.

Usage: python3 bench/ratios.py RESULTS_DIR
Reads RESULTS_DIR/orgjobs.jsonl (orgjobs-bench --json) and RESULTS_DIR/peers/*.jsonl (the
peers' runners); where a peer was not run here, uses bench/peer-anchors.json (RESULTS.md).
Prints markdown."""

import json
import pathlib
import statistics
import sys

HERE = pathlib.Path(__file__).parent


def load(path):
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def medians(rows):
    """One record per (workload, fair, mode, waiting): the median of each number over the runs."""
    groups = {}
    for r in rows:
        groups.setdefault((r["workload"], r.get("fair"), r.get("mode"), r.get("waiting")), []).append(r)
    out = []
    for rs in groups.values():
        m = dict(rs[0])
        m["runs"] = len(rs)
        for k, v in rs[0].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                m[k] = statistics.median([r[k] for r in rs if isinstance(r.get(k), (int, float))])
            elif isinstance(v, dict):
                m[k] = {kk: statistics.median([r[k][kk] for r in rs if isinstance(r.get(k), dict) and kk in r[k]])
                        for kk in v}
        out.append(m)
    return out


def main(out):
    out = pathlib.Path(out)
    ours = medians([r for f in sorted(out.glob("orgjobs*.jsonl")) for r in load(f)])
    anchors = json.loads((HERE / "peer-anchors.json").read_text())
    peers = {k: dict(v) for k, v in anchors.items() if isinstance(v, dict)}
    measured = set()
    for p in sorted((out / "peers").glob("*.jsonl")) if (out / "peers").exists() else []:
        rows = [r for r in load(p) if "error" not in r and r.get("peer") and r.get("workload")]
        by = {}
        for r in rows:
            if r.get("settings", {}).get("profile") == "default":
                continue
            by.setdefault((r["peer"], r["workload"]), []).append(r)
        for (peer, wl), rs in by.items():
            d = peers.setdefault(peer, {})
            med = lambda k: statistics.median([r[k] for r in rs if r.get(k) is not None])
            try:
                if peer == "pgbench":
                    key = {"w2_tx_only": "w2_body_tps", "w2_tx_norls": "w2_body_norls_tps",
                           "update_sync_on": "update_tps"}.get(wl)
                    if key:
                        d[key] = med("tps")
                        measured.add(peer)
                    continue
                if wl == "w1": d["w1_jobs_per_s"] = med("jobs_per_s")
                if wl == "w2": d["w2_jobs_per_s"] = med("jobs_per_s")
                if wl == "w3":
                    for q in ("p50", "p95", "p99"): d[f"w3_{q}_ms"] = med(f"{q}_ms")
                if wl == "w4":
                    d["w4_b_wait_median_ms"] = med("b_wait_median_ms"); d["w4_backlog_s"] = med("backlog_s")
                measured.add(peer)
            except statistics.StatisticsError:
                pass

    def one(wl, **match):
        for r in ours:
            if r["workload"] == wl and all(r.get(k) == v for k, v in match.items()):
                return r
        return {}

    w1, w1fifo = one("w1", fair=True), one("w1", fair=False)
    w2, w2n, w2a = one("w2"), one("w2_norls"), one("w2_async_commit")
    w3 = one("w3")
    w4, w4fifo = one("w4", fair=True), one("w4", fair=False)
    sk, skfifo = one("w4_skewed", fair=True), one("w4_skewed", fair=False)
    w5 = {r["waiting"]: r["claim_p50_ms"] for r in ours if r["workload"] == "w5" and r.get("fair")}
    mem = one("memory")

    qpeers = [p for p in peers if p != "pgbench"]

    def best(key, higher=True):
        vals = [(peers[p][key], p) for p in qpeers if key in peers[p]]
        return (max if higher else min)(vals) if vals else (float("nan"), "-")

    print("| workload | orgjobs | best peer | ratio (orgjobs ÷ peer, >1 better) |")
    print("| --- | --- | --- | --- |")
    for label, ours_v, key, higher in [
        ("W1 no-op jobs/s (fair claims)", w1.get("jobs_per_s"), "w1_jobs_per_s", True),
        ("W2 tenant-scoped jobs/s", w2.get("jobs_per_s"), "w2_jobs_per_s", True),
        ("W3 latency p50 ms", w3.get("p50_ms"), "w3_p50_ms", False),
        ("W3 latency p99 ms", w3.get("p99_ms"), "w3_p99_ms", False),
        ("W4 B's median wait ms", w4.get("b_wait_median_ms"), "w4_b_wait_median_ms", False),
    ]:
        pv, pn = best(key, higher)
        ratio = (ours_v / pv) if higher else (pv / ours_v)
        src = "measured" if pn in measured else "RESULTS.md"
        print(f"| {label} | {ours_v:,.1f} | {pn} {pv:,.1f} ({src}) | {ratio:.2f}× |")
    print()
    print(f"- W1 without fairness (strict order): {w1fifo.get('jobs_per_s', float('nan')):,.0f} jobs/s; "
          f"fair/FIFO = {w1.get('jobs_per_s', 0) / w1fifo.get('jobs_per_s', 1):.2f}")
    print(f"- W2 with RLS off (login bypasses, explicit WHERE): {w2n.get('jobs_per_s', float('nan')):,.0f} jobs/s; "
          f"isolation costs {100 * (1 - w2.get('jobs_per_s', 0) / w2n.get('jobs_per_s', 1)):.1f} %; "
          f"every job saw 1,000 rows: {w2.get('saw_other') == 0}")
    if w2a:
        pv, pn = best("w2_jobs_per_s")
        print(f"- W2 with asynchronous commit (opt-in, `CommitMode::Asynchronous`): "
              f"{w2a.get('jobs_per_s', float('nan')):,.0f} jobs/s; {w2a.get('jobs_per_s', 0) / pv:.2f}× {pn}")
    for label, r in [("W1 fair", w1), ("W2", w2), ("W2 asynchronous commit", w2a)]:
        c = r.get("cost")
        if c:
            print(f"- {label} cost per job: worker CPU {c['worker_cpu_us_per_job']:.0f} µs, rest of the machine "
                  f"(mostly PostgreSQL) {c['rest_cpu_us_per_job']:.0f} µs, WAL {c['wal_bytes_per_job']:,.0f} bytes in "
                  f"{c['wal_records_per_job']:.1f} records, {c['wal_syncs_per_job']:.3f} flushes")
    pgb = peers.get("pgbench", {})
    if "w2_body_tps" in pgb:
        print(f"- W2 body alone in pgbench: {pgb['w2_body_tps']:,} tps; orgjobs reaches "
              f"{100 * w2.get('jobs_per_s', 0) / pgb['w2_body_tps']:.0f} % of it")
    print(f"- W3 p95 {w3.get('p95_ms', float('nan')):.1f} ms, max {w3.get('max_ms', float('nan')):.1f} ms")
    print(f"- W4 fair: B median/max {w4.get('b_wait_median_ms', 0):.0f}/{w4.get('b_wait_max_ms', 0):.0f} ms, "
          f"A's backlog {w4.get('a_backlog_s', 0):.2f} s; FIFO: B median {w4fifo.get('b_wait_median_ms', 0):.0f} ms, "
          f"backlog {w4fifo.get('a_backlog_s', 0):.2f} s")
    print(f"- W4 skewed (1 org 80 %, 49 share 20 %): small organizations' median p50 wait "
          f"{sk.get('small_orgs_median_of_p50_ms', 0):.0f} ms fair vs {skfifo.get('small_orgs_median_of_p50_ms', 0):.0f} ms FIFO; "
          f"worst small p99 {sk.get('small_orgs_worst_p99_ms', 0):.0f} vs {skfifo.get('small_orgs_worst_p99_ms', 0):.0f} ms; "
          f"big organization p50 {sk.get('big_org_p50_ms', 0):.0f} vs {skfifo.get('big_org_p50_ms', 0):.0f} ms; "
          f"Jain's index while all are backlogged {sk.get('jain_index_while_all_backlogged', 0):.2f} vs "
          f"{skfifo.get('jain_index_while_all_backlogged', 0):.2f} (counted from before the first insert, as "
          f"this benchmark once did: {sk.get('jain_index_from_first_insert', float('nan')):.2f})")
    w6 = {r["mode"]: r for r in ours if r["workload"] == "w6"}
    if w6:
        parts = [f"{m.replace('_', ' ')} {r['jain_index_of_worker_time']:.2f} (slow organization's share "
                 f"{100 * r['slow_org_share']:.1f} %)" for m, r in w6.items()]
        fair = next(iter(w6.values()))["fair_share"]
        print("- W6 (50 organizations with 5 ms jobs, one with 200 ms jobs): Jain's index of worker time by "
              + "; ".join(parts) + f"; a fair share is {100 * fair:.2f} %")
    if w5:
        sizes = sorted(w5)
        print("- W5 fair claim p50 (batch 200): " + ", ".join(f"{n:,} waiting {w5[n]:.1f} ms" for n in sizes)
              + f"; largest/smallest = {w5[sizes[-1]] / w5[sizes[0]]:.2f}")
    print(f"- peak memory of the benchmark process (worker included): {mem.get('peak_rss_mib', float('nan')):.1f} MiB")
    runs = sorted({r.get("runs", 1) for r in ours})
    print(f"- orgjobs figures are medians of {'/'.join(map(str, runs))} runs; peers: "
          + ", ".join(f"{p} ({'measured' if p in measured else 'RESULTS.md'})" for p in sorted(peers)))

    # The targets of the performance issue, each met or not.
    print()
    print("| target | value | met |")
    print("| --- | --- | --- |")
    nan = float("nan")
    w1best, w1peer = best("w1_jobs_per_s")
    w2best, w2peer = best("w2_jobs_per_s")
    opt = max([r.get("jobs_per_s", 0) for r in ours if r["workload"].startswith("w2_") and r["workload"] != "w2_norls"] or [nan])
    w5r = (w5[max(w5)] / w5[min(w5)]) if w5 else nan
    w6t = w6.get("worker_time", {}).get("jain_index_of_worker_time", nan)
    for label, value, ok in [
        (f"W1 ≥ 2× the best peer ({w1peer})", w1.get("jobs_per_s", nan) / w1best, lambda v: v >= 2),
        (f"W2 default ≥ the best peer ({w2peer})", w2.get("jobs_per_s", nan) / w2best, lambda v: v >= 1),
        (f"W2 with an opt-in mode ≥ 2× the best peer ({w2peer})", opt / w2best, lambda v: v >= 2),
        ("W3 p50 ≤ 2 ms", w3.get("p50_ms", nan), lambda v: v <= 2),
        ("W3 p99 ≤ 5 ms", w3.get("p99_ms", nan), lambda v: v <= 5),
        ("W4 quiet organization's median wait ≤ 20 ms", w4.get("b_wait_median_ms", nan), lambda v: v <= 20),
        ("W4 skewed, Jain's index while all are backlogged ≥ 0.95", sk.get("jain_index_while_all_backlogged", nan), lambda v: v >= 0.95),
        (f"W5 claim p50 at {max(w5) if w5 else '?':,} waiting ≤ 2× at {min(w5) if w5 else '?':,}", w5r, lambda v: v <= 2),
        ("W6 Jain's index of worker time ≥ 0.9", w6t, lambda v: v >= 0.9),
        ("peak memory ≤ 32 MiB", mem.get("peak_rss_mib", nan), lambda v: v <= 32),
    ]:
        print(f"| {label} | {value:,.2f} | {'yes' if ok(value) else 'NO'} |")


if __name__ == "__main__":
    main(sys.argv[1])
