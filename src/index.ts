/** resnet-serve's library entry: load a model, classify images, or serve them over HTTP. */
export { ImageClassifier, type ImageInput } from './classify/classifier.js';
export { ClassificationService, type ServiceOptions } from './classify/service.js';
export { InferenceBatcher, type BatcherOptions } from './classify/batcher.js';
export { softmax, topK } from './classify/postprocess.js';
export { ResnetServeError, ErrorCodes, isResnetServeError, type ErrorCode } from './errors.js';
export { Preprocessor } from './image/preprocess.js';
export { IMAGENET_PREPROCESS, type PreprocessConfig, type PreprocessMode } from './image/preprocess-config.js';
export { decodeImage } from './image/decode.js';
export { loadModel, type LoadedModel } from './model/load-model.js';
export { readCheckpoint } from './model/pth.js';
export { buildResnetGraph } from './model/resnet-graph.js';
export { buildApp, type AppOptions, type ResnetApp } from './server/app.js';
export { startServer, type ServerOptions, type RunningServer } from './server/server.js';
export { availableCpus } from './cpu-quota.js';
export type * from './types.js';
