/**
 * The models this server offers over the v2 protocol, each with exactly one
 * input so that metadata-driven clients (Triton's `image_client.py`,
 * perf_analyzer) can use them:
 * - `<model>`: the network itself, an FP32 `[N, 3, S, S]` preprocessed tensor
 *   → `logits` (and `embedding` when asked for by name, unlisted so that
 *   one-output clients keep working);
 * - `<model>-image`: the same network behind our preprocessing, taking
 *   encoded image files (BYTES, one element per image) → `logits` and
 *   `embedding`;
 * - each trained head: encoded image files → `probabilities` over its
 *   classes and `unknown` (BOOL, the photo is none of them).
 * Their metadata and Triton-style model configuration are built here.
 */
import type { ClassificationService } from '../../classify/service.js';
import { ORT_VERSION } from '../../model/ort-version.js';
import type { ServerLimits } from '../options.js';
import type { Head } from '../../heads/head.js';
import type { ModelSignature, TensorSpec } from './codec.js';

/** A model as the v2 routes serve it. */
export interface ServedModel {
  signature: ModelSignature;
  /** `tensor`: preprocessed input; `image`: encoded files, preprocessed here; `head`: a head's classes. */
  kind: 'tensor' | 'image' | 'head';
  head?: Head;
}

/** Suffix of the model that takes encoded images. */
export const IMAGE_MODEL_SUFFIX = '-image';

/** The network's own models (the FP32 and the image one), by name. */
export function servedModels(service: ClassificationService): Map<string, ServedModel> {
  const { info } = service;
  const s = info.inputSize;
  const logits = { name: 'logits', datatype: 'FP32' as const, shape: [-1, info.numClasses] };
  const embeddings: TensorSpec[] = service.model.session.extraOutputs.includes('embedding') ? [{ name: 'embedding', datatype: 'FP32', shape: [-1, -1] }] : [];
  const tensor: ServedModel = {
    kind: 'tensor',
    signature: { name: info.name, input: { name: service.model.session.inputName, datatype: 'FP32', shape: [-1, 3, s, s] }, outputs: [logits], unlisted: embeddings },
  };
  const image: ServedModel = {
    kind: 'image',
    signature: { name: `${info.name}${IMAGE_MODEL_SUFFIX}`, input: { name: 'image', datatype: 'BYTES', shape: [-1, 1] }, outputs: [logits, ...embeddings] },
  };
  return new Map([tensor, image].map((m) => [m.signature.name, m]));
}

/** A trained head as a v2 model. */
export function headModel(head: Head): ServedModel {
  return {
    kind: 'head',
    head,
    signature: {
      name: head.name,
      input: { name: 'image', datatype: 'BYTES', shape: [-1, 1] },
      outputs: [
        { name: 'probabilities', datatype: 'FP32', shape: [-1, head.classes.length] },
        { name: 'unknown', datatype: 'BOOL', shape: [-1, 1] },
      ],
    },
  };
}

/** `GET /v2/models/{name}`: the protocol's model metadata. */
export function modelMetadata(model: ServedModel, service: ClassificationService): object {
  const { info } = service;
  const { signature } = model;
  return {
    name: signature.name,
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [signature.input],
    outputs: signature.outputs,
    parameters: {
      sha256: info.sha256,
      source: info.source,
      onnxruntime: ORT_VERSION,
      precision: info.precision,
      onnxruntime_threads: info.threads,
      preprocess_workers: service.workers,
      max_batch: service.batcher.maxBatch,
      ...(model.kind !== 'tensor' ? { preprocessing: `torchvision Resize(${service.model.preprocess.resizeShortSide}), CenterCrop(${info.inputSize}), Normalize${service.mode === 'fast' ? '; fast mode: photos of 512 px and more decoded at reduced scale' : ', bit for bit (exact mode)'}` } : {}),
      ...(model.signature.unlisted?.length ? { extra_outputs: model.signature.unlisted.map((o) => o.name).join(',') } : {}),
      ...(model.head ? { classes: model.head.classes.join('\n'), backbone: model.head.backbone.name } : {}),
    },
  };
}

const TRITON_TYPES = { FP32: 'TYPE_FP32', BYTES: 'TYPE_STRING', BOOL: 'TYPE_BOOL' } as const;

/**
 * `GET /v2/models/{name}/config`: the model configuration as Triton reports
 * it (dims without the batch dimension, `max_batch_size`, dynamic batching).
 */
export function modelConfig(model: ServedModel, service: ClassificationService, limits: ServerLimits): object {
  const { signature } = model;
  const { input } = signature;
  return {
    name: signature.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    version_policy: { latest: { num_versions: 1 } },
    max_batch_size: limits.maxFiles,
    input: [
      {
        name: input.name,
        data_type: TRITON_TYPES[input.datatype],
        format: model.kind === 'tensor' ? 'FORMAT_NCHW' : 'FORMAT_NONE',
        dims: input.shape.slice(1),
      },
    ],
    output: signature.outputs.map((o) => ({ name: o.name, data_type: TRITON_TYPES[o.datatype], dims: o.shape.slice(1), label_filename: '' })),
    batch_input: [],
    batch_output: [],
    dynamic_batching: { preferred_batch_size: [service.batcher.maxBatch], max_queue_delay_microseconds: service.batcher.maxWaitMicros },
    instance_group: [{ name: signature.name, kind: 'KIND_CPU', count: 1, gpus: [] }],
    // A batch must also fit in one request body: FP32 as JSON text takes about 5 times the binary extension's bytes.
    parameters: { intra_op_thread_count: { string_value: String(service.info.threads) }, precision: { string_value: service.info.precision }, max_request_bytes: { string_value: String(limits.maxUploadBytes) } },
  };
}
