// Model-based randomized test: random command sequences applied to the machine and to a simple reference model
// give the same results, events and state; invariants hold after every step; and machines restored from
// snapshots taken at random points give identical results for every later command.

import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../server/raft/random.ts';
import { checkInvariants, resolveStateConfig, restore, snapshot, StateMachine } from '../../server/state/index.ts';
import { CommandGenerator, Model, normalize, picture } from './model.ts';

const SEEDS = Array.from({ length: 60 }, (_, i) => i + 1);
const STEPS = 400;

describe('model-based random runs', () => {
  it.each(SEEDS)('seed %i agrees with the model, keeps invariants, and survives snapshots', (seed) => {
    const config = resolveStateConfig({
      dataBytesMax: 8,
      clientsMax: 3,
      historyRevisionsMax: 40,
      historyEventsMax: 60,
      pathDepthMax: 4,
      pathBytesMax: 24,
    });
    const random = seededRandom(seed);
    const machine = new StateMachine(config);
    const model = new Model(config);
    const generator = new CommandGenerator(random, model);
    let shadows: StateMachine[] = [];
    for (let step = 1; step <= STEPS; step++) {
      const command = generator.next();
      const where = `seed ${seed} step ${step}: ${describeCommand(command)}`;
      const actual = machine.apply(step, command);
      const expected = model.apply(command);
      expect(normalize(actual.result), where).toEqual(normalize(expected.result));
      expect(actual.revision, where).toBe(expected.revision);
      expect(actual.events, where).toEqual(expected.events);
      checkInvariants(machine);
      for (const shadow of shadows) expect(shadow.apply(step, command), where).toEqual(actual);
      if (step % 10 === 0) expect(picture(machine), where).toEqual(model.picture());
      if (random.float() < 0.03) {
        const bytes = snapshot(machine);
        const restored = restore(bytes);
        expect(snapshot(restored), where).toEqual(bytes);
        expect(restored.appliedIndex).toBe(step);
        shadows = [...shadows.slice(-2), restored];
      }
    }
    expect(picture(machine)).toEqual(model.picture());
    for (const shadow of shadows) {
      expect(picture(shadow)).toEqual(picture(machine));
      expect(snapshot(shadow)).toEqual(snapshot(machine));
    }
  });
});

function describeCommand(command: unknown): string {
  return JSON.stringify(command, (_key, value: unknown) => (value instanceof Uint8Array ? `bytes(${value.length})` : value));
}
