// Synod's embedding API: run a member inside any Node.js process.
//
//   import { startNode } from 'synod';
//   const node = await startNode({ name: 'n1', dataDir: './data/n1', listenClient: '127.0.0.1:4401',
//     listenPeer: '127.0.0.1:4501', initialCluster: 'n1=127.0.0.1:4501,n2=127.0.0.1:4502,n3=127.0.0.1:4503' });
//   ...
//   await node.stop(); // hands leadership over if leader, flushes the log, closes the endpoints

import { resolveMemberConfig, type ConfigInput, type MemberConfig } from './runtime/config.ts';
import { startMember, type MemberHandle } from './runtime/member.ts';

export type { MemberConfig, Limits, ConfigInput } from './runtime/config.ts';
export { memberDefaults, limitDefaults, resolveMemberConfig, configFromEnv, configFromFile } from './runtime/config.ts';
export type { MemberHandle } from './runtime/member.ts';
export { RuntimeError, errorCodes, type ErrorCode } from './runtime/errors.ts';
export { version } from './version.ts';

/**
 * Starts one member in this process from settings by name (the same names as `synod start`'s flags in
 * camelCase, over the built-in defaults), or from a resolved `MemberConfig`. Resolves once its endpoints
 * listen; the returned handle stops it gracefully (`await using` works too).
 */
export function startNode(config: ConfigInput | MemberConfig): Promise<MemberHandle> {
  return startMember(isResolved(config) ? config : resolveMemberConfig(config));
}

function isResolved(config: ConfigInput | MemberConfig): config is MemberConfig {
  return config['limits'] !== undefined && config['initialCluster'] instanceof Map;
}
