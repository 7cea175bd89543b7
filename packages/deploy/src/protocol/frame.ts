/**
 * Control-channel framing, the TypeScript twin of `kcore::frame` (PROTOCOL.md §Frames):
 * `!` + 8 hex length + 8 hex CRC-32 + ` ` + payload + `\n`.
 */
import { crc32 } from './crc32.js';

export const HEADER_LEN = 18;
export type FrameErrorCode = 'GARBAGE' | 'BAD_HEADER' | 'TOO_LONG' | 'BAD_CHECKSUM' | 'MISSING_TERMINATOR' | 'TRUNCATED';
export type FrameEvent = { kind: 'frame'; payload: Buffer } | { kind: 'error'; code: FrameErrorCode };

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

export function encodeFrame(payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  return Buffer.concat([Buffer.from(`!${hex8(body.length)}${hex8(crc32(body))} `, 'latin1'), body, Buffer.from('\n')]);
}

type State = 'idle' | 'garbage' | 'header' | 'payload' | 'terminator';

/** Byte-at-a-time decoder; garbage is reported once per run and skipped. */
export class FrameDecoder {
  private state: State = 'idle';
  private header = '';
  private len = 0;
  private crc = 0;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  constructor(readonly maxPayload = 1 << 20) {}

  push(chunk: Uint8Array): FrameEvent[] {
    const out: FrameEvent[] = [];
    for (const byte of chunk) {
      const ev = this.pushByte(byte);
      if (ev) out.push(ev);
    }
    return out;
  }

  private pushByte(byte: number): FrameEvent | undefined {
    switch (this.state) {
      case 'idle':
      case 'garbage':
        if (byte === 0x21) {
          this.state = 'header';
          this.header = '';
          return undefined;
        }
        if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09 || this.state === 'garbage') return undefined;
        this.state = 'garbage';
        return { kind: 'error', code: 'GARBAGE' };
      case 'header': {
        this.header += String.fromCharCode(byte);
        if (this.header.length < HEADER_LEN - 1) return undefined;
        const m = /^([0-9a-fA-F]{8})([0-9a-fA-F]{8}) $/.exec(this.header);
        if (!m) {
          this.state = 'garbage';
          return { kind: 'error', code: 'BAD_HEADER' };
        }
        this.len = parseInt(m[1] as string, 16);
        this.crc = parseInt(m[2] as string, 16);
        if (this.len > this.maxPayload) {
          this.state = 'garbage';
          return { kind: 'error', code: 'TOO_LONG' };
        }
        this.buf = Buffer.alloc(this.len);
        this.pos = 0;
        this.state = this.len === 0 ? 'terminator' : 'payload';
        return undefined;
      }
      case 'payload':
        // Payloads are compact JSON and never hold a raw newline: one here means the header
        // lied about the length. Resync at the next `!` (PROTOCOL.md).
        if (byte === 0x0a) {
          this.state = 'idle';
          return { kind: 'error', code: 'TRUNCATED' };
        }
        this.buf[this.pos++] = byte;
        if (this.pos === this.len) this.state = 'terminator';
        return undefined;
      case 'terminator':
        if (byte !== 0x0a) {
          this.state = byte === 0x21 ? 'header' : 'garbage';
          this.header = '';
          return { kind: 'error', code: 'MISSING_TERMINATOR' };
        }
        this.state = 'idle';
        if (crc32(this.buf) !== this.crc) return { kind: 'error', code: 'BAD_CHECKSUM' };
        return { kind: 'frame', payload: this.buf };
    }
  }
}
