// `doorbell publish`, `doorbell import-openapi` and `doorbell verify`: results on stdout, progress and
// errors on stderr.

import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import { SingleBar } from 'cli-progress';
import { isValidSecret, verifySignature } from '../core/signing.ts';
import { isJsonObject } from '../core/types.ts';
import { utf8Text, withoutBom } from './file-text.ts';
import { integerFlag, parsedFlag, UsageError } from './flags.ts';

export interface PublishOptions {
  url: string;
  token: string;
  app: string;
  type: string;
  payload: string;
  payloadFile?: string;
  channels?: string;
  count: string;
}

const PUBLISH_CONCURRENCY = 16;
const PROGRESS_LINE_MS = 2_000;

/**
 * Progress of a --count run on stderr: a bar on a terminal, a line every 2 s elsewhere, nothing while
 * stdout (the ids) is a terminal itself. Every run ends with how many were published, also when it fails
 * or is interrupted (SIGINT, SIGTERM: the bar gives the terminal back first).
 */
function publishProgress(count: number) {
  let published = 0;
  let sent = 0;
  let done = 0;
  const shown = !process.stdout.isTTY;
  const bar = shown && process.stderr.isTTY ? new SingleBar({ stream: process.stderr }) : null;
  bar?.start(count, 0);
  const line = () => console.error(`published ${published} of ${count}`);
  const timer = shown && !bar ? setInterval(line, PROGRESS_LINE_MS) : null;
  const end = (): void => {
    bar?.stop();
    if (timer) clearInterval(timer);
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
  };
  const interrupted = (signal: NodeJS.Signals): void => {
    end();
    const unknown = sent - done;
    const more = unknown > 0 ? `; ${unknown} more were sent, unanswered: they may be published too` : '';
    console.error(`published ${published} of ${count} (stopped by ${signal}${more})`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', interrupted).on('SIGTERM', interrupted);
  return {
    sending(): void {
      sent++;
    },
    tick(ok: boolean): void {
      done++;
      if (ok) published++;
      bar?.update(done);
    },
    end(): void {
      end();
      line();
    },
  };
}

export async function publishCommand(options: PublishOptions): Promise<void> {
  const count = integerFlag('--count', options.count, 1);
  const channels = options.channels?.split(',').filter(Boolean);
  const body = publishBody(options.type, payloadOf(options), channels);
  const endpoint = apiUrl(options.url, `/app/${encodeURIComponent(options.app)}/msg`);
  const progress = count > 1 ? publishProgress(count) : null;
  let next = 0;
  let failed = 0;
  async function one(): Promise<void> {
    while (next < count) {
      next++;
      progress?.sending();
      const { res, out } = await post(endpoint, options, body);
      const ok = res.status === 202 && out.id !== undefined;
      if (ok) process.stdout.write(`${out.id}\n`);
      progress?.tick(ok);
      if (ok) continue;
      failed++;
      const why = `publish to app ${options.app} failed: HTTP ${res.status} ${refusal(out)}`;
      // Every copy is the same request: a refusal (4xx but 429) would repeat for each; stop at the first.
      const refused = res.status >= 400 && res.status < 500 && res.status !== 429;
      if (count === 1 || refused) throw new Error(why);
      console.error(why);
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, count) }, one));
  } finally {
    progress?.end();
  }
  if (failed > 0) process.exitCode = 1;
}

/**
 * The MessageIn body with the payload's text spliced in as it was given: parsed and serialised again,
 * it would lose what JavaScript values cannot hold (integers past 2^53, `1.0`, repeated keys,
 * key order, spacing, escapes), and the API delivers the payload's bytes exactly as it receives them.
 * The text is a JSON object (payloadOf checked it), so the body is JSON too.
 */
function publishBody(eventType: string, payloadText: string, channels?: string[]): string {
  const rest = channels ? `,"channels":${JSON.stringify(channels)}` : '';
  return `{"eventType":${JSON.stringify(eventType)},"payload":${payloadText}${rest}}`;
}

/**
 * The text of --payload-file (UTF-8, without one leading byte order mark), or else of --payload, checked
 * to be a JSON object; what is wrong with it is a usage error.
 */
