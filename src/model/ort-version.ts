/**
 * ONNX Runtime's version, read from its package rather than from the loaded
 * runtime, so that naming caches and answering metadata never load the
 * native library in a thread that does not run sessions.
 */
import { createRequire } from 'node:module';

/** The onnxruntime-node version (its JavaScript and native parts ship together). */
export const ORT_VERSION: string = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
