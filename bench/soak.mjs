#!/usr/bin/env node
/**
 * `npm run soak [-- --minutes 10 --load 0.7]`: steady load at `load`× the
 * measured capacity; samples the server's RSS, active handles and event-loop
 * lag (from /metrics) every 10 s. After warm-up (the first sixth of the run),
 * between the first and last thirds of the samples RSS must grow < 5%, and
 * handles and lag must not grow (beyond noise). Writes
 * bench/results/soak.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { load, rssMb, stopProcess } from './lib.mjs';
import { startServerUnderTest } from './server-under-test.mjs';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, load: { type: 'string', default: '0.7' } } });
const MINUTES = Number(values.minutes);
const { child, url, body } = await startServerUnderTest();
const predict = `${url}/predict`;
await load(predict, body, 2, 8);
const capacity = (await load(predict, body, 4, 60)).throughput;
const rate = capacity * Number(values.load);
console.log(`capacity ${capacity.toFixed(1)} images/s; soaking at ${rate.toFixed(1)} requests/s for ${MINUTES} min`);

const metric = (text, name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(text)?.[1]);
const samples = [];
const start = performance.now();
let sent = 0;
let failures = 0;
const statuses = {};
let nextSample = 0;
const inflight = new Set();
while (performance.now() - start < MINUTES * 60_000) {
  const elapsed = performance.now() - start;
  while (sent < (elapsed / 1000) * rate) {
    const p = load(predict, body, 1, 1).then((r) => {
      for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      if (!r.statuses['200']) failures++;
    });
    inflight.add(p);
    p.finally(() => inflight.delete(p));
    sent++;
  }
  if (elapsed >= nextSample) {
    const text = await (await fetch(`${url}/metrics`)).text();
    samples.push({ t_s: Math.round(elapsed / 1000), rss_mb: rssMb(child.pid), handles: metric(text, 'resnet_nodejs_active_handles_total'), lag_p90_ms: metric(text, 'resnet_nodejs_eventloop_lag_p90_seconds') * 1000 });
    console.log(JSON.stringify(samples[samples.length - 1]));
    nextSample += 10_000;
  }
  await new Promise((r) => setTimeout(r, 20));
}
await Promise.all(inflight);
await stopProcess(child);

// Compare the first and last thirds of the post-warm-up samples: handles and lag move with the requests in flight,
// so single samples are noise; a leak shows as a trend between thirds.
const warm = samples.filter((s) => s.t_s >= (MINUTES * 60) / 6);
const third = Math.max(1, Math.floor(warm.length / 3));
const first = warm.slice(0, third);
const last = warm.slice(-third);
const avg = (xs, k) => xs.reduce((a, s) => a + s[k], 0) / xs.length;
const result = {
  minutes: MINUTES, requests: sent, statuses, failures, capacity_per_s: capacity, rate_per_s: rate,
  rss_warm_mb: avg(first, 'rss_mb'), rss_end_mb: avg(last, 'rss_mb'), rss_growth_pct: (avg(last, 'rss_mb') / avg(first, 'rss_mb') - 1) * 100,
  handles_warm: avg(first, 'handles'), handles_end: avg(last, 'handles'), lag_p90_warm_ms: avg(first, 'lag_p90_ms'), lag_p90_end_ms: avg(last, 'lag_p90_ms'), samples,
};
console.log(JSON.stringify({ ...result, samples: undefined }, null, 1));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/soak.json', import.meta.url), JSON.stringify(result, null, 2));
const pass = result.rss_growth_pct < 5 && result.handles_end <= result.handles_warm + 2 && result.lag_p90_end_ms <= result.lag_p90_warm_ms * 1.5 + 5 && failures === 0;
// (handles: at most 2 more on average; lag: at most 50% + 5 ms more)
console.log(pass ? 'PASS' : 'FAIL');
process.exitCode = pass ? 0 : 1;