function payloadOf(options: PublishOptions): string {
  const file = options.payloadFile;
  // isatty, not process.stdin.isTTY: see verifyCommand.
  if (file === '-' && isatty(0)) console.error('reading the payload from stdin (end with Ctrl-D)');
  const source = file ? `--payload-file '${file}'` : '--payload';
  let text = options.payload;
  if (file) {
    const bytes = parsedFlag('--payload-file', file, (path) => readFileSync(path === '-' ? 0 : path));
    try {
      text = utf8Text(bytes);
    } catch (error) {
      throw new UsageError(`${source} ${(error as Error).message}`);
    }
  }
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(payload)) {
    const kind = payload === null ? 'null' : Array.isArray(payload) ? 'an array' : `a ${typeof payload}`;
    throw new UsageError(`${source} must be a JSON object, got ${kind}`);
  }
  return text;
}

/** The URL of the API's `path`, from --url: the server's base URL, or its API URL as the banner prints it. */
function apiUrl(url: string, path: string): string {
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) {
    throw new UsageError(`--url must be an http:// or https:// URL, got '${url}'`);
  }
  return `${url.replace(/\/$/, '').replace(/\/api\/v1$/, '')}/api/v1${path}`;
}

type Answer = { id?: string; detail?: unknown; data?: { modified?: string[] } };

/** What the API's error body says, in one line: each invalid field by its place in the body, or the detail. */
function refusal(out: Answer): string {
  const { detail } = out;
  if (typeof detail === 'string') return detail;
  if (!Array.isArray(detail)) return JSON.stringify(out);
  return detail
    .map((item: { loc?: unknown[]; msg?: unknown }) => {
      const where = Array.isArray(item.loc) ? item.loc.slice(1).join('.') : '';
      return where === '' ? String(item.msg) : `${where}: ${String(item.msg)}`;
    })
    .join('; ');
}

/**
 * POSTs the JSON `body` with the token, and reads the API's JSON answer; a server out of reach, a
 * redirect (not followed: the body would go elsewhere), or an answer that is not JSON (not a Doorbell
 * server), is an error naming --url.
 */
async function post(target: string, options: { url: string; token: string }, body: string) {
  const res = await fetch(target, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
    body,
    redirect: 'manual',
  }).catch((error: Error) => {
    throw new Error(`cannot reach ${options.url}: ${whyUnreachable(error)}`);
  });
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel();
    const to = res.headers.get('location');
    throw new Error(
      `${options.url} answered HTTP ${res.status}, a redirect${to ? ` to ${to}` : ''}, not followed: give the server's own URL as --url`,
    );
  }
  const text = await res.text();
  try {
    return { res, out: JSON.parse(text) as Answer };
  } catch {
    throw new Error(
      `unexpected answer from ${options.url}: HTTP ${res.status}, not JSON (is it a Doorbell server?)`,
    );
  }
}

export interface ImportOptions {
  url: string;
  token: string;
  replaceAll?: boolean;
  dryRun?: boolean;
}

/**
 * Event types from the webhooks of an OpenAPI document (a YAML or JSON file, '-': standard input): the
 * names created, changed or archived on stdout, one a line, and how many on stderr.
 */
export async function importOpenApiCommand(file: string, options: ImportOptions): Promise<void> {
  const target = apiUrl(options.url, '/event-type/import/openapi');
  if (file === '-' && isatty(0)) console.error('reading the document from stdin (end with Ctrl-D)');
  const bytes = parsedFlag('<file>', file, (path) => readFileSync(path === '-' ? 0 : path));
  let specRaw: string;
  try {
    specRaw = utf8Text(bytes);
  } catch (error) {
    throw new UsageError(`<file> '${file}' ${(error as Error).message}`);
  }
  const body = JSON.stringify({
    specRaw,
    dryRun: options.dryRun ?? false,
    replaceAll: options.replaceAll ?? false,
  });
  const { res, out } = await post(target, options, body);
  const modified = out.data?.modified;
  if (res.status !== 200 || !modified)
    throw new Error(`import of ${file} failed: HTTP ${res.status} ${refusal(out)}`);
  for (const name of modified) process.stdout.write(`${name}\n`);
  const n = `${modified.length} event type(s)`;
  console.error(
    options.dryRun
      ? `dry run: ${n} would be created, changed or archived; nothing was written`
      : `${n} created, changed or archived`,
  );
}

export interface VerifyOptions {
  secret: string;
  id?: string;
  timestamp?: string;
  signature?: string;
  headersFile?: string;
  body?: string;
  bodyFile?: string;
  tolerance: string;
}

const SIGNATURE_HEADERS = ['id', 'timestamp', 'signature'] as const;

