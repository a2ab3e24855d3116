/** The OpenAPI 3.1 description of the HTTP API, served at `/openapi.json`. */

const error = { type: 'object', required: ['error', 'code'], properties: { error: { type: 'string' }, code: { type: 'string' } } };
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
];
const errors = {
  400: errorResponse('Bad request (NO_FILE, BAD_REQUEST, INVALID_ARGUMENT, IMAGE_EMPTY)'),
  413: errorResponse('Upload too large or too many files (PAYLOAD_TOO_LARGE, TOO_MANY_FILES)'),
  415: errorResponse('Not an image, or an unsupported format (IMAGE_UNSUPPORTED, UNSUPPORTED_MEDIA_TYPE)'),
  422: errorResponse('Damaged image or too many pixels (IMAGE_CORRUPT, IMAGE_TOO_LARGE)'),
  503: errorResponse('Not ready, busy or timed out (NOT_READY, QUEUE_FULL, TIMEOUT); see Retry-After'),
};

const torchserve = {
  summary: 'TorchServe-style classification: {label: probability} for the top 5; the image as the raw body (any Content-Type) or multipart "data"',
  parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
  requestBody: uploadBody('data'),
  responses: { 200: { description: 'Top 5 labels with probabilities' }, ...errors },
};

/** The document, with the server's version. */
export function openApiDocument(version: string): object {
  return {
    openapi: '3.1.0',
    info: { title: 'resnet-serve', version, description: 'ImageNet image classification with torchvision ResNet-18 on CPU.' },
    paths: {
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
          summary: 'Classify images: per image predictions with English and Chinese labels and stage timings',
          parameters: [query[0]],
          requestBody: uploadBody('file'),
          responses: { 200: { description: '{model: {name, sha256, source}, results: [{file, width, height, predictions: [{index, label, label_zh, score}], timings_ms} | {file, error: {code, message}}]}' }, ...errors },
        },
      },
      '/v1/explain': {
        post: {
          summary: 'Where the model looked: the class activation map of one image for its top answer or ?class= (index or label), as numbers and PNG overlays',
          requestBody: uploadBody('file'),
          responses: { 200: { description: '{model, file, width, height, class, predictions, map: {width, height, values}, overlay: {crop_png, photo_png} (base64)}; with ?image=crop|photo the PNG alone' }, ...errors },
        },
      },
      '/v1/models': { get: { summary: 'The loaded model', responses: { 200: { description: 'Model name, source, SHA-256, classes, threads' } } } },
      '/predictions/{model}': {
        post: torchserve,
        put: torchserve,
      },
      '/predictions/{model}/{version}': {
        post: { ...torchserve, parameters: [...torchserve.parameters, { name: 'version', in: 'path', required: true, schema: { type: 'string', enum: ['1', '1.0'] } }] },
        put: { ...torchserve, parameters: [...torchserve.parameters, { name: 'version', in: 'path', required: true, schema: { type: 'string', enum: ['1', '1.0'] } }] },
      },
      '/ping': { get: { summary: 'TorchServe health', responses: { 200: { description: '{"status": "Healthy"}' }, 503: { description: '{"status": "Unhealthy"}' } } } },
      '/v2': { get: { summary: 'Open Inference Protocol v2: server metadata', responses: { 200: { description: '{name, version, extensions}' } } } },
      '/v2/health/live': { get: { summary: 'v2 liveness', responses: { 200: { description: 'Live' } } } },
      '/v2/health/ready': { get: { summary: 'v2 readiness', responses: { 200: { description: 'Ready' }, 503: { description: 'Loading or shutting down' } } } },
      '/v2/repository/index': { post: { summary: "Triton's model repository index: every model served, [{name, version, state}]; body empty or {ready}", responses: { 200: { description: 'The models' }, 400: errorResponse('Not a JSON object with an optional boolean ready') } } },
      '/v2/models/{name}': { get: { summary: 'v2 model metadata (inputs, outputs, threads)', responses: { 200: { description: 'Model metadata' }, 404: errorResponse('Unknown model') } } },
      '/v2/models/{name}/ready': { get: { summary: 'v2 model readiness', responses: { 200: { description: '{name, ready}' } } } },
      '/v2/models/{name}/config': { get: { summary: 'Triton model configuration (max_batch_size, input/output dims, dynamic batching)', responses: { 200: { description: 'Model configuration' }, 404: errorResponse('Unknown model') } } },
      '/v2/models/{name}/infer': {
        post: {
          summary: 'v2 inference: model {name} takes FP32 [N,3,224,224], model {name}-image takes BYTES encoded images; JSON or binary tensor data, gzip/deflate bodies; parameters.classification k gives "value:index:label" (raw output value, or softmax with classification_probabilities)',
          responses: { 200: { description: 'Inference response' }, 400: errorResponse('Malformed request'), 404: errorResponse('Unknown model') },
        },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'Alive' } } } },
      '/readyz': { get: { summary: 'Readiness', responses: { 200: { description: 'Ready' }, 503: { description: 'Loading or draining' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Text exposition format' } } } },
    },
    components: {
      schemas: { Error: error },
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Needed on every endpoint but health checks and the page when the server runs with --api-key-file (or --api-key)' } },
    },
    // The key is optional: only servers started with one ask for it.
    security: [{}, { apiKey: [] }],
  };
}
