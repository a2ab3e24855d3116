/**
 * Test helper: where the shared reference data lives (`../shared` beside the
 * repository, or `$RESNET_SERVE_SHARED`), and a skip reason when it is absent.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

/** The repository root (this file is at `<root>/{src,dist}/testing/shared.*`). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));

/** The shared folder, whether or not it exists. */
export const SHARED_DIR = process.env.RESNET_SERVE_SHARED ?? resolve(REPO_ROOT, '..', 'shared');
export const REFERENCE_DIR = join(SHARED_DIR, 'reference');
export const PRETRAINED_ONNX = join(SHARED_DIR, 'models', 'mobilenetv2-12-int8.onnx');
export const DATASETS_DIR = join(SHARED_DIR, 'datasets');
export const HYMENOPTERA_DIR = join(DATASETS_DIR, 'hymenoptera');
export const IMAGENET_SAMPLE_DIR = join(DATASETS_DIR, 'imagenet-sample-500');

/** `false` when the reference data is there, else the reason to skip (for `{ skip }`). */
export const skipWithoutReference: string | false = existsSync(join(REFERENCE_DIR, 'cases.json'))
  ? false
  : `reference data not found at ${REFERENCE_DIR} (set RESNET_SERVE_SHARED to the shared folder to run these checks)`;

/** `false` when the reference data, the pretrained model and the datasets are there, else the reason to skip. */
export const skipWithoutDatasets: string | false =
  skipWithoutReference || (existsSync(join(HYMENOPTERA_DIR, 'train')) && existsSync(PRETRAINED_ONNX) ? false : `datasets or models not found under ${SHARED_DIR} (set RESNET_SERVE_SHARED to the shared folder to run these checks)`);

/** One reference case from `cases.json`. */
export interface ReferenceCase {
  file: string;
  width: number;
  height: number;
  mode: string;
  note: string;
  top5: number[];
  truth?: number;
}

/** The reference cases, in row order. */
export function referenceCases(): ReferenceCase[] {
  return JSON.parse(readFileSync(join(REFERENCE_DIR, 'cases.json'), 'utf8')).cases;
}

/** Reads a float32 little-endian file. */
export function readFloat32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
