/**
 * File names as the library stores them. Linux names are bytes, not text: a
 * name in Latin-1 or Shift-JIS from an old camera is not valid UTF-8, and
 * Node's default decoding turns its bytes into U+FFFD, a name that no longer
 * exists (ENOENT). Here a name's valid UTF-8 stays text, and each byte that
 * is not is kept as a code point of its own (U+10FF00 + byte, in a private
 * use area no real name uses), so the key round-trips to the exact bytes.
 * Pure functions.
 */

const ESCAPE_BASE = 0x10ff00;

/** The text key of a file name or path given as bytes. */
export function pathKey(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    let cp = length === 1 ? b : length === 2 ? b & 0x1f : length === 3 ? b & 0x0f : b & 0x07;
    let valid = length > 0 && i + length <= bytes.length;
    for (let k = 1; valid && k < length; k++) {
      const c = bytes[i + k];
      if ((c & 0xc0) !== 0x80) valid = false;
      cp = (cp << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if (valid && ((length === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (length === 4 && (cp < 0x10000 || cp > 0x10ffff)))) valid = false;
    if (valid && cp >= ESCAPE_BASE && cp <= ESCAPE_BASE + 0xff) valid = false;
    if (valid) {
      out += String.fromCodePoint(cp);
      i += length;
    } else {
      out += String.fromCodePoint(ESCAPE_BASE + b);
      i += 1;
    }
  }
  return out;
}

/** Whether a key holds bytes that are not UTF-8. */
export function hasRawBytes(key: string): boolean {
  for (const ch of key) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= ESCAPE_BASE && cp <= ESCAPE_BASE + 0xff) return true;
  }
  return false;
}

/** The path to give `fs` for a key: the text itself, or its exact bytes when it has raw bytes. */
export function fsPath(key: string): string | Buffer {
  if (!hasRawBytes(key)) return key;
  const parts: Buffer[] = [];
  for (const ch of key) {
    const cp = ch.codePointAt(0) as number;
    parts.push(cp >= ESCAPE_BASE && cp <= ESCAPE_BASE + 0xff ? Buffer.from([cp - ESCAPE_BASE]) : Buffer.from(ch, 'utf8'));
  }
  return Buffer.concat(parts);
}

/** A key for people to read: raw bytes shown as `\xHH`, as `ls -b` does. */
export function displayPath(key: string): string {
  if (!hasRawBytes(key)) return key;
  let out = '';
  for (const ch of key) {
    const cp = ch.codePointAt(0) as number;
    out += cp >= ESCAPE_BASE && cp <= ESCAPE_BASE + 0xff ? `\\x${(cp - ESCAPE_BASE).toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

/** Whether `path` is `folder` or lies under it (both keys). */
export function isUnder(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith('/') ? folder : `${folder}/`);
}

/**
 * A key for a line of text output: as `displayPath`, and control characters
 * escaped too (`\n`, `\t`, `\x1b`), so a name with a newline stays on its
 * line and cannot move the terminal's cursor. JSON output needs no such
 * care (JSON.stringify escapes them) and keeps the name as it is.
 */
export function linePath(key: string): string {
  return displayPath(key).replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Folders systems keep beside photos for themselves: Synology's thumbnails (`@eaDir`) and recycle bins, Windows' `$RECYCLE.BIN`. */
const SYSTEM_FOLDERS = new Set(['@eaDir', '#recycle', '#snapshot', '@Recycle', '$RECYCLE.BIN', 'System Volume Information', 'lost+found']);

/**
 * Whether every folder walk (`tag`, `classify`, `train`) passes a name by:
 * hidden ones (`.thumbnails`, macOS's `._IMG_1.jpg`) and the folders of
 * {@link SYSTEM_FOLDERS}, whose thumbnails are no one's photos.
 */
export function passedBy(name: string): boolean {
  return name.startsWith('.') || SYSTEM_FOLDERS.has(name);
}
