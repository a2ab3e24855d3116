/**
 * XMP sidecars that photo managers read: flat keywords in `dc:subject`,
 * hierarchies in `lr:hierarchicalSubject` (`resnet-serve|animal|dog|golden
 * retriever`) and in `digiKam:TagsList` (`resnet-serve/animal/dog/golden
 * retriever`; digiKam and Immich read it).
 *
 * An existing sidecar is merged into, never rewritten: other tools (exiftool,
 * Immich, Lightroom) write one `rdf:Description` per namespace, and XMP
 * allows each property once, so our keywords go into the property wherever it
 * already is (a second `dc:subject` makes exiv2, the library of digiKam and
 * darktable, refuse the whole file). Every other field and namespace stays as
 * it was. What we added is recorded in our own namespace (`rsv:`), so a later
 * run removes exactly that and never a keyword the user had, even one equal to
 * one of our labels. A sidecar that is not well-formed XMP is left alone, with
 * the reason.
 */
import { DOMParser, XMLSerializer, type Document, type Element, type Node } from '@xmldom/xmldom';
import { ResnetServeError } from '../errors.js';

const NS = {
  x: 'adobe:ns:meta/',
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dc: 'http://purl.org/dc/elements/1.1/',
  lr: 'http://ns.adobe.com/lightroom/1.0/',
  digiKam: 'http://www.digikam.org/ns/1.0/',
  rsv: 'http://ns.resnet-serve.org/xmp/1.0/',
  xmlns: 'http://www.w3.org/2000/xmlns/',
} as const;

/** The root of our hierarchies. */
export const KEYWORD_ROOT = 'resnet-serve';

/** Keywords for one photo: flat ones and hierarchy paths (without the root). */
export interface Keywords {
  flat: string[];
  hierarchical: string[][];
}

/** The three keyword properties: where they live, their container, and the record of what we added. */
const PROPERTIES = [
  { ns: NS.dc, prefix: 'dc', local: 'subject', container: 'Bag', record: 'Subject' },
  { ns: NS.lr, prefix: 'lr', local: 'hierarchicalSubject', container: 'Bag', record: 'HierarchicalSubject' },
  { ns: NS.digiKam, prefix: 'digiKam', local: 'TagsList', container: 'Seq', record: 'TagsList' },
] as const;
type Property = (typeof PROPERTIES)[number];

const EMPTY = `<?xpacket begin="\uFEFF" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="${NS.rdf}">
  <rdf:Description rdf:about=""/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
`;

function invalid(why: string): ResnetServeError {
  return new ResnetServeError('SIDECAR_INVALID', `not well-formed XMP (${why}); left as it is`);
}

function parse(text: string): Document {
  let problem: string | null = null;
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level: string, message: string) => {
        if (level !== 'warning') problem ??= message.split('\n')[0];
      },
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    throw invalid(problem ?? (err as Error).message.split('\n')[0]);
  }
  if (problem) throw invalid(problem);
  return doc;
}

const elements = (root: Element | Document, ns: string, local: string): Element[] => Array.from(root.getElementsByTagNameNS(ns, local));
const childElements = (node: Element): Element[] => Array.from(node.childNodes).filter((n): n is Element => n.nodeType === 1);
const textOf = (li: Element): string => li.textContent ?? '';

/** The level separators of each hierarchy, replaced inside a level. */
function hierarchyText(property: Property, path: readonly string[]): string {
  if (property.local === 'hierarchicalSubject') return [KEYWORD_ROOT, ...path].map((l) => l.replaceAll('|', '¦')).join('|');
  return [KEYWORD_ROOT, ...path].map((l) => l.replaceAll('/', '∕')).join('/');
}

