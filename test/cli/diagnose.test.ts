// Proves that synodctl reports a cluster without a leader the same way whichever failure the request's deadline
// caught: a timeout between retries or a `no_leader` answer (CI once saw the second, which used to keep the
// server's bare message and the generic hint). The members' `/status` is served by a stub HTTP server, so each
// path is taken on purpose rather than by timing.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnose } from '../../cli/ctl/context.ts';
import { toCliError } from '../../cli/ctl/errors.ts';
import { SynodError } from '../../sdk/errors.ts';

describe('synodctl: diagnosing a failed request', () => {
  let server: Server;
  let endpoint: string;
  let leader: string | null = null;

  beforeAll(async () => {
    server = createServer((request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(request.url === '/status' ? { member: 'n1', leader } : {}));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const globals = () => ({ endpoints: [endpoint], timeoutMs: 2000 });
  const timedOut = () => toCliError(new SynodError('timeout', `no answer within 2000 ms (${endpoint})`));
  const refused = () => toCliError(new SynodError('no_leader', 'no leader is known; retry', { leader: null }));

  it('names the members that know no leader, after a timeout or a no_leader answer alike', async () => {
    leader = null;
    for (const error of [timedOut(), refused()]) {
      const report = await diagnose(globals(), error);
      expect(report.code).toBe('no_leader');
      expect(report.message).toMatch(/the members that answered \(n1\) know no leader$/);
      expect(report.hint).toMatch(/^a majority of the members must run/);
      expect(report.details).toMatchObject({ answered: ['n1'] });
    }
  });

  it('leaves the error as it is when the members know a leader', async () => {
    leader = 'n2';
    for (const error of [timedOut(), refused()]) expect(await diagnose(globals(), error)).toBe(error);
  });

  it('reports unavailable when no member answers, and leaves other errors alone', async () => {
    const silent = { endpoints: ['127.0.0.1:1'], timeoutMs: 2000 };
    expect(await diagnose(silent, refused())).toMatchObject({ code: 'unavailable', message: 'no member answered at 127.0.0.1:1' });
    const notFound = toCliError(new SynodError('not_found', '/x: the node does not exist'));
    expect(await diagnose(silent, notFound)).toBe(notFound);
  });
});
