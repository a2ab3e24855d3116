/**
 * XMP sidecars that photo managers read (digiKam, darktable, Lightroom):
 * flat keywords in `dc:subject` and hierarchical ones in
 * `lr:hierarchicalSubject` (`resnet-serve|animal|dog|golden retriever`).
 * An existing sidecar is updated, not replaced: every other field and
 * keyword stays; only the keywords this tool wrote before (recognised from
 * its own `resnet-serve|…` hierarchy) are swapped for the new ones.
 */
import { existsSync, readFileSync } from 'node:fs';
import { DOMParser, XMLSerializer, type Document, type Element } from '@xmldom/xmldom';
import { writeFileAtomic } from '../fs-atomic.js';

const NS = {
  x: 'adobe:ns:meta/',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dc: 'http://purl.org/dc/elements/1.1/',
  lr: 'http://ns.adobe.com/lightroom/1.0/',
};
const ROOT = 'resnet-serve';

/** Keywords for one photo: flat ones and hierarchy paths (without the root). */
export interface Keywords {
  flat: string[];
  hierarchical: string[][];
}

const EMPTY = `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="${NS.rdf}">
  <rdf:Description rdf:about="" xmlns:dc="${NS.dc}" xmlns:lr="${NS.lr}"/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
`;

function bagOf(doc: Document, description: Element, ns: string, qname: string): Element {
  let prop = description.getElementsByTagNameNS(ns, qname.split(':')[1])[0];
  if (!prop) {
    prop = doc.createElementNS(ns, qname);
    description.appendChild(prop);
  }
  let bag = prop.getElementsByTagNameNS(NS.rdf, 'Bag')[0];
  if (!bag) {
    bag = doc.createElementNS(NS.rdf, 'rdf:Bag');
    prop.appendChild(bag);
  }
  return bag;
}

function items(bag: Element): Element[] {
  return Array.from(bag.getElementsByTagNameNS(NS.rdf, 'li'));
}

/** Returns the sidecar XML with our keywords set to `keywords`, keeping everything else. */
export function updateXmp(existing: string | null, keywords: Keywords): string {
  const doc = new DOMParser().parseFromString(existing && existing.includes('rdf:RDF') ? existing : EMPTY, 'text/xml');
  const rdf = doc.getElementsByTagNameNS(NS.rdf, 'RDF')[0];
  let description = rdf.getElementsByTagNameNS(NS.rdf, 'Description')[0];
  if (!description) {
    description = doc.createElementNS(NS.rdf, 'rdf:Description');
    description.setAttributeNS(NS.rdf, 'rdf:about', '');
    rdf.appendChild(description);
  }
  const subjects = bagOf(doc, description, NS.dc, 'dc:subject');
  const hierarchy = bagOf(doc, description, NS.lr, 'lr:hierarchicalSubject');
  // What we wrote last time: our hierarchy entries and every name in them.
  const ours = new Set<string>();
  for (const li of items(hierarchy)) {
    const path = li.textContent ?? '';
    if (path === ROOT || path.startsWith(`${ROOT}|`)) {
      path.split('|').slice(1).forEach((p) => ours.add(p));
      hierarchy.removeChild(li);
    }
  }
  for (const li of items(subjects)) if (ours.has(li.textContent ?? '')) subjects.removeChild(li);
  const present = new Set(items(subjects).map((li) => li.textContent ?? ''));
  const add = (bag: Element, text: string): void => {
    const li = doc.createElementNS(NS.rdf, 'rdf:li');
    li.appendChild(doc.createTextNode(text));
    bag.appendChild(li);
  };
  for (const k of keywords.flat) if (!present.has(k)) (present.add(k), add(subjects, k));
  for (const path of keywords.hierarchical) add(hierarchy, [ROOT, ...path].join('|'));
  return new XMLSerializer().serializeToString(doc);
}

/** Where the sidecar of `photo` goes: `IMG_1.jpg.xmp` (default) or `IMG_1.xmp`. */
export function sidecarPath(photo: string, naming: 'append' | 'replace' = 'append'): string {
  return naming === 'append' ? `${photo}.xmp` : photo.replace(/\.[^./\\]*$/, '') + '.xmp';
}

/** Writes or updates the sidecar of `photo` (atomically; the photo itself is never touched). */
export async function writeSidecar(photo: string, keywords: Keywords, naming: 'append' | 'replace' = 'append'): Promise<string> {
  const path = sidecarPath(photo, naming);
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : null;
  await writeFileAtomic(path, updateXmp(existing, keywords));
  return path;
}
