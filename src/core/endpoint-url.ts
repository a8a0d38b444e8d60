// Endpoint URL checks at create/update time. Hostnames are checked again at delivery, after DNS.

import { blockedReason, type Cidr, isAllowedAddress } from './ssrf.ts';

export type EndpointUrlCheck = { ok: true; url: string } | { ok: false; reason: string };

const DOTTED_QUAD = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The IP literal in a WHATWG-parsed hostname (brackets stripped), or null for a DNS name. */
export function ipLiteral(hostname: string): string | null {
  if (hostname.startsWith('[') && hostname.endsWith(']')) return hostname.slice(1, -1);
  // WHATWG URL turns every IPv4 spelling (2130706433, 0x7f.1, 127.1) into dotted decimal.
  return DOTTED_QUAD.test(hostname) ? hostname : null;
}

/** Why DNS could never resolve this name (RFC 1035 §2.3.4 sizes), or null. One trailing dot is the root. */
function hostNameFault(hostname: string): string | null {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (name.length > 253) return 'is longer than 253 characters';
  const labels = name.split('.');
  if (labels.some((label) => label === '')) return 'has an empty label (two dots in a row)';
  if (labels.some((label) => label.length > 63)) return 'has a label longer than 63 characters';
  return null;
}

/** Why the WHATWG parser refused `raw`, where a user would not see it: a zone id, a port out of range. */
function unparsable(raw: string): string {
  const authority = /^[a-z][a-z\d+.-]*:\/\/([^/?#]*)/i.exec(raw)?.[1] ?? '';
  if (/\[[^\]]*%/.test(authority)) return 'invalid URL: an IPv6 zone id (%…) is not allowed';
  const port = /:(\d+)$/.exec(authority)?.[1];
  if (port !== undefined && Number(port) > 65535) return 'invalid URL: the port must be from 1 to 65535';
  return 'invalid URL';
}

function isLocalhost(hostname: string): boolean {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Accepts http(s) URLs with a host DNS could resolve, a port other than 0, and no credentials. An
 * IP-literal host, or a localhost name, must be public or allowlisted.
 * Returns the WHATWG-normalised URL: what was checked is what will be sent.
 */
export function checkEndpointUrl(raw: string, allow: readonly Cidr[]): EndpointUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: unparsable(raw) };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: 'URL scheme must be http or https' };
  }
  if (url.username !== '' || url.password !== '')
    return { ok: false, reason: 'URL must not contain credentials' };
  if (url.hostname === '') return { ok: false, reason: 'URL must have a host' };
  if (url.port === '0') return { ok: false, reason: 'URL port must be from 1 to 65535' };
  const literal = ipLiteral(url.hostname);
  const unresolvable = literal === null ? hostNameFault(url.hostname) : null;
  if (unresolvable !== null) return { ok: false, reason: `URL host ${url.hostname} ${unresolvable}` };
  if (literal !== null && !isAllowedAddress(literal, allow)) {
    return { ok: false, reason: blockedReason(literal, allow) };
  }
  // RFC 6761 §6.3: localhost names are the loopback addresses, whatever DNS would say.
  if (isLocalhost(url.hostname) && !isAllowedAddress('127.0.0.1', allow) && !isAllowedAddress('::1', allow)) {
    return { ok: false, reason: `blocked address ${url.hostname} (loopback)` };
  }
  return { ok: true, url: url.href };
}
