// Proves that bad input against a real 3-member ensemble (malformed frames, unknown ops, ill-typed fields,
// oversized values and frames, invalid paths, floods past the per-connection limits, a client that stops
// reading, unknown sessions, malformed member addresses, bad JSON) is answered with a stable code, harms no
// other client, and loses no acknowledged write.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SessionExpiredError, SynodError, text, type Client, type WatchEvent, type WatchItem } from '../../sdk/index.ts';
import { ProcessCluster, waitFor } from './harness.ts';
import { collect, connectionsOf, connectTo, endpointOf, RawSocket, residentBytesOf, waitForConvergence, type Incoming } from './helpers.ts';

/** Small per-connection limits, so that floods are cheap (server/runtime/config.ts; SYNOD_* variables). */
const requestsInFlightMax = 16;
const watchesMax = 8;
const connectionBufferBytesMax = 1024 * 1024;
/** Defaults the tests rely on. */
const valueBytesMax = 1024 * 1024;
const requestBytesMax = 4 * 1024 * 1024;

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const isEvent = (item: WatchItem): item is WatchEvent => item.type === 'create' || item.type === 'set' || item.type === 'delete';

async function post(endpoint: string, op: string, body: string): Promise<{ status: number; body: { ok: boolean; error?: { code: string } } }> {
  const res = await fetch(`http://${endpoint}/v1/${op}`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as { ok: boolean; error?: { code: string } } };
}

/** The code of an error answer, or 'ok'. */
const outcome = (answer: Incoming): string => (answer.ok === true ? 'ok' : (answer.error?.code ?? 'no code'));

