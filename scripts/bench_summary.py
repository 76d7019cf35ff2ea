#!/usr/bin/env python3
"""Summarise target/bench/results.jsonl (from scripts/bench.sh) as the Markdown tables of
BENCHMARKS.md: medians over repeats, and mcpgate's calls/s as a ratio of the rmcp floor's."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
load = defaultdict(list)
cold = {}
for r in rows:
    if "calls_per_s" in r:
        load[(r["era"], r["concurrency"], r["label"])].append(r)
    else:
        cold[(r["label"], r.get("probe", "?"))] = r

def med(items, key):
    return statistics.median(key(i) for i in items)

print("| era | conc. | server | calls/s (median) | ratio | server CPU µs/call | p50 ms | p95 ms | p99 ms | errors | RSS idle → peak KiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for era in ("modern", "legacy"):
    for c in (1, 16, 64):
        floor = load.get((era, c, "floor"), [])
        for label in ("floor", "mcpgate"):
            runs = load.get((era, c, label), [])
            if not runs:
                continue
            cps = med(runs, lambda r: r["calls_per_s"])
            errors = sum(sum(r["errors"].values()) for r in runs)
            rss = f'{min(r.get("rss_idle_kib", 0) for r in runs)} → {max(r.get("rss_peak_kib", 0) for r in runs)}'
            ratio = ""
            if label == "mcpgate" and floor:
                ratio = f'{cps / med(floor, lambda r: r["calls_per_s"]):.2f}×'
            cpu = med(runs, lambda r: r.get("server_cpu_us_per_call") or 0)
            print(f'| {era} | {c} | {label} | {cps:,.0f} | {ratio} | {cpu:.1f} | '
                  f'{med(runs, lambda r: r["latency_ms"]["p50"]):.3f} | '
                  f'{med(runs, lambda r: r["latency_ms"]["p95"]):.3f} | {med(runs, lambda r: r["latency_ms"]["p99"]):.3f} | '
                  f'{errors} | {rss} |')
print()
print("| server | probe | cold start median ms | min | max | RSS when ready KiB |")
print("|---|---|---|---|---|---|")
for (label, probe), r in sorted(cold.items()):
    print(f'| {label} | {probe} | {r.get("median_ms")} | {r.get("min_ms")} | {r.get("max_ms")} | {r.get("rss_ready_kib")} |')
