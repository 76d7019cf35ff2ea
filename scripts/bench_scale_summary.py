#!/usr/bin/env python3
"""The tables of scripts/bench_scale.sh: per call, its cost at each data size and backend.

Usage: scripts/bench_scale_summary.py [target/bench/scale.jsonl]
"""

import json
import sys


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "target/bench/scale.jsonl"
    with open(path, encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    calls = [row for row in rows if row.get("call") != "mix"]
    mixes = [row for row in rows if row.get("call") == "mix"]
    for backend in dict.fromkeys(row["backend"] for row in calls):
        print(f"\n{backend}: mcpgate CPU µs per call (p50 ms), 4 clients")
        sizes = sorted({row["size"] for row in calls if row["backend"] == backend})
        header = "| call | " + " | ".join(f"{size:,} records" for size in sizes) + " |"
        print(header)
        print("|---" * (len(sizes) + 1) + "|")
        names = dict.fromkeys(row["call"] for row in calls if row["backend"] == backend)
        for name in names:
            cells = []
            for size in sizes:
                match = [
                    row
                    for row in calls
                    if row["backend"] == backend and row["size"] == size and row["call"] == name
                ]
                if not match:
                    cells.append("")
                    continue
                row = match[-1]
                cpu = row.get("server_cpu_us_per_call")
                cell = f"{cpu:,.0f}" if cpu is not None else "?"
                if "postgres_cpu_us_per_call" in row:
                    cell += f" + {row['postgres_cpu_us_per_call']:,.0f}"
                cell += f" ({row['latency_ms']['p50']:.2f})"
                if sum(row.get("errors", {}).values()):
                    cell += f" {sum(row['errors'].values())} errors"
                cells.append(cell)
            print(f"| `{name}` | " + " | ".join(cells) + " |")
    if mixes:
        print("\n50-client mix (80% reads, 20% writes)")
        print(
            "| backend | records | calls/s | reads p50 / p95 ms | errors "
            "| CPU µs/call | anon KiB idle → peak | file KiB peak | after: file KiB, PSS of files KiB, maps of the database |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for row in mixes:
            reads = row.get("reads") or {}
            latency = reads.get("latency_ms") or {}
            memory = row
            print(
                f"| {row['backend']} | {row['size']:,} | {row.get('calls_per_s', 0):,.0f} "
                f"| {latency.get('p50', 0):.1f} / {latency.get('p95', 0):.1f} "
                f"| {sum((row.get('errors') or {}).values())} "
                f"| {row.get('server_cpu_us_per_call') or 0:,.0f} "
                f"| {memory.get('rss_anon_idle_kib', '?')} → {memory.get('rss_anon_peak_kib', '?')} "
                f"| {memory.get('rss_file_peak_kib', '?')} "
                f"| {row.get('rss_file_after_kib', '?')}, {row.get('pss_file_after_kib', '?')}, "
                f"{row.get('database_maps', '?')} |"
            )


if __name__ == "__main__":
    main()
