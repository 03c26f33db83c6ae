// The bundled libraries' deprecation warnings that users cannot act on are dropped; every other
// warning still reaches Node's 'warning' event (and so stderr).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silenceBundledLibraryDeprecations } from '../../src/node-warnings.js';

async function emitted(emit: () => void): Promise<string[]> {
  const seen: string[] = [];
  const listener = (w: Error & { code?: string }) => seen.push(w.code ?? w.message);
  process.on('warning', listener);
  try {
    emit();
    await new Promise((r) => setImmediate(r)); // 'warning' is emitted on the next tick
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

test("url.parse()'s DEP0169 is dropped, in each of emitWarning's forms; other warnings are not", async () => {
  const restore = silenceBundledLibraryDeprecations();
  try {
    const seen = await emitted(() => {
      process.emitWarning('url.parse', 'DeprecationWarning', 'DEP0169');
      process.emitWarning('url.parse', { type: 'DeprecationWarning', code: 'DEP0169' });
      process.emitWarning(Object.assign(new Error('url.parse'), { name: 'DeprecationWarning', code: 'DEP0169' }));
      process.emitWarning('Buffer()', 'DeprecationWarning', 'DEP0005');
      process.emitWarning('something else', { code: 'REGCRED_TEST' });
      process.emitWarning('no code at all');
    });
    assert.deepEqual(seen, ['DEP0005', 'REGCRED_TEST', 'no code at all']);
  } finally {
    restore();
  }
  assert.deepEqual(await emitted(() => process.emitWarning('url.parse', 'DeprecationWarning', 'DEP0169')), ['DEP0169'], 'restored');
});
