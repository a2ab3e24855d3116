/**
 * "Why did it say that?" over HTTP: `POST /v1/explain` (multipart `file` or
 * the raw image; `?class=` an index or label, default the top answer;
 * `?top_k=`; `?head=` a head's classes instead of the model's;
 * `?image=crop|photo` for the PNG alone, with `&heatmap=off` the
 * plain picture, a preview for formats browsers cannot show) answers the class, the
 * predictions, the class activation map as numbers over the feature grid,
 * and PNG overlays on the 224×224 crop the model saw and on the photo.
 * TorchServe's `POST|PUT /explanations/{model}` answers the same for its
 * clients, `{model}` the network or a head, the photo taken as its
 * predictions route takes it (base64 text too).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ResnetServeError, invalidArgument } from '../../errors.js';
import { explainPlan } from '../../classify/explain.js';
import { renderOverlays } from '../../image/heatmap.js';
import { drawInTurn } from '../drawing.js';
import { queryOptions, uploadedImages, withDeadline, type ServiceHolder } from '../http.js';
import type { ServerLimits } from '../options.js';
import { namedModel, torchserveImages, torchserveRoute } from './torchserve.js';

type Query = Record<string, string | undefined>;

const round = (v: number, digits = 4): number => Number(v.toFixed(digits));

export async function explainRoutes(app: FastifyInstance, holder: ServiceHolder, limits: ServerLimits): Promise<void> {
  async function explain(request: FastifyRequest, reply: FastifyReply, modelName?: string, version?: string): Promise<unknown> {
    const service = holder.require();
    const query = (request.query ?? {}) as Query;
    // TorchServe's route names the network or a head, as its predictions route does; ours takes ?head=.
    const named = modelName === undefined ? undefined : namedModel(holder, modelName, version);
    if (named && query.head !== undefined) throw invalidArgument('head', `nothing: the path names head ${named.name} already`, query.head);
    const head = named ?? holder.headFrom(query);
    const image = query.image;
    if (image !== undefined && image !== 'crop' && image !== 'photo') throw invalidArgument('image', 'crop or photo', image);
    const heatmap = query.heatmap;
    if (heatmap !== undefined && heatmap !== 'on' && heatmap !== 'off') throw invalidArgument('heatmap', 'on or off', heatmap);
    if (heatmap === 'off' && !image) throw invalidArgument('heatmap', 'off only with image=crop or image=photo', heatmap);
    const { topK } = service.resolveOptions({ ...queryOptions(query, { topK: 5, lang: 'both' }), head });
    // What a heatmap needs, checked before the upload is looked at (the picture alone needs none of it).
    const plan = heatmap === 'off' ? null : await explainPlan(service.model, { head, class: query.class, topK });
    const images = modelName === undefined ? uploadedImages(request) : torchserveImages(request);
    if (images.length === 0) throw new ResnetServeError('NO_FILE', 'No file uploaded (send it as the multipart field "file" or as the body)');
    if (images.length > 1) throw new ResnetServeError('BAD_REQUEST', `Explain one image per request (got ${images.length})`);
    const [{ bytes, name }] = images;
    if (!plan) {
      // The picture alone: decoded once through the checked pipeline first (admitted like any image), so only a valid image reaches the renderer.
      const plain = await withDeadline(
        reply,
        limits.requestTimeoutMs,
        async (signal) => {
          await service.preprocess(bytes, signal);
          return drawInTurn(() => renderOverlays(Buffer.from(bytes), null, service.model.preprocess), signal);
        },
        holder.shutdownSignal,
      );
      return reply.type('image/png').send(image === 'crop' ? plain.crop : plain.photo);
    }
    const { outcome, explanation, overlays } = await withDeadline(
      reply,
      limits.requestTimeoutMs,
      async (signal) => {
        const [outcome] = await service.analyzeMany([bytes], plan.extra, signal, { mirror: plan.mirror, whenFull: 'refuse' });
        if (!outcome.ok) throw outcome.error;
        const explanation = plan.explain(outcome.outputs);
        const overlays = await drawInTurn(() => renderOverlays(Buffer.from(bytes), explanation.map, service.model.preprocess), signal);
        return { outcome, explanation, overlays };
      },
      holder.shutdownSignal,
    );
    if (image) return reply.type('image/png').send(image === 'crop' ? overlays.crop : overlays.photo);
    const { map } = explanation;
    return {
      model: { name: service.info.name, sha256: service.info.sha256 },
      ...(head ? { head: { name: head.name, classes: head.classes } } : {}),
      file: name,
      width: outcome.width,
      height: outcome.height,
      ...(head ? { unknown: explanation.unknown, typicality: explanation.typicality } : {}),
      class: explanation.target,
      predictions: explanation.predictions,
      map: { width: map.width, height: map.height, values: Array.from(map.values, (v) => round(v)) },
      overlay: { crop_png: overlays.crop.toString('base64'), photo_png: overlays.photo.toString('base64') },
    };
  }

  app.post('/v1/explain', { config: { intake: { fields: ['file'], admit: true }, query: ['class', 'top_k', 'image', 'heatmap', 'head'] } }, (request, reply) => explain(request, reply));
  await torchserveRoute(app, '/explanations', limits, (request, reply) => explain(request, reply, request.params.model, request.params.version));
}
