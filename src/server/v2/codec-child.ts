/**
 * The child process that reads large v2 JSON requests for `codec-process.ts`:
 * it receives a body over IPC, parses and checks it, and sends back the
 * checked request (tensor data or image bytes) or its typed error as data.
 * It is started with a heap limit; a body that needs more memory ends this
 * process, not the server.
 */
import { ResnetServeError } from '../../errors.js';
import { decodeRequest, jsonBounds, parseJson, splitBody, type DecodedRequest, type ModelSignature } from './codec.js';

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

/** The argument that makes this module run as the child. */
export const CODEC_CHILD_FLAG = '--resnet-serve-codec-child';

/** Parses and checks one request body. */
export function decodeTask(task: DecodeTask): DecodeReply {
  try {
    const { json, binary } = splitBody(task.body, task.headerLength);
    const request = decodeRequest(parseJson(json, jsonBounds(task.model, task.maxBatch)), binary, task.model, { maxBatch: task.maxBatch, numClasses: task.numClasses });
    // Views into the body would each be sent with the whole body; send compact copies.
    if (request.input.kind !== 'tensor') request.input.images = request.input.images.map((image) => new Uint8Array(image));
    return { ok: true, request };
  } catch (err) {
    if (err instanceof ResnetServeError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'BAD_REQUEST', message: `The inference request could not be read: ${(err as Error)?.message ?? String(err)}` };
  }
}

if (process.argv.includes(CODEC_CHILD_FLAG) && process.send) {
  process.on('message', (task: DecodeTask) => process.send?.(decodeTask(task)));
  process.on('disconnect', () => process.exit(0));
}
