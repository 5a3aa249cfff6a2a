// What the status bar item says.

export interface StatusView {
  text: string;
  tooltip: string;
  /** Shown with the error background. */
  error: boolean;
}

/** The server's side: until it answers, then as its `infill/status` notifications say. */
export type ServerState = "starting" | "ready" | "backend-error" | "offline" | "stopped" | string;

export class Status {
  enabled = true;
  server: ServerState = "starting";
  message = "";
  /** Inline completion requests sent and not answered yet. */
  pending = 0;

  /** An `infill/status` notification: `{state, message}`. */
  notified(params: unknown): void {
    const { state, message } = (params ?? {}) as { state?: unknown; message?: unknown };
    if (typeof state === "string") {
      this.server = state;
      this.message = typeof message === "string" ? message : "";
    }
  }

  view(): StatusView {
    if (!this.enabled) {
      return { text: "$(circle-slash) infill", tooltip: "infill: off (infill: Toggle)", error: false };
    }
    switch (this.server) {
      case "starting":
        return { text: "$(loading~spin) infill", tooltip: "infill: starting", error: false };
      case "stopped":
        return {
          text: "$(error) infill",
          tooltip: `infill: the server is not running${this.detail()}`,
          error: true,
        };
      case "backend-error":
        return {
          text: "$(warning) infill",
          tooltip: `infill: backend error, requests paused${this.detail()}`,
          error: true,
        };
    }
    if (this.pending > 0) {
      return { text: "$(sync~spin) infill", tooltip: "infill: working", error: false };
    }
    if (this.server === "offline") {
      return {
        text: "$(check) infill (offline)",
        tooltip: `infill: ready, offline engine${this.detail()}`,
        error: false,
      };
    }
    if (this.server === "ready") {
      return { text: "$(check) infill", tooltip: "infill: ready", error: false };
    }
    return { text: "$(info) infill", tooltip: `infill: ${this.server}${this.detail()}`, error: false };
  }

  private detail(): string {
    return this.message ? `: ${this.message}` : "";
  }
}
