/**
 * What training tells the user (small classes, repeated photos, an accuracy
 * measured on few photos), kept as codes with their facts so that each
 * reader words them in its own language: the CLI and head files in English
 * (`noteText`), the page in English or Chinese from the same code.
 */

import { plural } from '../plural.js';

/** One thing worth knowing about a training run. */
export type TrainingNote =
  /** A class has fewer photos than a usable head needs. */
  | { code: 'FEW_PHOTOS'; class: string; count: number; min: number }
  /** The same photo was given more than once in one class (counted once). */
  | { code: 'REPEATED_IN_CLASS'; class: string; count: number; names: string[] }
  /** The same photo is in several classes (kept in each). */
  | { code: 'IN_SEVERAL_CLASSES'; classes: string[]; names: string[] }
  /** The accuracy was measured on few held-out photos. */
  | { code: 'FEW_EVALUATED'; count: number }
  /** "Unknown" was calibrated on few photos per class: new photos of these classes will often be refused. */
  | { code: 'FEW_FOR_UNKNOWN'; count: number; min: number }
  /** "Unknown" is off: these classes have fewer than `min` photos, so none can be held out to learn it from. */
  | { code: 'UNKNOWN_OFF'; classes: string[]; min: number }
  /** A class is named like the head's own "unknown" answer. */
  | { code: 'NAMED_UNKNOWN'; class: string }
  /** Photos of a class that the head, trained without them, answered as another class with `min` or more: perhaps put in the wrong class. */
  | { code: 'ANSWERED_AS_OTHER'; class: string; other: string; count: number; names: string[]; min: number };

/** Whether a class name reads as the head's own "unknown" answer (English or Chinese, any case). */
export function namedLikeUnknown(name: string): boolean {
  return ['unknown', '未知'].includes(name.trim().toLowerCase());
}

const photos = (n: number): string => plural(n, 'photo');
/** "a", "a" and "b", or "a", "b" and 3 more. */
const quotedList = (names: readonly string[]): string => {
  const shown = names.slice(0, 3).map((c) => `"${c}"`);
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.length > 1 ? `${shown.slice(0, -1).join(', ')} and ${shown.at(-1)}` : shown[0];
};

/** The English sentence for a note (the head file's and the CLI's `warnings`). */
export function noteText(note: TrainingNote): string {
  switch (note.code) {
    case 'FEW_PHOTOS':
      return `class "${note.class}" has only ${photos(note.count)}; ${note.min} or more give a usable head`;
    case 'REPEATED_IN_CLASS':
      return `the same photo is ${note.count} times in "${note.class}" (counted once): ${note.names.join(', ')}`;
    case 'IN_SEVERAL_CLASSES':
      return `the same photo is in ${note.classes.map((c) => `"${c}"`).join(' and ')}: ${note.names.join(', ')}`;
    case 'FEW_EVALUATED':
      return `the accuracy was measured on only ${photos(note.count)}, so it can be far off: add photos for a steadier figure`;
    case 'NAMED_UNKNOWN':
      return `class "${note.class}" is named like the head's own "unknown" answer (a photo unlike every class): another name, such as "other", keeps the two apart`;
    case 'ANSWERED_AS_OTHER':
      return `"${note.class}" has ${photos(note.count)} that the head, trained without ${note.count === 1 ? 'it' : 'them'}, answered "${note.other}" (${Math.round(note.min * 100)}% or more): check ${note.count === 1 ? 'it is' : 'they are'} in the right class: ${note.names.join(', ')}${note.count > note.names.length ? ', …' : ''}`;
    case 'UNKNOWN_OFF':
      return `"unknown" is off, so every photo is answered as one of the classes: it is learned from photos held out of each class, and ${quotedList(note.classes)} ${note.classes.length === 1 ? 'has' : 'have'} only 1 photo; give every class ${note.min} or more and train again`;
    case 'FEW_FOR_UNKNOWN':
      return `"unknown" was learned from ${photos(note.count)} in the smallest class: new photos of these classes will often be answered "unknown"; ${note.min} or more per class make that much rarer (or train without "unknown": --reject off, or "reject": false through the API)`;
  }
}
