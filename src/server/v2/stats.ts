/**
 * Triton's statistics extension (`GET /v2/models[/{name}[/versions/{v}]]/stats`,
 * what `tritonclient`'s `get_inference_statistics()` and perf_analyzer read):
 * per model, requests that succeeded and failed with their total time, and
 * each successful request's time split into reading the request
 * (`compute_input`: parsing JSON or binary tensors), the model's work
 * (`compute_infer`: decoding and preprocessing images, waiting in the
 * batcher's queue and inference, all of it) and writing the answer
 * (`compute_output`). The batcher shares batches between requests and does not
 * report a request's own queue time, so `queue` counts requests with 0 ns:
 * that wait is inside `compute_infer`. Counts are since the server started.
 */

/** Triton's `{count, ns}`. */
interface Duration {
  count: number;
  ns: number;
}

interface ModelCounters {
  lastInference: number;
  inferenceCount: number;
  executionCount: number;
  success: Duration;
  fail: Duration;
  computeInput: Duration;
  computeInfer: Duration;
  computeOutput: Duration;
  /** By batch size: the three compute durations. */
  batches: Map<number, { input: Duration; infer: Duration; output: Duration }>;
}

/** Times of one successful request, in ms. */
export interface RequestTimes {
  inputMs: number;
  inferMs: number;
  outputMs: number;
}

const zero = (): Duration => ({ count: 0, ns: 0 });
const add = (d: Duration, ms: number): void => {
  d.count++;
  d.ns += Math.round(ms * 1e6);
};

const fresh = (): ModelCounters => ({ lastInference: 0, inferenceCount: 0, executionCount: 0, success: zero(), fail: zero(), computeInput: zero(), computeInfer: zero(), computeOutput: zero(), batches: new Map() });

/** Per-model inference statistics of one server, in Triton's shape. */
export class InferenceStatistics {
  private readonly models = new Map<string, ModelCounters>();

  private counters(name: string): ModelCounters {
    let c = this.models.get(name);
    if (!c) this.models.set(name, (c = fresh()));
    return c;
  }

  /** Records a request to `model` that answered, with `batch` images. */
  succeeded(model: string, batch: number, times: RequestTimes): void {
    const c = this.counters(model);
    c.lastInference = Date.now();
    c.inferenceCount += batch;
    c.executionCount++;
    add(c.success, times.inputMs + times.inferMs + times.outputMs);
    add(c.computeInput, times.inputMs);
    add(c.computeInfer, times.inferMs);
    add(c.computeOutput, times.outputMs);
    let b = c.batches.get(batch);
    if (!b) c.batches.set(batch, (b = { input: zero(), infer: zero(), output: zero() }));
    add(b.input, times.inputMs);
    add(b.infer, times.inferMs);
    add(b.output, times.outputMs);
  }

  /** Records a request to `model` that was refused or failed after `ms`. */
  failed(model: string, ms: number): void {
    add(this.counters(model).fail, ms);
  }

  /** `{"model_stats": [...]}` for `names` (every model served, or the one asked for). */
  report(names: readonly string[]): { model_stats: object[] } {
    return {
      model_stats: names.map((name) => {
        const c = this.models.get(name) ?? fresh();
        return {
          name,
          version: '1',
          last_inference: c.lastInference,
          inference_count: c.inferenceCount,
          execution_count: c.executionCount,
          inference_stats: {
            success: c.success,
            fail: c.fail,
            queue: { count: c.success.count, ns: 0 },
            compute_input: c.computeInput,
            compute_infer: c.computeInfer,
            compute_output: c.computeOutput,
            cache_hit: zero(),
            cache_miss: zero(),
          },
          batch_stats: [...c.batches.entries()]
            .sort(([a], [b]) => a - b)
            .map(([batchSize, b]) => ({ batch_size: batchSize, compute_input: b.input, compute_infer: b.infer, compute_output: b.output })),
        };
      }),
    };
  }
}
