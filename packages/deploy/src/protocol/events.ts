/** The kernel's event stream (COM1): one JSON object per line. */
import { AbortError } from '@tars/core';
import { PROTOCOL_VERSION, type KernelEvent } from './types.js';

export type ParsedLine = { kind: 'event'; event: KernelEvent } | { kind: 'garbage'; line: string };

/** Parse one line; non-JSON output (firmware, GRUB) is `garbage`, a wrong version throws. */
export function parseEventLine(line: string): ParsedLine {
  const text = line.trim();
  if (!text.startsWith('{')) return { kind: 'garbage', line };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'garbage', line };
  }
  const ev = value as Partial<KernelEvent>;
  if (typeof ev !== 'object' || ev === null || typeof ev.ev !== 'string' || typeof ev.v !== 'number') return { kind: 'garbage', line };
  if (ev.v !== PROTOCOL_VERSION) {
    throw new AbortError(`The kernel speaks protocol version ${ev.v}; this tarscli speaks ${PROTOCOL_VERSION}`, {
      code: 'PROTOCOL_ERROR',
      tryMessage: 'Use a tarscli built from the same revision as the image.',
    });
  }
  return { kind: 'event', event: ev as KernelEvent };
}

/** Render an event for a person (one line). */
export function formatEvent(e: KernelEvent): string {
  const t = `${(e.t_us / 1000).toFixed(3).padStart(10)} ms`;
  const rest = Object.entries(e)
    .filter(([k]) => !['v', 'seq', 't_us', 'ev'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t}  ${e.ev.padEnd(12)} ${rest}`;
}
