import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkEndpointUrl, ipLiteral } from './endpoint-url.ts';
import { parseCidrs } from './ssrf.ts';

const loopback = parseCidrs(['127.0.0.0/8', '::1/128']);

describe('checkEndpointUrl', () => {
  it('accepts http and https URLs and normalises them', () => {
    assert.deepEqual(checkEndpointUrl('https://example.com/hooks?x=1', []), {
      ok: true,
      url: 'https://example.com/hooks?x=1',
    });
    assert.deepEqual(checkEndpointUrl('HTTP://Example.COM', []), { ok: true, url: 'http://example.com/' });
    assert.deepEqual(checkEndpointUrl('https://8.8.8.8:8443/in', []), {
      ok: true,
      url: 'https://8.8.8.8:8443/in',
    });
  });

  it('lets hostnames through: they are checked after DNS at delivery', () => {
    assert.equal(checkEndpointUrl('http://internal.corp/', []).ok, true);
    assert.equal(checkEndpointUrl('http://localhost.example.com/', []).ok, true);
  });

  it('refuses localhost names, loopback whatever DNS says, unless loopback is allowlisted', () => {
    for (const host of ['localhost', 'LOCALHOST.', 'api.localhost'])
      assert.deepEqual(
        checkEndpointUrl(`http://${host}:3000/`, []),
        { ok: false, reason: `blocked address ${host.toLowerCase()} (loopback)` },
        host,
      );
    assert.equal(checkEndpointUrl('http://localhost:3000/', loopback).ok, true);
    assert.equal(checkEndpointUrl('http://localhost:3000/', parseCidrs(['::1'])).ok, true);
  });

  it('rejects other schemes, credentials and junk', () => {
    assert.deepEqual(checkEndpointUrl('not a url', []), { ok: false, reason: 'invalid URL' });
    for (const zoned of ['http://[fe80::1%25eth0]/', 'http://[fe80::1%eth0]:80/'])
      assert.deepEqual(checkEndpointUrl(zoned, []), {
        ok: false,
        reason: 'invalid URL: an IPv6 zone id (%…) is not allowed',
      });
    assert.deepEqual(checkEndpointUrl('http://example.com:65536/', []), {
      ok: false,
      reason: 'invalid URL: the port must be from 1 to 65535',
    });
    assert.deepEqual(checkEndpointUrl('ftp://example.com/', []), {
      ok: false,
      reason: 'URL scheme must be http or https',
    });
    assert.deepEqual(checkEndpointUrl('file:///etc/passwd', []), {
      ok: false,
      reason: 'URL scheme must be http or https',
    });
    assert.deepEqual(checkEndpointUrl('https://user:pw@example.com/', []), {
      ok: false,
      reason: 'URL must not contain credentials',
    });
    assert.deepEqual(checkEndpointUrl('https://user@example.com/', []), {
      ok: false,
      reason: 'URL must not contain credentials',
    });
  });

  it('rejects hosts no DNS lookup could resolve, and port 0', () => {
    const refused: Array<[string, string]> = [
      ['http://x..com/', 'URL host x..com has an empty label (two dots in a row)'],
      ['http://127.0.0.1../', 'URL host 127.0.0.1.. has an empty label (two dots in a row)'],
      ['http://.x.com/', 'URL host .x.com has an empty label (two dots in a row)'],
      [
        `http://${'a'.repeat(64)}.com/`,
        `URL host ${'a'.repeat(64)}.com has a label longer than 63 characters`,
      ],
      [
        `http://${'abcdefghi.'.repeat(26)}com/`,
        `URL host ${'abcdefghi.'.repeat(26)}com is longer than 253 characters`,
      ],
      ['http://x.com:0/', 'URL port must be from 1 to 65535'],
    ];
    for (const [url, reason] of refused)
      assert.deepEqual(checkEndpointUrl(url, []), { ok: false, reason }, url);
    for (const url of [
      'http://x.com./',
      `http://${'a'.repeat(63)}.com/`,
      'http://my_service:8080/',
      'http://x.com:65535/',
    ])
      assert.equal(checkEndpointUrl(url, []).ok, true, url);
  });

  it('blocks IP literals in blocked ranges, in any spelling', () => {
    assert.deepEqual(checkEndpointUrl('http://10.0.0.5/hook', []), {
      ok: false,
      reason: 'blocked address 10.0.0.5 (private)',
    });
    assert.deepEqual(checkEndpointUrl('http://2130706433/', []), {
      ok: false,
      reason: 'blocked address 127.0.0.1 (loopback)',
    });
    assert.deepEqual(checkEndpointUrl('http://0x7f.1/', []), {
      ok: false,
      reason: 'blocked address 127.0.0.1 (loopback)',
    });
    assert.deepEqual(checkEndpointUrl('http://012.0.0.1/', []), {
      ok: false,
      reason: 'blocked address 10.0.0.1 (private)',
    });
    assert.deepEqual(checkEndpointUrl('http://[::ffff:127.0.0.1]/', []), {
      ok: false,
      reason: 'blocked address ::ffff:7f00:1 (ipv4-mapped loopback)',
    });
    assert.deepEqual(checkEndpointUrl('http://[fd00::1]:80/', []), {
      ok: false,
      reason: 'blocked address fd00::1 (unique-local)',
    });
    assert.deepEqual(checkEndpointUrl('http://169.254.169.254/latest/meta-data', loopback), {
      ok: false,
      reason: 'blocked address 169.254.169.254 (link-local)',
    });
  });

  it('lets the allowlist open blocked literals', () => {
    assert.deepEqual(checkEndpointUrl('http://127.0.0.1:9000/in', loopback), {
      ok: true,
      url: 'http://127.0.0.1:9000/in',
    });
    assert.deepEqual(checkEndpointUrl('http://[::1]:9000/', loopback), {
      ok: true,
      url: 'http://[::1]:9000/',
    });
  });
});

describe('ipLiteral', () => {
  it('recognises WHATWG-normalised literals only', () => {
    assert.equal(ipLiteral('127.0.0.1'), '127.0.0.1');
    assert.equal(ipLiteral('[::1]'), '::1');
    assert.equal(ipLiteral('example.com'), null);
    assert.equal(ipLiteral('1.2.3.4.example'), null);
  });
});
