import { existsSync } from 'node:fs';
import { EndpointArgumentError, OnionPublishError, TorAbortError, TorControlClosedError, TorControlError } from '../errors.js';
import type { TorControl } from '../control/tor-control.js';
import { raceCancel, throwIfAborted } from '../util/abort.js';
import { logger } from '../util/log.js';
import { buildAddOnionCommand, parseAddOnionReply } from './add-onion-command.js';
import { generateClientAuthKey } from './client-auth.js';
import { readClientAuthDir, removeClientAuthFiles, writeClientAuthFiles } from './client-auth-dir.js';
import { DescriptorUploadWatcher } from './descriptor-upload.js';
import { createKeyFile, readKeyFile } from './key-file.js';
import { closeListener, listenForService } from './local-server.js';
import type { ValidOnionOptions } from './onion-options.js';
import { refuseDisabledNetwork } from './tor-checks.js';
import { TorOnionService } from './onion-service.js';

const log = logger('onion');

/**
 * Ephemeral services (ADD_ONION, control-spec 3.27): they live as long as the control connection
 * that made them, unless `detach`. The steps are ordered so that every side effect is undone when
 * a later step fails: listener → HS_DESC subscription → ADD_ONION → key file → upload wait; any
 * failure after ADD_ONION sends DEL_ONION before the error reaches the caller.
 */

/**
 * Creates an ADD_ONION service from validated options.
 * @param background - given the removal that follows an abort while tor has not answered
 *   ADD_ONION yet, for whoever must wait for it before closing the connection (Tor.close())
 * @throws OnionPublishError (`TOR_ONION_PUBLISH`) when tor refuses the service or no upload
 *   succeeds; EndpointListenError, EndpointArgumentError (key file), TorAbortError, TorControlClosedError
 */
