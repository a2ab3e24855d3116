/**
 * Starts the HTTP service: builds the app, listens at once (liveness answers,
 * readiness says "loading"), loads and warms up the model, then reports
 * ready. SIGTERM/SIGINT drain: readiness turns false, accepted requests are
 * answered, connections still arriving get 503 (not a reset) until the socket
 * closes, and the process exits within the grace period (past it only by a
 * batch already in the model, which cannot be stopped).
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { ClassificationService, type ServiceOptions } from '../classify/service.js';
import { ResnetServeError, invalidArgument, refuseUnknownOptions } from '../errors.js';
import type { ResnetApp } from './app.js';
import { defaultCacheDir } from '../model/weights.js';
import { MODEL_OPTION_KEYS } from '../model/load-model.js';
import { MAX_TIMER_MS, type AccessOptions, type ServerLimits } from './options.js';

/** Where and how to serve. */
export interface ServerOptions {
  host?: string;
  port?: number;
  service?: ServiceOptions;
  limits?: Partial<ServerLimits>;
  access?: AccessOptions;
  logger?: boolean | object;
  /** Longest time a shutdown waits for requests in flight, in ms. Default 10 s. */
  gracePeriodMs?: number;
  /** Heads to answer with, from files: name → path of a head file. */
  heads?: Record<string, string>;
  /** A tagged photo library to show in the gallery: its index file. */
  libraryIndex?: string;
}

/** A running server. */
export interface RunningServer {
  app: ResnetApp;
  url: string;
  service: ClassificationService;
  /**
   * Drains and stops; resolves when every request has its answer and the
   * model is idle, with how many ms past the grace period that took (a batch
   * already in the model is waited for: it cannot be stopped).
   */
  close(): Promise<{ pastGraceMs: number }>;
  /** What the server has to say at start (a head file trained in the other precision), for its log. */
  notes: string[];
}

/**
 * The addresses other devices (a phone on the same network) can open when
 * the server listens on every interface (`0.0.0.0` or `::`): one URL per
 * external address of `interfaces` (IPv4 only for `0.0.0.0`), none otherwise.
 */
export function networkUrls(host: string, port: number, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [];
  return Object.values(interfaces)
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal && (a.family === 'IPv4' || (host === '::' && a.family === 'IPv6' && !a.address.startsWith('fe80:'))))
    .map((a) => `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${port}`);
}

/** Resolves when `done()` holds or at `deadline` (ms since the epoch), whichever comes first. */
async function waitFor(done: () => boolean, deadline: number): Promise<void> {
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** How long a shutdown keeps listening after the last request in flight, at most, for connections already queued. */
const QUEUE_DRAIN_MS = 1000;
/** No new connection for this long: the queue is taken as empty. */
const QUIET_MS = 100;

/** Starts listening, then loads the model; rejects (after closing) if either fails. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  // The model's options go under `service` ({ service: { model } }): one at the top level is a mistake to name, not to ignore.
  const misplaced = Object.keys(options ?? {}).find((key) => (MODEL_OPTION_KEYS as readonly string[]).includes(key) || key === 'workers' || key === 'batching');
  if (misplaced) throw new ResnetServeError('INVALID_ARGUMENT', `Unknown option "${misplaced}" of startServer: the model's options go under service (startServer({ service: { ${misplaced}: … } }))`);
  refuseUnknownOptions(options, ['host', 'port', 'service', 'limits', 'access', 'logger', 'gracePeriodMs', 'heads', 'libraryIndex'], 'startServer');
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535)) throw invalidArgument('port', 'an integer from 0 to 65535', options.port);
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) throw invalidArgument('host', 'a host name or address', options.host);
  const grace = options.gracePeriodMs ?? 10_000;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_TIMER_MS) throw invalidArgument('gracePeriodMs', `an integer from 0 to ${MAX_TIMER_MS} ms`, options.gracePeriodMs);
  // The model and the workers load in their own threads while this one reads the HTTP stack (about half of the start-up).
  const servicePromise = ClassificationService.start(options.service);
  servicePromise.catch(() => undefined);
  const headsPromise = servicePromise.then(async (service) => (await import('./heads.js')).HeadRegistry.open(service, options.heads));
  headsPromise.catch(() => undefined);
  let app: ResnetApp;
  try {
    // The library needs no model: opened now, so a missing index is said before anything loads.
    const library = options.libraryIndex ? (await import('./library.js')).LibraryService.open(options.libraryIndex, options.service?.cacheDir ?? defaultCacheDir()) : undefined;
    const { buildApp } = await import('./app.js');
    app = await buildApp({ service: servicePromise, heads: headsPromise, limits: options.limits, logger: options.logger, access: options.access, library });
  } catch (err) {
    void servicePromise.then((s) => s.close(), () => undefined);
    throw err;
  }
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    void servicePromise.then((s) => s.close(), () => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new ResnetServeError('IO_ERROR', `Port ${port} on ${host} is already in use (choose another with --port)`);
    if (code === 'EACCES') throw new ResnetServeError('IO_ERROR', `Not allowed to listen on ${host}:${port} (ports below 1024 need privileges)`);
    throw new ResnetServeError('IO_ERROR', `Cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  let service: ClassificationService;
  let notes: string[];
  try {
    service = await servicePromise;
    notes = (await headsPromise).notes();
  } catch (err) {
    await app.close();
    void servicePromise.then((s) => s.close(), () => undefined);
    throw err;
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
  let closing: Promise<{ pastGraceMs: number }> | null = null;
  const close = (): Promise<{ pastGraceMs: number }> => {
    closing ??= (async () => {
      const { holder } = app;
      holder.draining = true;
      const deadline = Date.now() + grace;
      // Still listening while requests in flight go on: a connection the kernel has already queued (the
      // event loop busy reading uploads) is accepted and gets 503 NOT_READY with Connection: close, where
      // closing the socket would reset it. Keeping a margin of the grace period to answer the rest, give
      // up on what is still running: those requests get 503 NOT_READY, uploads included.
      let lastConnection = Date.now();
      app.server.on('connection', () => (lastConnection = Date.now()));
      const margin = Math.min(2000, grace / 4);
      await waitFor(() => holder.active === 0, deadline - margin);
      holder.abortInFlight();
      await waitFor(() => holder.active === 0, deadline);
      // Then stop listening once no connection has come for a moment (the queue is empty), within a second.
      const quietBy = Math.min(deadline, Date.now() + QUEUE_DRAIN_MS);
      await waitFor(() => Date.now() - lastConnection >= QUIET_MS && holder.active === 0, quietBy);
      const closed = app.close();
      app.server.closeAllConnections();
      await closed;
      // Every request has its answer; freeing the model must not hold the exit past the grace period,
      // but a batch still in the model must end before the process does.
      let timer: NodeJS.Timeout | undefined;
      const closedInTime = await Promise.race([
        service.close().then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(100, deadline - Date.now())))),
      ]);
      // Not left to hold the process open for the rest of the grace period.
      clearTimeout(timer);
      const waitedForBatch = !closedInTime && (await service.stopBatches());
      return { pastGraceMs: waitedForBatch ? Math.max(0, Date.now() - deadline) : 0 };
    })();
    return closing;
  };
  return { app, url, service, close, notes };
}
