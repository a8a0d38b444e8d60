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
  if (nestingBound(text) > MAX_NESTING)
    throw invalid(loc, 'is neither YAML nor JSON: it is nested too deeply');
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

/**
 * Deeper than any value the API takes (json-limits), and well within the parser's stack: it ran out at
 * 700 to 1,000 levels, taking seconds to, and once the process died of it (V8 aborts when the stack runs
 * out while compiling a regular expression).
 */
const MAX_NESTING = 256;

/**
 * An upper bound of how deeply a YAML text nests, in one pass: at each point, the indentation and block
 * indicators ("- ", "? ") that opened its line, and the flow brackets still open. Brackets within quotes
 * count too, an over-estimate only for texts no real document is.
 */
function nestingBound(text: string): number {
  let max = 0;
  let lead = 0; // the line's indentation and indicators so far
  let flow = 0;
  let leading = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      lead = 0;
      leading = true;
      continue;
    }
    if (leading && c === 0x20) lead++;
    else if (leading && (c === 0x2d || c === 0x3f) && text.charCodeAt(i + 1) === 0x20) {
      lead += 2;
      i++;
    } else {
      leading = false;
      if (c === 0x5b || c === 0x7b) flow++;
      else if ((c === 0x5d || c === 0x7d) && flow > 0) flow--;
    }
    if (lead + flow > max) max = lead + flow;
  }
  return max;
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
