/** resnet-serve's library entry: load a model, classify images. */
export { ImageClassifier, type ImageInput } from './classify/classifier.js';
export { softmax, topK } from './classify/postprocess.js';
export { ResnetServeError, ErrorCodes, isResnetServeError, type ErrorCode } from './errors.js';
export { Preprocessor, IMAGENET_PREPROCESS, type PreprocessConfig } from './image/preprocess.js';
export { decodeImage } from './image/decode.js';
export { loadModel, type LoadedModel } from './model/load-model.js';
export { readCheckpoint } from './model/pth.js';
export { buildResnetGraph } from './model/resnet-graph.js';
export type * from './types.js';
