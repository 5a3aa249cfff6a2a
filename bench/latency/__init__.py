"""Latency benchmark: real typing replayed against `infill serve`, and against tabby-agent.

    python -m bench.latency [--peer tabby-agent] [--ttft-ms 150] [--tps 60] [--wrong 0.5]
                            [--lines 3] [--probes 3] [--answer-lines 2] [--seed 1] [--out DIR]
                            [--set KEY=VALUE ...] [--only NAME ...]

(from the repository's root: the fake backend is the test suite's, tests/fake_llm.py). The
modules: `typing_model` (the session), `fake_model` (the backend's answers), `systems` (infill,
tabby-agent), `replay`, `analysis` (the numbers), `report` (the table and the plot).

The session: six real source files (the example workspace's and the standard library's),
each opened cut just before a function or a block, whose next `--lines` lines are then typed
character by character as an editor sends them: Enter inserts the line end and the next line's
indentation (auto-indent); intervals between keys are lognormal around 110 ms, with pauses of
0.5-1.5 s at line ends, after punctuation and now and then (`TypingModel`). Then `--probes`
probes per file: the user goes elsewhere in the file and starts a value, the document cut after
an assignment's `=`, one space typed, a pause; places seen nowhere else, so the model must
answer (typing along answers is mostly served from the cache, which leaves few answers to
measure the server's own time on). The seed fixes the files' order, the intervals, the pauses
and the probes, so every system replays the same session (480 keys and 62 pauses by default,
about 2 minutes a system).

After each key the client sends `textDocument/didChange` and asks for a suggestion at the
cursor, as VS Code does while typing (infill: `textDocument/inlineCompletion`, automatic;
tabby-agent: `textDocument/completion`, which is what it serves), cancelling the previous
request if it has not been answered (`$/cancelRequest`). A suggestion is shown when the answer
for the latest position arrives, non-empty, before the next key.

The backend is `tests/fake_llm.py` in this process: it answers with the text that really
follows the cursor in the file (the rest of the line and `--answer-lines` more), cut into
token-sized pieces, the first after `--ttft-ms`, the others at `--tps`; infill gets it streamed
(OpenAI completions, SSE), tabby-agent as a Tabby server answers (one JSON at the end). A share
`--wrong` of the answers has one word of their first line wrong, so typing along an answer
breaks now and then as with a real model (with `--wrong 0` nearly every key is a cache hit and
the backend's answers are too few to measure). The fake records when each request arrived and
when each piece left, on the same clock as the client, which is how backend time is told apart
from the rest.

Measured, per system (P50/P75/P95/P99):

- pause to ghost text: for each pause (a gap of at least 0.5 s after a key), the time from that
  key to the suggestion shown. An answer that comes after the pause (or never) is a miss and
  counts as infinitely late; an empty answer within the pause (the system chose to show
  nothing there) is left out and counted as declined.
- server overhead: for answers made from a backend request of their own, the time the client
  waited minus the backend's time (its request's arrival to the last piece sent before the
  answer); in two parts, key to backend request (a debounce, the prompt) and backend's last
  piece to answer (post-processing). For tabby-agent this includes its debounce.
- beyond the floor: for single-line suggestions from the backend, the client's wait minus the
  floor, the time the backend took to send the piece that ends the suggestion's first line
  (time to first token plus the tokens of that line; tabby's API sends everything at the end).
- hits: answers shown without a backend request of their own (none arrived for that cursor
  between the question and the answer): from a cache, or typed along a request in flight
  ("joined": a backend stream was open meanwhile). Their latency is the client's wait, from
  the key's didChange (the server handles it first) to the answer.
- backend requests per 100 keystrokes: completion requests the fake received.

infill's own local metrics (where each answer came from, by the server's account) are read
back from its temporary state directory and stored next to these inferred numbers.

Writes `results.json` (every sample and the summary) and `latency_cdf.png` (the CDF of pause to
ghost text per system) to `--out` (default `bench/results/latency-<timestamp>/`). Needs the
`bench` extra (rich, matplotlib); `--peer tabby-agent` needs node and npm, and installs
tabby-agent 1.5.0 once into ~/.cache/infill/peers/ (`npm install --ignore-scripts`).
"""
