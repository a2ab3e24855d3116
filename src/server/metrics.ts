/**
 * Prometheus metrics (prom-client) on a registry of the app's own, so several
 * apps in one process (tests) do not collide: requests by route and status,
 * refusals by route and error code, images that failed by code, request latency, per-stage latency, batch sizes, in-flight requests, images
 * in progress against their limit, images in the model now, and the model in use.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServiceObserver } from '../classify/service.js';
import type { ModelInfo } from '../types.js';
import { ErrorCodes } from '../errors.js';

// Up to a minute: the request deadline is 30 s by default.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Most (head, class) series of `resnet_head_answers_total`. */
const MAX_ANSWER_SERIES = 1000;

export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'resnet_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'resnet_http_errors_total', help: 'Requests answered with an error, by route and the error\'s code (the "code" of the answer)', labelNames: ['route', 'code'], registers: [this.registry] });
  readonly imageFailures = new Counter({ name: 'resnet_image_failures_total', help: 'Images that could not be classified or embedded, by error code, also those inside a 200 answer for several files', labelNames: ['code'], registers: [this.registry] });
  readonly requestSeconds = new Histogram({ name: 'resnet_http_request_duration_seconds', help: 'HTTP request latency by route and status (answered requests)', labelNames: ['route', 'status'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly stageSeconds = new Histogram({ name: 'resnet_stage_duration_seconds', help: 'Per-image latency by stage: decode, preprocess, queue, infer (per batch)', labelNames: ['stage'], buckets: LATENCY_BUCKETS, registers: [this.registry] });
  readonly batchSize = new Histogram({ name: 'resnet_batch_size', help: 'Images per inference batch', buckets: [1, 2, 4, 8, 16, 32, 64], registers: [this.registry] });
  readonly inFlight = new Gauge({ name: 'resnet_http_requests_in_flight', help: 'HTTP requests being served', registers: [this.registry] });
  readonly modelInfo = new Gauge({ name: 'resnet_model_info', help: 'The loaded model (value 1)', labelNames: ['name', 'source', 'sha256', 'precision', 'calibration', 'onnxruntime'], registers: [this.registry] });
  readonly threads = new Gauge({ name: 'resnet_threads', help: 'Threads by pool: onnxruntime intra-op, preprocessing workers', labelNames: ['pool'], registers: [this.registry] });
  readonly buildInfo = new Gauge({ name: 'resnet_build_info', help: 'The resnet-serve version running (value 1)', labelNames: ['version'], registers: [this.registry] });
  readonly ready = new Gauge({ name: 'resnet_ready', help: '1 when the model is loaded and the server accepts work', registers: [this.registry] });
  private images: { inProgress: () => number; inModel: () => number; limit: number } | null = null;
  // Read at each scrape: how close the server is to answering 503 QUEUE_FULL.
  readonly imagesInProgress: Gauge = new Gauge({
    name: 'resnet_images_in_progress',
    help: 'Images admitted and not yet answered (decoding or waiting for inference); at resnet_images_limit new ones get 503 QUEUE_FULL',
    registers: [this.registry],
    collect: (): void => this.imagesInProgress.set(this.images?.inProgress() ?? 0),
  });
  readonly imagesInModel: Gauge = new Gauge({
    name: 'resnet_images_in_model',
    help: 'Images in the batch the model is running now (0: the model is idle)',
    registers: [this.registry],
    collect: (): void => this.imagesInModel.set(this.images?.inModel() ?? 0),
  });
  readonly imagesLimit = new Gauge({ name: 'resnet_images_limit', help: 'Most images in progress at once (--max-queue)', registers: [this.registry] });

  constructor(defaultMetrics = true, version?: string) {
    if (version) this.buildInfo.set({ version }, 1);
    // Each image failure's series exists from the start at 0, so that increase() and rate() count its first one.
    for (const code of Object.keys(ErrorCodes).filter((c) => c.startsWith('IMAGE_'))) this.imageFailures.inc({ code }, 0);
    // Node's and the process's own metrics under their usual names (process_cpu_seconds_total, nodejs_heap_size_used_bytes…), as dashboards expect them.
    if (!defaultMetrics) return;
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which `promtool check metrics` flags; nodejs_active_handles and the others say the same.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
  }

  /** A dashboard's "defect rate" and "unknown rate": answers with a head, by head and class. */
  readonly headAnswers = new Counter({ name: 'resnet_head_answers_total', help: `Photos answered with a head, by head and answer (its first class, or "unknown": none of them); at most ${MAX_ANSWER_SERIES} series, then class "(other)"`, labelNames: ['head', 'class'], registers: [this.registry] });
  private readonly answerSeries = new Set<string>();

  /** The observer a ClassificationService reports its stages to. */
  readonly observer: ServiceObserver = {
    stage: (stage, ms) => this.stageSeconds.observe({ stage }, ms / 1000),
    batch: (size) => this.batchSize.observe(size),
    imageFailed: (code) => this.imageFailures.inc({ code }),
    headAnswered: (head, answer) => {
      // Heads and classes come from users (up to 100 heads of 1000 classes): the series are bounded, the rest pooled.
      const key = `${head}\u0000${answer}`;
      if (!this.answerSeries.has(key) && this.answerSeries.size < MAX_ANSWER_SERIES) this.answerSeries.add(key);
      this.headAnswers.inc({ head, class: this.answerSeries.has(key) ? answer : '(other)' });
    },
  };

  /**
   * Counts one request, and its error code when it was refused; with
   * `seconds`, the time its answer took (none for a client that left first).
   */
  answered(route: string, method: string, status: number, code?: string, seconds?: number): void {
    this.requests.inc({ route, method, status: String(status) });
    if (code) this.errors.inc({ route, code });
    if (seconds !== undefined) this.requestSeconds.observe({ route, status: String(status) }, seconds);
  }

  /**
   * Makes a route that takes work (POST, PUT) known: its INTERNAL error
   * series exists from the start at 0, so that increase() counts a pod's
   * first 500 (an alert on it sees it; a series that appears at 1 is not an increase).
   */
  workRoute(route: string): void {
    this.errors.inc({ route, code: 'INTERNAL' }, 0);
  }

  /** Records the model once it is loaded. */
  setModel(info: ModelInfo, onnxruntime: string, workers: number, images: { inProgress: () => number; inModel: () => number; limit: number }): void {
    this.images = images;
    this.imagesLimit.set(images.limit);
    this.modelInfo.set({ name: info.name, source: info.source, sha256: info.sha256, precision: info.precision, calibration: info.calibration?.id ?? '', onnxruntime }, 1);
    this.threads.set({ pool: 'onnxruntime_intra_op' }, info.threads);
    this.threads.set({ pool: 'preprocess_workers' }, workers);
  }
}
