/**
 * Parses a large v2 JSON request in a worker thread (run by the service's
 * piscina pool), so that megabytes of JSON numbers never block the event
 * loop that answers health checks. The preprocessed tensor's memory is moved
 * back, not copied.
 */
import { Piscina } from 'piscina';
import { ResnetServeError } from '../../errors.js';
import { decodeRequest, parseJson, splitBody, type DecodedRequest, type ModelSignature } from './codec.js';

/** One job: the raw body and what to check it against. */
export interface DecodeTask {
  body: Uint8Array;
  headerLength?: string;
  model: ModelSignature;
  maxBatch: number;
  numClasses: number;
}

/** The checked request, or its typed error as plain data. */
export type DecodeReply = { ok: true; request: DecodedRequest } | { ok: false; code: ResnetServeError['code']; message: string };

/** Piscina entry point. */
export default function decodeInWorker(task: DecodeTask): DecodeReply | object {
  try {
    const { json, binary } = splitBody(task.body, task.headerLength);
    const request = decodeRequest(parseJson(json), binary, task.model, { maxBatch: task.maxBatch, numClasses: task.numClasses });
    const reply: DecodeReply = { ok: true, request };
    if (request.input.kind !== 'tensor') {
      // Views into the body would each be cloned with the whole body; send compact copies.
      request.input.images = request.input.images.map((image) => new Uint8Array(image));
      return reply;
    }
    return Piscina.move({ [Piscina.transferableSymbol]: [request.input.data.buffer], [Piscina.valueSymbol]: reply } as never);
  } catch (err) {
    if (err instanceof ResnetServeError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'BAD_REQUEST', message: `The inference request could not be read: ${(err as Error)?.message ?? String(err)}` };
  }
}
