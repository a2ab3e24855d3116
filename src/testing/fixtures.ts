/**
 * Test helper: a running ClassificationService on a random-weight ResNet-18
 * (so server tests need neither network nor ../shared), and small generated
 * photos.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ClassificationService, type ServiceOptions } from '../classify/service.js';
import { writeRandomCheckpoint } from './random-resnet.js';

/** Starts a service on a generated ResNet-18 checkpoint. */
export async function startTestService(options: ServiceOptions = {}): Promise<ClassificationService> {
  const { path } = await writeRandomCheckpoint('resnet18', 21);
  return ClassificationService.start({ model: path, cacheDir: await mkdtemp(join(tmpdir(), 'rs-svc-')), workers: 2, threads: 2, ...options });
}

/** A generated photo-like JPEG: a coloured background with a few shapes, different per seed. */
export async function testPhoto(seed: number, width = 480, height = 360, format: 'jpeg' | 'png' = 'jpeg'): Promise<Buffer> {
  const hue = (seed * 67) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="hsl(${hue},60%,55%)"/>
    <circle cx="${(seed * 37) % width}" cy="${(seed * 53) % height}" r="${40 + (seed % 5) * 20}" fill="hsl(${(hue + 120) % 360},70%,40%)"/>
    <rect x="${(seed * 29) % (width / 2)}" y="${height / 3}" width="${width / 3}" height="${height / 4}" fill="hsl(${(hue + 240) % 360},50%,70%)"/>
  </svg>`;
  const image = sharp(Buffer.from(svg));
  return format === 'png' ? image.png().toBuffer() : image.jpeg({ quality: 90 }).toBuffer();
}

/** A multipart/form-data body with the given file parts, for `app.inject()`. */
export function multipartBody(parts: { field: string; filename: string; type: string; data: Buffer }[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----resnet-serve-${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.field}"; filename="${p.filename}"\r\nContent-Type: ${p.type}\r\n\r\n`), p.data, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}
