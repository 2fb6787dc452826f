// The SDK knows every error code a member can send, and keeps it (with the details) when it surfaces it.

import { describe, expect, it } from 'vitest';
import { errorFromWire, NotFoundError, SessionExpiredError, SynodError, synodError, type SynodErrorCode } from '../../sdk/errors.ts';
import { errorCodes } from '../../server/runtime/errors.ts';

describe('SDK errors', () => {
  it('surfaces every code the server sends with that code, its message and details', () => {
    // Compile-time: a server code missing from SynodErrorCode fails the type check here.
    const codes: readonly SynodErrorCode[] = errorCodes;
    for (const code of codes) {
      const error = errorFromWire({ code, message: `m-${code}`, leader: 'n2', opIndex: 3 });
      expect(error).toBeInstanceOf(SynodError);
      expect(error).toMatchObject({ code, message: `m-${code}`, details: { leader: 'n2', opIndex: 3 } });
    }
    expect(errorFromWire({ code: 'not_found', message: 'gone' })).toBeInstanceOf(NotFoundError);
  });

  it('raises its own errors with the subclass callers branch on', () => {
    expect(synodError('session_expired', 'lost')).toBeInstanceOf(SessionExpiredError);
    expect(synodError('not_found', 'deleted')).toBeInstanceOf(NotFoundError);
    expect(synodError('timeout', 'late')).not.toBeInstanceOf(NotFoundError);
  });
});
