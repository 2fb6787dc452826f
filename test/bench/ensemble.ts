// Three member processes of one system on loopback, with data under one temp dir: the part every driver
// shares. A driver says how to launch member i and how to tell that it is ready; this runs, kills and
// restarts them, and removes the data at the end.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GiveUp, ManagedProcess, makeTempDir, removeTempDir, waitFor } from './processes.ts';

export const ensembleSize = 3;

export interface LaunchCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export interface MemberLauncher {
  /** The command that runs member `index` with its data in `dataDir`. */
  command(index: number, dataDir: string): LaunchCommand;
  /** Resolves when member `index` answers (throws on a definite failure; polled until the deadline). */
  isReady(index: number): Promise<boolean>;
}

/** How long a member may take to listen after it was started (a JVM's start is the slowest). */
const memberReadyTimeoutMs = 60_000;

export class ProcessEnsemble {
  readonly root: string;
  private readonly members: Array<ManagedProcess | null> = Array.from({ length: ensembleSize }, () => null);

  constructor(
    readonly label: string,
    private readonly launcher: MemberLauncher,
  ) {
    this.root = makeTempDir(`synod-bench-${label}-`);
  }

  dataDir(index: number): string {
    return join(this.root, `m${index + 1}`);
  }

  /** Starts every member in parallel (a quorum must form, so none can wait for the others). */
  async startAll(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.launch(i)));
  }

  async launch(index: number): Promise<void> {
    if (this.members[index]?.running === true) throw new Error(`${this.label} member ${index + 1} is already running`);
    const dir = this.dataDir(index);
    mkdirSync(dir, { recursive: true });
    const { command, args, env, cwd } = this.launcher.command(index, dir);
    const p = ManagedProcess.spawn(`${this.label}-m${index + 1}`, command, args, { env: env ?? process.env, cwd: cwd ?? dir });
    this.members[index] = p;
    await waitFor(
      `${this.label} member ${index + 1} to answer`,
      async () => {
        if (!p.running) throw new GiveUp(`${this.label} member ${index + 1} ended (${p.status}):\n${p.output.slice(-3000)}`);
        return this.launcher.isReady(index);
      },
      memberReadyTimeoutMs,
      50,
    );
  }

  async kill(index: number): Promise<void> {
    await this.members[index]?.kill();
    this.members[index] = null;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i)));
  }

  pids(): Array<number | null> {
    return this.members.map((m) => (m?.running === true ? m.pid : null));
  }

  running(index: number): boolean {
    return this.members[index]?.running === true;
  }

  output(index: number): string {
    return this.members[index]?.output ?? '';
  }

  /** Kills everything and removes the data. */
  async destroy(): Promise<void> {
    try {
      await this.killAll();
    } finally {
      removeTempDir(this.root);
    }
  }
}

/**
 * The part of a driver that manages its ensemble: kill, restart, pids, stop, and the leader and health as each
 * member reports its view. A driver starts `ensemble` and says how to ask a member for its view.
 */
export abstract class EnsembleDriver<View> {
  abstract readonly system: string;
  protected ensemble: ProcessEnsemble | null = null;
  protected clientPorts: number[] = [];
  /** How often waitHealthy asks the members. */
  protected readonly healthPollMs: number = 50;

  /** Member `index`'s view of the ensemble, or null when it does not answer (or knows no leader). */
  protected abstract view(index: number): Promise<View | null>;
  /** Whether the member with this view says it leads. */
  protected abstract leads(view: View): boolean;
  /** Whether the views, one per member and all answered, agree on one leader. */
  protected abstract agree(views: readonly View[]): boolean;

  private views(): Promise<Array<View | null>> {
    return Promise.all(this.clientPorts.map((_, i) => this.view(i)));
  }

  async leader(): Promise<number | null> {
    const leader = (await this.views()).findIndex((view) => view !== null && this.leads(view));
    return leader >= 0 ? leader : null;
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitFor(
      `every ${this.system} member to serve and agree on a leader`,
      async () => {
        const views = await this.views();
        return views.every((view) => view !== null) && this.agree(views as View[]);
      },
      timeoutMs,
      this.healthPollMs,
    );
  }

  async killMember(index: number): Promise<void> {
    await this.requireEnsemble().kill(index);
  }

  async restartMember(index: number): Promise<void> {
    await this.requireEnsemble().launch(index);
  }

  memberPids(): ReadonlyArray<number | null> {
    return this.requireEnsemble().pids();
  }

  async stop(): Promise<void> {
    const ensemble = this.ensemble;
    this.ensemble = null;
    await ensemble?.destroy();
  }

  private requireEnsemble(): ProcessEnsemble {
    if (this.ensemble === null) throw new Error(`the ${this.system} ensemble is not running`);
    return this.ensemble;
  }
}
