/**
 * Borderless tables that fit the terminal. Widths are measured on the visible text (escape codes
 * stripped, headers included); a cell's colour is laid back on each of its wrapped lines after
 * the wrapping and padding, so an escape sequence is never cut and never counted. When the table
 * is wider than the terminal, the widest column gives way first and wraps at spaces (or after a
 * `/` of a path); a header is never wrapped, and a word is broken only when it is longer than its
 * column could ever be.
 */
import { color, outputWidth, stripAnsi } from './output.js';

const GAP = 2;
// eslint-disable-next-line no-control-regex
const SGR = /\u001B\[([0-9;]*)m/g;

/** A visible character and the SGR codes in force where it stands. */
interface Styled {
  ch: string;
  sgr: string;
}

/**
 * Rows under bold headers, columns two spaces apart, fitted to `width` (default: the terminal).
 * `optional` names columns that may go, in that order, while the table cannot fit with every
 * header and every word whole: a narrow terminal shows fewer columns rather than broken words.
 */
export function formatTable(headers: string[], rows: string[][], width = outputWidth(), optional: string[] = []): string {
  const keep = keptColumns(headers, rows, width, optional);
  if (keep.length < headers.length) {
    return formatTable(keep.map((i) => headers[i] as string), rows.map((r) => keep.map((i) => r[i] ?? '')), width);
  }
  const cells = rows.map((r) => headers.map((_, i) => r[i] ?? ''));
  const columns = headers.map((h, i) => ({ header: stripAnsi(h), texts: cells.map((r) => stripAnsi(r[i] as string)) }));
  const natural = columns.map((c) => Math.max(c.header.length, ...c.texts.flatMap((t) => t.split('\n').map((l) => l.length))));
  const headerWidths = columns.map((c) => c.header.length);
  // First only at word boundaries; words are broken only if the headers alone leave no room.
  const longestWord = columns.map((c, i) => Math.max(headerWidths[i] as number, ...c.texts.flatMap((t) => words(t).map((w) => w.length))));
  let widths = fitWidths(natural, width, GAP, longestWord);
  if (tableWidth(widths) > width) widths = fitWidths(widths, width, GAP, headerWidths);

  const lines: string[] = [];
  lines.push(joinLine(columns.map((c, i) => pad(color.bold(c.header), c.header.length, widths[i] as number))));
  for (const row of cells) {
    const wrapped = row.map((cell, i) => cellLines(cell, widths[i] as number));
    const height = Math.max(1, ...wrapped.map((w) => w.length));
    for (let l = 0; l < height; l++) {
      lines.push(joinLine(wrapped.map((w, i) => {
        const line = w[l] ?? { text: '', visible: 0 };
        return pad(line.text, line.visible, widths[i] as number);
      })));
    }
  }
  return lines.join('\n');
}

/**
 * Column widths that sum (with gaps) to at most `width`: the widest column gives way first, one
 * column at a time, never below its floor (its header, or its longest word). What still does not
 * fit stays over: the terminal then wraps the line, but no cell is cut.
 */
export function fitWidths(natural: number[], width: number, gap = GAP, floor: number[] = []): number[] {
  const widths = [...natural];
  let over = tableWidth(widths, gap) - width;
  while (over > 0) {
    let widest = -1;
    for (let i = 0; i < widths.length; i++) {
      if ((widths[i] as number) > (floor[i] ?? 1) && (widest < 0 || (widths[i] as number) > (widths[widest] as number))) widest = i;
    }
    if (widest < 0) break;
    // Down to the next widest column (or its floor) in one step, so ties shrink together.
    const next = Math.max(floor[widest] ?? 1, ...widths.map((w, i) => (i === widest ? 0 : w)).filter((w) => w < (widths[widest] as number)));
    const cut = Math.max(1, Math.min(over, (widths[widest] as number) - next));
    widths[widest] = (widths[widest] as number) - cut;
    over -= cut;
  }
  return widths;
}

function tableWidth(widths: number[], gap = GAP): number {
  return widths.reduce((a, b) => a + b, 0) + gap * Math.max(0, widths.length - 1);
}

/** No line ends in padding: the last column is not padded, trailing spaces are dropped. */
function joinLine(parts: string[]): string {
  return parts.join(' '.repeat(GAP)).replace(/ +$/, '');
}

function pad(text: string, visible: number, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visible));
}

/** The pieces a line may break between: spaces, and after a `/` (paths). */
function words(text: string): string[] {
  return text.split(/\s+/).flatMap((w) => w.split(/(?<=\/)/)).filter(Boolean);
}

