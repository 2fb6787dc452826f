// Majority arithmetic, kept pure and separate so it can be tested on its own.

export function quorumSize(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The largest index that a majority of `matches` (one per voter) has reached. */
export function committedIndex(matches: readonly number[]): number {
  if (matches.length === 0) return 0;
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[quorumSize(matches.length) - 1]!;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

export function tallyVotes(voters: number, granted: number, rejected: number): VoteOutcome {
  const quorum = quorumSize(voters);
  if (granted >= quorum) return 'won';
  if (rejected > voters - quorum) return 'lost';
  return 'pending';
}
