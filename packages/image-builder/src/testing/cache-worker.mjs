// A checkout's build loop over a cache directory shared with other processes (cache-concurrency.test.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const [, , distIndex, cacheDir, work, rounds] = process.argv;
const { ComponentCache } = await import(distIndex);
const cache = new ComponentCache(cacheDir, 3000); // tiny: every put evicts others' entries
mkdirSync(join(work, 'out'), { recursive: true });
writeFileSync(join(work, 'out', 'a.bin'), Buffer.alloc(1000, 7));
for (let i = 0; i < Number(rounds); i++) {
  const key = (i % 4).toString(16).repeat(64); // the same four keys in every process
  cache.put(key, 'kernel', work, ['out/a.bin']);
  cache.get(key);
}
