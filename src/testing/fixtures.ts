/**
 * Test helper: a running ClassificationService on a random-weight ResNet-18
 * (so server tests need neither network nor ../shared), and small generated
 * photos.
 */
import sharp from 'sharp';
import { ClassificationService, type ServiceOptions } from '../classify/service.js';
import { writeBmp } from './bmp-writer.js';
import { writeRandomCheckpoint } from './random-resnet.js';
import { scratchDir } from './scratch.js';

/** Starts a service on a generated ResNet-18 checkpoint. */
export async function startTestService(options: ServiceOptions = {}): Promise<ClassificationService> {
  const { path } = await writeRandomCheckpoint('resnet18', 21);
  return ClassificationService.start({ model: path, cacheDir: await scratchDir('rs-svc-'), workers: 2, threads: 2, ...options });
}

function hsl(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number): number => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/**
 * A generated photo-like JPEG: a coloured background with a circle and a
 * rectangle, different per seed (drawn in raw pixels: SVG is a format the
 * decoder refuses to load).
 */
export async function testPhoto(seed: number, width = 480, height = 360, format: 'jpeg' | 'png' | 'bmp' = 'jpeg'): Promise<Buffer> {
  const hue = (seed * 67) % 360;
  const background = hsl(hue, 0.6, 0.55);
  const disc = hsl((hue + 120) % 360, 0.7, 0.4);
  const box = hsl((hue + 240) % 360, 0.5, 0.7);
  const [cx, cy, r] = [(seed * 37) % width, (seed * 53) % height, 40 + (seed % 5) * 20];
  const [bx, by, bw, bh] = [(seed * 29) % (width / 2), height / 3, width / 3, height / 4];
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inBox = x >= bx && x < bx + bw && y >= by && y < by + bh;
      const colour = inBox ? box : (x - cx) ** 2 + (y - cy) ** 2 <= r * r ? disc : background;
      pixels.set(colour, (y * width + x) * 3);
    }
  }
  if (format === 'bmp') return writeBmp({ width, height, bitsPerPixel: 24, pixels });
  const image = sharp(pixels, { raw: { width, height, channels: 3 } });
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
