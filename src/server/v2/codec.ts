/**
 * The Open Inference Protocol v2 (KServe / Triton) request and response
 * bodies, as pure functions: the JSON header and the binary tensor data
 * extension (`Inference-Header-Content-Length`), checked in full before any
 * work is done (input names, shapes, element counts, finite values, outputs
 * asked for), the way Triton answers a malformed request: 400 with a message
 * that names what is wrong. Large JSON bodies are parsed by the same code in
 * a child process (`codec-process.ts`).
 */
import { ResnetServeError } from '../../errors.js';
import { exceededJsonBound, type JsonBounds } from '../json-bounds.js';
import { plural } from '../../plural.js';

/** One input or output as model metadata lists it. */
export interface TensorSpec {
  name: string;
  datatype: 'FP32' | 'BYTES' | 'BOOL';
  shape: number[];
}

/** What a served model takes and gives, for checking requests. */
export interface ModelSignature {
  name: string;
  input: TensorSpec;
  outputs: TensorSpec[];
  /** Outputs given when asked for by name but not listed in the metadata (so one-output clients keep working). */
  unlisted?: TensorSpec[];
}

/** A checked input: a batch of preprocessed tensors, or encoded images. */
export type DecodedInput = { kind: 'tensor'; data: Float32Array; batch: number } | { kind: 'images'; images: Uint8Array[] };

/** A checked output request. */
export interface OutputRequest {
  name: string;
  /** Top-k classification strings instead of the tensor. */
  classification?: number;
  /** Classification scores as softmax probabilities instead of the raw output value (Triton's choice). */
  probabilities: boolean;
  binary: boolean;
}

/** A checked inference request. */
export interface DecodedRequest {
  id?: string;
  input: DecodedInput;
  outputs: OutputRequest[];
}

/** Nesting deeper than any tensor needs is refused before it can cost anything. */
const MAX_NESTING = 16;
const isBase64Char = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 45 || c === 95;
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

/**
 * Whether `text` is base64, standard or URL-safe, padded or not, with
 * whitespace allowed (MIME line breaks), in one pass: the regular expression
 * this replaces backtracked quadratically (255 KB of spaces and one wrong
 * character held the event loop for 95 s).
 */
export function isBase64(text: string): boolean {
  let i = 0;
  while (i < text.length && (isBase64Char(text.charCodeAt(i)) || isSpace(text.charCodeAt(i)))) i++;
  for (let pads = 0; pads < 2 && text.charCodeAt(i) === 61; pads++) i++;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i === text.length;
}

function bad(message: string): ResnetServeError {
  return new ResnetServeError('BAD_REQUEST', message);
}

/** Splits a body into its JSON header and the binary tensor data that follows it. */
export function splitBody(raw: Uint8Array, headerLength: string | string[] | undefined): { json: Uint8Array; binary: Uint8Array } {
  const text = Array.isArray(headerLength) ? headerLength[0] : headerLength;
  const jsonLength = text === undefined ? raw.length : Number(text);
  if (!Number.isInteger(jsonLength) || jsonLength < 0 || jsonLength > raw.length) {
    throw bad(`Inference-Header-Content-Length ${String(text)} does not fit a body of ${raw.length} bytes`);
  }
  return { json: raw.subarray(0, jsonLength), binary: raw.subarray(jsonLength) };
}

/**
 * Room for a request's own structure (its inputs, outputs, parameters and
 * their keys): generous, so that a request asking for too much is told what
 * (20,000 outputs), and still only a few MB once parsed.
 */
const STRUCTURE_ALLOWANCE = 65_536;

/**
 * The most a request for `model` with up to `maxBatch` inputs can need:
 * one array per row of the largest tensor it takes sent nested (e.g.
 * 32 × 3 × 224 arrays of 224 numbers), one string per image, and room for
 * the request's own structure.
 */
export function jsonBounds(model: ModelSignature, maxBatch: number): JsonBounds {
  const dims = model.input.shape.map((d) => (d < 0 ? maxBatch : d));
  let rows = 1;
  let containers = 1;
  for (const d of dims.slice(0, -1)) containers += rows *= d;
  return { depth: MAX_NESTING + 4, containers: containers + STRUCTURE_ALLOWANCE, strings: maxBatch + STRUCTURE_ALLOWANCE };
}

const EMPTY_BODY = 'the body is empty (send the inference request, a JSON object with "inputs")';
const NOT_AN_OBJECT = 'it does not start with "{" (an image file goes base64-encoded in the BYTES input of the model\'s "-image" model, or to /v1/classify)';

