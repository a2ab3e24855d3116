#!/usr/bin/env node
/**
 * `npm run loadtest [-- --seconds 60 --factor 4]`: measures capacity, then
 * offers `factor`× that rate (open loop, loopback only) for `seconds`. Every
 * request must end in 200 or 503 within its deadline, with no 500s and no
 * crash, peak RSS under 600 MB (`--max-rss-mb`), and latency back to normal
 * within 5 s of the end.
 * Writes bench/results/loadtest.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { load, rssMb, sampleRss, stats, stopProcess } from './lib.mjs';
import { startServerUnderTest } from './server-under-test.mjs';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, factor: { type: 'string', default: '4' }, 'deadline-ms': { type: 'string', default: '10000' }, 'max-rss-mb': { type: 'string', default: '600' } } });
const MAX_RSS_MB = Number(values['max-rss-mb']);
const SECONDS = Number(values.seconds);
const FACTOR = Number(values.factor);
const DEADLINE = Number(values['deadline-ms']);

const { child, url, body } = await startServerUnderTest(['--timeout-ms', String(DEADLINE)]);
const predict = `${url}/predict`;
await load(predict, body, 2, 8);
const capacity = (await load(predict, body, 4, 60)).throughput;
const baseline = stats((await load(predict, body, 1, 20)).latencies).median;
console.log(`capacity ${capacity.toFixed(1)} images/s, baseline latency p50 ${baseline.toFixed(1)} ms; offering ${FACTOR}× = ${(capacity * FACTOR).toFixed(1)} requests/s for ${SECONDS} s`);

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
const target = new URL(predict);
const results = [];
let inFlight = 0;
function fire() {
  const t0 = performance.now();
  inFlight++;
  return new Promise((resolve) => {
    const done = (status) => {
      inFlight--;
      results.push({ status, ms: performance.now() - t0 });
      resolve();
    };
    const req = http.request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, timeout: DEADLINE + 2000, headers: { 'content-type': body.type, 'content-length': body.body.length } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('client deadline')));
    req.on('error', (err) => done(err.message === 'client deadline' ? 'timeout' : 'error'));
    req.end(body.body);
  });
}
const rss = sampleRss(child.pid);
const pending = [];
const interval = 1000 / (capacity * FACTOR);
const start = performance.now();
let sent = 0;
while (performance.now() - start < SECONDS * 1000) {
  while (sent * interval <= performance.now() - start) {
    if (inFlight < 2000) pending.push(fire());
    sent++;
  }
  await new Promise((r) => setTimeout(r, Math.max(1, interval / 2)));
}
const loadEnded = performance.now();
await Promise.all(pending);
// Recovery: how soon after the offered load stops does a lone request see normal latency again?
let recoveredAfterMs = null;
const recovery = [];
while (performance.now() - loadEnded < 15_000) {
  const r = await load(predict, body, 1, 1);
  const at = performance.now() - loadEnded;
  recovery.push({ at_ms: Math.round(at), latency_ms: Math.round(r.latencies[0] ?? -1), status: Object.keys(r.statuses)[0] });
  if (recoveredAfterMs === null && r.statuses['200'] && r.latencies[0] <= baseline * 1.5) recoveredAfterMs = at;
  if (recoveredAfterMs !== null && at > recoveredAfterMs + 1000) break;
}
const peakRss = rss.stop();
const steadyRss = rssMb(child.pid);
const alive = child.exitCode === null && (await fetch(`${url}/healthz`)).ok;
await stopProcess(child);
agent.destroy();

const count = (s) => results.filter((r) => r.status === s).length;
const ok = results.filter((r) => r.status === 200);
const busy = results.filter((r) => r.status === 503);
const other = results.filter((r) => r.status !== 200 && r.status !== 503);
const late = results.filter((r) => r.ms > DEADLINE + 1000);
const summary = {
  offered_per_s: capacity * FACTOR, capacity_per_s: capacity, seconds: SECONDS, requests: results.length,
  status_200: count(200), status_503: count(503), other: other.length, over_deadline: late.length,
  p50_200_ms: stats(ok.map((r) => r.ms)).median, p99_200_ms: stats(ok.map((r) => r.ms)).p99, p50_503_ms: stats(busy.map((r) => r.ms)).median, p99_503_ms: stats(busy.map((r) => r.ms)).p99,
  peak_rss_mb: peakRss, steady_rss_mb: steadyRss, baseline_p50_ms: baseline, recovered_after_ms: recoveredAfterMs, server_alive: alive, recovery,
};
console.log(JSON.stringify({ ...summary, recovery: undefined }, null, 1));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/loadtest.json', import.meta.url), JSON.stringify(summary, null, 2));
const pass = other.length === 0 && late.length === 0 && alive && recoveredAfterMs !== null && recoveredAfterMs <= 5000 && peakRss <= MAX_RSS_MB;
console.log(pass ? 'PASS' : 'FAIL');
process.exitCode = pass ? 0 : 1;
