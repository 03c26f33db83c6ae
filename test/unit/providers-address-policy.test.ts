// Unit tests for src/providers/internal/address-policy.ts: the always-refused ranges in every
// spelling (IPv4, IPv6, IPv4-mapped), the administrator's denied and allowed CIDRs, and host
// patterns with wildcards and ports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RegcredError } from '../../src/errors.js';
import { addressAllowed, hostAllowed, normalizeIp, validateNetworkPolicy } from '../../src/providers/internal/address-policy.js';

describe('addressAllowed', () => {
  const open = {};
  const refused = [
    '127.0.0.1',
    '127.1.2.3',
    '169.254.169.254',
    '169.254.170.2',
    '0.0.0.0',
    '0.1.2.3',
    '100.100.100.200',
    '::1',
    '::',
    '0:0:0:0:0:0:0:1',
    'fe80::1',
    'fe80::1%eth0',
    'febf::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::FFFF:169.254.169.254',
    '0:0:0:0:0:ffff:a9fe:a9fe',
    '[::1]',
  ];
  for (const ip of refused) test(`always refused: ${ip}`, () => assert.equal(addressAllowed(open, ip), false));

  const allowed = ['8.8.8.8', '10.0.0.1', '100.100.100.201', '169.255.0.1', '2001:db8::1', 'fec0::1', 'fd00:ec2::253', '::ffff:8.8.8.8'];
  for (const ip of allowed) test(`allowed by default: ${ip}`, () => assert.equal(addressAllowed(open, ip), true));

  test('not an IP address: refused', () => {
    for (const x of ['localhost', '', 'example.com', '1.2.3', '999.1.1.1']) assert.equal(addressAllowed(open, x), false, x);
  });

  test('deniedCidrs add ranges (IPv4 and IPv6, a mapped address is caught by its IPv4 rule)', () => {
    const policy = { deniedCidrs: ['10.0.0.0/8', 'fd00::/8', '192.168.1.7'] };
    assert.equal(addressAllowed(policy, '10.1.2.3'), false);
    assert.equal(addressAllowed(policy, '::ffff:10.1.2.3'), false);
    assert.equal(addressAllowed(policy, 'fd12::1'), false);
    assert.equal(addressAllowed(policy, '192.168.1.7'), false);
    assert.equal(addressAllowed(policy, '192.168.1.8'), true);
    assert.equal(addressAllowed(policy, '11.0.0.1'), true);
  });

  test('allowedCidrs override the refused ranges (tests on 127.0.0.1), nothing more', () => {
    const policy = { allowedCidrs: ['127.0.0.1/32'], deniedCidrs: ['10.0.0.0/8'] };
    assert.equal(addressAllowed(policy, '127.0.0.1'), true);
    assert.equal(addressAllowed(policy, '::ffff:127.0.0.1'), true);
    assert.equal(addressAllowed(policy, '127.0.0.2'), false);
    assert.equal(addressAllowed(policy, '::1'), false);
    assert.equal(addressAllowed({ allowedCidrs: ['10.1.0.0/16'], deniedCidrs: ['10.0.0.0/8'] }, '10.1.2.3'), true);
  });

  test('a malformed CIDR is an InvalidSpec error naming the entry', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'nonsense', '10.0.0.0/8/1', '10.0.0.0/x']) {
      assert.throws(() => validateNetworkPolicy({ deniedCidrs: [bad] }), (e: unknown) => e instanceof RegcredError && e.code === 'InvalidSpec' && e.message.includes(JSON.stringify(bad)));
    }
  });

  test('normalizeIp', () => {
    assert.equal(normalizeIp('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(normalizeIp('[2001:DB8:0:0::1]'), '2001:db8::1');
    assert.equal(normalizeIp('fe80::1%lo'), 'fe80::1');
    assert.equal(normalizeIp('example.com'), undefined);
  });
});

describe('hostAllowed', () => {
  const u = (s: string) => new URL(s);
  test('no allowedHosts: any host', () => assert.equal(hostAllowed({}, u('https://anything.example:8443/')), true));

  test('exact names, case and a trailing dot do not matter', () => {
    const p = { allowedHosts: ['api.jit.io'] };
    assert.equal(hostAllowed(p, u('https://api.jit.io/x')), true);
    assert.equal(hostAllowed(p, u('https://API.JIT.IO./x')), true);
    assert.equal(hostAllowed(p, u('http://api.jit.io:8080/x')), true, 'no port in the pattern: any port');
    assert.equal(hostAllowed(p, u('https://evil-api.jit.io/')), false);
    assert.equal(hostAllowed(p, u('https://api.jit.io.evil.example/')), false);
  });

  test('"*.amazonaws.com": any depth below, not the domain itself, not a look-alike', () => {
    const p = { allowedHosts: ['*.amazonaws.com'] };
    assert.equal(hostAllowed(p, u('https://sts.amazonaws.com/')), true);
    assert.equal(hostAllowed(p, u('https://api.ecr.eu-west-1.amazonaws.com/')), true);
    assert.equal(hostAllowed(p, u('https://amazonaws.com/')), false);
    assert.equal(hostAllowed(p, u('https://evilamazonaws.com/')), false);
    assert.equal(hostAllowed(p, u('https://amazonaws.com.evil.example/')), false);
  });

  test('ports: a pattern with a port matches only that port (default ports count)', () => {
    const p = { allowedHosts: ['registry.example.com:5000', 'secure.example.com:443'] };
    assert.equal(hostAllowed(p, u('https://registry.example.com:5000/')), true);
    assert.equal(hostAllowed(p, u('https://registry.example.com/')), false);
    assert.equal(hostAllowed(p, u('https://registry.example.com:5001/')), false);
    assert.equal(hostAllowed(p, u('https://secure.example.com/')), true);
    assert.equal(hostAllowed(p, u('http://secure.example.com/')), false);
  });

  test('IP patterns match the address in any spelling, never a wildcard', () => {
    const p = { allowedHosts: ['10.0.0.5', '[2001:db8::1]:8443', '*.example.com'] };
    assert.equal(hostAllowed(p, u('https://10.0.0.5/')), true);
    assert.equal(hostAllowed(p, u('https://0x0a.0.0.5/')), true, 'the URL parser normalizes IPv4');
    assert.equal(hostAllowed(p, u('https://[2001:db8:0::1]:8443/')), true);
    assert.equal(hostAllowed(p, u('https://[2001:db8::1]/')), false);
    assert.equal(hostAllowed(p, u('https://10.0.0.6/')), false);
  });

  test('a malformed pattern is an InvalidSpec error', () => {
    for (const bad of ['exa mple.com', 'host:port', 'a.*.example.com', '*']) {
      assert.throws(() => validateNetworkPolicy({ allowedHosts: [bad] }), (e: unknown) => e instanceof RegcredError && e.code === 'InvalidSpec');
    }
  });
});
