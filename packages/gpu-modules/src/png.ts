/** A minimal PNG writer (RGB, no interlace) and a line-plot renderer for learning curves. */
import { deflateSync } from 'node:zlib';
import { crc32 } from '@tars/core';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** Render `values` as a line chart with axes, a zero line and a light grid. */
export function plotLine(values: number[], width = 800, height = 400): Buffer {
  const px = new Uint8Array(width * height * 3).fill(255);
  const set = (x: number, y: number, r: number, g: number, b: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = (Math.round(y) * width + Math.round(x)) * 3;
    px[i] = r;
    px[i + 1] = g;
    px[i + 2] = b;
  };
  const m = { l: 50, r: 20, t: 20, b: 40 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const lo = Math.min(0, ...values);
  const hi = Math.max(...values, lo + 1e-9);
  const X = (i: number) => m.l + (values.length > 1 ? (i / (values.length - 1)) * w : 0);
  const Y = (v: number) => m.t + h - ((v - lo) / (hi - lo)) * h;
  for (let k = 0; k <= 4; k++) for (let x = m.l; x <= m.l + w; x += 2) set(x, m.t + (k * h) / 4, 220, 220, 220);
  for (let x = m.l; x <= m.l + w; x++) set(x, Y(0), 150, 150, 150);
  for (let y = m.t; y <= m.t + h; y++) set(m.l, y, 0, 0, 0);
  for (let x = m.l; x <= m.l + w; x++) set(x, m.t + h, 0, 0, 0);
  const line = (ys: number[], rgb: [number, number, number], thick: number) => {
    for (let i = 1; i < ys.length; i++) {
      const [x0, y0, x1, y1] = [X(i - 1), Y(ys[i - 1] as number), X(i), Y(ys[i] as number)];
      const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
      for (let s = 0; s <= steps; s++) {
        const x = x0 + ((x1 - x0) * s) / steps;
        const y = y0 + ((y1 - y0) * s) / steps;
        for (let t = 0; t < thick; t++) set(x, y + t, ...rgb);
      }
    }
  };
  // Raw values in light blue, a moving average (window: 1/50 of the run) in dark red on top.
  line(values, [150, 185, 235], 1);
  const win = Math.max(1, Math.floor(values.length / 50));
  const smooth = values.map((_, i) => {
    const from = Math.max(0, i - win + 1);
    const part = values.slice(from, i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
  line(smooth, [180, 30, 30], 3);
  return encodePng(width, height, px);
}
