import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AbortError, CancelledError, ExternalError } from './errors.js';
import { lineSplitter, runCommand, spawnLineProcess } from './exec.js';
import { outputTail } from './errors.js';

describe('runCommand', () => {
  it('streams lines and keeps a log', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'tars-exec-')), 'run.log');
    const lines: string[] = [];
    const r = await runCommand('sh', ['-c', 'echo one; echo two >&2; echo three'], { logFile: log, onLine: (l, s) => lines.push(`${s}:${l}`) });
    expect(r.exitCode, outputTail(r)).toBe(0);
    expect(lines).toEqual(expect.arrayContaining(['stdout:one', 'stderr:two', 'stdout:three']));
    const text = readFileSync(log, 'utf8');
    expect(text).toContain('$ sh -c');
    expect(text).toContain('three');
  });

  it('throws an ExternalError with the stderr tail on failure', async () => {
    const err = await runCommand('sh', ['-c', 'echo bad thing >&2; exit 3']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as ExternalError).processExitCode).toBe(3);
    expect((err as ExternalError).stderrTail).toEqual(['bad thing']);
  });

  it('reports a missing tool as TOOL_MISSING', async () => {
    const err = await runCommand('tars-no-such-tool', []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).code).toBe('TOOL_MISSING');
  });

  it('is cancelled by the signal', async () => {
    const ac = new AbortController();
    const started = Date.now();
    // Cancelled once the child is observed running (its first line), never on a timer.
    const err = await runCommand('sh', ['-c', 'echo running; sleep 30'], { signal: ac.signal, onLine: (l) => l.includes('running') && ac.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    // A generous bound: the child would otherwise sleep 30 s.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('splits chunks into whole lines', () => {
    const out: string[] = [];
    const s = lineSplitter((l) => out.push(l));
    s.push('a\nb');
    s.push('c\r\nd');
    s.flush();
    expect(out).toEqual(['a', 'bc', 'd']);
  });
});

describe('spawnLineProcess', () => {
  it('answers line by line and reports the end of the process with its stderr', async () => {
    const p = spawnLineProcess('sh', ['-c', 'while read l; do [ "$l" = stop ] && { echo bye >&2; exit 3; }; echo "got $l"; done']);
    p.send('a');
    p.send('b');
    expect(await p.next()).toBe('got a');
    expect(await p.next()).toBe('got b');
    p.send('stop');
    await expect(p.next()).rejects.toThrow(/ended \(exit 3\)/);
    expect(await p.close()).toBe(3);
  });
});
