import assert from "node:assert/strict";
import { test } from "node:test";
import { Status } from "../status";

test("starting, then ready, working while a request is out", () => {
  const status = new Status();
  assert.equal(status.view().tooltip, "infill: starting");
  status.server = "ready";
  assert.deepEqual(status.view(), { text: "$(check) infill", tooltip: "infill: ready", error: false });
  status.pending = 1;
  assert.equal(status.view().tooltip, "infill: working");
});

test("the server's infill/status notifications", () => {
  const status = new Status();
  status.notified({ state: "backend-error", message: "connection refused" });
  assert.deepEqual(status.view(), {
    text: "$(warning) infill",
    tooltip: "infill: backend error, requests paused: connection refused",
    error: true,
  });
  status.pending = 1; // a request does not hide that the backend is down
  assert.equal(status.view().error, true);
  status.pending = 0;
  status.notified({ state: "ready", message: "" });
  assert.equal(status.view().tooltip, "infill: ready");
  status.notified({ state: "offline", message: "n-gram model of the workspace" });
  assert.equal(status.view().text, "$(check) infill (offline)");
  status.notified({ nonsense: true });
  assert.equal(status.view().text, "$(check) infill (offline)");
});

test("off wins over everything", () => {
  const status = new Status();
  status.notified({ state: "backend-error" });
  status.enabled = false;
  assert.deepEqual(status.view(), {
    text: "$(circle-slash) infill",
    tooltip: "infill: off (infill: Toggle)",
    error: false,
  });
});

test("a stopped server says so", () => {
  const status = new Status();
  status.server = "stopped";
  status.message = "cannot start infill serve";
  assert.equal(status.view().error, true);
  assert.match(status.view().tooltip, /not running: cannot start infill serve/);
});
