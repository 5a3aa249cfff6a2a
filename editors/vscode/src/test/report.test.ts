import assert from "node:assert/strict";
import { test } from "node:test";
import { formatExplanation } from "../report";

test("an explanation reads as infill complete --explain prints it", () => {
  const text = formatExplanation({
    prompt: "<|fim_prefix|>def f():\n    <|fim_suffix|><|fim_middle|>",
    template: "qwen",
    mode: "multi-line",
    tokens: { prefix: 7, suffix: 0, snippets: 12 },
    timingsMs: { window: 0.1234, context: 2.5 },
    skippedSources: ["definitions"],
    snippets: [
      { source: "similar", path: "a.py", startLine: 0, endLine: 9, score: 0.5, included: true },
      { source: "recent_edit", path: "b.py", startLine: 4, endLine: 4, score: 0.01, included: false },
    ],
  });
  assert.equal(
    text,
    [
      "template: qwen    mode: multi-line",
      "tokens:   prefix 7  suffix 0  snippets 12",
      "time ms:  window 0.12  context 2.50",
      "left out for lack of time: definitions",
      "snippets (2):",
      "  + 0.5000  similar      a.py:1-10",
      "  - 0.0100  recent_edit  b.py:5-5",
      "prompt:",
      "<|fim_prefix|>def f():",
      "    <|fim_suffix|><|fim_middle|>",
    ].join("\n"),
  );
});
