import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockedRange, canonicalAddress, isAllowedAddress, parseCidrs } from './ssrf.ts';

// Every range in the README's SSRF list: [cidr, an address inside, the expected name].
const BLOCKED: [string, string, string][] = [
  ['0.0.0.0/8', '0.1.2.3', 'this-network'],
  ['10.0.0.0/8', '10.0.0.5', 'private'],
  ['100.64.0.0/10', '100.127.255.254', 'cgnat'],
  ['127.0.0.0/8', '127.0.0.1', 'loopback'],
  ['169.254.0.0/16', '169.254.169.254', 'link-local'],
  ['172.16.0.0/12', '172.31.255.255', 'private'],
  ['192.0.0.0/24', '192.0.0.170', 'ietf-protocol'],
  ['192.0.2.0/24', '192.0.2.1', 'documentation'],
  ['192.88.99.0/24', '192.88.99.1', '6to4-relay'],
  ['192.168.0.0/16', '192.168.1.1', 'private'],
  ['198.18.0.0/15', '198.19.0.1', 'benchmarking'],
  ['198.51.100.0/24', '198.51.100.7', 'documentation'],
  ['203.0.113.0/24', '203.0.113.9', 'documentation'],
  ['224.0.0.0/4', '239.255.255.250', 'multicast'],
  ['240.0.0.0/4', '250.1.1.1', 'reserved'],
  ['255.255.255.255/32', '255.255.255.255', 'broadcast'],
  ['::/128', '::', 'unspecified'],
  ['::1/128', '::1', 'loopback'],
  ['::ffff:0:0/96', '::ffff:10.0.0.5', 'ipv4-mapped private'],
  ['64:ff9b::/96', '64:ff9b::808:808', 'nat64'],
  ['64:ff9b:1::/48', '64:ff9b:1::1', 'nat64'],
  ['100::/64', '100::1', 'discard'],
  ['2001::/32', '2001:0:4136:e378::1', 'teredo'],
  ['2001:2::/48', '2001:2::1', 'benchmarking'],
  ['2001:10::/28', '2001:1f::1', 'orchid'],
  ['2001:db8::/32', '2001:db8::1', 'documentation'],
  ['3fff::/20', '3fff:fff::1', 'documentation'],
  ['2002::/16', '2002:7f00:1::1', '6to4'],
  ['5f00::/16', '5f00::1', 'srv6'],
  ['fc00::/7', 'fd12:3456::1', 'unique-local'],
  ['fe80::/10', 'fe80::1', 'link-local'],
  ['ff00::/8', 'ff02::1', 'multicast'],
];

// Just outside range edges, and ordinary public addresses.
const PUBLIC = [
  '8.8.8.8',
  '1.1.1.1',
  '9.255.255.255',
  '11.0.0.0',
  '100.63.255.255',
  '100.128.0.0',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.1.1',
  '192.88.98.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '2606:4700:4700::1111',
  '2a00:1450:4001::200e',
  '2001:1::1', // outside 2001::/32
  '2001:3::1', // AMT, beside 2001:2::/48
  '2001:20::1', // ORCHIDv2
  '3fff:1000::1', // past 3fff::/20
  '2003::1',
  '::ffff:8.8.8.8',
  '::ffff:1.1.1.1',
];

describe('blockedRange', () => {
  for (const [cidr, address, name] of BLOCKED) {
    it(`blocks ${cidr} (${address})`, () => assert.equal(blockedRange(address), name));
  }

  it('lets public addresses through', () => {
    for (const address of PUBLIC) assert.equal(blockedRange(address), null, address);
  });

  it('checks the IPv4 embedded in IPv4-mapped IPv6', () => {
    assert.equal(blockedRange('::ffff:127.0.0.1'), 'ipv4-mapped loopback');
    assert.equal(blockedRange('::ffff:7f00:1'), 'ipv4-mapped loopback');
    assert.equal(blockedRange('::ffff:a9fe:a9fe'), 'ipv4-mapped link-local');
    assert.equal(blockedRange('0:0:0:0:0:ffff:c0a8:0101'), 'ipv4-mapped private');
  });

  it('refuses the IPv6 space outside global unicast', () => {
    assert.equal(blockedRange('::7f00:1'), 'ipv4-compatible');
    // Written with its IPv4 in dotted form, as DNS answers are: still compatible, not mapped.
    assert.equal(blockedRange('::8.8.8.8'), 'ipv4-compatible');
    assert.equal(blockedRange('0:0:0:0:0:0:127.0.0.1'), 'ipv4-compatible');
    assert.equal(isAllowedAddress('::127.0.0.1', parseCidrs(['127.0.0.0/8'])), false);
    // The same reading for the allowlist, and whatever is not an address still fails closed.
    assert.equal(parseCidrs(['::10.0.0.1'])[0]?.text, '::a00:1/128');
    assert.equal(isAllowedAddress('::ffff:10.0.0.1', parseCidrs(['::10.0.0.1/128'])), false);
    for (const junk of ['::1\t', '::1]@[2606:4700::1111', ' ::1']) {
      assert.equal(blockedRange(junk), 'invalid address', JSON.stringify(junk));
    }
    assert.equal(blockedRange('fec0::1'), 'site-local');
    assert.equal(blockedRange('4000::1'), 'reserved');
  });

  it('classifies the hostnames WHATWG URL produces from odd spellings', () => {
    const cases: [string, string, string][] = [
      ['http://2130706433/', '127.0.0.1', 'loopback'],
      ['http://0x7f.1/', '127.0.0.1', 'loopback'],
      ['http://127.1/', '127.0.0.1', 'loopback'],
      ['http://012.0.0.1/', '10.0.0.1', 'private'],
      ['http://0/', '0.0.0.0', 'this-network'],
      ['http://0xa9.0xfe.0xa9.0xfe/', '169.254.169.254', 'link-local'],
      ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]', 'ipv4-mapped loopback'],
      ['http://[0:0:0:0:0:0:0:1]/', '[::1]', 'loopback'],
      ['http://[64:ff9b::8.8.8.8]/', '[64:ff9b::808:808]', 'nat64'],
    ];
    for (const [url, hostname, name] of cases) {
      assert.equal(new URL(url).hostname, hostname, url);
      assert.equal(blockedRange(hostname), name, url);
    }
  });

  it('accepts a zone id and fails closed on non-addresses', () => {
    assert.equal(blockedRange('fe80::1%eth0'), 'link-local');
    assert.equal(blockedRange('example.com'), 'invalid address');
    assert.equal(blockedRange(''), 'invalid address');
  });
});

