// The VS Code side of infill: starts `infill serve`, hands it the `infill.*` settings, and
// adds a status bar item and the commands Toggle, Explain this suggestion and Show stats.
// Ghost text itself is vscode-languageclient's inline completion provider (on by default
// from version 10.0.1); VS Code runs an item's `infill.accepted` command when it is accepted.
// Next edits away from the cursor are drawn and applied by `nextEdit.ts`.

import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  type ErrorHandler,
  LanguageClient,
  type LanguageClientOptions,
  type Message,
  ResponseError,
  type ServerOptions,
  State,
  StreamMessageReader,
  StreamMessageWriter,
} from "vscode-languageclient/node";
import { Focus, type Where } from "./focus";
import { NextEdits } from "./nextEdit";
import { ServerProcess } from "./process";
import { type Explanation, formatExplanation } from "./report";
import { serverExecutable } from "./server";
import { serverKeys, serverSettings } from "./settings";
import { Status } from "./status";

const SECTION = "infill";
const SCHEME = "infill";

let client: LanguageClient | undefined;
/** The latest `infill serve` started (a restart starts another). */
let server: ServerProcess | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const status = new Status();
  const item = vscode.window.createStatusBarItem(
    "infill.status",
    vscode.StatusBarAlignment.Right,
    100,
  );
  item.name = "infill";
  item.command = "infill.toggle";
  const render = (): void => {
    const view = status.view();
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.accessibilityInformation = { label: view.tooltip };
    item.backgroundColor = view.error
      ? new vscode.ThemeColor("statusBarItem.errorBackground")
      : undefined;
  };
  const config = (): vscode.WorkspaceConfiguration => vscode.workspace.getConfiguration(SECTION);
  status.enabled = config().get<boolean>("enable", true);
  render();
  item.show();

  const contributed = context.extension.packageJSON.contributes.configuration.properties;
  const keys = serverKeys(contributed);
  const settings = (): Record<string, unknown> => serverSettings(keys, (key) => config().inspect(key));

  const documents = new Documents();
  const executable = serverExecutable({
    configuredPath: config().get<string>("server.path", ""),
    interpreterPath: vscode.workspace.getConfiguration("python").get<string>("defaultInterpreterPath"),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    platform: process.platform,
    isFile: (file) => fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false,
  });
  const command = `${executable} serve`;
  const outputChannel = vscode.window.createOutputChannel("infill", { log: true });
  // Started here, not by the client: its stderr goes to the output channel at each line's own
  // level, and its exit code and last words are known when it ends.
  const serverOptions: ServerOptions = async () => {
    outputChannel.info(`starting ${command}`);
    server = await ServerProcess.start(executable, ["serve"], {
      log: outputChannel,
      cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    });
    const { stdout, stdin } = server.child;
    if (!stdout || !stdin) {
      throw new Error(`${command}: no pipes to talk to it`);
    }
    return {
      reader: new StreamMessageReader(stdout),
      writer: new ServerWriter(stdin, server, command),
    };
  };
  let restarts: ErrorHandler | undefined; // the client's own policy, once the server has run
  const languages = config().get<string[]>("languages", []);
  const clientOptions: LanguageClientOptions = {
    documentSelector: languages.flatMap((language) => [
      { scheme: "file", language },
      { scheme: "untitled", language },
    ]),
    initializationOptions: settings(),
    outputChannel,
    // Reported once, by the extension, with how the server ended.
    initializationFailedHandler: () => false,
    errorHandler: {
      // A server that ends before it answers `initialize` (a wrong path, a broken install)
      // would end the same way again: no restarts, and how it ended goes to the status bar.
      error: (error, message, count) =>
        server?.answered
          ? restarts!.error(error, message, count)
          : { action: ErrorAction.Continue, handled: true },
      closed: async () => {
        await server?.settled(2000);
        if (server && !server.answered) {
          const message = `${command} ${server.describe()}`;
          return { action: CloseAction.DoNotRestart, message, handled: true };
        }
        return restarts!.closed();
      },
    },
    middleware: {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!status.enabled) {
          return undefined;
        }
        status.pending += 1;
        render();
        try {
          return await next(document, position, context, token);
        } finally {
          status.pending -= 1;
          render();
        }
      },
      workspace: {
        // The server pulls its section: it gets the same object as initializationOptions.
        configuration: async (params, token, next) => {
          const answers = await next(params, token);
          if (!Array.isArray(answers)) {
            return answers;
          }
          return params.items.map((asked, i) => (asked.section === SECTION ? settings() : answers[i]));
        },
      },
    },
  };
  client = new LanguageClient("infill", "infill", serverOptions, clientOptions);
  restarts = client.createDefaultErrorHandler();
  const nextEdits = new NextEdits(
    () => client,
    () => status.enabled,
  );
  const focus = new Focus((method, params) => {
    if (client?.isRunning()) {
      void client.sendNotification(method, params);
    }
  });
  context.subscriptions.push(
    item,
    nextEdits,
    focus,
    vscode.workspace.onDidChangeTextDocument((change) => nextEdits.changed(change)),
    vscode.window.onDidChangeTextEditorSelection((change) => {
      nextEdits.moved(change);
      focus.later(where(change.textEditor));
    }),
    vscode.window.onDidChangeActiveTextEditor((editor) => focus.now(where(editor))),
    vscode.commands.registerCommand("infill.acceptNextEdit", () => nextEdits.accept()),
    vscode.commands.registerCommand("infill.dismissNextEdit", () => nextEdits.dismiss()),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, documents),
    client.onNotification("infill/status", (params) => {
      status.notified(params);
      render();
    }),
    outputChannel,
    client.onDidChangeState((change) => {
      if (change.newState === State.Running && server) {
        server.answered = true;
      }
      if (change.newState === State.Stopped) {
        status.server = "stopped";
        status.message = server && !server.running ? `${command} ${server.describe()}` : "";
        render();
      }
    }),
    vscode.workspace.onDidChangeConfiguration((change) => {
      if (!change.affectsConfiguration(SECTION)) {
        return;
      }
      status.enabled = config().get<boolean>("enable", true);
      render();
      if (client?.isRunning()) {
        void client.sendNotification("workspace/didChangeConfiguration", {
          settings: { [SECTION]: settings() },
        });
      }
    }),
    vscode.commands.registerCommand("infill.toggle", async () => {
      await config().update("enable", !status.enabled, vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand("infill.explain", () => explain(documents)),
    vscode.commands.registerCommand("infill.stats", () => stats(executable, documents)),
  );

  try {
    await client.start();
  } catch (error) {
    // Not the failed write to a process that is gone ("write EPIPE"): how it ended.
    const ended = server && (await server.settled(2000)) !== undefined;
    status.server = "stopped";
    if (server && ended) {
      status.message = `${command} ${server.describe()}`;
    } else {
      status.message = error instanceof Error ? error.message : String(error);
    }
    render();
    void vscode.window.showErrorMessage(
      `infill: ${status.message}. Set infill.server.path to the infill executable.`,
    );
    return;
  }
  if (status.server === "starting") {
    status.server = "ready";
  }
  render();
  focus.now(where(vscode.window.activeTextEditor));
  // Tests (and anyone reading the extension host log) wait for this line.
  console.log("infill: ready");
}

/** The cursor of a file's editor, as LSP has it (UTF-16 columns, as VS Code counts them). */
function where(editor: vscode.TextEditor | undefined): Where | undefined {
  if (editor === undefined || editor.document.uri.scheme !== "file") {
    return undefined;
  }
  const at = editor.selection.active;
  return { uri: editor.document.uri.toString(), line: at.line, character: at.character };
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
  // It exits at `exit`, or when its stdin closes; a hung one is stopped.
  if (server && (await server.settled(2000)) === undefined) {
    server.kill();
  }
  server = undefined;
}

/** Messages to the server; a write to one that has ended fails with how it ended. */
class ServerWriter extends StreamMessageWriter {
  constructor(
    stdin: NodeJS.WritableStream,
    private readonly server: ServerProcess,
    private readonly command: string,
  ) {
    super(stdin);
  }

  override async write(message: Message): Promise<void> {
    try {
      await super.write(message);
    } catch (error) {
      if ((await this.server.settled(2000)) !== undefined) {
        throw new Error(`${this.command} ${this.server.describe()}`);
      }
      throw error;
    }
  }
}

/** Read-only text documents for the reports, opened beside the editor. */
class Documents implements vscode.TextDocumentContentProvider {
  private readonly texts = new Map<string, string>();
  private opened = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "";
  }

  async show(name: string, text: string): Promise<void> {
    this.opened += 1;
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/${name}`, query: String(this.opened) });
    this.texts.set(uri.toString(), text);
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, {
      viewColumn: vscode.ViewColumn.Beside,
      preview: true,
      preserveFocus: true,
    });
  }
}

// infill/explain's error answer where no suggestion may be made (its message says why).
const NO_SUGGESTION_HERE = -32803;

async function explain(documents: Documents): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!client?.isRunning() || !editor) {
    void vscode.window.showInformationMessage("infill: open a file infill completes in first");
    return;
  }
  const params = client.code2ProtocolConverter.asTextDocumentPositionParams(
    editor.document,
    editor.selection.active,
  );
  let report: Explanation | null;
  try {
    report = await client.sendRequest<Explanation | null>("infill/explain", params);
  } catch (error) {
    // Where no suggestion may be made the server answers with an error saying why.
    if (error instanceof ResponseError && error.code === NO_SUGGESTION_HERE) {
      void vscode.window.showInformationMessage(`infill: ${error.message}`);
      return;
    }
    throw error;
  }
  if (!report) {
    void vscode.window.showInformationMessage("infill: no suggestion is made at this position");
    return;
  }
  await documents.show("explain.txt", formatExplanation(report));
}

function stats(executable: string, documents: Documents): Promise<void> {
  return new Promise((resolve) => {
    execFile(executable, ["stats"], (error, stdout, stderr) => {
      const text = error ? `${executable} stats failed: ${stderr || error.message}` : stdout;
      void documents.show("stats.txt", text).then(resolve, resolve);
    });
  });
}