describe('bad input against a real ensemble', () => {
  let cluster: ProcessCluster;
  let client: Client;
  /** One client pinned to each member, to check what each member serves. */
  let pinned: Client[];
  /** Every acknowledged write the tests made: path -> data (checked on every member after each test). */
  const acked = new Map<string, string>();
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    cluster = await ProcessCluster.start({
      size: 3,
      env: {
        SYNOD_REQUESTS_IN_FLIGHT_PER_CONNECTION_MAX: String(requestsInFlightMax),
        SYNOD_WATCHES_PER_CONNECTION_MAX: String(watchesMax),
        SYNOD_CONNECTION_BUFFER_BYTES_MAX: String(connectionBufferBytesMax),
      },
    });
    client = await connectTo(cluster.endpoints);
    pinned = await Promise.all(cluster.endpoints.map((e) => connectTo([e])));
    await write('/bad-input/ledger/start', 'start');
  });

  afterEach(async (context) => {
    for (const socket of sockets.splice(0)) socket.close();
    await expectIntact(context.task.name);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await Promise.all([client, ...(pinned ?? [])].map((c) => c?.close()));
    await cluster?.stop();
  });

  /** A write through the SDK that the tests record as acknowledged. */
  async function write(path: string, value: string): Promise<void> {
    await client.create(path, value, { parents: true });
    acked.set(path, value);
  }

  async function open(endpoint = cluster.endpoints[0]!): Promise<RawSocket> {
    const socket = await RawSocket.open(endpoint);
    sockets.push(socket);
    return socket;
  }

  /**
   * The ensemble still serves correctly and lost nothing: every member is up under one leader, accepts one
   * more write, and holds every acknowledged write with its data.
   */
  async function expectIntact(label: string): Promise<void> {
    expect(cluster.members.every((m) => m.process !== null), 'every member process alive').toBe(true);
    await cluster.waitForLeader();
    await write(`/bad-input/ledger/${acked.size}`, label);
    await waitForConvergence(cluster);
    for (const [i, member] of pinned.entries()) {
      await member.sync();
      for (const [path, value] of acked) {
        const node = await member.get(path, { serializable: true });
        expect(text(node.data), `${path} on member ${i + 1}`).toBe(value);
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Frames

  it('answers a malformed CBOR frame with bad_request (id 0) and keeps serving the same connection', async () => {
    const socket = await open();
    const malformed: Record<string, number[]> = {
      'indefinite array without a break': [0x9f],
      'truncated array': [0x83, 0x01],
      'break outside an indefinite item': [0xff],
      'reserved additional information': [0x1c],
      'truncated map': [0xa2, 0x61, 0x61],
      'trailing bytes': [0x01, 0x02],
      'empty frame': [],
    };
    for (const [what, frame] of Object.entries(malformed)) {
      const before = socket.errorsWithId(0).length;
      socket.sendBytes(new Uint8Array(frame));
      await waitFor(`an answer to the ${what}`, () => socket.errorsWithId(0).length > before, 5_000);
      expect(socket.errorsWithId(0).at(-1)!.error!.code, what).toBe('bad_request');
      const status = await socket.request({ op: 'status' });
      expect(status.ok, `a status request after the ${what}`).toBe(true);
    }
    expect(socket.closed).toBe(false);
    expect(socket.undecodable).toBe(0);
  });

  it('answers each element of a frame that is not an array of maps with bad_request, and serves the valid ones', async () => {
    const socket = await open();
    // A lone value (not an array): one request, refused.
    socket.sendFrame(42);
    await waitFor('the answer to a lone number', () => socket.errorsWithId(0).length === 1, 5_000);
    // An array of non-maps with one valid request among them.
    const valid = socket.id();
    socket.sendFrame([1, 'text', null, [], true, { op: 'status', id: valid }, new Uint8Array([1, 2])]);
    await socket.waitMessage('the valid request in the mixed frame', (m) => m.id === valid && m.ok === true);
    await waitFor('an answer to each non-map', () => socket.errorsWithId(0).length === 1 + 6, 5_000);
    // A map without a numeric id cannot be answered by id: id 0.
    socket.sendFrame([{ op: 'status' }, { op: 'status', id: 'seven' }, { op: 'status', id: 0 }]);
    await waitFor('an answer to each request without a usable id', () => socket.errorsWithId(0).length === 1 + 6 + 3, 5_000);
    expect(socket.errorsWithId(0).every((m) => m.error!.code === 'bad_request')).toBe(true);
    // A map with an id but no op is answered with that id.
    const noOp = socket.id();
    socket.sendFrame([{ id: noOp, path: '/' }]);
    expect((await socket.waitMessage('the answer to a map without op', (m) => m.id === noOp)).error?.code).toBe('bad_request');
    // A lone map (not in an array) is served as one request (docs/protocol.md).
    const lone = socket.id();
    socket.sendFrame({ op: 'status', id: lone });
    expect((await socket.waitMessage('the answer to a lone map', (m) => m.id === lone)).ok).toBe(true);
    expect(socket.closed).toBe(false);
  });

  it('answers an unknown op and missing or ill-typed fields with bad_request and the request id, changing nothing', async () => {
    const socket = await open();
    const data = bytes('x');
    const requests: Record<string, Record<string, unknown>> = {
      'unknown op': { op: 'frobnicate' },
      'op not a string': { op: 7 },
      'get without path': { op: 'get' },
      'get with a numeric path': { op: 'get', path: 42 },
      'create with text data': { op: 'create', path: '/bad-input/typed/a', data: 'not bytes' },
      'create with an unknown mode': { op: 'create', path: '/bad-input/typed/b', data, mode: 'weird' },
      'create ephemeral without a lease': { op: 'create', path: '/bad-input/typed/c', data, mode: 'ephemeral' },
      'create with parents not a boolean': { op: 'create', path: '/bad-input/typed/d', data, parents: 'yes' },
      'set with numeric data': { op: 'set', path: '/bad-input/ledger/start', data: 5 },
      'set with a text expected version': { op: 'set', path: '/bad-input/ledger/start', data, expectedVersion: 'zero' },
      'delete with recursive not a boolean': { op: 'delete', path: '/bad-input/ledger/start', recursive: 'yes' },
      'txn with compares not an array': { op: 'txn', compares: 'none', success: [], failure: [] },
      'txn with an unknown compare target': { op: 'txn', compares: [{ path: '/bad-input', target: 'colour', op: '=', value: 1 }], success: [], failure: [] },
      'txn with an operation not a map': { op: 'txn', compares: [], success: [5], failure: [] },
      'txn with an unknown operation': { op: 'txn', compares: [], success: [{ op: 'chmod', path: '/bad-input' }], failure: [] },
      'leaseGrant with a text TTL': { op: 'leaseGrant', ttlMs: 'long' },
      'leaseGrant with a fractional TTL': { op: 'leaseGrant', ttlMs: 1.5 },
      'leaseKeepAlive with a text id': { op: 'leaseKeepAlive', leaseId: 'x' },
      'watch with an unknown scope': { op: 'watch', path: '/', scope: 'galaxy' },
      'watch with a text fromRevision': { op: 'watch', path: '/', scope: 'node', fromRevision: 'then' },
      'range with a negative limit': { op: 'range', path: '/', limit: -1 },
      'range with a text limit': { op: 'range', path: '/', limit: 'many' },
      'compact with a text revision': { op: 'compact', revision: 'old' },
      'write with a negative sequence': { op: 'create', path: '/bad-input/typed/e', data, sequence: -1 },
      'hello with another protocol version': { op: 'hello', version: 2, clientId: 'x' },
      'hello with an empty client id': { op: 'hello', version: 1, clientId: '' },
    };
    const codes: Record<string, string> = {};
    for (const [what, request] of Object.entries(requests)) codes[what] = outcome(await socket.request(request));
    expect(codes).toEqual(Object.fromEntries(Object.keys(requests).map((what) => [what, 'bad_request'])));
    expect(await client.exists('/bad-input/typed')).toBeNull();
    expect(text((await client.get('/bad-input/ledger/start')).data)).toBe('start');
    expect((await socket.request({ op: 'status' })).ok).toBe(true);
  });

  it('refuses a value over valueBytesMax (1 MiB) with value_too_large and accepts one of exactly the limit', async () => {
    const atLimit = new Uint8Array(valueBytesMax).fill(0x61);
    const over = new Uint8Array(valueBytesMax + 1).fill(0x62);
    await client.create('/bad-input/big/at-limit', atLimit, { parents: true });
    expect((await client.get('/bad-input/big/at-limit')).data.length).toBe(valueBytesMax);
    await expect(client.create('/bad-input/big/over', over)).rejects.toMatchObject({ code: 'value_too_large' });
    await expect(client.set('/bad-input/big/at-limit', over)).rejects.toMatchObject({ code: 'value_too_large' });
    const txn = client.txn().then({ op: 'create', path: '/bad-input/big/in-txn', data: bytes('small') }, { op: 'set', path: '/bad-input/big/at-limit', data: over });
    await expect(txn.commit()).rejects.toMatchObject({ code: 'value_too_large' });
    // Nothing of the refused writes applied, not even the transaction's first operation.
    expect(await client.exists('/bad-input/big/over')).toBeNull();
    expect(await client.exists('/bad-input/big/in-txn')).toBeNull();
    expect((await client.get('/bad-input/big/at-limit')).stat.version).toBe(0);
    // The HTTP gateway says the same.
    const http = await post(cluster.endpoints[1]!, 'create', JSON.stringify({ path: '/bad-input/big/over-http', data: Buffer.from(over).toString('base64') }));
    expect(http).toMatchObject({ status: 413, body: { error: { code: 'value_too_large' } } });
    await client.delete('/bad-input/big', { recursive: true });
  });

  it('drops the connection that sends a frame over requestBytesMax (4 MiB), answering nothing on it, other connections unaffected', async () => {
    const endpoint = cluster.endpoints[0]!;
    const sender = await open(endpoint);
    const bystander = await open(endpoint);
    sender.sendFrame([{ op: 'create', id: sender.id(), path: '/bad-input/huge', data: new Uint8Array(requestBytesMax + 1024) }]);
    await waitFor('the member to close the connection', () => sender.closed, 10_000);
    // uWebSockets.js drops the connection without a close frame (the client sees 1006, abnormal closure; 1009,
    // "message too big", if a close frame ever arrives first). The frame is not read, so nothing is answered.
    console.log(`a ${requestBytesMax + 1024}-byte frame: connection closed with code ${sender.closeCode}, ${sender.received.length - 1} answers after hello`);
    expect([1006, 1009]).toContain(sender.closeCode);
    expect(sender.received.filter((m) => m.ok === false)).toEqual([]);
    expect((await bystander.request({ op: 'status' })).ok).toBe(true);
    expect(await client.exists('/bad-input/huge')).toBeNull();
    // The HTTP gateway refuses a body over the same limit with 413.
    const http = await post(endpoint, 'create', JSON.stringify({ path: '/bad-input/huge-http', value: 'x'.repeat(requestBytesMax + 1024) }));
    expect(http).toMatchObject({ status: 413, body: { error: { code: 'value_too_large' } } });
  });

  it('refuses through the SDK a value too large for a frame with value_too_large, without holding up the client\'s other requests', async () => {
    const sdk = await connectTo(cluster.endpoints, { requestTimeoutMs: 10_000 });
    try {
      const startedMs = Date.now();
      const huge = sdk.create('/bad-input/sdk-huge', new Uint8Array(requestBytesMax + 1024), { parents: true });
      const small = sdk.create('/bad-input/sdk-small', 'small', { parents: true });
      // Count the connections the client loses meanwhile.
      let drops = 0;
      let connected = true;
      const counting = setInterval(() => {
        if (connected && sdk.endpoint === null) drops++;
        connected = sdk.endpoint !== null;
      }, 5);
      const [hugeOutcome, smallOutcome] = await Promise.allSettled([huge, small]).finally(() => clearInterval(counting));
      const elapsedMs = Date.now() - startedMs;
      const code = (o: PromiseSettledResult<unknown>): string => (o.status === 'fulfilled' ? 'ok' : o.reason instanceof SynodError ? o.reason.code : String(o.reason));
      console.log(`SDK write of a ${requestBytesMax + 1024}-byte value: ${code(hugeOutcome)}; a small write sent with it: ${code(smallOutcome)}; after ${elapsedMs} ms and ${drops} lost connections`);
      if (smallOutcome.status === 'fulfilled') acked.set('/bad-input/sdk-small', 'small');
      expect({ huge: code(hugeOutcome), small: code(smallOutcome) }).toEqual({ huge: 'value_too_large', small: 'ok' });
      expect(elapsedMs).toBeLessThan(5_000);
    } finally {
      await sdk.close();
    }
  });

  it('refuses invalid paths with invalid_path on every operation', async () => {
    const socket = await open(cluster.endpoints[2]!);
    const paths: Record<string, string> = {
      relative: 'relative/path',
      empty: '',
      'trailing slash': '/bad-input/',
      'double slash': '/bad-input//x',
      'only slashes': '//',
      'dot segment': '/bad-input/./x',
      'dot-dot segment': '/bad-input/../x',
      'final dot-dot': '/bad-input/..',
      NUL: '/bad-input/a\u0000b',
      'too long': `/bad-input/${'x'.repeat(5000)}`,
    };
    const data = bytes('x');
    const ops: Record<string, (path: string) => Record<string, unknown>> = {
      create: (path) => ({ op: 'create', path, data, parents: true }),
      get: (path) => ({ op: 'get', path }),
      stat: (path) => ({ op: 'stat', path }),
      children: (path) => ({ op: 'children', path }),
      range: (path) => ({ op: 'range', path }),
      set: (path) => ({ op: 'set', path, data }),
      delete: (path) => ({ op: 'delete', path }),
      watch: (path) => ({ op: 'watch', path, scope: 'subtree' }),
      'txn compare': (path) => ({ op: 'txn', compares: [{ path, target: 'exists', op: '=', value: true }], success: [], failure: [] }),
      'txn create': (path) => ({ op: 'txn', compares: [], success: [{ op: 'create', path, data }], failure: [] }),
    };
    const codes: Record<string, string> = {};
    for (const [what, path] of Object.entries(paths)) {
      for (const [op, request] of Object.entries(ops)) codes[`${op} ${what}`] = outcome(await socket.request(request(path)));
    }
    expect(codes).toEqual(Object.fromEntries(Object.keys(codes).map((k) => [k, 'invalid_path'])));
    // The SDK surfaces the same code.
    await expect(client.get('/bad-input/')).rejects.toMatchObject({ code: 'invalid_path' });
    await expect(client.create('relative', 'x')).rejects.toMatchObject({ code: 'invalid_path' });
    expect((await client.children('/bad-input')).filter((name) => name === 'x' || name.includes('\u0000'))).toEqual([]);
  });

  it('refuses a path with a lone surrogate with invalid_path rather than creating another path', async () => {
    // cbor-x writes a lone surrogate as the ill-formed UTF-8 bytes ED A0 80 and decodes them as three U+FFFD,
    // so the server's own check for lone surrogates never sees one: the path must be refused on the way.
    const socket = await open();
    const mangled = () => client.children('/bad-input').then((names) => names.filter((name) => name.includes('\ufffd')));
    try {
      const raw = outcome(await socket.request({ op: 'create', path: '/bad-input/raw-\ud800', data: bytes('x') }));
      const sdk = await client.create('/bad-input/sdk-\ud800', 'x').then(
        (created) => `ok: created ${JSON.stringify(created.path)}`,
        (error: unknown) => (error instanceof SynodError ? error.code : String(error)),
      );
      expect({ raw, sdk, created: await mangled() }).toEqual({ raw: 'invalid_path', sdk: 'invalid_path', created: [] });
    } finally {
      for (const name of await mangled()) await client.delete(`/bad-input/${name}`);
    }
  });

  // -------------------------------------------------------------------------------------------------------
  // Floods past the per-connection limits

  it('refuses requests beyond requestsInFlightPerConnectionMax with too_many_requests, serving the rest and other clients', async () => {
    const socket = await open();
    const count = requestsInFlightMax * 3;
    const ids = Array.from({ length: count }, () => socket.id());
    socket.sendFrame(ids.map((id, i) => ({ op: 'create', id, path: `/bad-input/flood/k${String(i).padStart(3, '0')}`, data: bytes(`v${i}`), parents: true })));
    // Another client is served meanwhile.
    await write('/bad-input/flood-bystander', 'served');
    const answers = await Promise.all(ids.map((id) => socket.waitMessage(`the answer to #${id}`, (m) => m.id === id && 'ok' in m, 15_000)));
    const accepted = answers.flatMap((a, i) => (a.ok === true ? [i] : []));
    const refused = answers.filter((a) => a.ok === false).map((a) => a.error!.code);
    expect(accepted).toEqual([...Array(requestsInFlightMax).keys()]);
    expect(refused).toEqual(Array(count - requestsInFlightMax).fill('too_many_requests'));
    // Exactly the accepted writes exist: nothing acknowledged is lost, nothing refused applied.
    expect(await client.children('/bad-input/flood')).toEqual(accepted.map((i) => `k${String(i).padStart(3, '0')}`));
    for (const i of accepted) acked.set(`/bad-input/flood/k${String(i).padStart(3, '0')}`, `v${i}`);
    // Once they are answered, the connection takes requests again.
    expect((await socket.request({ op: 'status' })).ok).toBe(true);
  });

  it('refuses watches beyond watchesPerConnectionMax with too_many_requests; a cancel frees a slot; other connections unaffected', async () => {
    const socket = await open();
    const watchIds: number[] = [];
    for (let i = 0; i < watchesMax; i++) {
      const answer = await socket.request({ op: 'watch', path: `/bad-input/watched/w${i}`, scope: 'node' });
      expect(answer.ok).toBe(true);
      watchIds.push((answer['result'] as { watchId: number }).watchId);
    }
    expect(outcome(await socket.request({ op: 'watch', path: '/bad-input/watched/one-too-many', scope: 'node' }))).toBe('too_many_requests');
    expect((await socket.request({ op: 'watchCancel', watchId: watchIds[0] })).ok).toBe(true);
    expect(outcome(await socket.request({ op: 'watch', path: '/bad-input/watched/in-the-freed-slot', scope: 'node' }))).toBe('ok');
    // Another connection on the same member has its own allowance, and the SDK gets the same code.
    const other = await connectTo([cluster.endpoints[0]!]);
    try {
      const streams = Array.from({ length: watchesMax + 1 }, (_, i) => collect(other.watch(`/bad-input/watched/sdk${i}`)));
      await waitFor('the stream over the limit to end', () => streams.some((s) => s.done), 5_000);
      const failed = streams.filter((s) => s.done);
      expect(failed.map((s) => (s.error as SynodError).code)).toEqual(['too_many_requests']);
      // The watches within the limit deliver.
      const live = streams.find((s) => !s.done)!;
      const index = streams.indexOf(live);
      await write(`/bad-input/watched/sdk${index}`, 'seen');
      await live.until('the event', (items) => items.some(isEvent));
    } finally {
      await other.close();
    }
  });

  it('disconnects a client that stops reading once its buffer passes the bound, with the member\'s memory bounded and others unaffected', async () => {
    const member = cluster.members[1]!;
    const endpoint = endpointOf(member);
    const slow = await open(endpoint);
    for (let i = 0; i < watchesMax; i++) expect((await slow.request({ op: 'watch', path: '/bad-input/slow', scope: 'subtree' })).ok).toBe(true);
    // A well-behaved watcher on the same member, and one writer.
    const watcher = await connectTo([endpoint]);
    try {
      const stream = collect(watcher.watch('/bad-input/slow', { recursive: true }));
      await client.create('/bad-input/slow/start', 'start', { parents: true });
      await stream.until('the first event', (items) => items.some(isEvent));
      const connectionsBefore = await connectionsOf(member);
      // The slow client stops reading its socket (the kernel's buffers fill, then the member's).
      (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const pid = member.process!.pid!;
      const residentBefore = residentBytesOf(pid);
      let residentPeak = residentBefore;
      const value = new Uint8Array(64 * 1024).fill(0x73);
      let pushedBytes = 0;
      let lastRevision = 0;
      // Unbounded buffering would let this loop push ~1 GiB at the slow client; a bound cuts it off far sooner.
      for (let i = 0; ; i++) {
        expect(i, 'writes before the slow client was cut off').toBeLessThan(2_000);
        lastRevision = (await client.set('/bad-input/slow/start', value)).modRevision;
        pushedBytes += value.length * watchesMax;
        residentPeak = Math.max(residentPeak, residentBytesOf(pid));
        if (i % 10 === 9 && (await connectionsOf(member)) < connectionsBefore) break;
      }
      const growthMiB = (residentPeak - residentBefore) / 2 ** 20;
      console.log(`slow reader cut off after ${(pushedBytes / 2 ** 20).toFixed(0)} MiB pushed at it (bound ${connectionBufferBytesMax / 2 ** 20} MiB plus kernel buffers); member RSS peaked ${growthMiB.toFixed(1)} MiB above its start`);
      expect(pushedBytes, 'bytes pushed before the cut-off').toBeLessThan(64 * 2 ** 20);
      expect(growthMiB, 'member RSS growth during the flood (MiB)').toBeLessThan(64);
      // The other watcher saw everything, in order.
      await stream.until('the last write', (items) => items.some((i) => isEvent(i) && i.revision >= lastRevision), 15_000);
      const seen = stream.items.filter(isEvent);
      const revisions = seen.map((e) => e.revision);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      const described = seen.map((e) => `${e.type} ${e.path}@${e.revision}`);
      expect(new Set(described).size, 'no duplicate event').toBe(described.length);
      acked.set('/bad-input/slow/start', text(value));
    } finally {
      await watcher.close();
    }
  });

  // -------------------------------------------------------------------------------------------------------
  // Sessions, membership, HTTP

  it('answers a keep-alive for an unknown or revoked session with session_expired', async () => {
    const socket = await open();
    expect(outcome(await socket.request({ op: 'leaseKeepAlive', leaseId: 987_654_321 }))).toBe('session_expired');
    await expect(client.keepAliveLease(987_654_321)).rejects.toBeInstanceOf(SessionExpiredError);
    const { leaseId } = await client.grantLease(5_000);
    await client.revokeLease(leaseId);
    await expect(client.keepAliveLease(leaseId)).rejects.toMatchObject({ code: 'session_expired' });
    // Asking about an unknown lease, or revoking one, is lease_not_found.
    expect(outcome(await socket.request({ op: 'leaseTimeToLive', leaseId: 987_654_321 }))).toBe('lease_not_found');
    expect(outcome(await socket.request({ op: 'leaseRevoke', leaseId: 987_654_321 }))).toBe('lease_not_found');
  });

  it('refuses memberAdd with a malformed address or name (bad_request) and keeps serving with the same members', async () => {
    const admin = await connectTo(cluster.endpoints, { preferLeader: true });
    try {
      const before = (await admin.members()).map((m) => `${m.name}=${m.peerUrl}`).sort();
      const attempts: Array<[string, string, string, string]> = [
        ['peer address without a port', 'n9', 'not-an-address', '127.0.0.1:1'],
        ['peer address without a host', 'n9', 'ws://:4501', '127.0.0.1:1'],
        ['peer port out of range', 'n9', '127.0.0.1:99999', '127.0.0.1:1'],
        ['peer port not a number', 'n9', '127.0.0.1:http', '127.0.0.1:1'],
        ['peer host with a space', 'n9', 'bad host:4501', '127.0.0.1:1'],
        ['empty peer address', 'n9', '', '127.0.0.1:1'],
        ['malformed client address', 'n9', '127.0.0.1:4599', 'nope'],
        ['malformed name', 'n 9!', '127.0.0.1:4599', '127.0.0.1:1'],
      ];
      const codes: Record<string, string> = {};
      for (const [what, name, peerUrl, clientUrl] of attempts) {
        codes[what] = await admin.addMember(name, peerUrl, clientUrl).then(
          () => 'ok',
          (error: unknown) => (error instanceof SynodError ? error.code : String(error)),
        );
      }
      expect(codes).toEqual(Object.fromEntries(attempts.map(([what]) => [what, 'bad_request'])));
      expect((await admin.members()).map((m) => `${m.name}=${m.peerUrl}`).sort()).toEqual(before);
      const statuses = await waitForConvergence(cluster);
      for (const s of statuses) expect([...s.voters].sort()).toEqual(cluster.members.map((m) => m.name).sort());
    } finally {
      await admin.close();
    }
  });

  it('answers bad JSON and unknown ops on the HTTP gateway with 400 bad_request', async () => {
    const endpoint = cluster.endpoints[2]!;
    const bodies: Record<string, [string, string]> = {
      'not JSON': ['get', '{not json'],
      'a JSON array': ['get', '[1,2]'],
      'a JSON string': ['get', '"/bad-input"'],
      'JSON null': ['get', 'null'],
      'an empty body (no path)': ['get', ''],
      'an unknown op': ['frobnicate', '{}'],
      'a path of the wrong type': ['get', '{"path": 42}'],
      'a watch (WebSocket only)': ['watch', '{"path": "/"}'],
    };
    const answers: Record<string, string> = {};
    for (const [what, [op, body]] of Object.entries(bodies)) {
      const answer = await post(endpoint, op, body);
      answers[what] = `${answer.status} ${answer.body.error?.code ?? 'ok'}`;
    }
    expect(answers).toEqual(Object.fromEntries(Object.keys(bodies).map((what) => [what, '400 bad_request'])));
    expect(await post(endpoint, 'get', JSON.stringify({ path: 'relative' }))).toMatchObject({ status: 400, body: { error: { code: 'invalid_path' } } });
    const health = await fetch(`http://${endpoint}/health`, { signal: AbortSignal.timeout(2_000) });
    expect(health.status).toBe(200);
  });
});
