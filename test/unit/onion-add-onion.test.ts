import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildAddOnionCommand, parseAddOnionReply } from '../../src/onion/add-onion-command.js';
import { generateClientAuthKey } from '../../src/onion/client-auth.js';
import { redactCommand } from '../../src/control/wire-values.js';
import { EndpointArgumentError, TorInvalidValueError, TorProtocolError } from '../../src/errors.js';
import type { ControlReply } from '../../src/control/reply.js';

const ID = 'pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd';

function reply(...texts: string[]): ControlReply {
  return { status: 250, lines: texts.map((text, i) => ({ status: 250, separator: i === texts.length - 1 ? ' ' : '-', text })) };
}

describe('ADD_ONION command building', () => {
  const table: Array<[string, Parameters<typeof buildAddOnionCommand>[0], string]> = [
    ['a new key, one port', { ports: [{ virtualPort: 80, target: '127.0.0.1:8080' }] }, 'ADD_ONION NEW:ED25519-V3 Port=80,127.0.0.1:8080'],
    [
      'several ports, IPv6 and unix targets',
      { ports: [{ virtualPort: 80, target: '[::1]:8080' }, { virtualPort: 443, target: 'unix:/run/app.sock' }] },
      'ADD_ONION NEW:ED25519-V3 Port=80,[::1]:8080 Port=443,unix:/run/app.sock',
    ],
    [
      'every flag, MaxStreams and PoW',
      {
        ports: [{ virtualPort: 22, target: '127.0.0.1:22' }],
        discardPk: true,
        detach: true,
        nonAnonymous: true,
        maxStreamsCloseCircuit: true,
        maxStreams: 7,
        pow: true,
      },
      'ADD_ONION NEW:ED25519-V3 Flags=DiscardPK,Detach,NonAnonymous,MaxStreamsCloseCircuit MaxStreams=7 PoWDefensesEnabled=1 Port=22,127.0.0.1:22',
    ],
    ['MaxStreams=0 (unlimited) is sent', { ports: [{ virtualPort: 1, target: '127.0.0.1:1' }], maxStreams: 0 }, 'ADD_ONION NEW:ED25519-V3 MaxStreams=0 Port=1,127.0.0.1:1'],
  ];
  for (const [name, spec, expected] of table) {
    it(name, () => assert.equal(buildAddOnionCommand(spec), expected));
  }

  it('uses a given key and adds V3Auth with one ClientAuthV3 per client', () => {
    const key = `ED25519-V3:${randomBytes(64).toString('base64')}`;
    const a = generateClientAuthKey('a');
    const b = generateClientAuthKey('b');
    const line = buildAddOnionCommand({
      privateKey: key,
      ports: [{ virtualPort: 80, target: '127.0.0.1:1' }],
      clientAuthV3: [a.publicKey, b.publicKey],
    });
    assert.equal(line, `ADD_ONION ${key} Flags=V3Auth Port=80,127.0.0.1:1 ClientAuthV3=${a.publicKey} ClientAuthV3=${b.publicKey}`);
  });

  it('refuses values that would add arguments or lines', () => {
    const port = (target: string) => () => buildAddOnionCommand({ ports: [{ virtualPort: 80, target }] });
    assert.throws(port('127.0.0.1:1 Flags=Detach'), TorInvalidValueError);
    assert.throws(port('127.0.0.1:1\r\nSIGNAL HALT'), TorInvalidValueError);
    assert.throws(port('127.0.0.1:1,extra'), TorInvalidValueError);
    assert.throws(port('"quoted"'), TorInvalidValueError);
    assert.throws(() => buildAddOnionCommand({ ports: [] }), TorInvalidValueError);
    assert.throws(() => buildAddOnionCommand({ ports: [{ virtualPort: 0, target: 'x:1' }] }), TorInvalidValueError);
    assert.throws(() => buildAddOnionCommand({ ports: [{ virtualPort: 1, target: 'x:1' }], maxStreams: 65536 }), TorInvalidValueError);
    assert.throws(
      () => buildAddOnionCommand({ ports: [{ virtualPort: 1, target: 'x:1' }], clientAuthV3: ['KEY Port=1'] }),
      TorInvalidValueError,
    );
    assert.throws(
      () => buildAddOnionCommand({ privateKey: 'ED25519-V3:abc Port=9', ports: [{ virtualPort: 1, target: 'x:1' }] }),
      EndpointArgumentError,
    );
  });

  it('redactCommand hides the key blob and every client key of the lines we build', () => {
    const blob = randomBytes(64).toString('base64');
    const c = generateClientAuthKey('a');
    const line = buildAddOnionCommand({
      privateKey: `ED25519-V3:${blob}`,
      ports: [{ virtualPort: 80, target: '127.0.0.1:1' }],
      clientAuthV3: [c.publicKey],
    });
    const shown = redactCommand(line);
    assert.ok(!shown.includes(blob));
    assert.ok(!shown.includes(c.publicKey));
    assert.match(shown, /^ADD_ONION ED25519-V3:\[redacted\] Flags=V3Auth Port=80,127\.0\.0\.1:1 ClientAuthV3=\[redacted\]$/);
    const add = `ONION_CLIENT_AUTH_ADD ${ID} x25519:${randomBytes(32).toString('base64')} ClientName=bob`;
    assert.ok(!redactCommand(add).includes(add.split(' ')[2]!));
  });
});

describe('ADD_ONION replies', () => {
  it('reads the service id, a generated key and echoed client keys', () => {
    const key = `ED25519-V3:${randomBytes(64).toString('base64')}`;
    assert.deepEqual(parseAddOnionReply(reply(`ServiceID=${ID}`, `PrivateKey=${key}`, 'ClientAuthV3=ABC', 'OK')), {
      serviceId: ID,
      privateKey: key,
      clientAuthV3: ['ABC'],
    });
    assert.deepEqual(parseAddOnionReply(reply(`ServiceID=${ID.toUpperCase()}`, 'OK')), { serviceId: ID, clientAuthV3: [] });
  });

  it('refuses a reply without a v3 service id', () => {
    assert.throws(() => parseAddOnionReply(reply('OK')), TorProtocolError);
    assert.throws(() => parseAddOnionReply(reply('ServiceID=abcdefghijklmnop', 'OK')), TorProtocolError);
  });
});