/**
 * The lines of a header dump, each without its indentation: a file saved by a Windows editor starts
 * with a byte order mark and ends its lines with CRLF, and headers copied from a log or a pretty-printer
 * are often indented. Neither may hide the header on that line.
 */
function headerLines(text: string): string[] {
  return withoutBom(text)
    .split(/\r?\n/)
    .map((line) => line.trimStart());
}

/**
 * The webhook's id, timestamp and signature: from their flags, else from --headers-file, the request's
 * headers as captured (`name: value` lines, as a receiver or proxy logs them), under webhook-* or svix-*
 * names.
 */
function signatureHeaders(options: VerifyOptions): Record<(typeof SIGNATURE_HEADERS)[number], string> {
  const captured = new Map<string, string[]>();
  if (options.headersFile) {
    const text = parsedFlag('--headers-file', options.headersFile, (path) => readFileSync(path, 'utf8'));
    for (const line of headerLines(text)) {
      const match = /^([\w-]+):\s*(.*?)\s*$/.exec(line);
      if (!match) continue;
      const name = match[1]!.toLowerCase();
      captured.set(name, [...(captured.get(name) ?? []), match[2]!]);
    }
  }
  // A header sent twice is one list (RFC 9110 §5.3): signatures are space-separated, so their lines
  // join; two ids or timestamps that differ say nothing certain.
  const header = (name: (typeof SIGNATURE_HEADERS)[number], prefix: string): string | undefined => {
    const lines = captured.get(`${prefix}-${name}`);
    if (lines === undefined) return undefined;
    if (name === 'signature') return lines.join(' ');
    const values = new Set(lines).size;
    if (values > 1) throw new UsageError(`--headers-file has ${values} different ${prefix}-${name} lines`);
    return lines[0];
  };
  const value = (name: (typeof SIGNATURE_HEADERS)[number]): string => {
    if (options[name] === '') throw new UsageError(`--${name} must not be empty`);
    const found = options[name] ?? header(name, 'webhook') ?? header(name, 'svix');
    if (found !== undefined) return found;
    throw new UsageError(
      options.headersFile
        ? `--headers-file has no webhook-${name} or svix-${name} line: give --${name}`
        : `--${name} is required (or --headers-file with the captured headers)`,
    );
  };
  return { id: value('id'), timestamp: value('timestamp'), signature: value('signature') };
}

/** What fetch's failure says, in one line: OpenSSL's message is its error queue, with file and line. */
function whyUnreachable(error: Error): string {
  const cause = error.cause as (Error & { code?: string }) | undefined;
  if (cause?.code === 'ERR_SSL_WRONG_VERSION_NUMBER')
    return 'the server did not answer TLS (is it http://, not https://?)';
  return (cause?.message ?? error.message).trim();
}

export async function verifyCommand(options: VerifyOptions): Promise<void> {
  const toleranceSec = integerFlag('--tolerance', options.tolerance, 0);
  if (!isValidSecret(options.secret)) {
    throw new UsageError('--secret must be an endpoint secret: [whsec_]<base64 of 24 to 64 bytes>');
  }
  const { id, timestamp, signature } = signatureHeaders(options);
  // isatty, not process.stdin.isTTY: opening process.stdin on a terminal makes it non-blocking, and the
  // read below then fails (EAGAIN).
  if (options.body === undefined && (options.bodyFile ?? '-') === '-' && isatty(0)) {
    console.error('reading the body from stdin (end with Ctrl-D), or give --body / --body-file');
  }
  // The signature is over the bytes received: a file or stdin is read as bytes, never decoded.
  const body =
    options.body ??
    (options.bodyFile
      ? parsedFlag('--body-file', options.bodyFile, (path) => readFileSync(path === '-' ? 0 : path))
      : readFileSync(0));
  const check = (tolerance: number) =>
    verifySignature({
      headers: { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature },
      body,
      secret: options.secret,
      now: Date.now(),
      toleranceSec: tolerance,
    });
  const result = check(toleranceSec);
  if (result.ok) {
    console.log('valid');
    return;
  }
  process.exitCode = 1;
  // A webhook captured a while ago is stale by now: say whether its signature is right all the same.
  if (/^timestamp too (old|new)$/.test(result.reason)) {
    const signed = check(Number.MAX_SAFE_INTEGER).ok;
    const more = signed
      ? 'the signature matches; a wider --tolerance accepts it'
      : 'and no signature matches';
    console.log(`invalid: ${result.reason} (${more})`);
  } else {
    console.log(`invalid: ${result.reason}`);
  }
}
