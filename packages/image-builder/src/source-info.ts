/** Where the sources come from: git revision and the reproducible build timestamp. */
import { probeVersion, runCommand } from '@tars/core';

export interface SourceInfo {
  git: { revision: string; dirty: boolean };
  sourceDateEpoch: number;
}

/** SOURCE_DATE_EPOCH from the environment, else the last commit's time, else 1980-01-01. */
export async function sourceInfo(root: string, env: NodeJS.ProcessEnv = process.env): Promise<SourceInfo> {
  let revision = 'unknown';
  let dirty = false;
  let commitTime: number | undefined;
  if (await probeVersion('git', ['--version'])) {
    const rev = await runCommand('git', ['rev-parse', 'HEAD'], { cwd: root, reject: false });
    if (rev.exitCode === 0) {
      revision = rev.stdout.trim();
      const st = await runCommand('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, reject: false });
      dirty = st.stdout.trim().length > 0;
      const ct = await runCommand('git', ['log', '-1', '--format=%ct'], { cwd: root, reject: false });
      commitTime = Number(ct.stdout.trim()) || undefined;
    }
  }
  const fromEnv = Number(env['SOURCE_DATE_EPOCH']);
  const sourceDateEpoch = Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : (commitTime ?? 315532800);
  return { git: { revision, dirty }, sourceDateEpoch };
}
