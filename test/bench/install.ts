// Installs etcd and ZooKeeper from Debian's packages when they are missing (the bench runs as root; Debian's
// apt is reachable). Nothing is downloaded from anywhere else.

import { existsSync } from 'node:fs';
import { run } from './processes.ts';

/** A Debian package and a file it installs, whose presence means it is there. */
interface DebianPackage {
  readonly name: string;
  readonly installs: string;
}

export const etcdPackages: readonly DebianPackage[] = [
  { name: 'etcd-server', installs: '/usr/bin/etcd' },
  { name: 'etcd-client', installs: '/usr/bin/etcdctl' },
];

export const zookeeperPackages: readonly DebianPackage[] = [{ name: 'zookeeper', installs: '/usr/share/java/zookeeper.jar' }];

const aptTimeoutMs = 8 * 60_000;

/** Installs the missing packages with `apt-get install -y` (after one `apt-get update` if needed). */
export async function ensureDebianPackages(packages: readonly DebianPackage[]): Promise<void> {
  const missing = packages.filter((p) => !existsSync(p.installs)).map((p) => p.name);
  if (missing.length === 0) return;
  console.log(`bench: installing ${missing.join(', ')} with apt-get (once)`);
  // Keep apt quiet and never interactive; do not start services (no init system is assumed).
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' };
  try {
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], aptTimeoutMs, env);
  } catch {
    // A stale or empty package list is the usual cause: refresh once and try again.
    await run('apt-get', ['update', '-q'], aptTimeoutMs, env);
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], aptTimeoutMs, env);
  }
  const still = packages.filter((p) => !existsSync(p.installs));
  if (still.length > 0) throw new Error(`apt-get did not install ${still.map((p) => p.installs).join(', ')}`);
}
