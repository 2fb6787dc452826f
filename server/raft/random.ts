// Randomness is injected: the core never calls Math.random, so a seed replays a run exactly.

export interface Random {
  /** A uniformly distributed integer in [0, bound). */
  int(bound: number): number;
  /** A uniformly distributed float in [0, 1). */
  float(): number;
}

/** A small, fast, seedable generator (sfc32, seeded through splitmix32). */
export function seededRandom(seed: number): Random {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next();
  const float = (): number => next() / 4294967296;
  return { float, int: (bound) => Math.floor(float() * bound) };
}
