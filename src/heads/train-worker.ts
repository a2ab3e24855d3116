/**
 * Trains a head in a worker thread (run by the service's piscina pool), so a
 * second of fitting never blocks the server's event loop. Returns the head
 * file's JSON.
 */
import { ResnetServeError } from '../errors.js';
import type { Backbone } from './head.js';
import { trainHead, type TrainingExample, type TrainOptions } from './train.js';

/** One job. */
export interface TrainTask {
  name: string;
  classes: string[];
  examples: TrainingExample[];
  backbone: Backbone;
  options: TrainOptions;
}

/** The head file's JSON, or the typed error as plain data. */
export type TrainReply = { ok: true; json: string } | { ok: false; code: ResnetServeError['code']; message: string };

/** Piscina entry point. */
export default function trainInWorker(task: TrainTask): TrainReply {
  try {
    const { head } = trainHead(task.name, task.classes, task.examples, task.backbone, task.options);
    return { ok: true, json: JSON.stringify(head.toJSON()) };
  } catch (err) {
    if (err instanceof ResnetServeError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
  }
}
