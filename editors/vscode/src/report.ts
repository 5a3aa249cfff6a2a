// Text for the answers of infill's own requests, laid out as `infill complete --explain` does.

export interface Snippet {
  source: string;
  path: string;
  startLine: number;
  endLine: number;
  score: number;
  included: boolean;
}

export interface Explanation {
  prompt: string;
  template: string;
  mode: string;
  tokens: Record<string, number>;
  snippets: Snippet[];
  timingsMs: Record<string, number>;
  skippedSources: string[];
}

/** An `infill/explain` report as text. */
export function formatExplanation(report: Explanation): string {
  const lines = [`template: ${report.template}    mode: ${report.mode}`];
  const tokens = Object.entries(report.tokens).map(([name, count]) => `${name} ${count}`);
  lines.push("tokens:   " + tokens.join("  "));
  const times = Object.entries(report.timingsMs).map(([stage, ms]) => `${stage} ${ms.toFixed(2)}`);
  lines.push("time ms:  " + times.join("  "));
  if (report.skippedSources.length > 0) {
    lines.push("left out for lack of time: " + report.skippedSources.join(", "));
  }
  lines.push(`snippets (${report.snippets.length}):`);
  for (const s of report.snippets) {
    const mark = s.included ? "+" : "-";
    const where = `${s.path}:${s.startLine + 1}-${s.endLine + 1}`;
    lines.push(`  ${mark} ${s.score.toFixed(4)}  ${s.source.padEnd(12)} ${where}`);
  }
  lines.push("prompt:", report.prompt);
  return lines.join("\n");
}
