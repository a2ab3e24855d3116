/** The preprocessing workers of a {@link ClassificationService}, and the photo that warms each one up. */
import { Piscina } from 'piscina';
import { availableCpus } from '../cpu-quota.js';
import { invalidArgument } from '../errors.js';
import type { PreprocessReply, PreprocessTask } from '../image/preprocess-task.js';

/** A 32×24 grey-blue baseline JPEG (written once by sharp) that warms up each worker's decoder and resampler. */
export const WARM_UP_JPEG = '/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAYACADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAT/xAAUEAEAAAAAAAAAAAAAAAAAAAAA/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAT/xAAUEQEAAAAAAAAAAAAAAAAAAAAA/9oADAMBAAIRAxEAPwCsBehAAAAAAf/Z';

/** The preprocessing workers; checks `workers` before starting any. */
export function preprocessingPool(requested: number | undefined): Piscina<PreprocessTask, PreprocessReply> {
  // Half the CPUs decode while ONNX Runtime's threads infer: measured on 2 cores, one worker gives the same
  // throughput as two, with lower latency and memory (docs/performance.md, Threads).
  const workers = requested ?? Math.max(1, Math.ceil(availableCpus() / 2));
  if (!Number.isInteger(workers) || workers < 1) throw invalidArgument('workers', 'an integer >= 1', workers);
  return new Piscina({ filename: new URL('../image/preprocess-worker.js', import.meta.url).href, minThreads: workers, maxThreads: workers, idleTimeout: 60_000 });
}

