/**
 * Where a JSON text stops being JSON, as a line, a column and one line of reason — the same on
 * every Node version (V8's messages differ between releases, and some carry a multi-line snippet
 * of the text and no position at all). A small strict scanner (RFC 8259); it only runs once
 * JSON.parse has failed.
 */

export interface JsonErrorLocation {
  line: number;
  column: number;
  message: string;
}

export function locateJsonError(text: string): JsonErrorLocation | undefined {
  let i = 0;
  const fail = (message: string, at = i): never => {
    throw Object.assign(new Error(message), { at });
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const describe = (at: number) => {
    if (at >= text.length) return 'the end of the file';
    if (text.startsWith('//', at) || text.startsWith('/*', at)) return 'a comment (JSON has no comments)';
    const c = text[at] as string;
    if (c === '"') return 'another string (a missing comma?)';
    return c === '\n' ? 'a line break' : `"${c}"`;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    if (c === "'") fail('strings take double quotes in JSON, not single quotes');
    fail(`expected a value, found ${describe(i)}`);
  };
  const object = (): void => {
    i++; // {
    ws();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === '}') fail('a trailing comma before "}" (JSON allows none)', lastComma);
      if (text[i] !== '"') fail(`expected a property name in double quotes, found ${describe(i)}`);
      string();
      ws();
      if (text[i] !== ':') fail(`expected ":" after the property name, found ${describe(i)}`);
      i++;
      value();
      ws();
      if (text[i] === ',') {
        lastComma = i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return;
      }
      fail(`expected "," or "}" after a property value, found ${describe(i)}`);
    }
  };
  const array = (): void => {
    i++; // [
    ws();
    if (text[i] === ']') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === ']') fail('a trailing comma before "]" (JSON allows none)', lastComma);
      value();
      ws();
      if (text[i] === ',') {
        lastComma = i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return;
      }
      fail(`expected "," or "]" after an array element, found ${describe(i)}`);
    }
  };
  const string = (): void => {
    const start = i++;
    while (i < text.length) {
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('a \\u escape takes four hex digits');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail(`an invalid escape "\\${e ?? ''}" in a string`);
        continue;
      }
      if (c === '\n') fail('a string runs past the end of its line (missing closing ")', start);
      if (c < ' ') fail('a control character inside a string');
      i++;
    }
    fail('a string is never closed (missing ")', start);
  };
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail(`an invalid number`);
    i += (m as RegExpExecArray)[0].length;
  };
  let lastComma = 0;
  try {
    if (text.charCodeAt(0) === 0xfeff) i = 1;
    value();
    ws();
    if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`);
    return undefined;
  } catch (err) {
    const at = (err as { at?: number }).at ?? i;
    const before = text.slice(0, at).split('\n');
    return { line: before.length, column: (before[before.length - 1]?.length ?? 0) + 1, message: (err as Error).message };
  }
}
