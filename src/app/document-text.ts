// A document sent as text (an OpenAPI document, in YAML or JSON) as the JSON value it writes. JSON is
// read as JSON. Anything else is read as YAML 1.2 with its core schema and nothing more: a tag (`!!binary`,
// `!!timestamp`, one of the author's own) or any other warning is refused, not turned into something
// else; a mapping key keeps its text as written (`1.10` stays "1.10", not 1.1); and a key written twice
// in one mapping is refused, checked here in time linear in the document (the parser's own check took
// 1.8 s for a mapping of 20,000 keys, blocking every other request meanwhile); so is a stream of more than
// one document. JSON's repeated keys take the last value, as JSON.parse (and the `spec` field) read them.
import { type Document, isScalar, parseAllDocuments, visit } from 'yaml';
import { invalid, isDoorbellError } from '../core/errors.ts';

export function documentValue(text: string, loc: readonly string[]): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: YAML, then.
  }
  try {
    const docs = parseAllDocuments(text, { uniqueKeys: false, resolveKnownTags: false, logLevel: 'silent' });
    if (docs.length > 1) throw invalid(loc, `holds ${docs.length} YAML documents: send one`);
    const doc = docs[0];
    if (!doc) return null;
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw problem;
    keysAsWritten(doc, loc);
    return doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    if (isDoorbellError(error)) throw error;
    // The parser reports its own stack running out as an error at a position.
    const reason = /call stack/i.test(String(error)) ? 'it is nested too deeply' : firstLine(error);
    throw invalid(loc, `is neither YAML nor JSON: ${reason}`);
  }
}

/** Makes each mapping key the text it was written as, and refuses one that is not plain text or repeats. */
function keysAsWritten(doc: Document, loc: readonly string[]): void {
  visit(doc, {
    Map(_, map) {
      const keys = new Set<string>();
      for (const { key } of map.items) {
        if (!isScalar(key)) throw invalid(loc, 'has a mapping key that is not plain text');
        if (typeof key.value !== 'string') key.value = key.source ?? String(key.value);
        const name = key.value as string;
        if (keys.has(name)) throw invalid(loc, `has the key '${name}' twice in one mapping`);
        keys.add(name);
      }
    },
  });
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];
