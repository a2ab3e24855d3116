/** ONNX Runtime, loaded only after its telemetry is off (see `ort-env.ts`). Import it from here, never directly. */
import './ort-env.js';
import ort from 'onnxruntime-node';

export default ort;
