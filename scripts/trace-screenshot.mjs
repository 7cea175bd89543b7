#!/usr/bin/env node
// Regenerates docs/trace-viewer.png: an `os trace` file opened in Chrome's trace viewer, zoomed on
// one IPC round trip. The Perfetto UI cannot be fetched offline, so this uses the viewer of the
// catapult project (github.com/catapult-project/catapult, not vendored here): its
// `tracing/bin/trace2html` turns the trace into one self-contained HTML page, which headless
// Chromium renders; the screenshot is taken once the viewer has imported the trace and drawn the
// zoomed view, never after a fixed sleep.
//
//   node scripts/trace-screenshot.mjs --catapult DIR TRACE.json OUT.png [--width 1400] [--height 500]
//
// DIR is a catapult checkout; trace2html (python3) reads tracing/, common/ and, of third_party/,
// polymer, beautifulsoup4-4.9.3, html5lib-1.1, six and webencodings-0.5.1. Chromium is `chromium`
// on PATH or $CHROMIUM. The same trace gives the same PNG, byte for byte. Not part of the tests or CI.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node scripts/trace-screenshot.mjs --catapult DIR TRACE.json OUT.png [--width N] [--height N]';
const fail = (message, code = 2) => {
  process.stderr.write(`${message}\n`);
  process.exit(code);
};

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { catapult: { type: 'string' }, width: { type: 'string', default: '1400' }, height: { type: 'string', default: '500' } },
  });
} catch (e) {
  fail(`${e.message}\n${USAGE}`);
}
const { values, positionals } = parsed;
if (!values.catapult || positionals.length !== 2) fail(USAGE);
const [trace, out] = positionals.map((p) => resolve(p));
const width = Number(values.width);
const height = Number(values.height);
if (!Number.isInteger(width) || !Number.isInteger(height) || width < 400 || height < 300) fail('--width and --height are whole pixels (at least 400×300)');
const trace2html = join(resolve(values.catapult), 'tracing', 'bin', 'trace2html');
if (!existsSync(trace2html)) fail(`No tracing/bin/trace2html under ${values.catapult}: pass a catapult checkout`);
if (!existsSync(trace)) fail(`No trace file ${trace}`);

const work = mkdtempSync(join(tmpdir(), 'trace-shot-'));
const cleanUp = () => rmSync(work, { recursive: true, force: true, maxRetries: 3 });

const html = join(work, 'trace.html');
const t2h = spawnSync('python3', [trace2html, trace, '--output', html, '--quiet', '--title', `tarscli os trace: ${basename(trace)}`], { encoding: 'utf8' });
if (t2h.error || t2h.status !== 0) cleanUp(), fail(`trace2html failed: ${t2h.error?.message ?? t2h.stderr.trim().split('\n').slice(-3).join(' | ')}`, 5);

// Chromium over the DevTools protocol on a pipe (fd 3 in, fd 4 out, messages ended by NUL).
const chromium = process.env.CHROMIUM || 'chromium';
const args = [
  '--headless', '--remote-debugging-pipe', '--disable-gpu', '--no-first-run', '--hide-scrollbars',
  `--user-data-dir=${join(work, 'profile')}`, `--window-size=${width},${height}`,
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), 'about:blank',
];
const browser = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let stderr = '';
browser.stderr.on('data', (d) => { stderr = (stderr + d).slice(-2000); });
let done = false;
const exited = new Promise((resolveExit) => {
  browser.on('error', (e) => { cleanUp(); fail(`Cannot start ${chromium}: ${e.message}`, 4); });
  browser.on('exit', (code) => {
    resolveExit();
    if (!done) { cleanUp(); fail(`${chromium} exited (${code}) before the screenshot: ${stderr.trim().split('\n').pop()}`, 5); }
  });
});

let nextId = 1;
const pending = new Map();
const waiters = [];
const nextEvent = (method) => new Promise((resolvePromise) => waiters.push({ method, resolve: resolvePromise }));
let buffer = '';
browser.stdio[4].on('data', (chunk) => {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf('\0')) >= 0) {
    const msg = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (!msg.id) {
      const i = waiters.findIndex((w) => w.method === msg.method);
      if (i >= 0) waiters.splice(i, 1)[0].resolve(msg.params);
      continue;
    }
    const p = pending.get(msg.id);
    if (!p) continue;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
    else p.resolve(msg.result);
  }
});
const send = (method, params = {}, sessionId) => new Promise((resolvePromise, reject) => {
  const id = nextId++;
  pending.set(id, { resolve: resolvePromise, reject, method });
  browser.stdio[3].write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
});

