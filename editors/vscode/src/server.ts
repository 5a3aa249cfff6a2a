// Which `infill` executable to start.

import * as path from "node:path";

export interface Surroundings {
  /** `infill.server.path`. */
  configuredPath: string;
  /** The Python interpreter selected for the workspace, if any is known. */
  interpreterPath?: string;
  workspaceFolders: readonly string[];
  platform: NodeJS.Platform;
  isFile: (file: string) => boolean;
}

/**
 * `infill.server.path` when set; else the `infill` next to the workspace's Python interpreter
 * (where `pip install infill` put it), then in a workspace's `.venv`; else the bare name, for
 * the PATH to resolve.
 */
export function serverExecutable(where: Surroundings): string {
  if (where.configuredPath.trim()) {
    return where.configuredPath.trim();
  }
  const windows = where.platform === "win32";
  const paths = windows ? path.win32 : path.posix;
  const executable = windows ? "infill.exe" : "infill";
  const candidates: string[] = [];
  if (where.interpreterPath) {
    candidates.push(paths.join(paths.dirname(where.interpreterPath), executable));
  }
  for (const folder of where.workspaceFolders) {
    candidates.push(paths.join(folder, ".venv", windows ? "Scripts" : "bin", executable));
  }
  return candidates.find((candidate) => where.isFile(candidate)) ?? executable;
}
