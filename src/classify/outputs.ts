/** Checks, before any work, that a model can give what a call needs: extra outputs, or a head trained on it. */
import { ResnetServeError } from '../errors.js';
import type { Head } from '../heads/head.js';
import type { LoadedModel } from '../model/load-model.js';
import type { ExtraOutput } from '../model/model-outputs.js';

const WHAT: Record<ExtraOutput, string> = { embedding: 'embedding (the input of its final layer)', feature_map: 'feature map before global average pooling (needed for heatmaps)' };

/** Throws OUTPUT_UNAVAILABLE naming the model and why, when one of `extra` is missing. */
export function requireOutputs(model: LoadedModel, extra: readonly ExtraOutput[]): void {
  for (const name of extra) {
    if (model.session.extraOutputs.includes(name)) continue;
    const why = model.missingOutputs ? `: ${model.missingOutputs}` : '';
    throw new ResnetServeError('OUTPUT_UNAVAILABLE', `Model ${model.info.name} has no ${WHAT[name]}${why}. It can still classify.`);
  }
}

/** Throws INVALID_ARGUMENT when `head` was trained on another model (its embedding would mean nothing here). */
export function checkHeadFits(head: Head, model: LoadedModel): void {
  requireOutputs(model, ['embedding']);
  if (head.backbone.sha256 !== model.info.sha256) {
    throw new ResnetServeError('INVALID_ARGUMENT', `Head ${head.name} was trained on ${head.backbone.name} (sha256 ${head.backbone.sha256.slice(0, 12)}…), not on the model in use, ${model.info.name} (sha256 ${model.info.sha256.slice(0, 12)}…)`);
  }
  if (head.rejection && head.rejection.profile.length !== model.session.numClasses) {
    throw new ResnetServeError('INVALID_ARGUMENT', `Head ${head.name} expects a model with ${head.rejection.profile.length} classes; ${model.info.name} has ${model.session.numClasses}`);
  }
}