/**
 * Parses the JSON header after checking it against `bounds` (left out when
 * the caller has checked it against tighter ones); only syntax and size of
 * structure are checked here.
 */
export function parseJson(json: Uint8Array, bounds?: JsonBounds): unknown {
  // Not a JSON object at all (an image, text): said as such, whatever brackets its bytes happen to hold.
  const first = json.find((byte) => byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d);
  if (first !== 0x7b) throw bad(`The inference request is not valid JSON: ${first === undefined ? EMPTY_BODY : NOT_AN_OBJECT}`);
  const exceeded = bounds ? exceededJsonBound(json, bounds) : null;
  if (exceeded === 'depth') throw bad(`Tensor data is nested more than ${MAX_NESTING} deep`);
  if (exceeded === 'containers') throw bad(`The request holds more than ${bounds?.containers} arrays and objects, more than any batch this model takes needs; send tensor data flat (or with the binary data extension)`);
  if (exceeded === 'strings') throw bad(`The request holds more than ${bounds?.strings} strings, more than any batch this model takes needs`);
  const text = Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bad(`The inference request is not valid JSON: ${jsonSyntaxProblem((err as Error).message)}`);
  }
}

/**
 * What is wrong with a body JSON.parse refused, without the piece of it V8
 * quotes in its message: an image sent here would put its bytes in the
 * answer and the log.
 */
function jsonSyntaxProblem(message: string): string {
  if (/^Unexpected end of JSON input/.test(message)) return 'it ends too soon';
  // V8's own words where they say where, not what ("Expected ',' or '}' after property value in JSON at position 12").
  if (/in JSON at position \d+/.test(message) && !/is not valid JSON/.test(message)) return message;
  return 'something unexpected in it';
}

