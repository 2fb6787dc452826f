// Keeps the pure core pure: no clock, randomness, timers, process, Buffer or Node built-in module in the
// sources of server/state and server/raft, and no imports beyond their own files and allowed pure packages.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PURE_DIRECTORIES = ['server/state', 'server/raft'];
/** Packages the pure core may import: codecs without I/O. */
const ALLOWED_PACKAGES: Record<string, readonly string[]> = { 'server/state': ['cbor-x'], 'server/raft': [] };

const FORBIDDEN: readonly [RegExp, string][] = [
  [/\bDate\b/, 'Date (the clock)'],
  [/\bMath\s*\.\s*random\b/, 'Math.random'],
  [/\bprocess\b/, 'process'],
  [/\b(?:setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|clearImmediate|queueMicrotask)\b/, 'timers'],
  [/\bperformance\b/, 'performance (the clock)'],
  [/\bcrypto\b/, 'crypto (randomness)'],
  [/\bBuffer\b/, 'Buffer (Node-only)'],
  [/\bglobalThis\b/, 'globalThis'],
  [/\brequire\s*\(/, 'require'],
  [/\beval\s*\(|\bnew\s+Function\b/, 'eval'],
];

/** Removes comments, keeping string contents (import specifiers are strings). */
export function stripComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end === -1 ? source.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The purity violations in one source text. */
export function violations(source: string, allowedPackages: readonly string[]): string[] {
  const code = stripComments(source);
  const found: string[] = [];
  for (const [pattern, name] of FORBIDDEN) if (pattern.test(code)) found.push(name);
  const patterns = [
    /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import x from '...'; export { y } from '...'
    /^\s*import\s*['"]([^'"]+)['"]/gm, // import '...'
    /\bimport\s*\(\s*['"]([^'"]+)['"]/g, // import('...')
  ];
  const specifiers = patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((m) => m[1] as string));
  for (const specifier of specifiers) {
    if (specifier.startsWith('./') || specifier.startsWith('../')) continue;
    const bare = specifier.replace(/^node:/, '');
    if (specifier.startsWith('node:') || builtinModules.includes(bare.split('/')[0] as string)) {
      found.push(`Node built-in import ${specifier}`);
    } else if (!allowedPackages.includes(specifier)) {
      found.push(`package import ${specifier}`);
    }
  }
  return found;
}

function sources(directory: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('purity', () => {
  it.each(PURE_DIRECTORIES)('%s uses no clock, randomness, timers, process or Node built-ins', (directory) => {
    const files = sources(join(root, directory));
    expect(files.length).toBeGreaterThan(0);
    const report = files
      .map((file) => [relative(root, file), violations(readFileSync(file, 'utf8'), ALLOWED_PACKAGES[directory] ?? [])] as const)
      .filter(([, found]) => found.length > 0)
      .map(([file, found]) => `${file}: ${found.join(', ')}`);
    expect(report).toEqual([]);
  });

  it('the scanner catches what it must and ignores comments', () => {
    expect(violations("import { readFileSync } from 'node:fs';", [])).toEqual(['Node built-in import node:fs']);
    expect(violations("import os from 'os';", [])).toEqual(['Node built-in import os']);
    expect(violations("import x from 'left-pad';", [])).toEqual(['package import left-pad']);
    expect(violations("import { Encoder } from 'cbor-x';", ['cbor-x'])).toEqual([]);
    expect(violations('const t = Date.now();', [])).toEqual(['Date (the clock)']);
    expect(violations('const r = Math.random();', [])).toEqual(['Math.random']);
    expect(violations('setTimeout(f, 1);', [])).toEqual(['timers']);
    expect(violations('if (process.env.X) {}', [])).toEqual(['process']);
    expect(violations('const b = Buffer.from(x);', [])).toEqual(['Buffer (Node-only)']);
    expect(violations('const m = await import("node:os");', [])).toEqual(['Node built-in import node:os']);
    expect(violations('// never Date.now() or Math.random()\n/* process */ const isUpToDate = 1;', [])).toEqual([]);
    expect(violations("const s = '//'; const t = Date.now();", [])).toEqual(['Date (the clock)']);
    expect(violations("type T = Omit<M, 'from'>;\nexport { a } from './a.ts';", [])).toEqual([]);
    expect(violations("export {\n  a,\n  b,\n} from 'node:fs';", [])).toEqual(['Node built-in import node:fs']);
  });
});
