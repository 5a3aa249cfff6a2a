// Drives VS Code (code-server) in headless Chromium as a user would. Called by
// tests/test_vscode_e2e.py with one JSON argument {playwright, url, file, scenario, type,
// screenshot}; prints one JSON line: what the page showed, its console (where the extension
// host's log shows), or the error. Scenarios:
//   accept: open a file, run "infill: Explain this suggestion", type, wait for infill's ghost
//     text, take a screenshot, accept a word of it (Ctrl+Right) and the rest with Tab, save,
//     run "infill: Show stats".
//   dead-backend: open a file, wait for the status bar item to say the backend is down.
//   bad-server: open a file, wait for the status bar item to say the server is not running,
//     read the notifications.
//   next-edit: open a file, select the first occurrence of `rename`, type `type` over it and
//     go to the line's end, wait for the next edit drawn at the next use (its new text after
//     it), apply it with Tab, and again at the use after that, undo and redo the last, save.
import { createRequire } from "node:module";

const options = JSON.parse(process.argv[2]);
const { chromium } = createRequire(import.meta.url)(options.playwright);
const GHOST = ".monaco-editor .ghost-text-decoration";
const LIMIT = 60_000; // only a hang guard

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
const console_ = [];
let extensionReady;
const ready = new Promise((resolve) => (extensionReady = resolve));
// Provider round trips answered with an item, as `editor.inlineSuggest.logFetch` logs them.
let answeredFetches = 0;
page.on("console", (message) => {
  const text = message.text();
  console_.push(text);
  if (text.includes("infill: ready")) {
    extensionReady();
  }
  if (text.includes("InlineCompletions.fetch") && text.includes('"kind":"end"') &&
      text.includes('"insertText"')) {
    answeredFetches += 1;
  }
});