/** A Description to hold a new property: one that declares its namespace (exiftool's layout), else the first. */
function descriptionFor(doc: Document, rdf: Element, ns: string, prefix: string): Element {
  const descriptions = childElements(rdf).filter((e) => e.namespaceURI === NS.rdf && e.localName === 'Description');
  const declared = descriptions.find((d) => d.lookupNamespaceURI(prefix) === ns);
  let description = declared ?? descriptions[0];
  if (!description) {
    description = doc.createElementNS(NS.rdf, 'rdf:Description');
    appendIndented(doc, rdf, description);
  }
  if (!description.hasAttributeNS(NS.rdf, 'about')) description.setAttributeNS(NS.rdf, 'rdf:about', '');
  if (description.lookupNamespaceURI(prefix) !== ns) description.setAttributeNS(NS.xmlns, `xmlns:${prefix}`, ns);
  return description;
}

/**
 * The container of a property, found wherever it is (several copies, as a
 * broken earlier write left them, are merged into the first); made when absent.
 */
function containerOf(doc: Document, rdf: Element, ns: string, prefix: string, local: string, kind: 'Bag' | 'Seq'): Element {
  const found = elements(rdf, ns, local);
  let property = found[0];
  if (!property) {
    property = doc.createElementNS(ns, `${prefix}:${local}`);
    appendIndented(doc, descriptionFor(doc, rdf, ns, prefix), property);
  }
  let container = childElements(property).find((e) => e.namespaceURI === NS.rdf && ['Bag', 'Seq', 'Alt'].includes(e.localName ?? ''));
  if (!container) {
    // A simple value where a list belongs: keep it as the list's first item.
    const literal = property.textContent?.trim();
    while (property.firstChild) property.removeChild(property.firstChild);
    container = doc.createElementNS(NS.rdf, `rdf:${kind}`);
    appendIndented(doc, property, container);
    if (literal) addItem(doc, container, literal);
  }
  for (const extra of found.slice(1)) {
    for (const li of elements(extra, NS.rdf, 'li')) addItem(doc, container, textOf(li));
    removeElement(extra);
  }
  return container;
}

const isBlank = (n: Node | null | undefined): n is Node => !!n && n.nodeType === 3 && /^\s*$/.test(n.nodeValue ?? '');

/** Appends `child` with the indentation its siblings have (else its parent's plus one space, as exiftool writes). */
function appendIndented(doc: Document, parent: Element, child: Element): void {
  let depth = 0;
  for (let n = parent.parentNode; n && n.nodeType === 1; n = n.parentNode) depth++;
  const own = parent.previousSibling;
  const ownIndent = isBlank(own) ? `\n${(own.nodeValue as string).split('\n').pop()}` : `\n${' '.repeat(depth)}`;
  const sibling = childElements(parent)[0]?.previousSibling;
  const indent = isBlank(sibling) ? `\n${(sibling.nodeValue as string).split('\n').pop()}` : `${ownIndent} `;
  const last = parent.lastChild;
  if (isBlank(last)) {
    parent.insertBefore(doc.createTextNode(indent), last);
    parent.insertBefore(child, last);
    return;
  }
  parent.appendChild(doc.createTextNode(indent));
  parent.appendChild(child);
  parent.appendChild(doc.createTextNode(ownIndent));
}

function addItem(doc: Document, container: Element, text: string): void {
  const li = doc.createElementNS(NS.rdf, 'rdf:li');
  li.appendChild(doc.createTextNode(text));
  appendIndented(doc, container, li);
}

/** Removes an element and the indentation before it. */
function removeElement(node: Element): void {
  const before = node.previousSibling;
  if (isBlank(before)) node.parentNode?.removeChild(before);
  node.parentNode?.removeChild(node);
}

/** Replaces the items of our record bag for `property` with `values`. */
function record(doc: Document, rdf: Element, property: Property, values: readonly string[]): void {
  const bag = containerOf(doc, rdf, NS.rsv, 'rsv', property.record, 'Bag');
  for (const li of elements(bag, NS.rdf, 'li')) removeElement(li);
  for (const v of values) addItem(doc, bag, v);
}

function recorded(rdf: Element, property: Property): Set<string> | null {
  const found = elements(rdf, NS.rsv, property.record);
  if (!found.length) return null;
  return new Set(found.flatMap((p) => elements(p, NS.rdf, 'li').map(textOf)));
}

