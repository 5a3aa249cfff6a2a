// Which of the contributed `infill.*` settings go to the server, and in what shape.

/** The extension's own settings; the server would report them as unknown. */
export const CLIENT_ONLY = new Set(["enable", "server.path", "languages"]);

/**
 * Where code goes is the user's choice, never a repository's: a `.vscode/settings.json` in a
 * cloned project must not send its code to another server. Only the user's own (global) value
 * of these is read; the manifest makes them machine-scoped as well.
 */
export const USER_ONLY = new Set(["backend.kind", "backend.url", "backend.api_key_env"]);

const PREFIX = "infill.";

/** What `WorkspaceConfiguration.inspect` tells about one key (the parts read here). */
export interface Inspected {
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** The server's keys ("backend.url"), from the extension's contributed configuration. */
export function serverKeys(contributed: Record<string, unknown>): string[] {
  return Object.keys(contributed)
    .filter((key) => key.startsWith(PREFIX))
    .map((key) => key.slice(PREFIX.length))
    .filter((key) => !CLIENT_ONLY.has(key));
}

/**
 * The settings object the server takes (`{backend: {url: ...}}`), holding only the values the
 * user has set, the most specific scope winning (the user's own for USER_ONLY keys). Defaults are left out on purpose: the server
 * layers these over the user's config.toml, and a default sent from here would override it.
 */
export function serverSettings(
  keys: readonly string[],
  inspect: (key: string) => Inspected | undefined,
): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of keys) {
    const found = inspect(key);
    const value = USER_ONLY.has(key)
      ? found?.globalValue
      : (found?.workspaceFolderValue ?? found?.workspaceValue ?? found?.globalValue);
    if (value === undefined || value === null) {
      continue;
    }
    const parts = key.split(".");
    let section = settings;
    for (const part of parts.slice(0, -1)) {
      section[part] ??= {};
      section = section[part] as Record<string, unknown>;
    }
    section[parts[parts.length - 1]] = value;
  }
  return settings;
}
