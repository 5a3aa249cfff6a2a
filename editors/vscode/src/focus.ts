// Where the user is, for a local model's cache: on switching to an editor, and once the cursor
// has rested, the server is told (`infill/didFocus`); where a request there would choose the
// other files' code afresh, it has the model's server read the prompt there before the first
// key needs it (a 0.5B model on a CPU reads a cold prompt in seconds). LSP has no notification
// of the cursor's position, so this one is infill's own.

export const DID_FOCUS = "infill/didFocus";
export const REST_MS = 1000; // the cursor this long in one place: the user is reading there

export interface Where {
  uri: string;
  line: number;
  character: number;
}

export class Focus {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private last = "";

  constructor(
    private readonly send: (method: string, params: unknown) => void,
    private readonly restMs = REST_MS,
  ) {}

  /** The user is here now (an editor became the active one). */
  now(where: Where | undefined): void {
    this.cancel();
    if (where === undefined) {
      return;
    }
    const key = `${where.uri}:${where.line}:${where.character}`;
    if (key === this.last) {
      return; // said already: the server keeps what it chose there
    }
    this.last = key;
    this.send(DID_FOCUS, {
      textDocument: { uri: where.uri },
      position: { line: where.line, character: where.character },
    });
  }

  /** The cursor moved here: said once it has rested. */
  later(where: Where | undefined): void {
    this.cancel();
    this.timer = setTimeout(() => this.now(where), this.restMs);
  }

  cancel(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  dispose(): void {
    this.cancel();
  }
}
