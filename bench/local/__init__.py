"""The local-model benchmark: a real typing session against a real llama-server.

    python -m bench.local [--model tiny|0.5b ...] [--server-flags FLAGS] [--chars 400]
                          [--cap-s 10] [--newline-bias B] [--seed 1] [--set KEY=VALUE ...]
                          [--peer llama.vim --peer-path DIR] [--out DIR]

With a local model, time to first token is prompt processing: every prompt token the server
does not already hold in its KV cache costs compute. This benchmark measures that on the real
server, built as the tests build it (tests/llamacpp.py), with the tests' tiny random model and
with a random model of Qwen2.5-Coder-0.5B's shape (each prompt token costs what it costs there).

The session (session.py): five asyncio files of the standard library open, ~400 characters of a
method body of streams.py typed back key by key, a pause at every line end until ghost text
comes up or a cap. It is typed into each system with its own fresh llama-server (systems.py):
infill as the real LSP server over stdio, with the `llamacpp` backend kind (/infill) and with the
`openai` kind (infill's FIM prompt through /v1/completions); and, with `--peer llama.vim`,
llama.vim in a headless Neovim. A recording relay sits between the client and llama-server
(relay.py); what it recorded is then replayed in order against another fresh server with the
same flags (reuse.py) to count the prompt tokens reused, independent of timing.

Reported per model and system: requests, prompt tokens reused, prompt tokens evaluated per
request (mean, P50, P90), time to first token (P50, P90), pause to ghost text (P50, P90, max;
a pause without ghost text within the cap is a miss). Written to results.json in
`--out` (default bench/results/local-<timestamp>/), and printed as a table.

The random models never write a line break, so no answer would end at a line's end: the relay
adds `logit_bias` [[198, `--newline-bias`]] (198 is "\\n"; calibrated per model by default) to
every completion request of every system. It is the benchmark's own traffic, not what the
clients send, and only changes what the model writes, never the prompt.
"""
