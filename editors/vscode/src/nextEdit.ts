// Next edits in VS Code: after each change, `infill/nextEdit` is asked for the edit it implies
// elsewhere (the same rename at the next use, ...). VS Code's stable inline completion API
// cannot show it: an item's range "must begin and end on the same line" as the cursor. So the
// edit is drawn with decorations where it would go (the text it replaces struck through, the
// new text after it), Tab (`infill.acceptNextEdit`) applies it in one undoable step and moves
// the cursor after it, and Escape or any other change dismisses it. Edits on the cursor's own
// line keep coming as ghost text through inline completion.

import * as vscode from "vscode";
import type { LanguageClient } from "vscode-languageclient/node";

const ASK_AFTER_MS = 150; // after the last change: a burst of typing asks once
const SHOWN_CONTEXT = "infill.nextEditShown";
const PREVIEW_CHARS = 80;

interface Position {
  line: number;
  character: number;
}

interface Proposal {
  id: unknown;
  edits: { range: { start: Position; end: Position }; newText: string }[];
  cursor: Position;
}

interface Shown {
  editor: vscode.TextEditor;
  version: number;
  proposal: Proposal;
}

export class NextEdits implements vscode.Disposable {
  private readonly replaced = vscode.window.createTextEditorDecorationType({
    textDecoration: "line-through",
    backgroundColor: new vscode.ThemeColor("diffEditor.removedTextBackground"),
  });
  private readonly inserted = vscode.window.createTextEditorDecorationType({
    after: {
      color: new vscode.ThemeColor("editorGhostText.foreground"),
      backgroundColor: new vscode.ThemeColor("diffEditor.insertedTextBackground"),
    },
  });
  private shown: Shown | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private applying = false;
  // The document changed last with no proposal since: a cursor move there asks again.
  private unanswered: vscode.TextDocument | undefined;

  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly enabled: () => boolean,
  ) {}

  /** A document changed: what was shown is dismissed, and the edit after this one asked for. */
  changed(event: vscode.TextDocumentChangeEvent): void {
    if (event.contentChanges.length === 0 || this.applying) {
      return;
    }
    this.dismiss();
    this.unanswered = event.document;
    this.askSoon(event.document);
  }

  /** The cursor moved: after a change with no proposal since, asked again. The server
   * proposes nothing while a new name is still being typed (the cursor where the last key
   * left it): moving on says it is done. */
  moved(event: vscode.TextEditorSelectionChangeEvent): void {
    const document = event.textEditor.document;
    if (this.shown || this.applying || this.unanswered !== document) {
      return;
    }
    this.askSoon(document);
  }

  private askSoon(document: vscode.TextDocument): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.ask(document), ASK_AFTER_MS);
  }

  private async ask(document: vscode.TextDocument): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const client = this.client();
    if (!editor || editor.document !== document || !client?.isRunning() || !this.enabled()) {
      return;
    }
    const version = document.version;
    const params = {
      textDocument: { uri: document.uri.toString(), version },
      position: client.code2ProtocolConverter.asPosition(editor.selection.active),
    };
    let proposal: Proposal | null;
    try {
      proposal = await client.sendRequest<Proposal | null>("infill/nextEdit", params);
    } catch {
      return; // the server logs why; no edit is no harm
    }
    // Shown only for the text it was made for, in the editor it was asked from.
    if (!proposal?.edits.length || document.version !== version || this.shown) {
      return;
    }
    if (vscode.window.activeTextEditor !== editor) {
      return;
    }
    this.unanswered = undefined;
    this.show({ editor, version, proposal }, client);
  }

  private show(shown: Shown, client: LanguageClient): void {
    const convert = client.protocol2CodeConverter;
    const replacements = shown.proposal.edits.map((edit) => convert.asRange(edit.range));
    shown.editor.setDecorations(
      this.replaced,
      replacements.filter((range) => !range.isEmpty),
    );
    shown.editor.setDecorations(
      this.inserted,
      shown.proposal.edits.map((edit, i) => ({
        range: new vscode.Range(replacements[i].end, replacements[i].end),
        renderOptions: { after: { contentText: preview(edit.newText) } },
      })),
    );
    this.shown = shown;
    void vscode.commands.executeCommand("setContext", SHOWN_CONTEXT, true);
    void client.sendNotification("infill/nextEditShown", { id: shown.proposal.id });
  }

  /** Tab: the edit shown, applied in one step; the cursor goes where the server says. */
  async accept(): Promise<void> {
    const shown = this.shown;
    const client = this.client();
    if (!shown || !client) {
      return;
    }
    this.clear();
    if (shown.editor.document.version !== shown.version) {
      return; // changed since: the edit may not fit it any more
    }
    const convert = client.protocol2CodeConverter;
    this.applying = true;
    let applied = false;
    try {
      applied = await shown.editor.edit((builder) => {
        for (const edit of shown.proposal.edits) {
          builder.replace(convert.asRange(edit.range), edit.newText);
        }
      });
    } finally {
      this.applying = false;
    }
    if (!applied) {
      return;
    }
    const cursor = convert.asPosition(shown.proposal.cursor);
    shown.editor.selection = new vscode.Selection(cursor, cursor);
    shown.editor.revealRange(new vscode.Range(cursor, cursor));
    void client.sendNotification("infill/nextEditAccepted", { id: shown.proposal.id });
    // The edit after this one (the same rename at the next use).
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.ask(shown.editor.document), ASK_AFTER_MS);
  }

  /** Escape, or another change: the edit shown goes, counted as rejected. */
  dismiss(): void {
    const shown = this.shown;
    if (!shown) {
      return;
    }
    this.clear();
    void this.client()?.sendNotification("infill/nextEditRejected", { id: shown.proposal.id });
  }

  private clear(): void {
    if (this.shown) {
      this.shown.editor.setDecorations(this.replaced, []);
      this.shown.editor.setDecorations(this.inserted, []);
      this.shown = undefined;
      void vscode.commands.executeCommand("setContext", SHOWN_CONTEXT, false);
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.clear();
    this.replaced.dispose();
    this.inserted.dispose();
  }
}

/** The new text as one line of a decoration: line breaks shown as ⏎, long texts cut. */
export function preview(text: string): string {
  const line = text.replace(/\r?\n/g, "⏎");
  const shown = line.length > PREVIEW_CHARS ? `${line.slice(0, PREVIEW_CHARS - 1)}…` : line;
  // An empty replacement (a deletion) still needs something to see.
  return shown.length > 0 ? ` → ${shown}` : " → (delete)";
}
