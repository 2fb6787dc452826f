// Recording and reading histories: the recorder's protocol, validation of malformed input, and JSON round trips.

import { describe, expect, it } from 'vitest';
import { get, o, op, set } from './builders.ts';
import { CheckerError, HistoryRecorder, parseHistory, serializeHistory, validateHistory } from './index.ts';

/** A clock the test moves by hand. */
function manualClock(): { nowMs: () => number; advance: (ms: number) => void } {
  let timeMs = 0;
  return { nowMs: () => timeMs, advance: (ms) => (timeMs += ms) };
}

describe('HistoryRecorder', () => {
  it('records invocations and outcomes with the injected clock', () => {
    const clock = manualClock();
    const recorder = new HistoryRecorder(clock);
    const write = recorder.invoke('p1', set('/a', 'x'));
    clock.advance(2);
    const read = recorder.invoke('p2', get('/a'));
    clock.advance(3);
    write.complete(o.set(1, 7));
    read.timeout('connection lost');
    const lost = recorder.invoke('p3', set('/a', 'y'));
    clock.advance(1);
    lost.fail('no_leader');
    const pending = recorder.invoke('p1', get('/a'));
    expect(pending.index).toBe(3);
    expect(recorder.history()).toEqual([
      { process: 'p1', invokeMs: 0, completeMs: 5, operation: set('/a', 'x'), outcome: o.set(1, 7) },
      { process: 'p2', invokeMs: 2, completeMs: null, operation: get('/a'), outcome: { status: 'unknown', reason: 'connection lost' } },
      { process: 'p3', invokeMs: 5, completeMs: 6, operation: set('/a', 'y'), outcome: { status: 'failed', reason: 'no_leader' } },
      { process: 'p1', invokeMs: 6, completeMs: null, operation: get('/a'), outcome: { status: 'unknown', reason: 'pending' } },
    ]);
  });

  it('refuses a second operation on a busy process, a second outcome, and a clock going back', () => {
    const clock = manualClock();
    const recorder = new HistoryRecorder(clock);
    const first = recorder.invoke(1, get('/a'));
    expect(() => recorder.invoke(1, get('/a'))).toThrow(CheckerError);
    first.complete(o.missing());
    expect(() => first.timeout()).toThrow(/resolved twice/);
    clock.advance(-1);
    expect(() => recorder.invoke(1, get('/a'))).toThrow(/clock went back/);
  });
});

describe('validateHistory', () => {
  const valid = op(1, 0, 5, set('/a', 'x'), o.set(1));

  it('accepts a well-formed history and round-trips it through JSON', () => {
    const history = [valid, op(2, 1, 3, get('/a'), o.found('x', 1, 4))];
    expect(parseHistory(serializeHistory(history))).toEqual(history);
  });

  it.each([
    ['a result of the wrong operation', { ...valid, outcome: o.missing() }, /a set answered with a get/],
    ['completion before invocation', { ...valid, completeMs: -1 }, /completeMs is before invokeMs/],
    ['a null completion with a known outcome', { ...valid, completeMs: null }, /outcome is not unknown/],
    ['an unknown error code', { ...valid, outcome: { status: 'error', error: 'no_leader' } }, /unknown error code/],
    ['an unknown operation', { ...valid, operation: { op: 'watch', key: '/a' } }, /unknown operation/],
  ])('rejects %s', (_, entry, message) => {
    expect(() => validateHistory([entry])).toThrow(message);
  });

  it('rejects a process running two operations at once', () => {
    expect(() => validateHistory([valid, op(1, 3, 6, get('/a'), o.missing())])).toThrow(/before its previous/);
  });

  it('rejects text that is not JSON with a typed error', () => {
    expect(() => parseHistory('[')).toThrow(expect.objectContaining({ code: 'invalid_history' }));
  });
});
