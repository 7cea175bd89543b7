/** Where the sources come from: git revision and the reproducible build timestamp. */
import { captureOutput } from '@tars/core';

export interface SourceInfo {
  git: { revision: string; dirty: boolean };
  sourceDateEpoch: number;
}

/** SOURCE_DATE_EPOCH from the environment, else the last commit's time, else 1980-01-01. */
export async function sourceInfo(root: string, env: NodeJS.ProcessEnv = process.env): Promise<SourceInfo> {
  let revision = 'unknown';
  let dirty = false;
  let commitTime: number | undefined;
  const [log, st] = await Promise.all([
    captureOutput('git', ['log', '-1', '--format=%H %ct'], { cwd: root }),
    captureOutput('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }),
  ]);
  if (log?.exitCode === 0) {
    const [rev, ct] = log.stdout.trim().split(' ');
    revision = rev ?? 'unknown';
    commitTime = Number(ct) || undefined;
    dirty = (st?.stdout.trim().length ?? 0) > 0;
  }
  const fromEnv = Number(env['SOURCE_DATE_EPOCH']);
  const sourceDateEpoch = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (commitTime ?? 315532800);
  return { git: { revision, dirty }, sourceDateEpoch };
}
