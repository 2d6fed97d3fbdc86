// One load run for scripts/bench-edge.sh: autocannon (package.json) through its API, with
// latencies kept at full resolution (autocannon's own histogram rounds to whole ms).
//
//   node bench/edge-load.mjs --url URL --out FILE [--connections 16] [--duration 10]
//        [--header "name: value"]... [--tokens FILE] [--expect STATUS]
//
// --tokens FILE: each request carries `Authorization: Bearer <next line of FILE>`, cycling.
// Every run builds its requests the same way (a setupRequest per request), so runs differ
// only in what they send. Writes a JSON summary to --out: req/s, latency percentiles (ms),
// status counts, errors, and whether every answer had the --expect status.

import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

import autocannon from "autocannon";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    out: { type: "string" },
    connections: { type: "string", default: "16" },
    duration: { type: "string", default: "10" },
    header: { type: "string", multiple: true, default: [] },
    tokens: { type: "string" },
    expect: { type: "string" },
  },
});
if (!args.url || !args.out) {
  console.error("usage: node bench/edge-load.mjs --url URL --out FILE [options]");
  process.exit(2);
}

const headers = {};
for (const h of args.header) {
  const i = h.indexOf(":");
  if (i < 1) throw new Error(`bad --header ${h}`);
  headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
}
const tokens = args.tokens
  ? readFileSync(args.tokens, "utf8").split("\n").filter((t) => t !== "")
  : null;
let next = 0;

const latencies = [];
const instance = autocannon({
  url: args.url,
  connections: Number(args.connections),
  duration: Number(args.duration),
  headers,
  requests: [
    {
      setupRequest(req) {
        if (!tokens) return req;
        const token = tokens[next];
        next = (next + 1) % tokens.length;
        return { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } };
      },
    },
  ],
});
instance.on("response", (_client, _status, _bytes, responseTime) => latencies.push(responseTime));

const result = await instance;
latencies.sort((a, b) => a - b);
const pct = (p) =>
  latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : null;
const statuses = Object.fromEntries(
  Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]),
);
const total = Object.values(statuses).reduce((a, b) => a + b, 0);
const expected = args.expect ? (statuses[args.expect] ?? 0) : total;
const summary = {
  url: args.url,
  connections: Number(args.connections),
  duration_s: result.duration,
  requests: total,
  rps: result.requests.average,
  rps_total: total / result.duration,
  latency_ms: {
    mean: latencies.reduce((a, b) => a + b, 0) / (latencies.length || 1),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: latencies.at(-1) ?? null,
  },
  autocannon_latency_ms: { p50: result.latency.p50, p99: result.latency.p99 },
  statuses,
  expect: args.expect ?? null,
  unexpected: total - expected,
  errors: result.errors,
  timeouts: result.timeouts,
  tokens_cycled: tokens ? tokens.length : 0,
};
writeFileSync(args.out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(
  `${args.url}: ${summary.rps_total.toFixed(0)} req/s, p50 ${summary.latency_ms.p50?.toFixed(2)} ms, p99 ${summary.latency_ms.p99?.toFixed(2)} ms, statuses ${JSON.stringify(statuses)}, errors ${summary.errors}`,
);
