// SSRF classification of IP addresses (never of raw URL strings): which addresses delivery must refuse.
// The ranges are the README's SSRF list (IANA special-purpose registries, RFC 6890 and successors).

import ipaddr from 'ipaddr.js';

type IP = ipaddr.IPv4 | ipaddr.IPv6;

/** An allowlisted subnet, parsed once. */
export interface Cidr {
  readonly address: IP;
  readonly prefix: number;
  readonly text: string; // normalised 'address/prefix'
}

function table(entries: readonly (readonly [string, string])[]): [IP, number, string][] {
  return entries.map(([cidr, name]) => {
    const [address, prefix] = ipaddr.parseCIDR(cidr);
    return [address, prefix, name];
  });
}

// Most specific first: the first match names the range.
const V4 = table([
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'this-network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'ietf-protocol'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4-relay'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

// ::ffff:0:0/96 is handled apart: its embedded IPv4 decides.
const V6 = table([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'ipv4-compatible'], // deprecated; some stacks still route it to IPv4
  ['64:ff9b::/96', 'nat64'], // blocked outright: a NAT64 gateway reaches any embedded IPv4
  ['64:ff9b:1::/48', 'nat64'],
  ['100::/64', 'discard'],
  ['2001:2::/48', 'benchmarking'],
  ['2001:10::/28', 'orchid'], // deprecated (RFC 4843); its successor ORCHIDv2 is reachable
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'], // RFC 9637
  ['2001::/32', 'teredo'],
  ['2002::/16', '6to4'],
  ['5f00::/16', 'srv6'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
]);

const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

function lookup(address: IP, ranges: readonly [IP, number, string][]): string | null {
  for (const [range, prefix, name] of ranges) {
    if (address.kind() === range.kind() && address.match(range, prefix)) return name;
  }
  return null;
}

/**
 * An IPv6 address as text ipaddr.js reads right: ipaddr.js reads the IPv4-compatible ::a.b.c.d (as DNS
 * answers are written) as IPv4-mapped ::ffff:a.b.c.d, so IPv6 is first written in hex, as the URL
 * standard serialises it. Anything but hex digits, colons and dots is left for ipaddr.js to refuse.
 */
function hexIPv6(address: string): string {
  if (!address.includes(':') || !/^[0-9a-fA-F:.]+$/.test(address)) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

/** Parses an address as it comes from a URL hostname or DNS: brackets and an IPv6 zone are allowed. */
export function parseAddress(text: string): IP | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = bare.indexOf('%');
  const address = hexIPv6(zone === -1 ? bare : bare.slice(0, zone));
  try {
    return ipaddr.parse(zone === -1 ? address : address + bare.slice(zone));
  } catch {
    return null;
  }
}

/** A canonical spelling for comparing addresses (IPv4-mapped IPv6 becomes its IPv4), or null. */
export function canonicalAddress(text: string): string | null {
  const parsed = parseAddress(text);
  if (parsed === null) return null;
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (parsed as ipaddr.IPv6).toIPv4Address().toString();
  }
  return parsed.toNormalizedString();
}

function classifyParsed(address: IP): string | null {
  if (address.kind() === 'ipv4') return lookup(address, V4);
  const v6 = address as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) {
    const inner = lookup(v6.toIPv4Address(), V4);
    return inner === null ? null : `ipv4-mapped ${inner}`;
  }
  const named = lookup(v6, V6);
  if (named !== null) return named;
  // Outside 2000::/3 nothing is assigned for global unicast: refuse the rest of the space too.
  return v6.match(GLOBAL_UNICAST) ? null : 'reserved';
}

/**
 * The name of the blocked range an IP address falls in ('loopback', 'private', 'ipv4-mapped loopback', …),
 * or null when it is public. A string that is not an IP address is 'invalid address' (fail closed).
 */
export function blockedRange(address: string): string | null {
  const parsed = parseAddress(address);
  return parsed === null ? 'invalid address' : classifyParsed(parsed);
}

/** Parses allowlist entries ('127.0.0.0/8', '::1/128'; a bare address means just itself). */
export function parseCidrs(list: readonly string[]): Cidr[] {
  return list.map((entry) => {
    const trimmed = entry.trim();
    const slash = trimmed.includes('/') ? trimmed.indexOf('/') : trimmed.length;
    const text = hexIPv6(trimmed.slice(0, slash)) + trimmed.slice(slash);
    let address: IP;
    let prefix: number;
    try {
      [address, prefix] = text.includes('/')
        ? ipaddr.parseCIDR(text)
        : [ipaddr.parse(text), text.includes(':') ? 128 : 32];
      if (address.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(text.split('/')[0] ?? '')) {
        throw new Error('not dotted decimal');
      }
    } catch {
      throw new Error(`invalid CIDR '${entry}' in the subnet allowlist`);
    }
    // An address with a zone ID (fe80::1%eth0) names an interface, which a range does not hold.
    if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).zoneId !== undefined) {
      throw new Error(`'${entry}' in the subnet allowlist has a zone ID: write the range without it`);
    }
    // IPv4-mapped (::ffff:a.b.c.d/n, n ≥ 96) is the IPv4 range it maps: addresses are judged as IPv4.
    if (address.kind() === 'ipv6' && prefix >= 96 && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
      address = (address as ipaddr.IPv6).toIPv4Address();
      prefix -= 96;
    }
    const network = (address.kind() === 'ipv4' ? ipaddr.IPv4 : ipaddr.IPv6)
      .networkAddressFromCIDR(`${address.toString()}/${prefix}`)
      .toString();
    if (network !== address.toString()) {
      const single = address.kind() === 'ipv4' ? 32 : 128;
      throw new Error(
        `'${entry}' in the subnet allowlist has host bits set: write ${network}/${prefix} for the range, or ${address.toString()}/${single} for one address`,
      );
    }
    return { address, prefix, text: `${address.toString()}/${prefix}` };
  });
}

/** An IPv4-mapped address is judged as its IPv4, as classifyParsed judges it: by IPv4 ranges alone. */
function inAllowlist(address: IP, allow: readonly Cidr[]): boolean {
  const judged =
    address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
      ? (address as ipaddr.IPv6).toIPv4Address()
      : address;
  return allow.some(
    (cidr) => cidr.address.kind() === judged.kind() && judged.match(cidr.address, cidr.prefix),
  );
}

/** True when delivery may dial this address: allowlisted, or in no blocked range. */
export function isAllowedAddress(address: string, allow: readonly Cidr[]): boolean {
  const parsed = parseAddress(address);
  if (parsed === null) return false;
  return inAllowlist(parsed, allow) || classifyParsed(parsed) === null;
}

/**
 * Why delivery refuses `address` (not allowed, or allowed but this server's own), as attempts and API
 * errors say it: `blocked address 10.0.0.5 (private)`; `from` names the host name it was resolved from.
 */
export function blockedReason(address: string, allow: readonly Cidr[], from?: string): string {
  const why = isAllowedAddress(address, allow) ? "this server's own address" : blockedRange(address);
  return `blocked address ${address} (${why}${from === undefined ? '' : `, from ${from}`})`;
}