export async function createEphemeralService(
  control: TorControl,
  o: ValidOnionOptions,
  background: (work: Promise<unknown>) => void = () => undefined,
): Promise<TorOnionService> {
  const { signal } = o;
  throwIfAborted(signal, 'creating an onion service');
  // The key file first: one that holds no key fails before anything is sent to tor.
  let privateKey = o.privateKey;
  let writeKeyFile = false;
  if (o.privateKeyFile !== undefined) {
    privateKey = await readKeyFile(o.privateKeyFile);
    writeKeyFile = privateKey === undefined;
  }
  if (o.awaitUpload) await refuseDisabledNetwork(control, signal);
  // With clientAuthDir the clients already there keep their keys; the new ones' files are written
  // once tor has the service, so that a refused service leaves no key nobody received.
  const { clients, created } =
    o.clientAuthDir !== undefined
      ? await readClientAuthDir(o.clientAuthDir, o.clientAuth)
      : { clients: o.clientAuth.map((name) => generateClientAuthKey(name)), created: [] };
  if (o.clientAuthDir !== undefined && clients.length === 0) {
    // No names and an empty directory: the service would quietly be open to everyone.
    const where = existsSync(o.clientAuthDir) ? 'holds no client' : 'does not exist';
    throw new EndpointArgumentError(`onion: clientAuthDir ${o.clientAuthDir} ${where} and clientAuth names none: the service would be open to everyone (name the clients with clientAuth, and they get keys and files there)`);
  }

  let opened = false;
  let watcher: DescriptorUploadWatcher | undefined;
  let serviceId: string | undefined;
  try {
    const local = await listenForService(o);
    opened = local.opened;
    const ports = local.ports;
    if (o.awaitUpload) watcher = await DescriptorUploadWatcher.start(control);
    throwIfAborted(signal, 'creating an onion service');

    o.onProgress({ phase: 'adding', message: 'ADD_ONION', percent: 20 });
    const line = buildAddOnionCommand({
      privateKey,
      ports,
      detach: o.detach,
      nonAnonymous: o.singleHop,
      maxStreams: o.maxStreams,
      maxStreamsCloseCircuit: o.maxStreamsCloseCircuit,
      clientAuthV3: clients.map((c) => c.publicKey),
      pow: o.pow,
    });
    // The caller may give up (abort) while tor has not answered, but tor may still create the
    // service: the reply is then awaited in the background and the service removed when it comes.
    const adding = control.command(line);
    let reply;
    try {
      reply = await raceCancel(adding, 'creating an onion service', { signal });
    } catch (err) {
      if (err instanceof TorAbortError) {
        background(
          adding
            .then((late) => control.command(`DEL_ONION ${parseAddOnionReply(late).serviceId}`))
            .catch(() => undefined),
        );
        throw err;
      }
      throw explainAddOnionError(err, o);
    }
    const result = parseAddOnionReply(reply);
    serviceId = result.serviceId;
    const key = privateKey ?? result.privateKey;
    log('ADD_ONION created %s.onion (%d port(s)%s)', serviceId, ports.length, o.detach ? ', detached' : '');
    o.onProgress({ phase: 'added', message: `tor created ${serviceId}.onion`, percent: 40 });

    if (writeKeyFile) {
      if (key === undefined) throw new OnionPublishError('tor returned no private key to store in privateKeyFile');
      try {
        await createKeyFile(o.privateKeyFile!, key);
      } catch (err) {
        throw new EndpointArgumentError(
          `onion: cannot create key file ${o.privateKeyFile}: ${(err as Error).message ?? String(err)}`,
        );
      }
    }
    if (o.clientAuthDir !== undefined) await writeClientAuthFiles(o.clientAuthDir, created);
    throwIfAborted(signal, 'creating an onion service');
    if (watcher) await watcher.wait(serviceId, { timeoutMs: o.uploadTimeoutMs, signal, onProgress: o.onProgress });

    const id = serviceId;
    const server = o.server;
    return new TorOnionService(
      {
        serviceId: id,
        ports,
        privateKey: key,
        clientAuth: clients,
        kind: 'ephemeral',
        detached: o.detach,
      },
      {
        remove: () => delOnion(control, id, o.detach),
        closeListener: () => {
          if (opened && server) closeListener(server);
        },
      },
    );
  } catch (err) {
    if (serviceId !== undefined) await delOnion(control, serviceId, o.detach).catch(() => undefined);
    // A no-op for files not written yet: only a file holding a new client's key is removed.
    if (o.clientAuthDir !== undefined) await removeClientAuthFiles(o.clientAuthDir, created);
    if (opened && o.server) closeListener(o.server);
    throw err;
  } finally {
    await watcher?.stop();
  }
}

/**
 * DEL_ONION. A service tor no longer knows (552), or one that died with a closed connection, is
 * already gone: that counts as success.
 */
async function delOnion(control: TorControl, serviceId: string, detached: boolean): Promise<void> {
  try {
    await control.command(`DEL_ONION ${serviceId}`);
    log('DEL_ONION %s.onion', serviceId);
  } catch (err) {
    if (err instanceof TorControlError && err.status === 552) return;
    if (err instanceof TorControlClosedError && !detached) return;
    throw err;
  }
}

/** Tor's refusals, with what to do about them. The command line (it may hold a key) is never quoted. */
function explainAddOnionError(err: unknown, o: ValidOnionOptions): unknown {
  if (!(err instanceof TorControlError)) return err;
  const text = err.message;
  let hint = '';
  if (/anonymous hidden service mode/i.test(text)) {
    hint = o.singleHop
      ? ': singleHop needs HiddenServiceSingleHopMode 1 and HiddenServiceNonAnonymousMode 1 in the torrc'
      : ': this tor runs single-onion (non-anonymous) services only; pass singleHop: true to accept that';
  } else if (err.status === 550 && /collision/i.test(text)) {
    hint = ': a service with this key already runs in this tor';
  } else if (o.pow && /PoWDefensesEnabled/i.test(text)) {
    hint = ': this tor does not accept PoW for ADD_ONION (tor 0.4.9 does); use hiddenServiceDir for PoW instead';
  }
  return new OnionPublishError(`tor refused to create the onion service (${text})${hint}`, { cause: err });
}
