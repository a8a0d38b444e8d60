// JSON passed on as the client wrote it: a member of the request body or of a part of it
// (MessageIn.payload, an event type's schemas), and the payload of the Svix SDK's messageInRaw.

import { invalid } from '../core/errors.ts';
import { jsonLimitIssue } from '../core/json-limits.ts';
import { rawMember } from '../core/raw-json.ts';
import { isJsonObject } from '../core/types.ts';

/**
 * The text of member `key` of the JSON object `json` (the body, or a part of it) as sent: big integers,
 * `1.0`, key order and spacing kept; or `parsed` serialised when no raw text was read.
 */
export function memberText(json: string | null | undefined, key: string, parsed: unknown): string {
  return (json ? rawMember(json, key) : null) ?? JSON.stringify(parsed);
}

const RAW = ['body', 'transformationsParams'];
const ONLY_JSON = 'must be the text of a JSON object: other payloads are not supported';
const JSON_TYPE = /^application\/json[ \t]*(;[ \t!-~]*)?$/i; // parameters in visible ASCII

/**
 * The payload of the Svix SDK's messageInRaw, which sends it as text in `transformationsParams`
 * (`rawPayload`, and `headers` for its content-type) so that it goes "as is": every payload here does,
 * so its text is the payload when it is a JSON object's, sent as application/json, and `payload` is
 * then `{}` (the SDK's). Anything else in the parameters (transformations) is a 422 naming it. Null
 * when there are none.
 */
export function rawParamsPayload(
  params: Record<string, unknown> | null | undefined,
  payload: unknown,
): string | null {
  if (params == null) return null;
  for (const key of Object.keys(params)) {
    if (key !== 'rawPayload' && key !== 'headers')
      throw invalid(
        [...RAW, key],
        'transformations are not supported: endpoints receive the payload as sent',
      );
  }
  const { rawPayload, headers } = params;
  if (headers != null) {
    if (!isJsonObject(headers)) throw invalid([...RAW, 'headers'], 'must be an object of headers');
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() !== 'content-type' || typeof value !== 'string' || !JSON_TYPE.test(value))
        throw invalid([...RAW, 'headers'], 'only a content-type of application/json is supported');
    }
  }
  // A lone surrogate could not be stored, nor sent, as it is.
  if (typeof rawPayload !== 'string' || /\p{Surrogate}/u.test(rawPayload))
    throw invalid([...RAW, 'rawPayload'], ONLY_JSON);
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawPayload);
  } catch {
    throw invalid([...RAW, 'rawPayload'], ONLY_JSON);
  }
  if (!isJsonObject(parsed)) throw invalid([...RAW, 'rawPayload'], ONLY_JSON);
  // The limits of a body (see json-limits.ts): this text is the body endpoints receive.
  const issue = jsonLimitIssue(parsed);
  if (issue !== null) throw invalid([...RAW, 'rawPayload', ...issue.path], issue.msg);
  if (typeof payload === 'object' && payload !== null && Object.keys(payload).length > 0)
    throw invalid(
      ['body', 'payload'],
      'must be {} with transformationsParams.rawPayload, which is the payload',
    );
  return rawPayload;
}
