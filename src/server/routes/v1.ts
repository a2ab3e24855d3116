/**
 * The richer JSON API: `POST /v1/classify` (multipart `file` fields, or a raw
 * image body) answers per image with indices, English and Chinese labels,
 * probabilities and stage timings, with errors in place, plus the model's
 * name and hash. `GET /v1/models` describes the model.
 */
import type { FastifyInstance } from 'fastify';
import { ResnetServeError } from '../../errors.js';
import { ORT_VERSION } from '../../model/ort-version.js';
import { recordRefusal } from '../request-log.js';
import { queryOptions, uploadedImages, withDeadline, type ServiceHolder } from '../http.js';
import type { ServerLimits } from '../options.js';

const round = (v: number): number => Math.round(v * 100) / 100;

export function v1Routes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits, served: { library: boolean } = { library: false }): void {
  app.get('/v1/models', async () => {
    const service = holder.require();
    const { name, source, sha256, numClasses, inputSize, threads, precision, calibration, outputs } = service.info;
    return {
      models: [
        {
          // Never the file's location on the server: callers get what it is, not where it lives.
          name,
          source,
          sha256,
          num_classes: numClasses,
          input_size: inputSize,
          threads,
          precision,
          // An int8 model quantised here: which photos it was calibrated on (the built-in ones or the server's own, never their folder) and their id.
          ...(calibration && { calibration: { photos: calibration.folder === null ? 'built-in' : 'given', id: calibration.id } }),
          outputs,
          labels: service.model.labels.en.length,
          workers: service.workers,
          max_batch: service.batcher.maxBatch,
          onnxruntime: ORT_VERSION,
          limits: { max_upload_bytes: limits.maxUploadBytes, max_files: limits.maxFiles, max_pixels: service.maxPixels, request_timeout_ms: limits.requestTimeoutMs },
        },
      ],
      // Whether /v1/library answers (`--library`): the page shows its Library view only then, without asking for a 404.
      library: served.library,
    };
  });

  app.post('/v1/classify', { config: { intake: { fields: ['file'], admit: true }, query: ['top_k', 'lang', 'head'] } }, async (request, reply) => {
    const service = holder.require();
    // Both languages unless ?lang= asks for one.
    const head = holder.headFrom(request.query);
    const options = service.resolveOptions({ ...queryOptions(request.query, { topK: 5, lang: 'both' }), head });
    const images = uploadedImages(request);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', 'No file uploaded (send it as the multipart field "file")');
    const outcomes = await withDeadline(reply, limits.requestTimeoutMs, (signal) => service.classifyMany(images.map((i) => i.bytes), options, signal, { handOver: true, whenFull: 'refuse' }), holder.shutdownSignal);
    const results = outcomes.map((o, i) => {
      const file = images[i].name;
      if (!o.ok) return { file, error: { code: o.error.code, message: o.error.message } };
      const t = o.timings;
      return {
        file,
        width: o.width,
        height: o.height,
        ...(head ? { unknown: o.unknown, typicality: o.typicality } : {}),
        predictions: o.predictions,
        timings_ms: { decode: round(t.decode), preprocess: round(t.preprocess), infer: round(t.infer), total: round(t.total) },
      };
    });
    const { name, sha256, source, precision, calibration } = service.info;
    const body = { model: { name, sha256, source, precision, ...(calibration && { calibration: calibration.id }) }, ...(head ? { head: { name: head.name, classes: head.classes } } : {}), results };
    const [first] = outcomes;
    // One photo that failed: its status, and the error also where every error body has it.
    if (outcomes.length === 1 && !first.ok) {
      recordRefusal(request, first.error);
      return reply.code(first.error.status).send({ error: first.error.message, code: first.error.code, ...body });
    }
    return body;
  });
}
