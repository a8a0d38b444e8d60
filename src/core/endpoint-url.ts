// Endpoint URL checks at create/update time. Hostnames are checked again at delivery, after DNS.

import { type Cidr, isAllowedAddress } from './ssrf.ts';

export type EndpointUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

const DOTTED_QUAD = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The IP literal in a WHATWG-parsed hostname (brackets stripped), or null for a DNS name. */
export function ipLiteral(hostname: string): string | null {
  if (hostname.startsWith('[') && hostname.endsWith(']')) return hostname.slice(1, -1);
  // WHATWG URL turns every IPv4 spelling (2130706433, 0x7f.1, 127.1) into dotted decimal.
  return DOTTED_QUAD.test(hostname) ? hostname : null;
}

/**
 * Accepts http(s) URLs with a host and no credentials. An IP-literal host must be public or allowlisted.
 * Returns the WHATWG-normalised URL: what was checked is what will be sent.
 */
export function checkEndpointUrl(raw: string, allow: readonly Cidr[]): EndpointUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'invalid URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: 'URL scheme must be http or https' };
  }
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'URL must not contain credentials' };
  if (url.hostname === '') return { ok: false, reason: 'URL must have a host' };
  const literal = ipLiteral(url.hostname);
  if (literal !== null && !isAllowedAddress(literal, allow)) {
    return { ok: false, reason: `blocked address ${literal}` };
  }
  return { ok: true, url: url.href };
}
