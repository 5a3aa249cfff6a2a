import assert from "node:assert/strict";
import { test } from "node:test";
import { DID_FOCUS, Focus } from "../focus";

const HERE = { uri: "file:///w/a.py", line: 3, character: 4 };

test("entering an editor says where the cursor is, once", () => {
  const sent: [string, unknown][] = [];
  const focus = new Focus((method, params) => sent.push([method, params]));
  focus.now(HERE);
  focus.now(HERE);
  focus.now(undefined); // no editor: nothing to say
  assert.deepEqual(sent, [
    [DID_FOCUS, { textDocument: { uri: HERE.uri }, position: { line: 3, character: 4 } }],
  ]);
});

test("a moving cursor is said once it rests, where it rests", async () => {
  const sent: unknown[] = [];
  const focus = new Focus((_, params) => sent.push(params), 20);
  focus.later({ ...HERE, line: 5 });
  focus.later({ ...HERE, line: 6 });
  assert.equal(sent.length, 0);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.deepEqual(sent, [{ textDocument: { uri: HERE.uri }, position: { line: 6, character: 4 } }]);
  focus.later(HERE);
  focus.dispose(); // the extension ends: nothing more is sent
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(sent.length, 1);
});
