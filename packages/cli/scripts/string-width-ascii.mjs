/**
 * The source of a module that stands for string-width 4 in the fast start's help chunk (an esbuild
 * plugin in bundle.mjs puts it there): string-width 4, which oclif's help and wrap-ansi
 * call for every word and every partial row they lay out (most of a `--help`'s rendering), by a
 * loop over the string where it is plain ASCII without ESC: there string-width 4 strips nothing
 * (ANSI sequences start with ESC or U+009B), its emoji regex matches nothing (its ASCII-led
 * sequences need a non-ASCII mark), and it counts one column for each code from U+0020 up. Any
 * other string goes to the real string-width, bundled and evaluated on first use.
 * test/help-fast.e2e.test.ts compares the two on random strings.
 */
export const STRING_WIDTH_ASCII = (real) => `let real;
function stringWidth(string) {
  if (typeof string === 'string') {
    let width = 0;
    let i = 0;
    for (; i < string.length; i++) {
      const code = string.charCodeAt(i);
      if (code >= 0x7f || code === 0x1b) break;
      if (code >= 0x20) width++;
    }
    if (i === string.length) return width;
  }
  return (real ??= require(${JSON.stringify(real)}))(string);
}
module.exports = stringWidth;
module.exports.default = stringWidth;
`;