// Runs in the page: waits (frame by frame) until the viewer holds the imported model and has set
// its initial view, zooms on the
// middle IPC call that has a flow to its reply, selects it (its details show below the tracks),
// and resolves after two more frames have been drawn. An import error or a trace without a flowed
// call rejects with what the page shows.
const inPage = `new Promise((resolve, reject) => {
  const deadline = performance.now() + 60000;
  const frames = (n, f) => (n ? requestAnimationFrame(() => frames(n - 1, f)) : f());
  const ready = () => {
    const overlay = Array.prototype.slice.call(document.getElementsByClassName('overlay')).find((o) => o.visible && /error/i.test(o.title || ''));
    if (overlay) return reject(new Error('trace viewer: ' + overlay.textContent.trim()));
    // The track view fits the whole trace in view once it sees itself attached (it polls every
    // 250 ms and then clears its poll): zoom only after that, or the fit undoes the zoom.
    const tv = typeof g_timelineViewEl === 'undefined' ? undefined : g_timelineViewEl.trackView;
    if (!tv || !tv.model || tv.pollIfViewportAttachedInterval_ !== undefined) {
      if (performance.now() > deadline) return reject(new Error('trace viewer: the viewer had not drawn the trace after 60 s'));
      return frames(1, ready);
    }
    const calls = [];
    for (const t of g_timelineViewEl.model.getAllThreads()) {
      for (const s of t.sliceGroup.slices) if (s.title === 'call' && s.outFlowEvents.length) calls.push(s);
    }
    if (!calls.length) return reject(new Error('trace viewer: no IPC call with a flow in this trace'));
    calls.sort((a, b) => a.start - b.start);
    const call = calls[Math.floor(calls.length / 2)];
    // Draw the IPC flow arrows (the viewer's "Flow events" menu starts with none ticked).
    for (const f of g_timelineViewEl.model.flowEvents) tv.viewport.selectedFlowEvents.add(f.category);
    tv.modelTrackContainer_.updateCanvasSizeIfNeeded_();
    const dt = new tr.ui.TimelineDisplayTransform();
    dt.set(tv.viewport.currentDisplayTransform);
    const pad = call.duration * 1.2;
    dt.xSetWorldBounds(call.start - pad, call.end + pad, tv.modelTrackContainer_.canvas.width);
    tv.viewport.setDisplayTransformImmediately(dt);
    g_timelineViewEl.brushingStateController.changeSelectionFromTimeline(new tr.model.EventSet([call, ...call.outFlowEvents]));
    frames(2, () => resolve({ threads: g_timelineViewEl.model.getAllThreads().map((t) => t.name), callStartMs: call.start, callMs: call.duration}));
  };
  ready();
})`;

try {
  const { targetInfos } = await send('Target.getTargets');
  const page = targetInfos.find((t) => t.type === 'page');
  if (!page) throw new Error('Chromium opened no page');
  const { sessionId } = await send('Target.attachToTarget', { targetId: page.targetId, flatten: true });
  await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
  await send('Page.enable', {}, sessionId);
  const loaded = nextEvent('Page.loadEventFired');
  await send('Page.navigate', { url: pathToFileURL(html).href }, sessionId);
  await loaded;
  const r = await send('Runtime.evaluate', { expression: inPage, awaitPromise: true, returnByValue: true }, sessionId);
  if (r.exceptionDetails) throw new Error((r.exceptionDetails.exception?.description?.split('\n')[0] ?? r.exceptionDetails.text).replace(/^Error: /, ''));
  const shot = await send('Page.captureScreenshot', { format: 'png' }, sessionId);
  const png = Buffer.from(shot.data, 'base64');
  writeFileSync(out, png);
  const v = r.result.value;
  process.stdout.write(`${out}: ${width}×${height}, ${png.length} bytes; tracks ${v.threads.join(', ')}; zoomed on the call at ${v.callStartMs.toFixed(3)} ms (${(v.callMs * 1000).toFixed(1)} µs)\n`);
  done = true;
  await send('Browser.close').catch(() => browser.kill());
  await exited;
  cleanUp();
} catch (e) {
  done = true;
  browser.kill();
  await exited;
  cleanUp();
  fail(e.message, 5);
}
