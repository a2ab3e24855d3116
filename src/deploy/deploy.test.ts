/**
 * Deployment files, checked as far as a machine without a container engine
 * or cluster allows: the Dockerfile parsed by a real parser, every manifest
 * validated against the Kubernetes schemas, ports and probes cross-checked
 * against the server, and the image's entrypoint run on the host.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ConfigMap, Pod, Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { buildApp } from '../server/app.js';
import { startTestService } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { REPO_ROOT } from '../testing/shared.js';
import { scratchDir } from '../testing/scratch.js';

type Manifest = { apiVersion: string; kind: string; metadata?: { name?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> }; // eslint-disable-line @typescript-eslint/no-explicit-any

const dockerfile: Dockerfile = DockerfileParser.parse(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const instructions = (keyword: string) => dockerfile.getInstructions().filter((i) => i.getKeyword() === keyword);
const lastStage = () => {
  const froms = dockerfile.getFROMs();
  const start = froms[froms.length - 1].getRange().start.line;
  return dockerfile.getInstructions().filter((i) => i.getRange().start.line >= start);
};
function dockerEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of lastStage().filter((i) => i.getKeyword() === 'ENV')) {
    for (const p of (i as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }).getProperties()) env[p.getName()] = p.getValue() ?? '';
  }
  return env;
}
function dockerCmd(): string[] {
  const [cmd] = lastStage().filter((i) => i.getKeyword() === 'CMD');
  return JSON.parse(cmd.getArgumentsContent() ?? '[]');
}

function manifests(dir: string): Manifest[] {
  return readdirSync(join(REPO_ROOT, dir))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(REPO_ROOT, dir, f), 'utf8')).map((d) => d.toJSON() as Manifest));
}
const k8s = manifests('deploy/kubernetes').filter((m) => m.kind !== 'Kustomization');
const find = (kind: string): Manifest => {
  const m = k8s.find((x) => x.kind === kind);
  assert.ok(m, `a ${kind} manifest`);
  return m;
};

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe('Dockerfile', () => {
  test('multi-stage on a pinned Node.js 20 slim image, never latest', () => {
    const froms = dockerfile.getFROMs();
    assert.ok(froms.length >= 2);
    const stages = new Set(froms.map((f) => f.getBuildStage()).filter(Boolean));
    for (const f of froms.filter((f) => !stages.has(f.getImageName() ?? ''))) {
      assert.equal(f.getImageName(), 'node');
      assert.match(f.getImageTag() ?? '', /^20[-.].*slim/);
      assert.notEqual(f.getImageTag(), 'latest');
    }
    assert.ok(instructions('RUN').some((r) => /npm ci --omit=dev/.test(r.getArgumentsContent() ?? '')));
  });

  test('runs as a non-root user, with a health check on /v2/health/ready, port 8080 and HOST=0.0.0.0', () => {
    const users = lastStage().filter((i) => i.getKeyword() === 'USER');
    assert.ok(users.length > 0);
    // By number (the image's "node" user), so Kubernetes' runAsNonRoot can check it without a runAsUser.
    assert.match(users[users.length - 1].getArgumentsContent() ?? '', /^[1-9]\d*:[1-9]\d*$/);
    const [health] = instructions('HEALTHCHECK');
    assert.match(health.getArgumentsContent() ?? '', /\/v2\/health\/ready/);
    assert.deepEqual(instructions('EXPOSE').map((e) => e.getArgumentsContent()), ['8080']);
    const env = dockerEnv();
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.PORT, '8080');
    assert.ok(instructions('ARG').some((a) => /^BAKE_MODEL/.test(a.getArgumentsContent() ?? '')));
  });

  test('the server gets the same allocator settings from npm start, the Dockerfile, the Deployment and KServe', async () => {
    const { SERVE_ENV } = (await import(new URL('../../bench/serve-env.mjs', import.meta.url).href)) as { SERVE_ENV: Record<string, string> };
    const env = dockerEnv();
    const start = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts.start as string;
    for (const [name, value] of Object.entries(SERVE_ENV)) {
      assert.equal(env[name], value, `Dockerfile ENV ${name}`);
      assert.match(start, new RegExp(`\\b${name}=${value}\\b`), `npm start sets ${name}`);
      for (const manifest of ['deploy/kubernetes/deployment.yaml', 'deploy/kserve/inferenceservice.yaml']) {
        assert.match(readFileSync(join(REPO_ROOT, manifest), 'utf8'), new RegExp(`name: ${name}\\s+value: "${value}"`), `${manifest} sets ${name}`);
      }
    }
  });

  test('no secrets in ENV; telemetry off; the container says so to the offline instructions', () => {
    const env = dockerEnv();
    for (const name of Object.keys(env)) assert.doesNotMatch(name, /SECRET|PASSWORD|TOKEN|API_?KEY|CREDENTIAL/i, name);
    assert.equal(env.ORT_DISABLE_TELEMETRY, '1');
    assert.equal(env.RESNET_SERVE_IN_CONTAINER, '1');
  });

  test('the build needs no GitHub download: compilers in a build stage, native addon built from source, leftovers dropped', () => {
    const runs = instructions('RUN').map((r) => r.getArgumentsContent() ?? '');
    assert.ok(runs.some((r) => /apt-get install[^&]*python3[^&]*make[^&]*g\+\+[^&]*libjpeg62-turbo-dev/.test(r)), 'a stage installs python3, make, g++ and libjpeg-turbo headers');
    // The JPEG decoder: its sources are there when npm ci runs its install step, and it reaches the final image with its library.
    const copies = instructions('COPY').map((c) => c.getArgumentsContent() ?? '');
    assert.ok(copies.some((c) => /native\/binding\.gyp native\/jpeg_scaled\.c/.test(c)) && copies.some((c) => /scripts\/build-native\.mjs/.test(c)));
    // Every script npm ci runs for the project itself (install, prepare) is there before it runs.
    const lifecycle = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    for (const step of ['preinstall', 'install', 'postinstall', 'prepare']) {
      for (const file of (lifecycle[step] ?? '').match(/scripts\/[\w.-]+\.mjs/g) ?? []) assert.ok(copies.some((c) => c.includes(file)), `npm ci's ${step} step needs ${file} copied first`);
    }
    const finalCopies = lastStage().filter((i) => i.getKeyword() === 'COPY').map((c) => c.getArgumentsContent() ?? '');
    assert.ok(finalCopies.some((c) => /jpeg_scaled\.node/.test(c)) && finalCopies.some((c) => /libjpeg\.so\.62/.test(c)), 'the final image has the decoder and libjpeg');
    const envs = instructions('ENV').map((e) => e.getArgumentsContent() ?? '').join(' ');
    assert.match(envs, /npm_config_build_from_source=true/);
    assert.match(envs, /npm_config_nodedir=\/usr\/local/);
    assert.ok(runs.some((r) => /better-sqlite3[\s\S]*rm -rf deps src/.test(r)), 'better-sqlite3 sources and objects removed');
    assert.ok(runs.some((r) => /-name '\*\.test\.js'[\s\S]*rm -rf dist\/testing/.test(r)), 'tests and test helpers are not shipped');
    // The final stage installs nothing: compilers never reach it.
    assert.ok(!lastStage().some((i) => i.getKeyword() === 'RUN' && /apt-get/.test(i.getArgumentsContent() ?? '')));
  });

  test('BAKE_MODEL can use a mirror', () => {
    const args = instructions('ARG').map((a) => a.getArgumentsContent() ?? '');
    assert.ok(args.some((a) => /^RESNET_SERVE_WEIGHTS_URL/.test(a)));
    assert.ok(lastStage().some((i) => i.getKeyword() === 'RUN' && /RESNET_SERVE_WEIGHTS_URL="\$RESNET_SERVE_WEIGHTS_URL"[^&]*fetch-model/.test(i.getArgumentsContent() ?? '')));
  });
});

describe('Kubernetes and KServe manifests', () => {
  test('every manifest is valid against the Kubernetes schemas', () => {
    const classes: Record<string, new (data: never) => { validate(): void }> = { Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, ConfigMap };
    const kinds = k8s.map((m) => m.kind).sort();
    assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
    for (const m of k8s) new classes[m.kind](m as never).validate();
    const kustomization = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/kubernetes/kustomization.yaml'), 'utf8'))[0].toJSON();
    assert.deepEqual([...kustomization.resources].sort(), readdirSync(join(REPO_ROOT, 'deploy/kubernetes')).filter((f: string) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
    const [isvc] = manifests('deploy/kserve');
    assert.equal(isvc.apiVersion, 'serving.kserve.io/v1beta1');
    assert.equal(isvc.kind, 'InferenceService');
    // The predictor embeds a pod spec: validate it as one.
    new Pod({ metadata: { name: 'predictor' }, spec: { containers: isvc.spec.predictor.containers, volumes: isvc.spec.predictor.volumes } } as never).validate();
  });

  test('ports agree across Dockerfile, Deployment, Service and KServe', () => {
    const deployment = find('Deployment');
    const [container] = deployment.spec.template.spec.containers;
    const port = container.ports[0];
    assert.equal(port.containerPort, 8080);
    assert.equal(String(port.containerPort), dockerEnv().PORT);
    assert.equal(container.env.find((e: { name: string }) => e.name === 'PORT').value, String(port.containerPort));
    // Knative reserves PORT and sets it itself: the KServe predictor must not.
    const [kserve] = manifests('deploy/kserve');
    assert.equal(kserve.spec.predictor.containers[0].env.find((e: { name: string }) => e.name === 'PORT'), undefined);
    const service = find('Service');
    assert.ok([port.containerPort, port.name].includes(service.spec.ports[0].targetPort));
    assert.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.ok([port.name, port.containerPort].includes(container[probe].httpGet.port), probe);
    const [isvc] = manifests('deploy/kserve');
    const [predictor] = isvc.spec.predictor.containers;
    assert.equal(predictor.ports[0].containerPort, port.containerPort);
    assert.equal(predictor.readinessProbe.httpGet.port, port.containerPort);
    assert.equal(find('HorizontalPodAutoscaler').spec.scaleTargetRef.name, deployment.metadata?.name);
    // A Service named resnet-serve puts RESNET_SERVE_PORT=tcp://… in every pod unless service links are off.
    assert.equal(deployment.spec.template.spec.enableServiceLinks, false);
  });

  test('resources, security and a shutdown that fits the grace period', () => {
    const deployment = find('Deployment');
    const pod = deployment.spec.template.spec;
    const [isvc] = manifests('deploy/kserve');
    for (const c of [pod.containers[0], isvc.spec.predictor.containers[0]]) {
      for (const r of ['cpu', 'memory']) {
        assert.ok(c.resources.limits[r], `limits.${r}`);
        assert.ok(c.resources.requests[r], `requests.${r}`);
      }
    }
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    const predictorSecurity = isvc.spec.predictor.containers[0].securityContext;
    assert.deepEqual(
      { runAsNonRoot: predictorSecurity.runAsNonRoot, readOnlyRootFilesystem: predictorSecurity.readOnlyRootFilesystem, allowPrivilegeEscalation: predictorSecurity.allowPrivilegeEscalation, drop: predictorSecurity.capabilities.drop, seccomp: predictorSecurity.seccompProfile.type },
      { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, drop: ['ALL'], seccomp: 'RuntimeDefault' },
    );
    for (const c of [pod.containers[0], isvc.spec.predictor.containers[0]]) {
      assert.equal(c.env.find((e: { name: string }) => e.name === 'ORT_DISABLE_TELEMETRY')?.value, '1');
    }
    const preStop = Number(pod.containers[0].lifecycle.preStop.exec.command[1]);
    const drainSeconds = Number(find('ConfigMap').data?.RESNET_SERVE_GRACE_PERIOD_MS) / 1000;
    assert.ok(pod.terminationGracePeriodSeconds >= preStop + drainSeconds, 'terminationGracePeriodSeconds covers preStop + drain');
  });

  test('scaling and disruption settings that work together', () => {
    const deployment = find('Deployment');
    assert.equal(deployment.spec.replicas, undefined, 'the HPA owns the replica count');
    const spread = deployment.spec.template.spec.topologySpreadConstraints;
    assert.equal(spread?.[0].topologyKey, 'kubernetes.io/hostname');
    assert.deepEqual(spread[0].labelSelector.matchLabels, deployment.spec.template.metadata.labels);
    const pdb = find('PodDisruptionBudget');
    assert.equal(pdb.spec.minAvailable, undefined);
    assert.equal(pdb.spec.maxUnavailable, 1);
    const [container] = deployment.spec.template.spec.containers;
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.ok(container[probe].timeoutSeconds >= 1, probe);
    const [isvc] = manifests('deploy/kserve');
    // An overloaded pod answers slower (about 1 s measured); restarting it would only throw its queue away.
    for (const probes of [container, isvc.spec.predictor.containers[0]]) assert.ok(probes.livenessProbe.timeoutSeconds > probes.readinessProbe.timeoutSeconds, 'liveness has more room than readiness');
    assert.ok(['concurrency', 'rps'].includes(isvc.spec.predictor.scaleMetric), 'a metric the default KServe autoscaler supports');
    assert.equal(isvc.spec.predictor.containers[0].env.find((e: { name: string }) => e.name === 'PROTOCOL')?.value, 'v2');
    const kustomization = parseAllDocuments(readFileSync(join(REPO_ROOT, 'deploy/kubernetes/kustomization.yaml'), 'utf8'))[0].toJSON();
    assert.match(kustomization.images[0].newName, /\//, 'the image points at a registry');
  });

  test('probe paths exist on the server', async () => {
    const service = await startTestService({ workers: 1 });
    const app = await buildApp({ service, processMetrics: false });
    try {
      const deployment = find('Deployment');
      const [container] = deployment.spec.template.spec.containers;
      const [isvc] = manifests('deploy/kserve');
      const paths = [container.startupProbe, container.readinessProbe, container.livenessProbe, isvc.spec.predictor.containers[0].readinessProbe, isvc.spec.predictor.containers[0].livenessProbe].map((p) => p.httpGet.path);
      for (const path of new Set(paths)) assert.equal((await app.inject(path)).statusCode, 200, path);
    } finally {
      await app.close();
      await service.close();
    }
  });
});

describe("the image's entrypoint, run on the host", () => {
  let env: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];
  before(async () => {
    const { path } = await writeRandomCheckpoint('resnet18', 55);
    const home = await scratchDir('rs-entry-');
    env = { PATH: process.env.PATH, HOME: home, ...dockerEnv(), RESNET_SERVE_HOME: join(home, 'cache'), TORCH_HOME: join(home, 'torch'), RESNET_SERVE_MODEL: path, RESNET_SERVE_WORKERS: '1' };
  });
  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  async function start(prefix: string[] = []): Promise<{ url: string; child: ChildProcess }> {
    const port = await freePort();
    const [cmd, ...args] = [...prefix, ...dockerCmd()];
    return startWith(cmd === 'node' ? process.execPath : cmd, args.map((a) => (a === 'node' ? process.execPath : a)), port);
  }

  async function startWith(cmd: string, args: string[], port: number): Promise<{ url: string; child: ChildProcess }> {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${stderr}`);
      const res = await fetch(`${url}/v2/health/ready`).catch(() => null);
      if (res?.status === 200) return { url, child };
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`not ready: ${stderr}`);
  }

  test('becomes ready on /v2/health/ready, and the HEALTHCHECK command passes', async () => {
    const { url, child } = await start();
    assert.deepEqual(await (await fetch(`${url}/v2/health/ready`)).json(), { ready: true });
    const [health] = instructions('HEALTHCHECK');
    const command = JSON.parse(/CMD\s+(\[.*\])\s*$/s.exec(health.getArgumentsContent() ?? '')?.[1] ?? '[]') as string[];
    const code = await new Promise<number | null>((resolve) => {
      const probe = spawn(process.execPath, command.slice(1), { env: { ...env, PORT: new URL(url).port }, stdio: 'ignore' });
      probe.once('exit', resolve);
    });
    assert.equal(code, 0);
    child.kill('SIGTERM');
    assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0);
  });

  test("npm start's command, run as npm runs it (sh -c), is the server itself: SIGTERM stops it, nothing is left behind", async () => {
    const script = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).scripts.start as string;
    const port = await freePort();
    const { child, url } = await startWith('sh', ['-c', `${script} --port ${port}`], port);
    child.kill('SIGTERM');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    child.stderr?.destroy();
    // Without exec, sh would have died and left the server running on its own.
    const orphan = await fetch(`${url}/healthz`).catch(() => null);
    if (orphan) spawnSync('pkill', ['-f', `serve --port ${port}`]);
    assert.equal(orphan, null, 'the server outlived the shell npm started');
    assert.equal(code, 0);
  });

  test('under a 1-CPU limit (taskset) it sizes its threads to 1 and says so', async (t) => {
    const taskset = ['/usr/bin/taskset', '/bin/taskset'].find((p) => {
      try {
        readFileSync(p);
        return true;
      } catch {
        return false;
      }
    });
    if (!taskset) return t.skip('taskset is not installed');
    const { url } = await start([taskset, '-c', '0']);
    const meta = await (await fetch(`${url}/v2/models/resnet18`)).json();
    assert.equal(meta.parameters.onnxruntime_threads, 1);
    assert.equal(meta.parameters.preprocess_workers, 1);
    assert.match(await (await fetch(`${url}/metrics`)).text(), /resnet_threads\{pool="onnxruntime_intra_op"\} 1/);
  });
});

describe('container-check', () => {
  test('without a working container engine it says so and exits 2, checking nothing', async () => {
    const bin = await scratchDir('rs-noengine-');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('bash', [join(REPO_ROOT, 'deploy', 'check.sh')], { env: { PATH: `${bin}:/usr/bin:/bin`, HOME: bin }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    // Where docker or podman does work, this test has nothing to say: the script itself is the check.
    if (r.code !== 2) return;
    assert.match(r.stderr, /no working docker or podman here; nothing was checked/);
  });
});

describe('Prometheus Operator monitoring', () => {
  const [monitor] = manifests('deploy/monitoring').filter((m) => m.kind === 'ServiceMonitor');
  const [rule] = manifests('deploy/monitoring').filter((m) => m.kind === 'PrometheusRule');

  test('the ServiceMonitor scrapes the Service by its labels and port name', () => {
    const service = find('Service');
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) assert.equal(service.metadata?.labels?.[key], value, key);
    const [endpoint] = monitor.spec.endpoints;
    assert.ok(service.spec.ports.some((p: { name: string }) => p.name === endpoint.port), `the Service has a port named ${endpoint.port}`);
    assert.equal(endpoint.path, '/metrics');
  });

  test('every alert names metrics the server has and routes it serves', async () => {
    const app = await buildApp({ service: new Promise<never>(() => {}), processMetrics: false });
    try {
      const families = new Set([...(await app.inject('/metrics')).body.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]));
      const exprs: string[] = rule.spec.groups.flatMap((g: { rules: { expr: string }[] }) => g.rules.map((r) => r.expr));
      assert.ok(exprs.length >= 4);
      for (const expr of exprs) {
        for (const [name] of expr.matchAll(/\bresnet_\w+/g)) assert.ok(families.has(name.replace(/_(bucket|count|sum)$/, '')), `${name} in ${expr}`);
        for (const [, routes] of expr.matchAll(/route=~"([^"]+)"/g)) {
          for (const route of routes.split('|')) assert.ok(app.hasRoute({ method: 'POST', url: route }), `POST ${route} is a route`);
        }
      }
    } finally {
      await app.close();
    }
  });

  test('the alerts fire for what they are for, and not for probes (promtool test rules)', async (t) => {
    if (spawnSync('promtool', ['--version']).error) return t.skip('promtool is not installed (apt-get install prometheus)');
    // A fresh server already has the series an alert on a first 500 needs, at 0.
    const app = await buildApp({ service: new Promise<never>(() => {}), processMetrics: false });
    try {
      const metrics = (await app.inject('/metrics')).body;
      for (const route of ['/predict', '/v1/classify', '/predictions/:model', '/v2/models/:name/infer']) assert.ok(metrics.includes(`resnet_http_errors_total{route="${route}",code="INTERNAL"} 0\n`), route);
    } finally {
      await app.close();
    }
    const dir = await scratchDir('rs-rules-test-');
    // Which alerts fire is the test; their wording is not (promtool compares annotations too).
    const groups = rule.spec.groups.map((g: { rules: object[] }) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }: { annotations?: object }) => r) }));
    writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups }));
    const fires = (alertname: string, at: string, labels: Record<string, string>[]) => ({ eval_time: at, alertname, exp_alerts: labels.map((l) => ({ exp_labels: l })) });
    const cases = [
      {
        // A pod's first 500: its series was there at 0.
        input_series: [{ series: 'resnet_http_errors_total{code="INTERNAL",route="/predict"}', values: '0 0 1 1 1' }],
        alert_rule_test: [fires('ResnetServeInternalErrors', '1m', []), fires('ResnetServeInternalErrors', '4m', [{ severity: 'critical' }])],
      },
      {
        // A pod that does not answer the scrape (crash-looping); another that does.
        input_series: [
          { series: 'up{job="resnet-serve",instance="a"}', values: '0x10' },
          { series: 'up{job="resnet-serve",instance="b"}', values: '1x10' },
        ],
        alert_rule_test: [fires('ResnetServeDown', '3m', []), fires('ResnetServeDown', '6m', [{ severity: 'warning', job: 'resnet-serve', instance: 'a' }]), fires('ResnetServeAbsent', '10m', [])],
      },
      { input_series: [{ series: 'up{job="something-else"}', values: '1x15' }], alert_rule_test: [fires('ResnetServeAbsent', '12m', [{ severity: 'warning', job: 'resnet-serve' }])] },
      {
        // A camera at one frame a second, 6% of them refused as busy, and the probes and scrapes of a Deployment (0.33/s):
        // 6% of the requests that bring work, whatever the probes add.
        input_series: [
          { series: 'resnet_http_requests_total{route="/predict",method="POST",status="200"}', values: '0+56.4x30' },
          { series: 'resnet_http_requests_total{route="/predict",method="POST",status="503"}', values: '0+3.6x30' },
          { series: 'resnet_http_errors_total{route="/predict",code="QUEUE_FULL"}', values: '0+3.6x30' },
          { series: 'resnet_http_requests_total{route="/readyz",method="GET",status="200"}', values: '0+20x30' },
        ],
        alert_rule_test: [fires('ResnetServeOverloaded', '20m', [{ severity: 'warning' }])],
      },
      {
        // Slow answers on a versioned route (tritonclient with model_version), in one deployment of two.
        input_series: [
          { series: 'resnet_http_request_duration_seconds_bucket{namespace="prod",job="resnet-serve",route="/v2/models/:name/versions/:version/infer",status="200",le="1"}', values: '0+1x30' },
          { series: 'resnet_http_request_duration_seconds_bucket{namespace="prod",job="resnet-serve",route="/v2/models/:name/versions/:version/infer",status="200",le="2.5"}', values: '0+20x30' },
          { series: 'resnet_http_request_duration_seconds_bucket{namespace="prod",job="resnet-serve",route="/v2/models/:name/versions/:version/infer",status="200",le="+Inf"}', values: '0+20x30' },
          { series: 'resnet_http_request_duration_seconds_bucket{namespace="staging",job="resnet-serve",route="/v2/models/:name/versions/:version/infer",status="200",le="1"}', values: '0+20x30' },
          { series: 'resnet_http_request_duration_seconds_bucket{namespace="staging",job="resnet-serve",route="/v2/models/:name/versions/:version/infer",status="200",le="+Inf"}', values: '0+20x30' },
        ],
        alert_rule_test: [fires('ResnetServeSlowAnswers', '20m', [{ severity: 'warning', namespace: 'prod', job: 'resnet-serve', route: '/v2/models/:name/versions/:version/infer' }])],
      },
      {
        // A first 500 in staging names staging.
        input_series: [
          { series: 'resnet_http_errors_total{namespace="staging",job="resnet-serve",code="INTERNAL",route="/predictions/:model/:version"}', values: '0 0 1 1 1' },
          { series: 'resnet_http_errors_total{namespace="prod",job="resnet-serve",code="INTERNAL",route="/predict"}', values: '0 0 0 0 0' },
        ],
        alert_rule_test: [fires('ResnetServeInternalErrors', '4m', [{ severity: 'critical', namespace: 'staging', job: 'resnet-serve' }])],
      },
    ];
    writeFileSync(join(dir, 'tests.yaml'), JSON.stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: cases.map((c) => ({ interval: '1m', ...c })) }));
    const r = spawnSync('promtool', ['test', 'rules', join(dir, 'tests.yaml')], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test('promtool accepts the rules', async (t) => {
    if (spawnSync('promtool', ['--version']).error) return t.skip('promtool is not installed (apt-get install prometheus)');
    const file = join(await scratchDir('rs-rules-'), 'rules.yaml');
    writeFileSync(file, JSON.stringify({ groups: rule.spec.groups }));
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
