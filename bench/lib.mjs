/** Helpers for bench/run.mjs: temporary work folders, statistics, an HTTP load client, processes, RSS, and SVG charts. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const workDirs = [];
const removeWorkDirs = () => {
  for (const dir of workDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};
process.once('exit', removeWorkDirs);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    removeWorkDirs();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/** A new folder under the system's temporary folder for a script's models and photos, removed when the script ends (Ctrl-C too). */
export function workDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  workDirs.push(dir);
  return dir;
}

export function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p90: q(0.9), p99: q(0.99), runs: s.length };
}

export function multipart(bytes, name = 'photo.jpg') {
  const boundary = '----resnet-serve-bench';
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: image/jpeg\r\n\r\n`);
  return { body: Buffer.concat([head, bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]), type: `multipart/form-data; boundary=${boundary}` };
}

/** Sends `count` POSTs of `payload` with `concurrency` in flight; returns latencies (ms), wall time and statuses. */
export async function load(url, payload, concurrency, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const latencies = [];
  const statuses = {};
  let next = 0;
  const one = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname + target.search, method: 'POST', agent, headers: { 'content-type': payload.type, 'content-length': payload.body.length } },
        (res) => {
          res.resume();
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('error', () => {
        statuses.error = (statuses.error ?? 0) + 1;
        resolve();
      });
      req.end(payload.body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
  const wallMs = performance.now() - started;
  agent.destroy();
  return { latencies, wallMs, statuses, throughput: (latencies.length * 1000) / wallMs };
}

export function rssMb(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return kb / 1024;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every 50 ms until stopped; returns {stop() → peak MB}. */
export function sampleRss(pid) {
  let peak = 0;
  const timer = setInterval(() => {
    const v = rssMb(pid);
    if (v > peak) peak = v;
  }, 50);
  return { stop: () => (clearInterval(timer), peak) };
}

/** Spawns a command and waits until `ready()` resolves true; returns the child and the time it took. */
export async function startProcess(cmd, args, env, ready, timeoutMs = 120_000) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  while (performance.now() - t0 < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited ${child.exitCode}: ${stderr}`);
    if (await ready().catch(() => false)) return { child, ms: performance.now() - t0 };
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`${cmd} not ready after ${timeoutMs} ms: ${stderr}`);
}

export async function stopProcess(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A line chart: series of {name, points: [[x, y]]}, x on a log2 axis. */
export function lineChartSvg(title, xLabel, yLabel, series) {
  const W = 640, H = 360, L = 60, R = 150, T = 40, B = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = Math.log2(Math.min(...xs)), x1 = Math.log2(Math.max(...xs));
  const y1 = Math.max(...ys) * 1.1;
  const px = (x) => L + ((Math.log2(x) - x0) / Math.max(1e-9, x1 - x0)) * (W - L - R);
  const py = (y) => H - B - (y / y1) * (H - T - B);
  const colours = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#868e96'];
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/>`;
  out += `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`;
  out += `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`;
  for (const x of [...new Set(xs)]) out += `<text x="${px(x)}" y="${H - B + 16}" text-anchor="middle">${x}</text>`;
  for (let i = 0; i <= 4; i++) out += `<text x="${L - 6}" y="${py((y1 * i) / 4) + 4}" text-anchor="end">${((y1 * i) / 4).toFixed(0)}</text>`;
  out += `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(xLabel)}</text><text x="16" y="${(T + H - B) / 2}" transform="rotate(-90 16 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  series.forEach((s, i) => {
    const c = colours[i % colours.length];
    out += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${s.points.map((p) => `${px(p[0])},${py(p[1])}`).join(' ')}"/>`;
    for (const p of s.points) out += `<circle cx="${px(p[0])}" cy="${py(p[1])}" r="3" fill="${c}"/>`;
    out += `<rect x="${W - R + 12}" y="${T + i * 20}" width="12" height="12" fill="${c}"/><text x="${W - R + 30}" y="${T + i * 20 + 10}">${esc(s.name)}</text>`;
  });
  return out + '</svg>\n';
}

/** Stacked horizontal bars: rows of {name, parts: {stage: ms}}. */
export function stackedBarsSvg(title, rows, stages) {
  const W = 720, rowH = 26, L = 210, R = 30, T = 46;
  const H = T + rows.length * rowH + 50;
  const max = Math.max(...rows.map((r) => stages.reduce((a, s) => a + (r.parts[s] ?? 0), 0))) * 1.05;
  const colours = { decode: '#2f6fde', preprocess: '#74c0fc', normalise: '#a5d8ff', queue: '#ffd43b', infer: '#d9480f', postprocess: '#868e96', http: '#adb5bd' };
  let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fff"/>`;
  out += `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`;
  rows.forEach((r, i) => {
    const y = T + i * rowH;
    out += `<text x="${L - 8}" y="${y + 15}" text-anchor="end">${esc(r.name)}</text>`;
    let x = L;
    for (const s of stages) {
      const w = ((r.parts[s] ?? 0) / max) * (W - L - R);
      if (w > 0) out += `<rect x="${x}" y="${y + 3}" width="${w}" height="${rowH - 8}" fill="${colours[s] ?? '#ccc'}"><title>${s} ${(r.parts[s] ?? 0).toFixed(1)} ms</title></rect>`;
      x += w;
    }
    out += `<text x="${x + 4}" y="${y + 15}">${stages.reduce((a, s) => a + (r.parts[s] ?? 0), 0).toFixed(1)} ms</text>`;
  });
  stages.forEach((s, i) => (out += `<rect x="${L + i * 90}" y="${H - 30}" width="12" height="12" fill="${colours[s] ?? '#ccc'}"/><text x="${L + i * 90 + 16}" y="${H - 20}">${s}</text>`));
  return out + '</svg>\n';
}
