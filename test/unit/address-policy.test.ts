import assert from 'node:assert/strict';
import { addressPolicyProblem } from '../../src/config/address-policy.js';

// The forms of tor's manual (ExitPolicy): `accept|reject[6] ADDRESS[/MASK][:PORT]`, comma-separated.
// test/integration/config.test.ts checks that tor accepts everything accepted here.
const ACCEPTED = [
  'accept 127.0.0.1',
  'reject *',
  'accept *:80',
  'accept *:*',
  'accept 10.0.0.0/8:80-443',
  'accept 10.0.0.0/255.0.0.0',
  'accept 0.0.0.0/0',
  'accept 1.2.3.4/32:65535',
  'accept *4',
  'accept *6:443',
  'accept6 *',
  'accept6 [::1]',
  'reject6 [2001:db8::]/32:443',
  'accept [::ffff:192.0.2.1]/128',
  'accept private:*',
  'accept6 private:80',
  'accept\t127.0.0.1 ',
  'accept 127.0.0.1, reject *',
  'accept 127.0.0.1,,reject *,',
  '',
];

const REFUSED: Array<[string, RegExp]> = [
  ['z', /entry 1: does not start with accept/],
  ['x y', /entry 1: does not start with accept/],
  ['Accept 127.0.0.1', /in lower case/],
  ['accept', /has no address/],
  ['accept 127.0.0.1 :80', /more than one address/],
  ['accept 127.0.0.1, reject', /entry 2: has no address/],
  ['accept localhost', /address that is not/],
  ['accept 01.2.3.4', /address that is not/],
  ['accept 256.1.1.1', /address that is not/],
  ['accept ::1', /address that is not/],
  ['accept [::1', /closing \]/],
  ['accept [fe80::1%eth0]', /address that is not/],
  ['accept6 192.0.2.1', /IPv4 address/],
  ['accept private', /without a port/],
  ['accept private/8:*', /mask to private/],
  ['accept */8', /mask to a wildcard/],
  ['accept *4/8', /mask to a wildcard/],
  ['accept 1.2.3.4/33', /longer than 32 bits/],
  ['accept [::1]/129', /longer than 128 bits/],
  ['accept 10.0.0.0/255.0.255.0', /not contiguous/],
  ['accept 1.2.3.4/', /mask that is not/],
  ['accept 1.2.3.4:0', /outside 1 to 65535/],
  ['accept 1.2.3.4:65536', /outside 1 to 65535/],
  ['accept 1.2.3.4:443-80', /start is after its end/],
  ['accept 1.2.3.4:+80', /not \*, N or N-M/],
  ['accept 1.2.3.4:', /not \*, N or N-M/],
  ['accept [::1]80', /neither \/MASK nor :PORT/],
];

describe('config: address-policy checker', () => {
  for (const value of ACCEPTED) {
    it(`accepts ${JSON.stringify(value)}`, () => assert.equal(addressPolicyProblem(value), undefined));
  }
  for (const [value, reason] of REFUSED) {
    it(`refuses ${JSON.stringify(value)}`, () => {
      const problem = addressPolicyProblem(value);
      assert.ok(problem !== undefined, 'refused');
      assert.match(problem, reason);
      assert.match(problem, /expected accept\|reject\[6\] ADDRESS\[\/MASK\]\[:PORT\]/);
    });
  }

  it('never quotes the value in its reason', () => {
    const problem = addressPolicyProblem('accept 127.0.0.1, reject secret-looking-word');
    assert.ok(problem !== undefined);
    assert.doesNotMatch(problem, /secret-looking-word/);
  });
});
