/** The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`. */
import { PROBE_PATHS } from './http.js';

const error = {
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string' },
    code: { type: 'string' },
    refused: { type: 'array', description: 'When no photo of an upload could be used: each, with its own reason', items: { type: 'object', properties: { name: { type: 'string' }, code: { type: 'string' }, error: { type: 'string' } } } },
  },
};
const errorResponse = (description: string): object => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const uploadBody = (field: string): object => ({
  required: true,
  content: {
    'multipart/form-data': { schema: { type: 'object', properties: { [field]: { type: 'array', items: { type: 'string', format: 'binary' } } } } },
    'image/*': { schema: { type: 'string', format: 'binary' } },
  },
});
const query = [
  { name: 'top_k', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
  { name: 'lang', in: 'query', schema: { type: 'string', enum: ['en', 'zh', 'both'] } },
  { name: 'head', in: 'query', description: 'Answer with a trained head (GET /v1/heads) instead of the ImageNet classes', schema: { type: 'string' } },
];
const errors = {
  400: errorResponse('Bad request (NO_FILE, BAD_REQUEST, INVALID_ARGUMENT, IMAGE_EMPTY)'),
  413: errorResponse('Upload too large or too many files (PAYLOAD_TOO_LARGE, TOO_MANY_FILES)'),
  415: errorResponse('Not an image, or an unsupported format (IMAGE_UNSUPPORTED, UNSUPPORTED_MEDIA_TYPE)'),
  422: errorResponse('Damaged image or too many pixels (IMAGE_CORRUPT, IMAGE_TOO_LARGE)'),
  503: errorResponse('Not ready, busy or timed out (NOT_READY, QUEUE_FULL, TIMEOUT); see Retry-After'),
};

const torchserve = {
  summary: 'TorchServe-style classification: {label: probability} for the top 5; the image as the raw body (any Content-Type), its base64 text, or multipart "data"',
  parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
  requestBody: uploadBody('data'),
  responses: { 200: { description: 'Top 5 labels with probabilities' }, ...errors },
};

const pathParam = (name: string): object => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const queryParam = (name: string, schema: object): object => ({ name, in: 'query', schema });
const json = (description: string): object => ({ description, content: { 'application/json': {} } });
const notFound = errorResponse('No such head, class, photo or model (NOT_FOUND)');
const head = [pathParam('name')];
const photo = [pathParam('id')];
const paging = [queryParam('limit', { type: 'integer', minimum: 1, maximum: 500 }), queryParam('offset', { type: 'integer', minimum: 0 })];
const explanation = {
  summary: "TorchServe's explanations API: the class activation map of the image (raw body of any Content-Type, its base64 text, or multipart data) for its top answer",
  requestBody: uploadBody('data'),
  responses: { 200: { description: 'The map as numbers with the class it explains' }, ...errors },
};
const v2Version = [pathParam('name'), { name: 'version', in: 'path', required: true, schema: { type: 'string', enum: ['1'] } }];
const jsonBody = (description: string, required = true): object => ({ required, description, content: { 'application/json': { schema: { type: 'object' } } } });
const v2Infer = {
  summary: 'v2 inference: model {name} takes FP32 [N,3,224,224], model {name}-image takes BYTES encoded images; JSON or binary tensor data, gzip/deflate bodies; parameters.classification k gives "value:index:label" (raw output value, or softmax with classification_probabilities)',
  requestBody: {
    required: true,
    description: 'An inference request: JSON, or JSON followed by binary tensor data (the Inference-Header-Content-Length header gives the JSON part\'s length); Content-Encoding gzip or deflate allowed',
    content: { 'application/json': { schema: { type: 'object', required: ['inputs'] } }, 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
  },
  responses: {
    200: { description: 'Inference response (JSON, or JSON and binary outputs with Inference-Header-Content-Length)' },
    400: errorResponse('Malformed request'),
    404: errorResponse('Unknown model'),
    409: errorResponse('A head not trained yet (HEAD_NOT_TRAINED)'),
    413: errors[413],
    415: errors[415],
    422: errors[422],
    503: errors[503],
  },
};
const v2Stats = { summary: "Triton's inference statistics: requests, images, failures and time per step, since the server started", responses: { 200: json('{model_stats: [{name, version, last_inference, inference_count, execution_count, inference_stats, batch_stats}]}'), 404: errorResponse('Unknown model') } };
const sharedMemory = (kind: string): Record<string, object> => ({
  [`/v2/${kind}/status`]: { get: { summary: 'Shared memory regions: none (tensors travel in the body)', responses: { 200: json('[]') } } },
  [`/v2/${kind}/region/{region}/status`]: { get: { summary: 'A shared memory region: none exist', responses: { 404: notFound } } },
  [`/v2/${kind}/region/{region}/register`]: { post: { summary: 'Refused: this server does not use shared memory', responses: { 400: errorResponse('Shared memory is not supported') } } },
  [`/v2/${kind}/unregister`]: { post: { summary: 'Unregisters every region (none exist)', responses: { 200: json('{}') } } },
  [`/v2/${kind}/region/{region}/unregister`]: { post: { summary: 'Unregisters a region (none exist)', responses: { 200: json('{}') } } },
});
const torchserveModel = { summary: "TorchServe's management API: a model's description (version, batch size, its worker)", responses: { 200: json('[{modelName, modelVersion, modelUrl, runtime, batchSize, maxBatchDelay, workers}]'), 404: notFound } };

/** An operation of the document (only what `complete` reads and adds is typed). */
type Operation = { parameters?: object[]; responses: Record<string, object>; [key: string]: unknown };


/**
 * Completes every operation as OpenAPI 3.1 requires and as the server
 * behaves: a path parameter for each `{name}` of its path, and a 401 where an
 * API key may be needed.
 */
function complete(paths: Record<string, Record<string, Operation>>): typeof paths {
  // Each operation completed as a copy: one object may serve several paths (/models/{model} and …/{version}).
  return Object.fromEntries(
    Object.entries(paths).map(([path, operations]) => {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const completed = Object.entries(operations).map(([method, operation]) => {
        const declared = (operation.parameters ?? []) as { name: string; in: string }[];
        const missing = names.filter((n) => !declared.some((p) => p.in === 'path' && p.name === n)).map((n) => pathParam(n));
        const unauthorized = PROBE_PATHS.includes(path) ? {} : { 401: errorResponse('An API key is needed, or the one sent is wrong (UNAUTHORIZED); see WWW-Authenticate') };
        return [method, { ...operation, ...(missing.length ? { parameters: [...missing, ...declared] } : {}), responses: { ...unauthorized, ...operation.responses } }];
      });
      return [path, Object.fromEntries(completed)];
    }),
  );
}

/** The document, with the server's version. */
export function openApiDocument(version: string): object {
  return {
    openapi: '3.1.0',
    info: { title: 'resnet-serve', version, description: 'Image classification on a CPU: torchvision ResNets or any ImageNet ONNX classifier (the one served: GET /v1/models), with your own classes (heads).' },
    paths: complete({
      '/predict': {
        post: {
          summary: 'Seed-compatible classification: top 3 labels with confidence in percent',
          parameters: query,
          requestBody: uploadBody('file'),
          responses: { 200: { description: 'One file: [{label, confidence}]; several: an array of those (or an error object) per file, in upload order' }, ...errors },
        },
      },
      '/v1/classify': {
        post: {
          summary: 'Classify images: per image predictions with English and Chinese labels (?lang=en or zh: one language, in label) and stage timings',
          parameters: query,
          requestBody: uploadBody('file'),
          responses: { 200: { description: '{model: {name, sha256, source, precision, calibration (int8: its id, as in /v1/models)}, results: [{file, width, height, predictions: [{index, label, label_zh, score}], timings_ms} | {file, error: {code, message}}]}: each failed photo its error in place; a request of one photo that failed is answered with its status (415, 422, …) and error and code beside the same results' }, ...errors },
        },
      },
      '/v1/explain': {
        post: {
          summary: 'Where the model looked: the class activation map of one image for its top answer or ?class= (index or label; with ?head=, one of the head\'s classes), as numbers and PNG overlays',
          parameters: [
            queryParam('class', { type: 'string' }),
            query[0],
            { ...query[2], description: 'Explain a trained head\'s answer (GET /v1/heads) instead of the ImageNet classes' },
            queryParam('image', { type: 'string', enum: ['crop', 'photo'] }),
            { ...queryParam('heatmap', { type: 'string', enum: ['on', 'off'] }), description: 'off: the plain picture (with image=)' },
          ],
          requestBody: uploadBody('file'),
          responses: { 200: { description: '{model, file, width, height, class, predictions, map: {width, height, values}, overlay: {crop_png, photo_png} (base64)}, with ?head= also {head: {name, classes}, unknown, typicality}; with ?image=crop|photo the PNG alone' }, ...errors },
        },
      },
      '/v1/embed': {
        post: {
          summary: 'The embedding of each image (the input of the final classifier layer, of the photo as given)',
          requestBody: uploadBody('file'),
          responses: { 200: json('One file: {embedding, dim, model}; several: {model, results: [{file, dim, embedding} | {file, error}]}'), ...errors },
        },
      },
      '/v1/heads': {
        get: { summary: 'Heads (your own classes) on this server', responses: { 200: json('{heads: [{name, classes, trained, stale, model}]}') } },
        post: { summary: 'Make a head: {"name", "classes"?}', requestBody: jsonBody('{"name": "defects", "classes": ["scratch", "ok"]}'), responses: { 201: json('The head'), 400: errorResponse('Bad name or classes'), 409: errorResponse('The name is taken (CONFLICT), or kept by the server: the model name or stats (NAME_RESERVED)') } },
      },
      '/v1/heads/{name}': {
        get: { summary: 'A head: its classes, photos and training summary (training.warnings, training.notes)', parameters: head, responses: { 200: json('The head'), 404: notFound } },
        delete: { summary: 'Delete a head and its photos', parameters: head, responses: { 204: { description: 'Deleted' }, 404: notFound } },
      },
      '/v1/heads/{name}/classes': { post: { summary: 'Add classes: {"name"} or {"classes": […]}', parameters: head, requestBody: jsonBody('{"name": "crack"} or {"classes": ["crack", "dent"]}'), responses: { 200: json('The head'), 400: errorResponse('Bad class name'), 404: notFound, 409: errorResponse('The head belongs to another model (CONFLICT)') } } },
      '/v1/heads/{name}/classes/{class}': { delete: { summary: 'Remove a class and its photos', parameters: [...head, pathParam('class')], responses: { 200: json('The head'), 404: notFound } } },
      '/v1/heads/{name}/examples': {
        post: { summary: 'Add example photos to a class (?class=C)', parameters: [...head, { ...queryParam('class', { type: 'string' }), required: true }], requestBody: uploadBody('file'), responses: { 201: json('The photos added, those refused (each with its reason, ALREADY_ADDED for a photo the class has), alsoIn (photos added that another class has too: [{name, classes}]) and the head'), ...errors, 404: notFound, 409: errorResponse('Every photo is in the class already (ALREADY_ADDED), or the head belongs to another model (CONFLICT)') } },
      },
      '/v1/heads/{name}/examples/{id}': { delete: { summary: 'Remove an example photo', parameters: [...head, pathParam('id')], responses: { 200: json('The head'), 404: notFound } } },
      '/v1/heads/{name}/examples/{id}/thumbnail': { get: { summary: 'An example photo as a small JPEG', parameters: [...head, pathParam('id')], responses: { 200: { description: 'image/jpeg' }, 404: notFound } } },
      '/v1/heads/{name}/train': {
        post: { summary: 'Train a head on its photos: {"cv", "holdout", "reject", "reject_rate"}', parameters: head, requestBody: jsonBody('Training options, all optional: {"cv": 5} or {"holdout": 0.2}, "reject", "reject_rate"', false), responses: { 200: json('The head with its training summary (accuracy, confusion matrix, warnings)'), 400: errorResponse('Too few classes or photos'), 404: notFound } },
      },
      '/v1/heads/{name}/file': { get: { summary: 'Download the trained head file (JSON)', parameters: head, responses: { 200: json('The head file'), 404: notFound } } },
      '/v1/library': { get: { summary: 'The photo library served with --library: folders, photo count, model, categories with their photo counts', responses: { 200: json('The library'), 404: errorResponse('No library served') } } },
      '/v1/library/photos': {
        get: {
          summary: 'Photos by words (?q=), by category (?category=: those whose first category it is), or all, a page at a time',
          parameters: [queryParam('q', { type: 'string' }), queryParam('category', { type: 'string' }), ...paging],
          responses: { 200: json('{total, photos: [{id, path, labels, score?, matched?}], unknown?}'), 400: errorResponse('Bad words or paging'), 404: errorResponse('No library served, or no such category') },
        },
      },
      '/v1/library/photos/{id}': { get: { summary: 'A photo: its labels and categories', parameters: photo, responses: { 200: json('The photo'), 404: notFound } } },
      '/v1/library/photos/{id}/like': { get: { summary: 'Look-alike photos, most similar first', parameters: [...photo, queryParam('limit', { type: 'integer', minimum: 1, maximum: 100 })], responses: { 200: json('{photos: [{id, path, similarity}]}'), 404: notFound } } },
      '/v1/library/photos/{id}/thumbnail': { get: { summary: 'A thumbnail (?size=320 or 1024)', parameters: [...photo, queryParam('size', { type: 'integer', enum: [320, 1024] })], responses: { 200: { description: 'image/jpeg' }, 400: errorResponse('Bad size'), 404: notFound } } },
      '/v1/library/duplicates': { get: { summary: 'Groups of exact copies and near duplicates', responses: { 200: json('{groups: [{kind, photos}]}'), 404: errorResponse('No library served') } } },
      '/explanations/{model}': { post: { ...explanation, parameters: [pathParam('model')] }, put: { ...explanation, parameters: [pathParam('model')] } },
      '/explanations/{model}/{version}': { post: { ...explanation, parameters: [pathParam('model'), pathParam('version')] }, put: { ...explanation, parameters: [pathParam('model'), pathParam('version')] } },
      '/v1/models': { get: { summary: 'The loaded model', responses: { 200: { description: 'Model name, source, SHA-256, classes, threads, precision (for int8 quantised here, calibration: {photos: built-in | given, id})' } } } },
      '/predictions/{model}': {
        post: torchserve,
        put: torchserve,
      },
      '/predictions/{model}/{version}': {
        post: { ...torchserve, parameters: [...torchserve.parameters, { name: 'version', in: 'path', required: true, schema: { type: 'string', enum: ['1', '1.0'] } }] },
        put: { ...torchserve, parameters: [...torchserve.parameters, { name: 'version', in: 'path', required: true, schema: { type: 'string', enum: ['1', '1.0'] } }] },
      },
      '/models': { get: { summary: "TorchServe's management API: the models served (the network and the trained heads)", responses: { 200: json('{models: [{modelName, modelUrl}]}') } } },
      '/models/{model}': { get: torchserveModel },
      '/models/{model}/{version}': { get: torchserveModel },
      '/ping': { get: { summary: 'TorchServe health', responses: { 200: { description: '{"status": "Healthy"}' }, 503: { description: '{"status": "Unhealthy"}' } } } },
      '/v2': { get: { summary: 'Open Inference Protocol v2: server metadata', responses: { 200: { description: '{name, version, extensions}' } } } },
      '/v2/health/live': { get: { summary: 'v2 liveness', responses: { 200: { description: 'Live' } } } },
      '/v2/health/ready': { get: { summary: 'v2 readiness', responses: { 200: { description: 'Ready' }, 503: { description: 'Loading or shutting down' } } } },
      '/v2/repository/index': { post: { summary: "Triton's model repository index: every model served, [{name, version, state}]; body empty or {ready}", requestBody: jsonBody('{"ready": true} keeps only ready models', false), responses: { 200: { description: 'The models' }, 400: errorResponse('Not a JSON object with an optional boolean ready') } } },
      '/v2/models/{name}': { get: { summary: 'v2 model metadata (inputs, outputs, threads)', responses: { 200: { description: 'Model metadata' }, 404: errorResponse('Unknown model') } } },
      '/v2/models/{name}/ready': { get: { summary: 'v2 model readiness', responses: { 200: { description: '{name, ready}' }, 404: errorResponse('Unknown model') } } },
      '/v2/models/{name}/stats': { get: v2Stats },
      '/v2/models/stats': { get: { ...v2Stats, summary: "Triton's inference statistics of every model served" } },
      ...sharedMemory('systemsharedmemory'),
      ...sharedMemory('cudasharedmemory'),
      '/v2/models/{name}/config': { get: { summary: 'Triton model configuration (max_batch_size, input/output dims, dynamic batching)', responses: { 200: { description: 'Model configuration' }, 404: errorResponse('Unknown model') } } },
      '/v2/models/{name}/infer': { post: v2Infer },
      '/v2/models/{name}/versions/{version}': { get: { summary: 'v2 model metadata of a version (the only one is 1)', parameters: v2Version, responses: { 200: { description: 'Model metadata' }, 404: errorResponse('Unknown model or version') } } },
      '/v2/models/{name}/versions/{version}/ready': { get: { summary: 'v2 model readiness', parameters: v2Version, responses: { 200: { description: '{name, ready}' }, 404: errorResponse('Unknown model or version') } } },
      '/v2/models/{name}/versions/{version}/stats': { get: { ...v2Stats, parameters: v2Version } },
      '/v2/models/{name}/versions/{version}/config': { get: { summary: 'Triton model configuration', parameters: v2Version, responses: { 200: { description: 'Model configuration' }, 404: errorResponse('Unknown model or version') } } },
      '/v2/models/{name}/versions/{version}/infer': { post: { ...v2Infer, parameters: v2Version } },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'Alive' } } } },
      '/livez': { get: { summary: 'Liveness (the same as /healthz)', responses: { 200: { description: 'Alive' } } } },
      '/readyz': { get: { summary: 'Readiness', responses: { 200: { description: 'Ready' }, 503: { description: 'Loading or draining' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Text exposition format' } } } },
      '/openapi.json': { get: { summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1 JSON' } } } },
    }),
    components: {
      schemas: { Error: error },
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Needed on every endpoint but health checks and the page when the server runs with --api-key-file (or --api-key)' } },
    },
    // The key is optional: only servers started with one ask for it.
    security: [{}, { apiKey: [] }],
  };
}
