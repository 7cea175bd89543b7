/** Facts about where tarscli runs: CI, TTY, GitHub Actions. */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const ci = env['CI'];
  return (ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false') || env['GITHUB_ACTIONS'] === 'true';
}

export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY) && !isCI();
}
