import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileWake } from './file-wake.js';

describe('FileWake', () => {
  it('wakes on a write to the file, long before its fallback timer', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tars-wake-')), 'events.jsonl');
    writeFileSync(file, '');
    const wake = new FileWake(file);
    try {
      await wake.wait(1); // armed (the watcher exists from here on)
      const t0 = Date.now();
      const waiting = wake.wait(60_000);
      appendFileSync(file, '{"ev":"ready"}\n');
      await waiting;
      expect(Date.now() - t0).toBeLessThan(30_000);
    } finally {
      wake.close();
    }
  });

  it('falls back to the timer for a file that does not exist yet', async () => {
    const wake = new FileWake(join(tmpdir(), 'tars-wake-missing', 'events.jsonl'));
    await wake.wait(5);
    wake.close();
  });
});
