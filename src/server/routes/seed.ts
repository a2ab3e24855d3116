/**
 * The seed's own API, kept exactly: `POST /predict` with a multipart `file`
 * returns the top 3 as `[{"label": "tabby", "confidence": 87.31}, …]`
 * (percent, 2 decimals). Extensions keep that default: `?top_k=`, `?lang=`,
 * several `file` fields (an array of per-file results in upload order), a
 * raw `image/*` body, and `?head=` for the user's own classes.
 */
import type { FastifyInstance } from 'fastify';
import { ResnetServeError } from '../../errors.js';
import { unknownFirst } from '../../heads/answer.js';
import type { ClassifyOutcome, Prediction } from '../../types.js';
import { queryOptions, uploadedImages, withDeadline, type ServiceHolder } from '../http.js';
import type { ServerLimits } from '../options.js';

type SeedLabel = { label: string; label_zh?: string; confidence: number };

function seedShape(p: Prediction): SeedLabel {
  const out: SeedLabel = { label: p.label, confidence: Math.round(p.score * 10000) / 100 };
  if (p.label_zh !== undefined) out.label_zh = p.label_zh;
  return out;
}

/** The seed's list for one image; with a head that finds the photo unlike its training photos, "unknown" comes first. */
function seedList(o: Extract<ClassifyOutcome, { ok: true }>): SeedLabel[] {
  return unknownFirst(o).map(seedShape);
}

export function seedRoutes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits): void {
  app.post('/predict', { config: { intake: { fields: ['file'], admit: true }, query: ['top_k', 'lang', 'head'] } }, async (request, reply) => {
    const service = holder.require();
    const options = service.resolveOptions({ ...queryOptions(request.query, { topK: 3, lang: 'en' }), head: holder.headFrom(request.query) });
    const images = uploadedImages(request);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', 'No file uploaded');
    const outcomes = await withDeadline(reply, limits.requestTimeoutMs, (signal) => service.classifyMany(images.map((i) => i.bytes), options, signal, { handOver: true, whenFull: 'refuse' }), holder.shutdownSignal);
    if (images.length === 1) {
      const [only] = outcomes;
      if (!only.ok) throw only.error;
      return seedList(only);
    }
    return outcomes.map((o) => (o.ok ? seedList(o) : { error: o.error.message, code: o.error.code }));
  });
}