/** The characters of `text` with the SGR state at each (escape codes themselves removed). */
function styledChars(text: string): Styled[] {
  const out: Styled[] = [];
  let active: string[] = [];
  let last = 0;
  const push = (s: string) => {
    for (const ch of s) out.push({ ch, sgr: active.map((c) => `\u001B[${c}m`).join('') });
  };
  for (const m of text.matchAll(SGR)) {
    push(text.slice(last, m.index));
    last = (m.index as number) + m[0].length;
    active = applySgr(active, m[1] as string);
  }
  push(text.slice(last));
  return out;
}

/** The SGR codes in force after `params`; a close code ends the opens it closes. */
function applySgr(active: string[], params: string): string[] {
  if (params === '' || params === '0') return [];
  const closes: Record<string, RegExp> = { '22': /^(1|2)$/, '23': /^3$/, '24': /^4$/, '27': /^7$/, '28': /^8$/, '29': /^9$/, '39': /^(3[0-7]|9[0-7]|38;.*)$/, '49': /^(4[0-7]|10[0-7]|48;.*)$/ };
  const close = closes[params];
  return close ? active.filter((c) => !close.test(c)) : [...active, params];
}

/** `chars` as text: each run of one style opened and reset on its own, so a line stands alone. */
function render(chars: Styled[]): string {
  let out = '';
  let current = '';
  for (const { ch, sgr } of chars) {
    if (sgr !== current) {
      if (current) out += '\u001B[0m';
      out += sgr;
      current = sgr;
    }
    out += ch;
  }
  return current ? `${out}\u001B[0m` : out;
}

// eslint-disable-next-line no-control-regex
const NEEDS_LAYOUT = /[\u001B\n\uD800-\uDFFF]|^\s|\s$/;

/**
 * A cell's lines as text with their visible widths. Most cells are plain one-line text that
 * fits: they are themselves (what wrapStyled gives them, without a record per character).
 */
function cellLines(cell: string, width: number): { text: string; visible: number }[] {
  if (cell.length <= width && !NEEDS_LAYOUT.test(cell)) return [{ text: cell, visible: cell.length }];
  return wrapStyled(cell, width).map((line) => ({ text: render(line), visible: line.length }));
}

/** A cell's lines no wider than `width`: wrapped at spaces or after `/`, a word broken only when longer than `width`. */
function wrapStyled(cell: string, width: number): Styled[][] {
  const lines: Styled[][] = [];
  for (const para of splitLines(styledChars(cell))) {
    const tokens = tokenize(para);
    let line: Styled[] = [];
    for (const token of tokens) {
      if (token.space) {
        // Kept only between words: dropped again where the line breaks.
        if (line.length > 0) line.push(...token.chars);
        continue;
      }
      let chars = token.chars;
      if (line.length + chars.length > width && line.length > 0) {
        lines.push(trimEnd(line));
        line = [];
      }
      while (chars.length > width) {
        lines.push(chars.slice(0, width));
        chars = chars.slice(width);
      }
      line.push(...chars);
    }
    lines.push(trimEnd(line));
  }
  return lines;
}

function splitLines(chars: Styled[]): Styled[][] {
  const out: Styled[][] = [[]];
  for (const c of chars) {
    if (c.ch === '\n') out.push([]);
    else (out[out.length - 1] as Styled[]).push(c);
  }
  return out;
}

/** Runs of spaces, and words (a path also ends a word after each `/`). */
function tokenize(chars: Styled[]): { space: boolean; chars: Styled[] }[] {
  const tokens: { space: boolean; chars: Styled[] }[] = [];
  for (const c of chars) {
    const space = /\s/.test(c.ch);
    const last = tokens[tokens.length - 1];
    const prevEndsPath = last && !last.space && last.chars[last.chars.length - 1]?.ch === '/';
    if (last && last.space === space && !prevEndsPath) last.chars.push(c);
    else tokens.push({ space, chars: [c] });
  }
  return tokens;
}

function trimEnd(line: Styled[]): Styled[] {
  let end = line.length;
  while (end > 0 && /\s/.test((line[end - 1] as Styled).ch)) end--;
  return line.slice(0, end);
}

/**
 * Indices of the columns kept: all, less `optional` ones (in order) while the narrowest the table
 * can be with its headers and words whole (each column its header or its longest word) is wider
 * than the terminal.
 */
function keptColumns(headers: string[], rows: string[][], width: number, optional: string[]): number[] {
  const keep = headers.map((_, i) => i);
  if (optional.length === 0) return keep;
  const floor = headers.map((h, i) => Math.max(stripAnsi(h).length, ...rows.flatMap((r) => words(stripAnsi(r[i] ?? '')).map((w) => w.length))));
  const narrowest = (idx: number[]) => idx.reduce((s, i) => s + (floor[i] as number), 0) + GAP * Math.max(0, idx.length - 1);
  for (const name of optional) {
    if (narrowest(keep) <= width) break;
    const at = keep.findIndex((i) => stripAnsi(headers[i] as string) === name);
    if (at >= 0) keep.splice(at, 1);
  }
  return keep;
}
