/**
 * The models this server offers over the v2 protocol, each with exactly one
 * input so that metadata-driven clients (Triton's `image_client.py`,
 * perf_analyzer) can use them:
 * - `<model>`: the network itself, an FP32 `[N, 3, S, S]` preprocessed tensor;
 * - `<model>-image`: the same network behind our preprocessing, taking
 *   encoded image files (BYTES, one element per image).
 * Both return `logits` `[N, classes]`. Their metadata and Triton-style model
 * configuration are built here.
 */
import type { ClassificationService } from '../../classify/service.js';
import { ORT_VERSION } from '../../model/session.js';
import type { ServerLimits } from '../options.js';
import type { ModelSignature } from './codec.js';

/** A model as the v2 routes serve it. */
export interface ServedModel {
  signature: ModelSignature;
  /** `tensor`: preprocessed input; `image`: encoded files, preprocessed here. */
  kind: 'tensor' | 'image';
}

/** Suffix of the model that takes encoded images. */
export const IMAGE_MODEL_SUFFIX = '-image';

/** The models of a service, by name. */
export function servedModels(service: ClassificationService): Map<string, ServedModel> {
  const { info } = service;
  const s = info.inputSize;
  const logits = { name: 'logits', datatype: 'FP32' as const, shape: [-1, info.numClasses] };
  const tensor: ServedModel = {
    kind: 'tensor',
    signature: { name: info.name, input: { name: service.model.session.inputName, datatype: 'FP32', shape: [-1, 3, s, s] }, outputs: [logits] },
  };
  const image: ServedModel = {
    kind: 'image',
    signature: { name: `${info.name}${IMAGE_MODEL_SUFFIX}`, input: { name: 'image', datatype: 'BYTES', shape: [-1, 1] }, outputs: [logits] },
  };
  return new Map([tensor, image].map((m) => [m.signature.name, m]));
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
      onnxruntime_threads: info.threads,
      preprocess_workers: service.workers,
      max_batch: service.batcher.maxBatch,
      ...(model.kind === 'image' ? { preprocessing: `torchvision Resize(${service.model.preprocess.resizeShortSide}), CenterCrop(${info.inputSize}), Normalize` } : {}),
    },
  };
}

const TRITON_TYPES = { FP32: 'TYPE_FP32', BYTES: 'TYPE_STRING' } as const;

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
    parameters: { intra_op_thread_count: { string_value: String(service.info.threads) } },
  };
}
