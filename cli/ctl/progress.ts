// A progress bar on stderr for long operations (snapshot save, check perf), drawn with
// cli-progress only when stderr is a terminal: pipes and CI logs get no control characters.

import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the amount done (and, when it grew, the total). */
  update(done: number, total?: number): void;
  stop(): void;
}

const silent: Progress = { update: () => {}, stop: () => {} };

/**
 * A bar whose line reads `label |████░░░░| 40% | 4000/10000 unit`. `show` forces it on or off (default: on
 * when stderr is a terminal).
 */
export function progressBar(label: string, unit: string, total: number, show: boolean = process.stderr.isTTY === true): Progress {
  if (!show) return silent;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} |{bar}| {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(1, total), 0);
  let shownTotal = Math.max(1, total);
  return {
    update: (done, newTotal) => {
      if (newTotal !== undefined && newTotal !== shownTotal) {
        shownTotal = Math.max(1, newTotal);
        bar.setTotal(shownTotal);
      }
      bar.update(done);
    },
    stop: () => bar.stop(),
  };
}