/** Checks the result as exiv2 would: each property once. */
function checkUnique(rdf: Element): void {
  for (const p of PROPERTIES) {
    if (elements(rdf, p.ns, p.local).length > 1) throw new ResnetServeError('INTERNAL', `sidecar would have two ${p.prefix}:${p.local} properties`);
  }
}

/**
 * Returns the sidecar XML with our keywords set to `keywords`, keeping
 * everything else; throws SIDECAR_INVALID when `existing` is not XMP.
 */
export function updateXmp(existing: string | null, keywords: Keywords): string {
  const doc = parse(existing ?? EMPTY);
  const rdf = elements(doc, NS.rdf, 'RDF')[0];
  if (!rdf) throw invalid('no rdf:RDF element');
  const wanted: Record<Property['local'], string[]> = {
    subject: keywords.flat,
    hierarchicalSubject: keywords.hierarchical.map((path) => hierarchyText(PROPERTIES[1], path)),
    TagsList: keywords.hierarchical.map((path) => hierarchyText(PROPERTIES[2], path)),
  };
  for (const property of PROPERTIES) {
    const container = containerOf(doc, rdf, property.ns, property.prefix, property.local, property.container);
    const ours = recorded(rdf, property);
    for (const li of elements(container, NS.rdf, 'li')) {
      const text = textOf(li);
      // Each recorded entry is one item we added: a second copy of it is the user's (added again by hand), and stays.
      // Without a record (sidecars of resnet-serve 0.1), only entries under our root are known to be ours.
      const mine = ours ? ours.delete(text) : property.local !== 'subject' && (text === KEYWORD_ROOT || text.startsWith(`${KEYWORD_ROOT}|`) || text.startsWith(`${KEYWORD_ROOT}/`));
      if (mine) removeElement(li);
    }
    const present = new Set(elements(container, NS.rdf, 'li').map(textOf));
    const added: string[] = [];
    for (const value of wanted[property.local]) {
      if (present.has(value)) continue;
      present.add(value);
      added.push(value);
      addItem(doc, container, value);
    }
    record(doc, rdf, property, added);
  }
  checkUnique(rdf);
  const text = new XMLSerializer().serializeToString(doc);
  parse(text);
  return text;
}

/**
 * Whether a sidecar holds anything but what we wrote: a keyword we did not
 * add, or any other property (a title, a rating, another tool's field), as an
 * element or an attribute. False for a sidecar that is not XMP.
 */
export function holdsOthers(text: string): boolean {
  let doc: Document;
  try {
    doc = parse(text);
  } catch {
    return false;
  }
  const rdf = elements(doc, NS.rdf, 'RDF')[0];
  if (!rdf) return false;
  const ours = new Map(PROPERTIES.map((p) => [p.local, recorded(rdf, p)] as const));
  for (const description of childElements(rdf)) {
    const attributes = Array.from(description.attributes).filter((a) => a.namespaceURI !== NS.xmlns && a.name !== 'xmlns' && !(a.namespaceURI === NS.rdf && a.localName === 'about'));
    if (attributes.length) return true;
    for (const property of childElements(description)) {
      if (property.namespaceURI === NS.rsv) continue;
      const known = PROPERTIES.find((p) => p.ns === property.namespaceURI && p.local === property.localName);
      if (!known) return true;
      const left = new Set(ours.get(known.local) ?? []);
      if (elements(property, NS.rdf, 'li').some((li) => !left.delete(textOf(li)))) return true;
    }
  }
  return false;
}

/** The keywords a sidecar holds (for tests and the gallery): flat, hierarchical, TagsList. */
export function readKeywords(text: string): { subject: string[]; hierarchicalSubject: string[]; tagsList: string[] } {
  const doc = parse(text);
  const items = (ns: string, local: string): string[] => elements(doc, ns, local).flatMap((p) => elements(p, NS.rdf, 'li').map(textOf));
  return { subject: items(NS.dc, 'subject'), hierarchicalSubject: items(NS.lr, 'hierarchicalSubject'), tagsList: items(NS.digiKam, 'TagsList') };
}
