// A document sent as text (an OpenAPI document, in YAML or JSON) as the JSON value it writes. JSON is
// read as JSON. Anything else is read as YAML 1.2 with its core schema and nothing more: a tag (`!!binary`,
// `!!timestamp`, one of the author's own) or any other warning is refused, not turned into something
// else; a mapping key keeps its text as written (`1.10` stays "1.10", not 1.1); and a key written twice
// in one mapping is refused, checked here in time linear in the document (the parser's own check took
// 1.8 s for a mapping of 20,000 keys, blocking every other request meanwhile); so is a stream of more than
// one document. JSON's repeated keys take the last value, as JSON.parse (and the `spec` field) read them.
import { type Document, isScalar, parseAllDocuments, visit } from 'yaml';
import { invalid, isDoorbellError } from '../core/errors.ts';
import { typeScriptThread } from '../threads.ts';

/**
 * documentValue, with YAML read on a thread of its own: the parser took seconds for a large document
 * (5 s for 1.5 MB, and as long for 250 kB of one error after another), and every other request waited.
 * A document it does not read within `limitMs`, or in 512 MiB, is refused.
 */
export function readDocument(text: string, loc: readonly string[], limitMs = 20_000): Promise<unknown> {
  try {
    return Promise.resolve(JSON.parse(text));
  } catch {
    // Not JSON: YAML, on the thread.
  }
  const thread = typeScriptThread(
    new URL('./document-thread.ts', import.meta.url),
    { text, loc },
    { maxOldGenerationSizeMb: 512 },
  );
  let timer: NodeJS.Timeout | undefined;
  // The first of these settles it; then the thread goes.
  return new Promise<unknown>((resolve, reject) => {
    const refuse = (why: string) => reject(invalid(loc, why));
    timer = setTimeout(
      () => refuse(`was not read as YAML within ${limitMs / 1000} s: send it as JSON`),
      limitMs,
    );
    thread.once('message', (answer: { value?: unknown; refused?: string }) => {
      if (answer.refused === undefined) resolve(answer.value);
      else refuse(answer.refused);
    });
    thread.once('error', (error) => refuse(`could not be read as YAML: ${firstLine(error)}`));
    thread.once('exit', () => refuse('could not be read as YAML'));
  }).finally(() => {
    clearTimeout(timer);
    void thread.terminate();
  });
}

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
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    if (isDoorbellError(error)) throw error;
    if (/excessive alias count/i.test(String(error)))
      throw invalid(
        loc,
        `uses an anchor (*name) ${MAX_ALIASES} times or more: each use is a copy, write them out`,
      );
    // The parser reports its own stack running out as an error at a position.
    const reason = /call stack/i.test(String(error)) ? 'it is nested too deeply' : firstLine(error);
    throw invalid(loc, `is neither YAML nor JSON: ${reason}`);
  }
}

/**
 * Uses of an anchor, as the yaml package counts them (a use of a node that holds aliases counts them
 * too, and a hundred is already too many): each is a copy, and nested ones multiply ("billion laughs").
 */
const MAX_ALIASES = 100;

/**
 * Deeper than any value the API takes (json-limits), and well within the parser's stack: it ran out at
 * 700 to 1,000 levels, taking seconds to, and once the process died of it (V8 aborts when the stack runs
 * out while compiling a regular expression).
 */
const MAX_NESTING = 256;

/**
 * An upper bound of how deeply a YAML text nests, in one pass. A line's block levels are those of the
 * lines above it that are less indented, its own, and one for each indicator on it ("- ", "? ", ": ",
 * anywhere: compact nesting like `- - x` or `: ? x` opens a level each); a bracket opens a flow collection
 * where one may begin (at the start of a line, or after an indicator, a comma or another bracket: not in
 * prose such as "[0, 1)"), and counts until closed. Lines may end with LF, CRLF or CR.
 */
function nestingBound(text: string): number {
  let max = 0;
  let flow = 0;
  const indents: number[] = []; // the indentation of each block level open
  let i = 0;
  while (i < text.length) {
    let column = 0;
    while (text.charCodeAt(i) === 0x20) {
      i++;
      column++;
    }
    const first = text.charCodeAt(i);
    if (first !== 0x0a && first !== 0x0d && first !== 0x23 && !Number.isNaN(first) && flow === 0) {
      while (indents.length > 0 && indents[indents.length - 1]! >= column) indents.pop();
      indents.push(column);
    }
    let levels = indents.length;
    let before = 0x0a; // the last character on the line that is not a space
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x0a || c === 0x0d) break;
      const next = text.charCodeAt(i + 1);
      const indicator =
        (c === 0x2d || c === 0x3f || c === 0x3a) && (next === 0x20 || next === 0x0a || Number.isNaN(next));
      if (indicator) levels++;
      else if ((c === 0x5b || c === 0x7b) && OPENS_FLOW.has(before)) flow++;
      else if ((c === 0x5d || c === 0x7d) && flow > 0) flow--;
      if (c !== 0x20) before = c;
      if (levels + flow > max) max = levels + flow;
    }
    i++;
  }
  return max;
}

/** Where a flow collection may begin: a line's start, an indicator (- ? :), a comma or a bracket. */
const OPENS_FLOW = new Set([0x0a, 0x2d, 0x3f, 0x3a, 0x2c, 0x5b, 0x7b]);

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
