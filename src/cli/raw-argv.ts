/**
 * The command line's arguments with file names as the file system has them.
 * Node decodes arguments as UTF-8, so a name in Latin-1 from an old camera
 * (`caf\xe9.jpg`) arrives with U+FFFD in place of its byte and names no file.
 * On Linux the exact bytes are in `/proc/self/cmdline`: such an argument
 * becomes a path key (`library/paths.ts`), which the file reading, the
 * folder walk and the messages already take.
 */
import { readFileSync } from 'node:fs';
import { pathKey } from '../library/paths.js';

/** The arguments of this process's command line as bytes (null where it cannot be read). */
function commandLineBytes(): Buffer[] | null {
  try {
    const raw = readFileSync('/proc/self/cmdline');
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] !== 0) continue;
      parts.push(raw.subarray(start, i));
      start = i + 1;
    }
    return parts;
  } catch {
    return null;
  }
}

/**
 * `argv` (the last arguments of the command line, after node's own and the
 * script's) with each argument that Node could not decode as UTF-8 replaced
 * by the key of its exact bytes; every other argument is kept as it is.
 */
export function argumentsAsKeys(argv: readonly string[], commandLine: Buffer[] | null = commandLineBytes()): string[] {
  if (!commandLine || !argv.some((a) => a.includes('\uFFFD')) || commandLine.length < argv.length) return [...argv];
  const raw = commandLine.slice(commandLine.length - argv.length);
  // Only where the bytes are what Node decoded (the same argument), never a guess.
  return argv.map((arg, i) => (arg.includes('\uFFFD') && raw[i].toString('utf8') === arg ? pathKey(raw[i]) : arg));
}
