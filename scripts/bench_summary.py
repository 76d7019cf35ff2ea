#!/usr/bin/env python3
"""Summarise the JSON lines of scripts/bench.sh (target/bench/results.jsonl), of
scripts/bench.sh workspace (target/bench/workspace.jsonl) or of scripts/bench_hop.sh
(target/bench/hop.jsonl) as the Markdown tables of BENCHMARKS.md: medians over repeats; for load runs, mcpgate's calls/s as a ratio of the rmcp
floor's; for workspace runs, one line per backend (the run's label) and one per tool."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
load = defaultdict(list)
cold = {}
work = defaultdict(list)
for r in rows:
    if r.get("scenario") == "workspace":
        work[r.get("label") or "?"].append(r)
    elif "calls_per_s" in r:
        load[(r["era"], r["concurrency"], r["label"])].append(r)
    else:
        cold[(r["label"], r.get("probe", "?"))] = r

def med(items, key):
    return statistics.median(key(i) for i in items)

hop = any(label == "gateway" for (_, _, label) in load)
if hop:
    # scripts/bench_hop.sh: the floor direct, through the gateway federating it, through
    # mcpgate in proxy mode, and the gateway's own `health` (what its edge costs without the
    # hop). CPU per call is each server's own: the floor's for direct, mcpgate's otherwise.
    print("| conc. | path | calls/s (median) | ratio | p50 ms | added p50 ms | p99 ms | server CPU µs/call | CPU vs floor | anon KiB idle → peak | file-mapped KiB peak | errors |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in (1, 16, 64):
        direct = load.get(("modern", c, "direct"), [])
        for label in ("direct", "gateway-before", "gateway", "proxy", "native"):
            runs = load.get(("modern", c, label), [])
            if not runs:
                continue
            cps = med(runs, lambda r: r["calls_per_s"])
            p50 = med(runs, lambda r: r["latency_ms"]["p50"])
            errors = sum(sum(r["errors"].values()) for r in runs)
            cpu = med(runs, lambda r: r.get("server_cpu_us_per_call") or 0)
            ratio = added = vs = anon = file = ""
            if label != "direct" and direct:
                ratio = f'{cps / med(direct, lambda r: r["calls_per_s"]):.2f}×'
                added = f'{p50 - med(direct, lambda r: r["latency_ms"]["p50"]):+.3f}'
                floor_cpu = med(direct, lambda r: r.get("server_cpu_us_per_call") or 0)
                vs = f'{cpu / floor_cpu:.2f}×' if floor_cpu else ""
                anon = f'{min(r.get("rss_anon_idle_kib", 0) for r in runs)} → {max(r.get("rss_anon_peak_kib", 0) for r in runs)}'
                file = f'{max(r.get("rss_file_peak_kib", 0) for r in runs)}'
            print(f'| {c} | {label} | {cps:,.0f} | {ratio} | {p50:.3f} | {added} | '
                  f'{med(runs, lambda r: r["latency_ms"]["p99"]):.3f} | {cpu:.1f} | {vs} | {anon} | {file} | {errors} |')
    print()
    load = {}

if load:
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

if cold:
    print("| server | probe | cold start median ms | min | max | RSS when ready KiB |")
    print("|---|---|---|---|---|---|")
    for (label, probe), r in sorted(cold.items()):
        print(f'| {label} | {probe} | {r.get("median_ms")} | {r.get("min_ms")} | {r.get("max_ms")} | {r.get("rss_ready_kib")} |')
    print()

def pcts(runs, part):
    return " | ".join(f'{med(runs, lambda r: r[part]["latency_ms"][q]):.2f}' for q in ("p50", "p95", "p99"))

if work:
    # Errors are summed over the runs; everything else is the median of the runs.
    print("| backend | runs | clients | calls/s | reads p50 / p95 / p99 ms | writes p50 / p95 / p99 ms | errors (all runs) | conflicts per run | server CPU µs/call |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, runs in work.items():
        errors = sum(sum(r["errors"].values()) for r in runs)
        cpu = med(runs, lambda r: r.get("server_cpu_us_per_call") or 0)
        print(f'| {label} | {len(runs)} | {runs[0]["concurrency"]} | {med(runs, lambda r: r["calls_per_s"]):,.0f} | '
              f'{pcts(runs, "reads").replace(" | ", " / ")} | {pcts(runs, "writes").replace(" | ", " / ")} | '
              f'{errors} | {med(runs, lambda r: r["conflicts"]):,.0f} | {cpu:.0f} |')
    print()
    print("| backend | tool | class | calls/s | p50 ms | p95 ms | p99 ms | errors (all runs) | conflicts per run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, runs in work.items():
        tools = sorted(runs[0]["tools"], key=lambda t: (runs[0]["tools"][t].get("class", ""), -runs[0]["tools"][t]["calls"]))
        for tool in tools:
            per = [r["tools"][tool] for r in runs if tool in r["tools"]]
            errors = sum(sum(t["errors"].values()) for t in per)
            print(f'| {label} | {tool} | {per[0].get("class", "")} | {med(per, lambda t: t["calls_per_s"]):,.1f} | '
                  + " | ".join(f'{med(per, lambda t: t["latency_ms"][q]):.2f}' for q in ("p50", "p95", "p99"))
                  + f' | {errors} | {med(per, lambda t: t["conflicts"]):,.0f} |')
    failing = {(label, kind) for label, runs in work.items() for r in runs for kind in r["errors"]}
    if failing:
        print()
        print("Errors by kind: " + ", ".join(
            f'{label} {kind} = {sum(r["errors"].get(kind, 0) for r in work[label])}' for label, kind in sorted(failing)))
