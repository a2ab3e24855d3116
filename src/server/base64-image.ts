/**
 * A photo sent as base64 text, as TorchServe's image handlers take it (a
 * string request body, or a form field holding the string, which they pass
 * to `base64.b64decode`; a `data:image/…;base64,` URL prefix too). Only text
 * that decodes to an image is taken; anything else stays as it was, to be
 * refused as what it is. Pure.
 */
import { looksLikeImage } from '../image/formats.js';

const DATA_URL = /^data:[\w.+-]+\/[\w.+-]+;base64,/i;
const BASE64 = /^[A-Za-z0-9+/\-_\s]+={0,2}\s*$/;

/** `bytes` decoded when they are base64 text of an image; else `bytes` themselves. */
export function decodeBase64Image(bytes: Buffer): Buffer {
  if (bytes.length < 16 || looksLikeImage(bytes.subarray(0, 32))) return bytes;
  // Only the start is tested before the whole is: a binary file is rejected at its first bytes.
  const start = bytes.subarray(0, 128).toString('latin1').replace(DATA_URL, '');
  if (!BASE64.test(start)) return bytes;
  const text = bytes.toString('latin1').replace(DATA_URL, '');
  if (!BASE64.test(text)) return bytes;
  const decoded = Buffer.from(text, 'base64');
  return looksLikeImage(decoded.subarray(0, 32)) ? decoded : bytes;
}
