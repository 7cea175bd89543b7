// Help through the fast start (dist/fast/main.js, src/fast/help.ts) and through oclif alone
// (dist/main.js's execute, as test/oclif-only.mjs runs it), for every line given, in this one
// process: stdout is captured around each. Prints one JSON line: for each line, whether the
// fast start took it and what each printed. Terminal width and colour are the process's own
// (OCLIF_COLUMNS, FORCE_COLOR, NO_COLOR, TERM, tty): oclif reads them once, at load.
//   node test/help-compare.mjs '[["--help"], ["os", "deploy", "--help"]]'
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const lines = JSON.parse(process.argv[2]);
const { run } = await import('../dist/fast/main.js');
const { execute } = await import('../dist/main.js');

async function capture(fn) {
  const write = process.stdout.write;
  let out = '';
  process.stdout.write = (chunk, encoding, cb) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (typeof encoding === 'function') encoding();
    else if (typeof cb === 'function') cb();
    return true;
  };
  try {
    const result = await fn();
    return { result, out };
  } finally {
    process.stdout.write = write;
  }
}

const results = [];
for (const argv of lines) {
  const fast = await capture(() => run([...argv]));
  const oclif = await capture(() => execute({ loadOptions: { root: new URL('..', import.meta.url).pathname.replace(/\/$/, '') }, args: [...argv] }));
  results.push({ argv, taken: fast.result === true, fast: fast.out, oclif: oclif.out });
}
process.stdout.write(`${JSON.stringify(results)}\n`);
