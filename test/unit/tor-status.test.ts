import assert from 'node:assert/strict';
import { openTorControl } from '../../src/control/transport.js';
import { TorControlError, TorProtocolError, TorInvalidValueError } from '../../src/errors.js';
import { Tor } from '../../src/tor/tor.js';
import { parseTorStatus, TOR_STATUS_KEYS } from '../../src/tor/tor-status.js';
import { FakeControlServer } from '../support/fake-control-server.js';
import { recordControlWrites } from '../support/control-writes.js';

/** What tor 0.4.9 answers on a test network client (taken from one). */
const ANSWERS: Record<string, string> = {
  version: '0.4.9.11',
  'process/pid': '4242',
  'process/uid': '0',
  'process/user': 'root',
  'process/descriptor-limit': '1048576',
  uptime: '93784',
  'traffic/read': '123456',
  'traffic/written': '7890',
  'status/bootstrap-phase': 'NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"',
  'status/circuit-established': '1',
  'status/enough-dir-info': '1',
  'network-liveness': 'up',
  dormant: '0',
  'accounting/hibernating': 'awake',
};

/** tor's GETCONF answers for the status: neither option set. */
const CONF = { __LeaveStreamsUnattached: '0', DisableNetwork: '0' } as const;

describe('tor status (GETINFO process/*, uptime, traffic/*, status/*, dormant...)', () => {
  it('types every answer', () => {
    assert.deepEqual(parseTorStatus(ANSWERS, CONF), {
      version: '0.4.9.11',
      pid: 4242,
      uid: 0,
      user: 'root',
      descriptorLimit: 1048576,
      uptimeSeconds: 93784,
      bytesRead: 123456,
      bytesWritten: 7890,
      bootstrap: { percent: 100, tag: 'done', summary: 'Done' },
      circuitEstablished: true,
      enoughDirInfo: true,
      networkLive: true,
      dormant: false,
      hibernating: 'awake',
      streamsLeftUnattached: false,
      networkDisabled: false,
    });
  });

  it("leaves out what tor cannot say: uid and descriptor limit -1, an empty user (Windows), no uptime (before 0.3.5)", () => {
    const s = parseTorStatus({ ...ANSWERS, 'process/uid': '-1', 'process/user': '', 'process/descriptor-limit': '-1', uptime: undefined }, CONF);
    for (const key of ['uid', 'user', 'descriptorLimit', 'uptimeSeconds']) assert.ok(!(key in s), key);
    assert.equal(s.pid, 4242);
  });

  it('reads a tor that is down, dormant, hibernating and still bootstrapping, with its problem', () => {
    const s = parseTorStatus({
      ...ANSWERS,
      'status/bootstrap-phase': 'WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED',
      'status/circuit-established': '0',
      'status/enough-dir-info': '0',
      'network-liveness': 'down',
      dormant: '1',
      'accounting/hibernating': 'soft',
    }, { __LeaveStreamsUnattached: '1', DisableNetwork: '1' });
    assert.equal(s.streamsLeftUnattached, true);
    assert.equal(s.networkDisabled, true);
    assert.deepEqual(s.bootstrap, { percent: 5, tag: 'conn', summary: 'Connecting to a relay', warning: 'Connection refused', reason: 'CONNECTREFUSED' });
    assert.equal(s.circuitEstablished, false);
    assert.equal(s.enoughDirInfo, false);
    assert.equal(s.networkLive, false);
    assert.equal(s.dormant, true);
    assert.equal(s.hibernating, 'soft');
  });

  const malformed: Array<[string, string]> = [
    ['process/pid', 'abc'],
    ['process/pid', '-5'],
    ['process/pid', ''],
    ['traffic/read', '1e9'],
    ['traffic/written', '99999999999999999'],
    ['uptime', '12.5'],
    ['process/uid', '-2'],
    ['status/circuit-established', 'yes'],
    ['network-liveness', 'UP'],
    ['dormant', 'no'],
    ['accounting/hibernating', 'asleep'],
    ['status/bootstrap-phase', 'NOTICE CIRCUIT_ESTABLISHED'],
  ];
  for (const [key, value] of malformed) {
    it(`refuses ${key}=${JSON.stringify(value)} with TOR_PROTOCOL_ERROR naming the key`, () => {
      assert.throws(
        () => parseTorStatus({ ...ANSWERS, [key]: value }, CONF),
        (err: unknown) => err instanceof TorProtocolError && err.code === 'TOR_PROTOCOL_ERROR' && err.message.includes(`GETINFO ${key}`),
      );
    });
  }

  it('refuses a missing answer with TOR_PROTOCOL_ERROR', () => {
    assert.throws(() => parseTorStatus({ ...ANSWERS, 'process/pid': undefined }, CONF), /GETINFO process\/pid: tor gave no answer/);
  });

  it('refuses a __LeaveStreamsUnattached that is neither 0 nor 1, or missing, with TOR_PROTOCOL_ERROR', () => {
    for (const value of ['', 'yes', '2']) {
      assert.throws(
        () => parseTorStatus(ANSWERS, { ...CONF, __LeaveStreamsUnattached: value }),
        (err: unknown) => err instanceof TorProtocolError && err.message.startsWith('GETCONF __LeaveStreamsUnattached: expected 0 or 1, got '),
        value,
      );
    }
    assert.throws(
      () => parseTorStatus(ANSWERS, { ...CONF, __LeaveStreamsUnattached: undefined }),
      (err: unknown) => err instanceof TorProtocolError && err.message === 'GETCONF __LeaveStreamsUnattached: tor gave no answer',
    );
    assert.throws(
      () => parseTorStatus(ANSWERS, { ...CONF, DisableNetwork: 'auto' }),
      (err: unknown) => err instanceof TorProtocolError && err.message.startsWith('GETCONF DisableNetwork: expected 0 or 1, got '),
    );
  });

  describe('tor.getStatus() against a fake control port', () => {
    let fake: FakeControlServer;
    let tor: Tor;
    beforeEach(async () => {
      fake = await FakeControlServer.start({ version: '0.4.9.11' });
      const { control } = await openTorControl(fake.endpoint);
      tor = new Tor(control, { version: '0.4.9.11', controlEndpoint: fake.endpoint });
    });
    afterEach(async () => {
      await tor.close();
      await fake.close();
    });

    it('asks every key in one GETINFO, and __LeaveStreamsUnattached and DisableNetwork in one GETCONF sent with it', async () => {
      fake.info(ANSWERS);
      const { written } = recordControlWrites(tor.control);
      const s = await tor.getStatus();
      assert.equal(s.pid, 4242);
      assert.equal(s.streamsLeftUnattached, false);
      assert.deepEqual(written, [`GETINFO ${TOR_STATUS_KEYS.join(' ')}\r\n`, 'GETCONF __LeaveStreamsUnattached DisableNetwork\r\n']);
      // As a process that died with a stream attacher leaves it.
      await tor.control.setConf({ __LeaveStreamsUnattached: 1 });
      assert.equal((await tor.getStatus()).streamsLeftUnattached, true);
      // tor's network-liveness may still say up: what torcon status shows beside it.
      await tor.control.setConf({ DisableNetwork: 1 });
      const disabled = await tor.getStatus();
      assert.equal(disabled.networkDisabled, true);
      assert.equal(disabled.networkLive, true);
    });

    it('asks again without uptime when tor refuses a key, and goes without it on a tor that lacks it', async () => {
      const { uptime: _, ...older } = ANSWERS;
      fake.info(older);
      const { written } = recordControlWrites(tor.control);
      const s = await tor.getStatus();
      assert.equal(s.uptimeSeconds, undefined);
      assert.equal(s.bytesRead, 123456);
      assert.deepEqual(written, [
        `GETINFO ${TOR_STATUS_KEYS.join(' ')}\r\n`,
        'GETCONF __LeaveStreamsUnattached DisableNetwork\r\n',
        `GETINFO ${TOR_STATUS_KEYS.filter((k) => k !== 'uptime').join(' ')}\r\n`,
      ]);
    });

    it('passes on the refusal of a key every supported tor knows', async () => {
      const { 'process/pid': _, ...broken } = ANSWERS;
      fake.info(broken);
      await assert.rejects(tor.getStatus(), (err: unknown) => err instanceof TorControlError && /process\/pid/.test(err.message));
    });

    it('refuses bad options before sending anything', async () => {
      fake.info(ANSWERS);
      const { written } = recordControlWrites(tor.control);
      await assert.rejects(tor.getStatus({ timeoutMs: -1 }), TorInvalidValueError);
      await assert.rejects(tor.getStatus(5000 as never), TorInvalidValueError);
      assert.deepEqual(written, []);
      assert.equal((await tor.getStatus(null as never)).pid, 4242, 'null options are none');
    });
  });
});