describe('parseCidrs', () => {
  it('parses IPv4, IPv6 and bare addresses', () => {
    assert.deepEqual(
      parseCidrs(['127.0.0.0/8', ' ::1/128 ', '10.1.2.3', 'fd00::1']).map((cidr) => cidr.text),
      ['127.0.0.0/8', '::1/128', '10.1.2.3/32', 'fd00::1/128'],
    );
    assert.deepEqual(parseCidrs([]), []);
  });

  it('reads an IPv4-mapped range as the IPv4 range it maps', () => {
    const mapped = parseCidrs(['::ffff:127.0.0.1', '::ffff:10.0.0.0/104']);
    assert.deepEqual(
      mapped.map((cidr) => cidr.text),
      ['127.0.0.1/32', '10.0.0.0/8'],
    );
    for (const address of ['127.0.0.1', '::ffff:127.0.0.1', '10.9.9.9'])
      assert.equal(isAllowedAddress(address, mapped), true, address);
    assert.equal(isAllowedAddress('127.0.0.2', mapped), false);
    // An IPv6 range that happens to cover the mapped space opens no IPv4 address.
    for (const wide of ['::/0', '::/80'])
      assert.equal(isAllowedAddress('::ffff:10.0.0.1', parseCidrs([wide])), false, wide);
  });

  it('refuses a range with host bits set, saying what to write', () => {
    assert.throws(
      () => parseCidrs(['127.0.0.1/8']),
      /'127\.0\.0\.1\/8' .* host bits set: write 127\.0\.0\.0\/8 for the range, or 127\.0\.0\.1\/32 for one address/,
    );
    assert.throws(() => parseCidrs(['fd00::1/64']), /write fd00::\/64 for the range, or fd00::1\/128/);
  });

  it('refuses a zone ID, saying so', () => {
    for (const entry of ['fe80::1%eth0', 'fe80::%eth0/64'])
      assert.throws(() => parseCidrs([entry]), new RegExp(`'${entry}' .* has a zone ID`));
  });

  it('throws naming the bad entry', () => {
    for (const bad of ['10.0.0.0/33', 'nonsense', '127.1/8', '::1/129', '']) {
      assert.throws(
        () => parseCidrs(['127.0.0.0/8', bad]),
        (error: Error) => error.message.includes(`'${bad}'`),
      );
    }
  });
});

describe('isAllowedAddress', () => {
  const loopback = parseCidrs(['127.0.0.0/8', '::1/128']);

  it('allows public addresses and refuses blocked ones by default', () => {
    assert.equal(isAllowedAddress('8.8.8.8', []), true);
    assert.equal(isAllowedAddress('2606:4700:4700::1111', []), true);
    assert.equal(isAllowedAddress('127.0.0.1', []), false);
    assert.equal(isAllowedAddress('[::1]', []), false);
    assert.equal(isAllowedAddress('not-an-ip', loopback), false);
  });

  it('lets the allowlist open blocked ranges, and only those', () => {
    assert.equal(isAllowedAddress('127.0.0.1', loopback), true);
    assert.equal(isAllowedAddress('127.255.0.9', loopback), true);
    assert.equal(isAllowedAddress('::1', loopback), true);
    assert.equal(isAllowedAddress('[::1]', loopback), true);
    assert.equal(isAllowedAddress('::ffff:127.0.0.1', loopback), true); // the embedded IPv4 is allowlisted
    assert.equal(isAllowedAddress('10.0.0.5', loopback), false);
    assert.equal(isAllowedAddress('169.254.169.254', loopback), false);
    assert.equal(isAllowedAddress('10.0.0.5', parseCidrs(['10.0.0.0/24'])), true);
    assert.equal(isAllowedAddress('10.0.1.5', parseCidrs(['10.0.0.0/24'])), false);
  });
});

describe('canonicalAddress', () => {
  it('spells equal addresses alike', () => {
    assert.equal(canonicalAddress('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalAddress('[::1]'), canonicalAddress('0:0:0:0:0:0:0:1'));
    assert.equal(canonicalAddress('localhost'), null);
  });
});
