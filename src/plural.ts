/**
 * English counts in messages: "1 photo", "3 photos", "2 classes". Pure.
 */

/**
 * `n` and the noun, in the plural unless `n` is 1.
 * @param n the count
 * @param noun the singular ("photo")
 * @param nouns the plural where adding "s" is wrong ("classes")
 */
export const plural = (n: number, noun: string, nouns = `${noun}s`): string => `${n} ${n === 1 ? noun : nouns}`;
