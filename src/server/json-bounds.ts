/**
 * What JSON text holds, counted before it is parsed: parsing costs far more
 * per array, object or string than per byte of text (16 MB of nested empty
 * arrays need over 200 MB of heap and seconds of CPU), so a body with more
 * of them than its route can use is refused unparsed.
 */

/** What a JSON body may hold at most. */
export interface JsonBounds {
  /** Arrays and objects inside one another. */
  depth: number;
  /** Arrays and objects in all. */
  containers: number;
  /** Strings in all, keys included. */
  strings: number;
}

/**
 * Counts arrays, objects and strings in JSON text and the deepest nesting,
 * without parsing, and names the first bound the text exceeds (null when
 * none), stopping there.
 */
export function exceededJsonBound(json: Uint8Array, bounds: JsonBounds): keyof JsonBounds | null {
  let depth = 0;
  let containers = 0;
  let strings = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
      if (++strings > bounds.strings) return 'strings';
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > bounds.depth) return 'depth';
      if (++containers > bounds.containers) return 'containers';
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return null;
}
