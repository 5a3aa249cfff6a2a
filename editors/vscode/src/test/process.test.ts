import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { type LevelledLog, ServerProcess, routeServerLog } from "../process";

class Recorded implements LevelledLog {
  readonly lines: string[] = [];
  debug(message: string): void {
    this.lines.push(`debug ${message}`);
  }
  info(message: string): void {
    this.lines.push(`info ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
}

test("the server's log lines keep their level; the lines after one are part of it", async () => {
  const stderr = new PassThrough();
  const log = new Recorded();
  const done = routeServerLog(stderr, log);
  stderr.end(
    [
      "a line before logging is set up",
      "infill INFO infill.server: indexed 3 files, 10 names in 0.1 s",
      "infill DEBUG infill.pipeline: window 12 lines",
      "infill WARNING infill.server: backend unavailable, pausing requests: Connection refused",
      "infill ERROR infill.server: indexing the workspace failed",
      "Traceback (most recent call last):",
      '  File "x.py", line 1, in <module>',
      "infill CRITICAL infill: out of memory",
      "infill INFO infill.server: the backend answers again",
      "",
    ].join("\n"),
  );
  await done;

  assert.deepEqual(log.lines, [
    "error a line before logging is set up",
    "info infill.server: indexed 3 files, 10 names in 0.1 s",
    "debug infill.pipeline: window 12 lines",
    "warn infill.server: backend unavailable, pausing requests: Connection refused",
    "error infill.server: indexing the workspace failed",
    "error Traceback (most recent call last):",
    'error   File "x.py", line 1, in <module>',
    "error infill: out of memory",
    "info infill.server: the backend answers again",
  ]);
});

test("a server that exits at once: its exit code and the end of what it wrote", async () => {
  const log = new Recorded();
  const server = await ServerProcess.start(
    process.execPath,
    ["-e", "console.error('infill: no such option --x'); process.exit(2)"],
    { log },
  );
  const exit = await server.exited;

  assert.deepEqual(exit, { code: 2, signal: null });
  assert.equal(server.describe(), "exited with code 2: infill: no such option --x");
  assert.deepEqual(log.lines, ["error infill: no such option --x"]);
});

test("an executable that cannot be started is an error naming it", async () => {
  await assert.rejects(
    ServerProcess.start("/nonexistent/infill", ["serve"], { log: new Recorded() }),
    /cannot start \/nonexistent\/infill serve: .*ENOENT/,
  );
});

test("the tail is the last lines only, and a signal is named", async () => {
  const server = await ServerProcess.start(
    process.execPath,
    [
      "-e",
      "for (let i = 1; i <= 30; i++) console.error('line ' + i); setTimeout(() => {}, 60000)",
    ],
    { log: new Recorded() },
  );
  const log = server.child.stderr;
  assert.ok(log);
  await new Promise<void>((resolve) => {
    let seen = "";
    log.on("data", (data: Buffer) => {
      seen += data.toString();
      if (seen.includes("line 30\n")) {
        resolve();
      }
    });
  });
  server.kill();
  await server.exited;

  assert.equal(server.describe(), "was stopped by SIGTERM: line 28 | line 29 | line 30");
});
