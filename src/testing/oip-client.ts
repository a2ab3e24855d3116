/**
 * Test helper: a minimal Open Inference Protocol v2 REST client written from
 * the specification (kserve/open-inference-protocol, "REST" and Triton's
 * binary tensor data extension), independent of our server code.
 *
 * Binary extension, as specified: the body is the JSON inference header
 * followed by raw tensor bytes; `Inference-Header-Content-Length` gives the
 * JSON's length; each binary input/output carries
 * `parameters.binary_data_size`. FP32 is little-endian; each BYTES element
 * is a 4-byte little-endian length followed by its bytes. Request bodies
 * may be compressed (`Content-Encoding`), as Triton's client does with
 * `request_compression_algorithm`.
 */
import { deflateSync, gzipSync } from 'node:zlib';

export interface OipTensor {
  name: string;
  shape: number[];
  datatype: string;
  parameters?: Record<string, unknown>;
  data?: unknown[];
}

export interface OipResponse {
  status: number;
  json: { model_name?: string; model_version?: string; id?: string; outputs?: OipTensor[]; error?: string; [k: string]: unknown };
  /** Decoded binary outputs by name. */
  binary: Record<string, Float32Array | string[]>;
}

function bytesElements(buf: Buffer): string[] {
  const out: string[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const len = buf.readUInt32LE(pos);
    out.push(buf.subarray(pos + 4, pos + 4 + len).toString('utf8'));
    pos += 4 + len;
  }
  return out;
}

export class OipClient {
  constructor(private readonly base: string) {}

  async get(path: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${this.base}${path}`);
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : {} };
  }

  /**
   * POSTs an inference request. `binaryInputs` maps input names to raw bytes
   * sent with the binary extension instead of JSON `data`.
   */
  async infer(
    model: string,
    request: { id?: string; inputs: OipTensor[]; outputs?: { name: string; parameters?: Record<string, unknown> }[]; parameters?: Record<string, unknown> },
    binaryInputs: Record<string, Buffer> = {},
    options: { compression?: 'gzip' | 'deflate' } = {},
  ): Promise<OipResponse> {
    const blobs: Buffer[] = [];
    const inputs = request.inputs.map((input) => {
      const blob = binaryInputs[input.name];
      if (!blob) return input;
      blobs.push(blob);
      const { data: _data, ...rest } = input;
      return { ...rest, parameters: { ...(input.parameters ?? {}), binary_data_size: blob.length } };
    });
    const header = Buffer.from(JSON.stringify({ ...request, inputs }));
    const headers: Record<string, string> = blobs.length
      ? { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) }
      : { 'content-type': 'application/json' };
    let body = Buffer.concat([header, ...blobs]);
    if (options.compression) {
      body = options.compression === 'gzip' ? gzipSync(body) : deflateSync(body);
      headers['content-encoding'] = options.compression;
    }
    return this.send(model, body, headers);
  }

  /** POSTs a prepared body to a model's infer endpoint and decodes the answer. */
  async send(model: string, requestBody: Buffer, headers: Record<string, string>): Promise<OipResponse> {
    const res = await fetch(`${this.base}/v2/models/${encodeURIComponent(model)}/infer`, { method: 'POST', headers, body: new Uint8Array(requestBody) });
    const body = Buffer.from(await res.arrayBuffer());
    const jsonLength = res.headers.get('inference-header-content-length');
    const split = jsonLength === null ? body.length : Number(jsonLength);
    const json = JSON.parse(body.subarray(0, split).toString('utf8'));
    const binary: Record<string, Float32Array | string[]> = {};
    let pos = split;
    for (const out of (json.outputs ?? []) as OipTensor[]) {
      const size = out.parameters?.binary_data_size;
      if (typeof size !== 'number') continue;
      const chunk = body.subarray(pos, pos + size);
      pos += size;
      binary[out.name] = out.datatype === 'FP32' ? new Float32Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.length)) : bytesElements(chunk);
    }
    return { status: res.status, json, binary };
  }
}
