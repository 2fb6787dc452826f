// ZooKeeper's sync() for node-zookeeper-client, which lacks it. A ZooKeeper read is answered by the member
// the client is connected to, possibly stale; the documented way to read the latest committed state is
// sync(path) then the read (the member first catches up with the leader). The client's wire layer can send
// any request but only decodes the answers it knows; SyncRequest and SyncResponse have the same layout as
// CreateResponse (one string: the path), so the request goes out with the SYNC op code and is then
// relabelled CREATE for decoding its answer. Checked at startup by `checkSync`.

import { createRequire } from 'node:module';
import type { Client } from 'node-zookeeper-client';

interface JuteRecord {
  path: string;
}

interface JuteHeader {
  type: number;
}

interface JuteRequest {
  readonly header: JuteHeader;
  toBuffer(): Buffer;
}

/** The parts of the client's (untyped) wire module used here. */
interface Jute {
  readonly OP_CODES: { readonly SYNC: number; readonly CREATE: number };
  readonly Request: new (header: JuteHeader, payload: JuteRecord) => JuteRequest;
  readonly protocol: {
    readonly RequestHeader: new () => JuteHeader;
    readonly CreateResponse: new () => JuteRecord;
  };
}

interface ConnectionManager {
  queue(request: JuteRequest, callback: (error: Error | null) => void): void;
}

const require = createRequire(import.meta.url);
const jute = require('node-zookeeper-client/lib/jute/index.js') as Jute;

/** Sends sync(path); resolves when the connected member has caught up with the leader. */
export function zookeeperSync(client: Client, path: string): Promise<void> {
  const header = new jute.protocol.RequestHeader();
  header.type = jute.OP_CODES.SYNC;
  const payload = new jute.protocol.CreateResponse(); // SyncRequest's layout: one string
  payload.path = path;
  const request = new jute.Request(header, payload);
  const serialize = request.toBuffer.bind(request);
  request.toBuffer = () => {
    header.type = jute.OP_CODES.SYNC;
    const bytes = serialize();
    header.type = jute.OP_CODES.CREATE; // decode the SyncResponse as the identical CreateResponse
    return bytes;
  };
  const manager = (client as unknown as { connectionManager: ConnectionManager }).connectionManager;
  return new Promise((resolve, reject) => manager.queue(request, (error) => (error === null || error === undefined ? resolve() : reject(error))));
}