/** Walks nested arrays without recursion, refusing nesting deeper than tensors have. */
function flatten(data: unknown, visit: (v: unknown) => void): void {
  const stack: { items: unknown[]; at: number }[] = [];
  if (!Array.isArray(data)) return visit(data);
  stack.push({ items: data, at: 0 });
  while (stack.length) {
    const top = stack[stack.length - 1];
    if (top.at === top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.at++];
    if (Array.isArray(item)) {
      if (stack.length >= MAX_NESTING) throw bad(`Tensor data is nested more than ${MAX_NESTING} deep`);
      stack.push({ items: item, at: 0 });
    } else {
      visit(item);
    }
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function refuseSharedMemory(parameters: unknown, what: string): void {
  if (isObject(parameters) && Object.keys(parameters).some((k) => k.startsWith('shared_memory'))) {
    throw bad(`${what} asks for shared memory, which this server does not support; send the data in the request`);
  }
}

/** The tensor datatypes of the Open Inference Protocol. */
const V2_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

function readTensor(input: Record<string, unknown>, binary: Uint8Array, model: ModelSignature, maxBatch: number): DecodedInput {
  const spec = model.input;
  const shape = input.shape;
  if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw bad(`Input '${spec.name}' needs "shape", a list of non-negative integers`);
  }
  if (input.datatype !== spec.datatype) {
    if (input.datatype === undefined) throw bad(`Input '${spec.name}' of model '${model.name}' needs "datatype": "${spec.datatype}"`);
    const known = V2_DATATYPES.includes(String(input.datatype));
    throw bad(`Input '${spec.name}' of model '${model.name}' has datatype ${spec.datatype}, not ${known ? String(input.datatype) : `${JSON.stringify(input.datatype)}, which is not a datatype of the protocol (${V2_DATATYPES.join(', ')})`}`);
  }
  const parameters = isObject(input.parameters) ? input.parameters : {};
  refuseSharedMemory(parameters, `Input '${spec.name}'`);
  const binarySize = parameters.binary_data_size;
  if (binarySize !== undefined && (!Number.isInteger(binarySize) || (binarySize as number) < 0)) {
    throw bad(`Input '${spec.name}': binary_data_size must be a whole number of bytes, not ${JSON.stringify(binarySize)}`);
  }
  if (binarySize !== undefined && (binarySize as number) > binary.length) {
    throw bad(`Input '${spec.name}': binary_data_size ${String(binarySize)} exceeds the ${binary.length} bytes sent`);
  }
  const blob = binarySize === undefined ? null : binary.subarray(0, binarySize as number);
  if (blob === null && input.data === undefined) throw bad(`Input '${spec.name}' has no "data" and no binary_data_size`);
  const n = shape[0] as number;
  if (n < 1) throw bad(`Input '${spec.name}' has an empty batch`);
  if (n > maxBatch) throw new ResnetServeError('TOO_MANY_FILES', `Input '${spec.name}' has a batch of ${n}; at most ${maxBatch} images per request`);

  if (spec.datatype === 'FP32') {
    const [, c, h, w] = spec.shape;
    if (shape.length !== 4 || shape[1] !== c || shape[2] !== h || shape[3] !== w) {
      throw bad(`Input '${spec.name}' must have shape [N, ${c}, ${h}, ${w}]; got [${shape.join(', ')}]`);
    }
    const count = n * c * h * w;
    let data: Float32Array;
    if (blob) {
      if (blob.length !== count * 4) throw bad(`Input '${spec.name}': shape [${shape.join(', ')}] needs ${count * 4} bytes of FP32 data, got ${blob.length}`);
      data = new Float32Array(count);
      new Uint8Array(data.buffer).set(blob);
    } else {
      data = new Float32Array(count);
      let i = 0;
      flatten(input.data, (v) => {
        if (typeof v !== 'number') throw bad(`Input '${spec.name}': FP32 data must be numbers`);
        if (i < count) data[i] = v;
        i++;
      });
      if (i !== count) throw bad(`Input '${spec.name}': shape [${shape.join(', ')}] needs ${count} values, got ${i}`);
    }
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw bad(`Input '${spec.name}': FP32 data must be finite numbers (value ${i} is ${data[i]})`);
    }
    return { kind: 'tensor', data, batch: n };
  }

  if (!(shape.length === 1 || (shape.length === 2 && shape[1] === 1))) {
    throw bad(`Input '${spec.name}': encoded images need shape [N] or [N, 1]; got [${shape.join(', ')}]`);
  }
  const images: Uint8Array[] = [];
  if (blob) {
    let pos = 0;
    while (pos < blob.length) {
      if (pos + 4 > blob.length) throw bad(`Input '${spec.name}': a BYTES element is cut short`);
      const len = Buffer.from(blob.buffer, blob.byteOffset + pos, 4).readUInt32LE(0);
      if (pos + 4 + len > blob.length) throw bad(`Input '${spec.name}': a BYTES element runs past the data`);
      images.push(blob.subarray(pos + 4, pos + 4 + len));
      pos += 4 + len;
      if (images.length > n) break;
    }
  } else {
    flatten(input.data, (v) => {
      const text = typeof v === 'string' ? v : isObject(v) && typeof v.b64 === 'string' ? v.b64 : null;
      if (text === null) throw bad(`Input '${spec.name}': BYTES elements must be base64 strings`);
      // Buffer.from skips what is not base64, which would turn a wrong element into a corrupt image.
      if (!isBase64(text)) throw bad(`Input '${spec.name}': BYTES element ${images.length} (counting from 0) is not base64 (JSON carries each image as base64, or send the bytes with the binary data extension)`);
      if (images.length <= n) images.push(Buffer.from(text, 'base64'));
    });
  }
  if (images.length !== n) throw bad(`Input '${spec.name}': shape says ${plural(n, 'image')}, ${images.length === 1 ? '1 was' : `${images.length} were`} sent`);
  return { kind: 'images', images };
}

function readOutputs(header: Record<string, unknown>, model: ModelSignature, numClasses: number): OutputRequest[] {
  const parameters = isObject(header.parameters) ? header.parameters : {};
  const allBinary = parameters.binary_data_output === true;
  const requestK = parameters.classification;
  const requestProbabilities = parameters.classification_probabilities === true;
  const asked = header.outputs;
  if (asked !== undefined && !Array.isArray(asked)) throw bad('"outputs" must be a list');
  const all = [...model.outputs, ...(model.unlisted ?? [])];
  // As Triton: no outputs asked for means all of them (but the embedding, which is asked for by name).
  const list = Array.isArray(asked) && asked.length ? asked : model.outputs.filter((o) => o.name !== 'embedding').map((o) => ({ name: o.name }));
  if (list.length > all.length) throw bad(`Model '${model.name}' has ${all.length} output(s); ${list.length} were asked for`);
  const seen = new Set<string>();
  return list.map((out): OutputRequest => {
    if (!isObject(out) || typeof out.name !== 'string') throw bad('Each requested output needs a "name"');
    const spec = all.find((o) => o.name === out.name);
    if (!spec) throw bad(`Unexpected inference output '${out.name}' for model '${model.name}'; it has ${all.map((o) => `'${o.name}'`).join(', ')}`);
    if (seen.has(out.name)) throw bad(`Output '${out.name}' is asked for twice`);
    seen.add(out.name);
    const p = isObject(out.parameters) ? out.parameters : {};
    refuseSharedMemory(p, `Output '${out.name}'`);
    const k = spec.datatype === 'FP32' && spec.shape.length === 2 && spec.name !== 'embedding' ? (p.classification ?? requestK) : p.classification;
    if (k !== undefined && (spec.datatype !== 'FP32' || spec.name === 'embedding')) throw bad(`classification applies to class scores, not to '${spec.name}'`);
    if (k !== undefined) {
      const classes = spec.shape[1] > 0 ? spec.shape[1] : numClasses;
      if (!Number.isInteger(k) || (k as number) < 1 || (k as number) > classes) throw bad(`classification must be an integer from 1 to ${classes}`);
    }
    return {
      name: out.name,
      classification: k as number | undefined,
      probabilities: p.classification_probabilities === true || requestProbabilities,
      binary: p.binary_data === true || allBinary,
    };
  });
}

