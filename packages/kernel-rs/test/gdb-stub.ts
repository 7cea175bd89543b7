/**
 * Test helpers that reach into a running QEMU: a minimal client of its gdb stub (the GDB remote
 * serial protocol: `$data#checksum` packets, each acknowledged with `+`) and one-shot commands
 * on its human monitor (HMP). Enough to stop the guest at an address, patch its code and drive
 * a device meanwhile.
 */
import { connect, type Socket } from 'node:net';

/** Connect to a unix socket QEMU creates, retrying until it listens. */
async function connectWhenListening(path: string, timeoutMs: number): Promise<Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const socket = await new Promise<Socket | undefined>((resolve) => {
      const s = connect(path, () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
    if (socket) return socket;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${path} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const checksum = (data: string) => [...data].reduce((s, c) => (s + c.charCodeAt(0)) & 0xff, 0);

/** A stop reply: the guest stopped (breakpoint, interrupt, attach). */
export const stopped = (reply: string) => /^[ST][0-9a-f]{2}/.test(reply);
export const ok = (reply: string) => reply === 'OK';

export class GdbStub {
  private buf = '';
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
  }

  static async connect(path: string, timeoutMs = 10_000): Promise<GdbStub> {
    return new GdbStub(await connectWhenListening(path, timeoutMs));
  }

  /** Send a packet without waiting for its reply (`c`: there is none until the guest stops). */
  send(data: string): void {
    this.socket.write(`$${data}#${checksum(data).toString(16).padStart(2, '0')}`);
  }

  /** Send `data` (none: only wait) and resolve with the first reply `accept` takes; replies
   *  before it (a stop notice on attach) are skipped. */
  async request(data: string | undefined, accept: (reply: string) => boolean, timeoutMs = 10_000): Promise<string> {
    if (data !== undefined) this.send(data);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /\$([^#$]*)#[0-9a-fA-F]{2}/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m.index + m[0].length);
        this.socket.write('+');
        if (accept(m[1] ?? '')) return m[1] ?? '';
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`gdb stub: no accepted reply to ${data ?? '(wait)'} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** Stop the running guest (the protocol's ^C). */
  async interrupt(): Promise<void> {
    this.socket.write('\x03');
    await this.request(undefined, stopped);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Run HMP commands and return the monitor's output once it matches `until`. */
export async function hmp(path: string, commands: string[], until: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  const socket = await connectWhenListening(path, timeoutMs);
  try {
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.write(commands.map((c) => `${c}\n`).join(''));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = until.exec(out);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`monitor: no ${until} after ${commands.join('; ')} (got ${JSON.stringify(out.slice(-300))})`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    socket.destroy();
  }
}
