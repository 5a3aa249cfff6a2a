// The `infill serve` process: started by the extension rather than by vscode-languageclient,
// which shows every stderr line as an error and, when the process dies at once, reports the
// failed write to it ("write EPIPE") instead of how it ended.

import { type ChildProcess, spawn } from "node:child_process";
import * as readline from "node:readline";
import type { Readable } from "node:stream";

/** The methods of a vscode.LogOutputChannel the server's log lines go to. */
export interface LevelledLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Level = keyof LevelledLog;

// The server's log format (server/cli.py): "infill LEVEL logger: message".
const RECORD = /^infill (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;
const LEVELS: Record<string, Level> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warn",
  ERROR: "error",
  CRITICAL: "error",
};

/**
 * Each line of the server's stderr at its own level, without the level word the channel shows
 * anyway. A line that is no record (a traceback's) belongs to the record before it; one before
 * any record (Python failing to start) is an error. Resolves when the stream ends.
 */
export function routeServerLog(
  stderr: Readable,
  log: LevelledLog,
  each: (line: string) => void = () => {},
): Promise<void> {
  let level: Level = "error";
  const lines = readline.createInterface({ input: stderr, crlfDelay: Infinity, terminal: false });
  lines.on("line", (line) => {
    if (!line) {
      return;
    }
    const record = RECORD.exec(line);
    if (record) {
      level = LEVELS[record[1]];
    }
    const text = record ? record[2] : line;
    log[level](text);
    each(text);
  });
  return new Promise((resolve) => lines.on("close", resolve));
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const TAIL_LINES = 3;

export class ServerProcess {
  /** Set once the server has answered `initialize`: from then on it is worth restarting. */
  answered = false;
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;
  private readonly tail: string[] = [];

  private constructor(
    readonly child: ChildProcess,
    log: LevelledLog,
  ) {
    this.exited = new Promise((resolve) => {
      // "close", not "exit": its stderr is read to the end by then, the tail complete.
      child.once("close", (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    // Once started, how it ends is the "close" event's; a failed kill is only worth a line.
    child.on("error", (error) => log.error(`infill serve: ${error.message}`));
    if (child.stderr) {
      void routeServerLog(child.stderr, log, (line) => {
        this.tail.push(line);
        this.tail.splice(0, this.tail.length - TAIL_LINES);
      });
    }
  }

  /** Started, or an Error saying why not (no such file, not executable). */
  static start(
    command: string,
    args: string[],
    options: { log: LevelledLog; cwd?: string },
  ): Promise<ServerProcess> {
    const child = spawn(command, args, { cwd: options.cwd, stdio: "pipe" });
    return new Promise((resolve, reject) => {
      child.once("spawn", () => resolve(new ServerProcess(child, options.log)));
      child.once("error", (error) =>
        reject(new Error(`cannot start ${[command, ...args].join(" ")}: ${error.message}`)),
      );
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Its exit, waiting at most `ms` for it. */
  async settled(ms: number): Promise<Exit | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.running) {
      this.child.kill();
    }
  }

  /** "exited with code 1: <its last stderr lines>", or "running". */
  describe(): string {
    if (!this.exit) {
      return "running";
    }
    const how =
      this.exit.code !== null
        ? `exited with code ${this.exit.code}`
        : `was stopped by ${this.exit.signal}`;
    return this.tail.length > 0 ? `${how}: ${this.tail.join(" | ")}` : how;
  }
}
