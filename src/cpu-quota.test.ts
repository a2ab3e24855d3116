import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { availableCpus, cgroupCpuLimit, parseCpuMax } from './cpu-quota.js';
import { scratchDir } from './testing/scratch.js';

function tree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

test('cgroup v2 cpu.max', () => {
  assert.equal(parseCpuMax('max 100000'), null);
  assert.equal(parseCpuMax('150000 100000'), 1.5);
  assert.equal(parseCpuMax(null), null);
});

test('cgroup v2: the tightest quota on the path wins, rounded up against affinity', async () => {
  const root = await scratchDir('rs-cg2-');
  tree(root, { 'cpu.max': 'max 100000', 'kubepods/cpu.max': '400000 100000', 'kubepods/pod1/cpu.max': '150000 100000' });
  const sources = { root, procSelfCgroup: '0::/kubepods/pod1\n', affinity: 8 };
  assert.equal(cgroupCpuLimit(sources), 1.5);
  assert.equal(availableCpus(sources), 2);
  assert.equal(availableCpus({ ...sources, affinity: 1 }), 1);
  assert.equal(availableCpus({ root, procSelfCgroup: '0::/other\n', affinity: 8 }), 8);
});

test('cgroup v1: cfs quota and period; -1 is no limit', async () => {
  const root = await scratchDir('rs-cg1-');
  tree(root, { 'cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '50000', 'cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000' });
  assert.equal(availableCpus({ root, procSelfCgroup: '4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n', affinity: 16 }), 1);
  tree(root, { 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' });
  assert.equal(cgroupCpuLimit({ root, procSelfCgroup: '1:cpu:/\n' }), null);
});

test('taskset is honoured (affinity of the real process)', () => {
  let out: string;
  try {
    out = execFileSync('taskset', ['-c', '0', process.execPath, '--input-type=module', '-e', `import { availableCpus } from ${JSON.stringify(new URL('./cpu-quota.js', import.meta.url).href)}; console.log(availableCpus())`], { encoding: 'utf8' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no taskset on this machine
    throw err;
  }
  assert.equal(out.trim(), '1');
});
