import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileWake } from './file-wake.js';

describe('FileWake', () => {
  it('wakes on a write to the file, not on its fallback timer', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tars-wake-')), 'events.jsonl');
    writeFileSync(file, '');
    const wake = new FileWake(file);
    try {
      await wake.wait(0); // armed: the watcher exists from here on
      const waiting = wake.wait(60_000);
      appendFileSync(file, '{"ev":"ready"}\n');
      expect(await waiting).toBe(true);
    } finally {
      wake.close();
    }
  });

  it('falls back to the timer for a file that does not exist yet', async () => {
    const wake = new FileWake(join(tmpdir(), 'tars-wake-missing', 'events.jsonl'));
    expect(await wake.wait(5)).toBe(false);
    wake.close();
  });
});