/**
 * Checks a parsed request against the model: exactly its one input (Triton
 * refuses unknown names), shape, datatype, element count and finite values,
 * and the outputs asked for (known names, each once, no shared memory).
 */
export function decodeRequest(header: unknown, binary: Uint8Array, model: ModelSignature, options: { maxBatch: number; numClasses: number }): DecodedRequest {
  if (!isObject(header)) throw bad('The inference request must be a JSON object');
  if (header.id !== undefined && typeof header.id !== 'string') throw bad('"id" must be a string');
  const inputs = header.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) throw bad(`The inference request needs "inputs" with the tensor '${model.input.name}'`);
  for (const input of inputs) {
    if (!isObject(input) || typeof input.name !== 'string') throw bad('Each input needs a "name"');
    if (input.name !== model.input.name) {
      throw bad(`Unexpected inference input '${input.name}' for model '${model.name}'; it takes '${model.input.name}' (${model.input.datatype})`);
    }
  }
  if (inputs.length > 1) throw bad(`Model '${model.name}' takes one input; ${inputs.length} were sent`);
  const declared = (inputs[0] as { parameters?: { binary_data_size?: unknown } }).parameters?.binary_data_size;
  const used = typeof declared === 'number' ? declared : 0;
  if (binary.length !== used) throw bad(`The body carries ${binary.length} bytes of binary data after the JSON, but the inputs declare ${used}`);
  refuseSharedMemory(header.parameters, 'The request');
  const outputs = readOutputs(header, model, options.numClasses);
  return { id: header.id as string | undefined, input: readTensor(inputs[0] as Record<string, unknown>, binary, model, options.maxBatch), outputs };
}

/** One output tensor of a response, before encoding. */
export type OutputTensor =
  | { name: string; datatype: 'FP32'; shape: number[]; data: Float32Array }
  | { name: string; datatype: 'BYTES'; shape: number[]; data: string[] }
  | { name: string; datatype: 'BOOL'; shape: number[]; data: boolean[] };

function encodeStrings(strings: string[]): Buffer {
  return Buffer.concat(
    strings.flatMap((s) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return [len, b];
    }),
  );
}

/**
 * The response body: JSON only, or JSON followed by the binary data of the
 * outputs asked for in binary (with the header length to send back).
 */
export function encodeResponse(head: { model_name: string; model_version: string; id?: string }, tensors: { tensor: OutputTensor; binary: boolean }[]): { body: Buffer | object; headerLength?: number } {
  const tails: Buffer[] = [];
  const outputs = tensors.map(({ tensor, binary }) => {
    const out: Record<string, unknown> = { name: tensor.name, datatype: tensor.datatype, shape: tensor.shape };
    if (binary) {
      const tail =
        tensor.datatype === 'FP32' ? Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength) : tensor.datatype === 'BOOL' ? Buffer.from(tensor.data.map((b) => (b ? 1 : 0))) : encodeStrings(tensor.data);
      out.parameters = { binary_data_size: tail.length };
      tails.push(tail);
    } else {
      out.data = tensor.datatype === 'FP32' ? Array.from(tensor.data) : tensor.data;
    }
    return out;
  });
  const response = { ...head, outputs };
  if (tails.length === 0) return { body: response };
  const json = Buffer.from(JSON.stringify(response));
  return { body: Buffer.concat([json, ...tails]), headerLength: json.length };
}
