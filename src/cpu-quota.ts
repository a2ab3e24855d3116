/**
 * How many CPUs this process may really use: the smaller of its CPU affinity
 * (`taskset`, cpusets) and its cgroup CPU quota (v2 `cpu.max`, v1
 * `cpu.cfs_quota_us / cpu.cfs_period_us`), rounded up, at least 1. Container
 * runtimes and Kubernetes express CPU limits as cgroup quotas, which
 * `os.cpus()` does not see; sizing thread pools from the host's core count is
 * the classic cause of oversubscribed, slow model servers.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** Where to read from; tests point these at a fake tree. */
export interface CgroupSources {
  /** Contents of /proc/self/cgroup. */
  procSelfCgroup?: string;
  /** Mount point of the cgroup filesystem. Default /sys/fs/cgroup. */
  root?: string;
  /** CPUs allowed by affinity. Default os.availableParallelism(). */
  affinity?: number;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The folder `path` and each of its parents up to the root, deepest first. */
function ancestors(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = parts.length; i >= 0; i--) out.push('/' + parts.slice(0, i).join('/'));
  return out;
}

/** Parses a cgroup v2 `cpu.max` ("max 100000" or "150000 100000") into CPUs, or null for no limit. */
export function parseCpuMax(text: string | null): number | null {
  if (!text) return null;
  const [quota, period] = text.split(/\s+/);
  if (quota === 'max' || !period) return null;
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : null;
}

/** The tightest cgroup CPU limit on this process, in CPUs, or null when there is none. */
export function cgroupCpuLimit(sources: CgroupSources = {}): number | null {
  const root = sources.root ?? '/sys/fs/cgroup';
  const cgroups = sources.procSelfCgroup ?? read('/proc/self/cgroup') ?? '';
  let limit: number | null = null;
  const tighten = (cpus: number | null): void => {
    if (cpus !== null && (limit === null || cpus < limit)) limit = cpus;
  };
  for (const line of cgroups.split('\n')) {
    const [id, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (id === '0' && controllers === '') {
      // cgroup v2: the unified hierarchy; a container sees its own cgroup at the root.
      for (const dir of new Set([...ancestors(path), '/'])) tighten(parseCpuMax(read(join(root, dir, 'cpu.max'))));
    } else if (controllers.split(',').includes('cpu')) {
      for (const mount of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
        for (const dir of new Set([...ancestors(path), '/'])) {
          const quota = Number(read(join(root, mount, dir, 'cpu.cfs_quota_us')));
          const period = Number(read(join(root, mount, dir, 'cpu.cfs_period_us')));
          if (quota > 0 && period > 0) tighten(quota / period);
        }
      }
    }
  }
  return limit;
}

/** CPUs available to this process: min(affinity, cgroup quota), rounded up, at least 1. */
export function availableCpus(sources: CgroupSources = {}): number {
  const affinity = sources.affinity ?? availableParallelism();
  const quota = cgroupCpuLimit(sources);
  return Math.max(1, Math.min(affinity, quota === null ? affinity : Math.ceil(quota)));
}
