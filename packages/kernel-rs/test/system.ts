/** The demo system the tests boot: the kernel plus the ping/pong agents with their capabilities. */
import { fileURLToPath } from 'node:url';
import type { BootModule } from '@tars/deploy';

export const OUT = fileURLToPath(new URL('../out/', import.meta.url));
export const KERNEL = `${OUT}tars-kernel.elf`;

export const DEMO_MODULES: BootModule[] = [
  { path: `${OUT}agents/pong.elf`, args: 'name=pong version=1.0.0 prio=2 serve=echo shm=tensor notify=ready' },
  { path: `${OUT}agents/ping.elf`, args: 'name=ping version=1.0.0 prio=3 call=echo shm=tensor notify=ready' },
];
