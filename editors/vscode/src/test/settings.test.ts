import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { type Inspected, serverKeys, serverSettings } from "../settings";

const manifest = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"),
);
const contributed = manifest.contributes.configuration.properties;

test("the server gets its own keys, not the extension's", () => {
  const keys = serverKeys(contributed);
  assert.ok(keys.includes("backend.url"));
  assert.ok(keys.includes("completion.debounce_ms"));
  for (const own of ["enable", "server.path", "languages"]) {
    assert.ok(!keys.includes(own), own);
  }
});

test("only values the user set are sent, nested, the most specific scope winning", () => {
  const inspected: Record<string, Inspected> = {
    "backend.url": { globalValue: "http://a/v1", workspaceValue: "http://b/v1" },
    "backend.api_key_env": { workspaceFolderValue: "THEIR_KEY" },
    "backend.kind": { globalValue: "llamacpp" },
    "backend.model": {},
    "completion.candidates": { globalValue: 3, workspaceFolderValue: 1 },
    "metrics.enabled": { workspaceValue: false },
  };
  const settings = serverSettings(serverKeys(contributed), (key) => inspected[key]);
  assert.deepEqual(settings, {
    // Where code goes: the user's value only, never the repository's.
    backend: { url: "http://a/v1", kind: "llamacpp" },
    completion: { candidates: 1 },
    metrics: { enabled: false },
  });
});

test("the settings that choose where code goes are machine-scoped", () => {
  for (const key of ["server.path", "backend.kind", "backend.url", "backend.api_key_env"]) {
    assert.equal(contributed[`infill.${key}`].scope, "machine", key);
  }
});

test("the extension does not run in a workspace the user has not trusted", () => {
  assert.equal(manifest.capabilities.untrustedWorkspaces.supported, false);
});

test("nothing set, nothing sent: the user's config.toml stays in force", () => {
  assert.deepEqual(serverSettings(serverKeys(contributed), () => undefined), {});
});