async function answeredFetchAfter(count) {
  while (answeredFetches <= count) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function within(promise, what) {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what}`)), LIMIT)),
  ]);
}

async function runCommand(title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget input", { timeout: LIMIT });
  await page.keyboard.type(title);
  await page.waitForSelector(".quick-input-list .monaco-list-row", { timeout: LIMIT });
  await page.keyboard.press("Enter");
}

/** The visible text of the editor showing the document `name` (in whichever group). */
async function documentText(name) {
  const text = await page.waitForFunction(
    (name) => {
      for (const group of document.querySelectorAll(".editor-group-container")) {
        const tab = group.querySelector(".tab.active");
        if (tab && (tab.getAttribute("aria-label") ?? "").includes(name)) {
          return group.querySelector(".view-lines")?.innerText || null;
        }
      }
      return null;
    },
    name,
    { timeout: LIMIT },
  );
  return (await text.jsonValue()).replaceAll("\u00a0", " ");
}

/** The status bar item of infill: its accessible label (the tooltip) once it contains `what`. */
async function statusBar(what) {
  step = `status bar: ${what}`;
  const label = await page.waitForFunction(
    (what) => {
      for (const item of document.querySelectorAll(".statusbar-item")) {
        const label = item.querySelector("[aria-label]")?.getAttribute("aria-label") ??
          item.getAttribute("aria-label") ?? "";
        if (label.startsWith("infill:") && label.includes(what)) {
          return label;
        }
      }
      return null;
    },
    what,
    { timeout: LIMIT },
  );
  return label.jsonValue();
}

async function notifications() {
  return page.$$eval(".notifications-toasts .notification-list-item-message", (nodes) =>
    nodes.map((node) => node.textContent),
  );
}

async function openFile() {
  await page.goto(options.url);
  await page.waitForSelector(".monaco-workbench", { timeout: LIMIT });
  await page.keyboard.press("Control+P");
  await page.waitForSelector(".quick-input-widget input", { timeout: LIMIT });
  await page.keyboard.type(options.file);
  await page.waitForSelector(".quick-input-list .monaco-list-row", { timeout: LIMIT });
  await page.keyboard.press("Enter");
  await page.waitForSelector(`.tab.active[aria-label*="${options.file}"]`, { timeout: LIMIT });
}

async function accept() {
  await openFile();
  // Text typed before the extension's provider is registered would never be asked about.
  await within(ready, "'infill: ready' from the extension");
  await page.click(".editor-instance .monaco-editor .view-lines");
  await page.keyboard.press("Control+End");
  // Why a suggestion here: the report opens beside the editor, which keeps the focus.
  await runCommand("infill: Explain this suggestion");
  const explanation = await documentText("explain.txt");
  await page.keyboard.type(options.type, { delay: 40 });
  await page.waitForSelector(GHOST, { timeout: LIMIT });
  const ghost = await page.$$eval(GHOST, (nodes) => nodes.map((node) => node.textContent));
  const lines = await page.$eval(".editor-instance .view-lines", (node) => node.innerText);
  await page.screenshot({ path: options.screenshot });
  // A word first; once VS Code has asked again (the server answers the rest from what it
  // showed, counting the word as typed along it), the rest with Tab.
  const fetches = answeredFetches;
  await page.keyboard.press("Control+ArrowRight");
  await within(answeredFetchAfter(fetches), "new answer after the word was accepted");
  const ghostAfterWord = await page.$$eval(GHOST, (nodes) => nodes.map((node) => node.textContent));
  await page.keyboard.press("Tab");
  await page.waitForSelector(GHOST, { state: "detached", timeout: LIMIT });
  const accepted = await page.$eval(".editor-instance .view-lines", (node) => node.innerText);
  await page.keyboard.press("Control+S");
  await page.waitForSelector(".tab.active.dirty", { state: "detached", timeout: LIMIT });
  await runCommand("infill: Show stats");
  const stats = await documentText("stats.txt");
  return { ghost, ghostAfterWord, lines, accepted, explanation, stats };
}

async function deadBackend() {
  await openFile();
  const status = await statusBar("backend error");
  return { status };
}

async function badServer() {
  await openFile();
  const status = await statusBar("not running");
  await page.waitForSelector(".notifications-toasts .notification-list-item-message", {
    timeout: LIMIT,
  });
  // What else the first seconds bring (a restart would show another start and its failure).
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const messages = await notifications();
  return { status, messages };
}

/** The new texts next-edit decorations show (VS Code draws them as ::after content), once
 * there are some (`shown`), or once there are none. */
async function nextEditDrawn(shown = true) {
  const drawn = await page.waitForFunction(
    (shown) => {
      const texts = [];
      for (const node of document.querySelectorAll(".editor-instance .view-lines span")) {
        const content = getComputedStyle(node, "::after").content;
        if (content.includes("→")) {
          texts.push(content);
        }
      }
      return (texts.length > 0) === shown ? texts : null;
    },
    shown,
    { timeout: LIMIT },
  );
  return drawn.jsonValue();
}

async function nextEdit() {
  await openFile();
  await within(ready, "'infill: ready' from the extension");
  await page.click(".editor-instance .monaco-editor .view-lines");
  await page.keyboard.press("Control+Home");
  // Select the first occurrence with Find (typing selects it), type over it, and move on
  // (End): the name is no longer being typed.
  await page.keyboard.press("Control+F");
  await page.keyboard.type(options.rename);
  await page.keyboard.press("Escape");
  await page.keyboard.type(options.type, { delay: 40 });
  await page.keyboard.press("End");
  step = "the first next edit drawn";
  const first = await nextEditDrawn();
  await page.screenshot({ path: options.screenshot });
  await page.keyboard.press("Tab");
  step = "the first next edit gone";
  await nextEditDrawn(false);
  step = "the second next edit drawn";
  const second = await nextEditDrawn();
  await page.keyboard.press("Tab");
  await nextEditDrawn(false);
  // One undo takes back the last edit applied, whole; redo puts it back.
  step = "undone";
  const applied = await page.$eval(".editor-instance .view-lines", (node) => node.innerText);
  await page.keyboard.press("Control+Z");
  await page.waitForFunction(
    (applied) => document.querySelector(".editor-instance .view-lines").innerText !== applied,
    applied,
    { timeout: LIMIT },
  );
  const undone = await page.$eval(".editor-instance .view-lines", (node) => node.innerText);
  await page.keyboard.press("Control+Shift+Z");
  await page.waitForFunction(
    (applied) => document.querySelector(".editor-instance .view-lines").innerText === applied,
    applied,
    { timeout: LIMIT },
  );
  step = "saved";
  await page.keyboard.press("Control+S");
  await page.waitForSelector(".tab.active.dirty", { state: "detached", timeout: LIMIT });
  const lines = await page.$eval(".editor-instance .view-lines", (node) => node.innerText);
  return { first, second, undone, lines };
}

const scenarios = {
  accept,
  "dead-backend": deadBackend,
  "bad-server": badServer,
  "next-edit": nextEdit,
};
let exitCode = 0;
let step = "start";
try {
  const result = await scenarios[options.scenario]();
  await page.screenshot({ path: options.screenshot.replace(/\.png$/, "-end.png") });
  console.log(JSON.stringify({ ...result, console: console_ }));
} catch (error) {
  await page.screenshot({ path: options.screenshot.replace(/\.png$/, "-failed.png") }).catch(() => {});
  const statusBarItems = await page
    .$$eval(".statusbar-item", (items) => items.map((item) => item.outerHTML.slice(0, 400)))
    .catch(() => []);
  console.log(JSON.stringify({ error: String(error), step, statusBarItems, console: console_ }));
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
