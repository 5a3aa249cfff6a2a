import assert from "node:assert/strict";
import { test } from "node:test";
import { type Surroundings, serverExecutable } from "../server";

function where(overrides: Partial<Surroundings>, files: string[] = []): Surroundings {
  return {
    configuredPath: "",
    workspaceFolders: [],
    platform: "linux",
    isFile: (file) => files.includes(file),
    ...overrides,
  };
}

test("the configured path wins", () => {
  const found = serverExecutable(
    where({ configuredPath: " /opt/infill/bin/infill ", interpreterPath: "/venv/bin/python" }, [
      "/venv/bin/infill",
    ]),
  );
  assert.equal(found, "/opt/infill/bin/infill");
});

test("next to the selected interpreter, then in a workspace .venv", () => {
  const surroundings = where({ interpreterPath: "/envs/a/bin/python3", workspaceFolders: ["/w"] }, [
    "/envs/a/bin/infill",
    "/w/.venv/bin/infill",
  ]);
  assert.equal(serverExecutable(surroundings), "/envs/a/bin/infill");
  assert.equal(
    serverExecutable({ ...surroundings, interpreterPath: "/elsewhere/python" }),
    "/w/.venv/bin/infill",
  );
});

test("Windows layouts", () => {
  const found = serverExecutable(
    where({ platform: "win32", workspaceFolders: ["C:\\w"] }, ["C:\\w\\.venv\\Scripts\\infill.exe"]),
  );
  assert.equal(found, "C:\\w\\.venv\\Scripts\\infill.exe");
});

test("else the PATH decides", () => {
  assert.equal(serverExecutable(where({ interpreterPath: "python" })), "infill");
});
