#!/usr/bin/env python3
"""Report of scripts/bench-edge.sh: reads target/bench-edge/ (meta.json, targets.txt, runs/)
and prints the Markdown table. Run by the script; re-run by hand on the same directory with

    python3 bench/edge-report.py target/bench-edge
"""
import json, os, platform, statistics, sys

work = sys.argv[1]
env = json.load(open(f"{work}/meta.json"))
passes = int(env["REPORT_PASSES"])
targets = [line.split() for line in open(f"{work}/targets.txt") if line.strip()]

def load(worker, path, p):
    run = json.load(open(f"{work}/runs/{worker}-{path}-{p}.json"))
    w0, o0, w1, o1, u0, uo0, u1, uo1, tck = map(float, open(f"{work}/runs/{worker}-{path}-{p}.cpu").read().split())
    n = run["requests"] or 1
    run["workerd_cpu_us"] = (w1 - w0) / tck / n * 1e6
    run["wrangler_cpu_us"] = (o1 - o0) / tck / n * 1e6
    run["upstream_cpu_us"] = ((u1 + uo1) - (u0 + uo0)) / tck / n * 1e6
    run["wall_us"] = 1e6 / run["rps_total"] if run["rps_total"] else float("nan")
    return run

# Per pass, then the median across passes of every figure, overheads included: an overhead
# is taken against the floor of the same pass (measured minutes apart at most), which
# cancels part of the drift in the machine's load.
runs = {(w, p): [load(w, p, n) for n in range(1, passes + 1)] for w, p, *_ in targets}
med = statistics.median
rows = {}
for worker, path, url, expect, user, kind in targets:
    rs = runs[(worker, path)]
    floor = runs[(worker, "floor")]
    rows[(worker, path)] = {
        "expect": expect,
        "unexpected_total": sum(r["unexpected"] + r["errors"] + r["timeouts"] for r in rs),
        "rps_total": med(r["rps_total"] for r in rs),
        "p50": med(r["latency_ms"]["p50"] for r in rs),
        "p99": med(r["latency_ms"]["p99"] for r in rs),
        "workerd_cpu_us": med(r["workerd_cpu_us"] for r in rs),
        "wrangler_cpu_us": med(r["wrangler_cpu_us"] for r in rs),
        "wall_us": med(r["wall_us"] for r in rs),
        "over_wall_us": med(r["wall_us"] - f["wall_us"] for r, f in zip(rs, floor)),
        "over_workerd_cpu_us": med(r["workerd_cpu_us"] - f["workerd_cpu_us"] for r, f in zip(rs, floor)),
    }

names = {"rust": "Rust edge", "jose": "jose worker"}
labels = {
    "floor": "pass-through, public path (floor)",
    "jwt": "JWT (the same token every request)",
    "jwt-kv": "JWT + KV revocation-marker read (same token)",
    "jwt-pool": f"JWT ({int(env['REPORT_POOL']):,} tokens cycled)",
    "cookie": "cached session (cookie)",
    "refused": "refused, no credentials",
}

out = []
out.append("```sh\n" + env["REPORT_COMMAND"] + "\n```\n")
out.append(f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {env['REPORT_CPU']}; "
           f"load average at start {env['REPORT_LOADAVG_START']}, at end {' '.join(open('/proc/loadavg').read().split()[:3])}")
out.append(f"wrangler {env['REPORT_WRANGLER']} (wrangler dev, local), {env['REPORT_WORKERD']}, node {env['REPORT_NODE']}, jose {env['REPORT_JOSE']}")
out.append(f"autocannon 9.0.0, {env['REPORT_CONNECTIONS']} connections, {env['REPORT_SECONDS']} s per path, "
           f"{passes} pass(es) (medians across passes; overheads against the same pass's floor), paths interleaved Rust/jose")
size = env["REPORT_EDGE_SIZE"].split()
if len(size) == 2:
    raw, gz = map(int, size)
    out.append(f"edge bundle: edge/build/index_bg.wasm {raw:,} bytes raw, {gz:,} bytes gzipped "
               f"({gz/1024:.0f} KiB; goal < 1 MB gz: {'met' if gz < 1_000_000 else 'NOT met'})")
out.append("")
out.append("| worker | path | status | req/s | p50 ms | p99 ms | workerd CPU µs/req | wrangler CPU µs/req | wall µs/req | over floor: wall µs/req | over floor: workerd CPU µs/req |")
out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for worker, path, *_ in targets:
    r = rows[(worker, path)]
    over_wall = r["over_wall_us"]
    over_cpu = r["over_workerd_cpu_us"]
    status = r["expect"] + ("" if r["unexpected_total"] == 0 else f" ({r['unexpected_total']} other!)")
    out.append(f"| {names[worker]} | {labels[path]} | {status} | {r['rps_total']:,.0f} | {r['p50']:.2f} | "
               f"{r['p99']:.2f} | {r['workerd_cpu_us']:.0f} | {r['wrangler_cpu_us']:.0f} | {r['wall_us']:.0f} | "
               f"{'-' if path == 'floor' else f'{over_wall:+.0f}'} | {'-' if path == 'floor' else f'{over_cpu:+.0f}'} |")
out.append("")

def overhead(worker, path, key):
    return rows[(worker, path)]["over_" + key]

# Rust edge path -> its jose peers: (peer path, what the comparison means).
comparisons = [
    ("jwt", "jwt", "as asked: the edge (memo hit + KV marker read) vs jose (verify)"),
    ("jwt", "jwt-kv", "equal work: the edge (memo hit + KV marker read) vs jose (verify + KV marker read)"),
    ("jwt-pool", "jwt-pool", "memo defeated: the edge (verify + KV marker read) vs jose (verify)"),
    ("jwt-pool", "jwt-kv", "memo defeated, equal work: the edge (verify + KV marker read) vs jose (verify + KV marker read)"),
]
if ("rust", "floor") in rows:
    out.append("Rust edge JWT overhead over its floor / jose worker's over its floor (goal <= 1x):")
    out.append("")
    out.append("| Rust path | jose path | meaning | wall µs/req: Rust vs jose | ratio | workerd CPU µs/req: Rust vs jose | ratio |")
    out.append("|---|---|---|---:|---:|---:|---:|")
    for ours_path, peer_path, meaning in comparisons:
        cells = []
        for key in ("wall_us", "workerd_cpu_us"):
            ours, theirs = overhead("rust", ours_path, key), overhead("jose", peer_path, key)
            if theirs <= 0:
                ratio = "n/a (peer at or below its floor)"
            elif ours <= 0:
                ratio = "<= 0 (at or below its floor)"
            else:
                ratio = f"{ours / theirs:.2f}x"
            cells += [f"{ours:+.0f} vs {theirs:+.0f}", ratio]
        out.append(f"| {labels[ours_path]} | {labels[peer_path]} | {meaning} | " + " | ".join(cells) + " |")
    out.append("")
    rf, jf = rows[("rust", "floor")], rows[("jose", "floor")]
    out.append(f"- floors: Rust edge {rf['rps_total']:,.0f} req/s, jose worker {jf['rps_total']:,.0f} req/s "
               f"(workerd CPU {rf['workerd_cpu_us']:.0f} vs {jf['workerd_cpu_us']:.0f} µs/req)")
out.append("- wall µs/req = 1/(req/s) at saturation (every process on the machine, load generator included); "
           "workerd CPU = user+system time of the worker's own workerd processes / requests; "
           "wrangler CPU = wrangler dev's node process (its dev proxy and request logging)")
print("\n".join(out))
