/**
 * How an index names the model that tagged a photo (pure): its weights'
 * SHA-256, and for int8 the precision and the calibration, whose answers
 * differ a little.
 */
import type { ModelInfo } from '../types.js';

const INT8_SUFFIX = '+int8';

/**
 * How the index names the model that tagged a photo: its weights' SHA-256,
 * with `+int8` for int8 and, for a model quantised here, `:` and its
 * calibration's id (int8 answers and embeddings differ a little from fp32's,
 * and from another calibration's), so that a library tagged in one precision
 * or calibration is classified again in another, as after a change of model.
 */
export function libraryModelKey(info: Pick<ModelInfo, 'sha256' | 'precision' | 'calibration'>): string {
  if (info.precision === 'fp32') return info.sha256;
  return `${info.sha256}${INT8_SUFFIX}${info.calibration ? `:${info.calibration.id}` : ''}`;
}

/** The weights' SHA-256, the precision and the calibration's id (null when none) in an index's model key ({@link libraryModelKey}). */
export function parseLibraryModelKey(key: string): { sha256: string; precision: 'fp32' | 'int8'; calibrationId: string | null } {
  const at = key.indexOf(INT8_SUFFIX);
  if (at < 0) return { sha256: key, precision: 'fp32', calibrationId: null };
  const calibration = key.slice(at + INT8_SUFFIX.length);
  return { sha256: key.slice(0, at), precision: 'int8', calibrationId: calibration.startsWith(':') ? calibration.slice(1) : null };
}

/** A model as messages name it: its name and the start of its SHA-256 (two checkpoints may share a name), with int8 and the start of its calibration's id for an index's model key. */
export function modelName(name: string, key: string): string {
  const { sha256, precision, calibrationId } = parseLibraryModelKey(key);
  const int8 = precision === 'int8' ? `, int8${calibrationId ? ` calibrated as ${calibrationId.slice(0, 8)}` : ''}` : '';
  return `${name} (sha256 ${sha256.slice(0, 12)}${int8})`;
}
