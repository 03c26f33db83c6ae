import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commonJsExports } from '../../src/util/commonjs.js';

class Client {}

test('a bundled chunk (only default): its module.exports', () => {
  const exportsObject = { Client };
  assert.equal(commonJsExports({ default: exportsObject }), exportsObject);
});

test("Node's namespace of a CommonJS package (named and default): module.exports, which has the names", () => {
  const exportsObject = { Client };
  assert.equal(commonJsExports({ Client, default: exportsObject }).Client, Client);
});

test('an ES module without a default export: the namespace itself', () => {
  const namespace = { Client };
  assert.equal(commonJsExports(namespace), namespace);
});
