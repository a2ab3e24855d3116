/**
 * The build step of `npm start`, `npm test` and `npm install` (npm's `prepare`, so that
 * `npx resnet-serve` works right after installing): compiles only when a
 * source changed since the last successful `npm run build` (which leaves
 * `dist/.build-stamp`), so a start with nothing edited does not spend ~15 s
 * in the TypeScript compiler. Does nothing where there is nothing to compile
 * or nothing to compile with (an install without the sources or without the
 * dev dependencies, as the container's stages are).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
};

/** The newest modification time under `dir` (files and folders, so a deleted source counts too). */
function newest(dir) {
  let latest = mtime(dir);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : mtime(path));
  }
  return latest;
}

if (!existsSync(join(root, 'src')) || !existsSync(join(root, 'node_modules', 'typescript'))) process.exit(0);

const built = mtime(join(root, 'dist', '.build-stamp'));
const sources = Math.max(newest(join(root, 'src')), mtime(join(root, 'tsconfig.json')), mtime(join(root, 'package-lock.json')));
if (sources > built) {
  execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
}
