"""A real llama.cpp `llama-server` and a tiny random-weight Qwen2 model for the tests.

Nothing here is downloaded at run time except through PyPI: the server is built from the
llama.cpp sources vendored in the `llama-cpp-python` sdist, and the model is generated with the
`gguf` package from the Qwen2 vocabulary file shipped in that same sdist. Both are cached by
version under the user cache dir ($XDG_CACHE_HOME/infill/llama.cpp/<version>), so only the first
run on a machine pays for the build (about 9 minutes on 2 cores).

The model's weights are random: it speaks the real protocol with the real tokenizer at a few
hundred tokens per second, but its text is noise. Assert protocol behaviour, never content.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Pinned so the cache key (and the llama.cpp commit it vendors) never moves under the tests.
# 0.3.36 vendors llama.cpp 0c1e570 (ggml 0.25.3).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"

VOCAB_NAME = "ggml-vocab-qwen2.gguf"
SERVER_NAME = "llama-server"

# Qwen2.5-Coder's FIM and repository tokens, at their real ids. The Qwen2 vocabulary in the sdist
# predates them: these ids hold `[PAD…]` placeholders there.
FIM_TOKENS: dict[str, int] = {
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
}
# The metadata key suffix llama.cpp reads for each (tokenizer.ggml.fim_<key>_token_id).
FIM_KEYS: dict[str, str] = {
    "pre": "<|fim_prefix|>",
    "mid": "<|fim_middle|>",
    "suf": "<|fim_suffix|>",
    "pad": "<|fim_pad|>",
    "rep": "<|repo_name|>",
    "sep": "<|file_sep|>",
}

# Why each flag beyond the three (LLAMA_CURL, tests, examples):
CMAKE_FLAGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    # One self-contained binary to copy into the cache: no libllama/libggml beside it.
    "-DBUILD_SHARED_LIBS=OFF",
    # Deprecated and ignored by this llama.cpp (its downloader uses cpp-httplib now); kept from
    # the recipe for older sources. OFF prints no deprecation warning.
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    # The web UI is otherwise fetched from a Hugging Face bucket during the build: no network.
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    # No HTTPS client needed for a loopback server, and no libssl-dev required on the machine.
    "-DLLAMA_OPENSSL=OFF",
    # Only silences the "ccache not found" notice.
    "-DGGML_CCACHE=OFF",
    # GGML_NATIVE stays at its default (ON, -march=native): the cache is per machine.
]


@dataclass(frozen=True)
class ModelShape:
    """A random-weight Qwen2 model's size, and the cached file it is written to."""

    # Bump the file name when the generated model changes so an old cached file is not reused.
    file_name: str
    title: str  # general.name in the file
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_ctx_train: int


# The tests' model: 2 layers, 64 wide, grouped-query attention like the real Qwen2 models.
TINY = ModelShape(
    "tiny-qwen2-fim-v1.gguf", "infill tiny qwen2 (random weights)", 2, 64, 4, 2, 128, 4096
)
# Qwen2.5-Coder-0.5B's shape (its config.json), f16: ~1.3 GB, written in 20 s (150 s on a busy
# machine). Its weights are as random as the tiny one's, but every prompt token costs what it
# costs on the real model (bench/local).
QWEN_0_5B = ModelShape(
    "qwen2-0.5b-shape-fim-v1.gguf",
    "infill qwen2 0.5b shape (random weights)",
    24,
    896,
    14,
    2,
    4864,
    32768,
)


def log(message: str) -> None:
    """Progress goes to stderr: pytest shows it with -s, and it explains a slow first run."""
    print(f"[llamacpp] {message}", file=sys.stderr, flush=True)


def llama_cpp_python_version() -> str:
    return LLAMA_CPP_PYTHON_VERSION


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infill" / "llama.cpp" / llama_cpp_python_version()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive flock: two pytest processes (or xdist workers) must not build at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(command: list[str], cwd: Path, log_file: IO[str]) -> None:
    """Run one build step, its output to the build log; on failure show the log's tail."""
    log("$ " + " ".join(command))
    log_file.write("$ " + " ".join(command) + "\n")
    log_file.flush()
    result = subprocess.run(
        command, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        log_file.flush()
        tail = Path(log_file.name).read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{command[0]} failed with status {result.returncode}:\n{tail}")


def _build(staging: Path, work: Path) -> None:
    """Download the sdist, build `llama-server`, and put it and the vocabulary in `staging`."""
    version = llama_cpp_python_version()
    build_log = work / "build.log"
    with open(build_log, "w") as log_file:
        log(f"downloading the llama-cpp-python {version} sdist from PyPI (build log: {build_log})")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "--disable-pip-version-check",
                "--dest",
                str(work),
                f"llama-cpp-python=={version}",
            ],
            work,
            log_file,
        )
        sdists = list(work.glob("llama_cpp_python-*.tar.gz"))
        if len(sdists) != 1:
            raise RuntimeError(f"expected one llama-cpp-python sdist in {work}, found {sdists}")
        log(f"unpacking {sdists[0].name}")
        with tarfile.open(sdists[0]) as archive:
            archive.extractall(work, filter="data")
        source = work / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
        if not (source / "CMakeLists.txt").is_file():
            raise RuntimeError(f"no llama.cpp sources at {source}")
        build = work / "build"
        started = time.monotonic()
        log("configuring llama.cpp")
        _run(["cmake", "-S", str(source), "-B", str(build), *CMAKE_FLAGS], work, log_file)
        log("building llama-server with 2 jobs (about 9 minutes on 2 cores)")
        _run(
            [
                "cmake",
                "--build",
                str(build),
                "--config",
                "Release",
                "--target",
                SERVER_NAME,
                "-j2",
            ],
            work,
            log_file,
        )
        log(f"built llama-server in {time.monotonic() - started:.0f} s")
    binary = build / "bin" / SERVER_NAME
    if not binary.is_file():
        raise RuntimeError(f"the build produced no {binary}")
    shutil.copy2(binary, staging / SERVER_NAME)
    shutil.copy2(source / "models" / VOCAB_NAME, staging / VOCAB_NAME)
    shutil.copy2(build_log, staging / "build.log")


def ensure_llama_server() -> Path:
    """The cached `llama-server` binary, built from the pinned sdist if it is not there yet."""
    target = cache_dir()
    server = target / SERVER_NAME
    if server.is_file() and (target / VOCAB_NAME).is_file():
        return server
    with _locked(target.parent / f"{target.name}.lock"):
        # Another process may have finished the build while this one waited for the lock.
        if server.is_file() and (target / VOCAB_NAME).is_file():
            return server
        if shutil.which("cmake") is None:
            raise RuntimeError("building llama-server needs cmake and a C++ compiler on PATH")
        # Work dirs of builds that were killed (the lock is ours, so none is running).
        for stale in target.parent.glob(f"{target.name}.build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        # Build beside the cache dir so the final step is a rename on one file system: a killed
        # build never leaves a half-filled cache dir that later runs would trust.
        with tempfile.TemporaryDirectory(prefix=f"{target.name}.build-", dir=target.parent) as tmp:
            work = Path(tmp) / "work"
            staging = Path(tmp) / "staging"
            work.mkdir()
            staging.mkdir()
            _build(staging, work)
            if target.exists():  # a stale, incomplete dir from an older layout
                shutil.rmtree(target)
            staging.rename(target)
        log(f"cached {server} ({server.stat().st_size / 1e6:.1f} MB)")
    return server


def ensure_tiny_qwen_model() -> Path:
    """The cached tiny Qwen2 GGUF with Qwen2.5-Coder's FIM tokens, generated if missing."""
    return ensure_qwen_model(TINY)


def ensure_qwen_model(shape: ModelShape) -> Path:
    """The cached random-weight Qwen2 GGUF of `shape` with Qwen2.5-Coder's FIM tokens,
    generated if missing."""
    ensure_llama_server()  # brings the vocabulary file into the cache dir
    target = cache_dir()
    model = target / shape.file_name
    if model.is_file():
        return model
    with _locked(target.parent / f"{target.name}.lock"):
        if model.is_file():
            return model
        started = time.monotonic()
        partial = target / f"{shape.file_name}.partial-{os.getpid()}"
        try:
            _write_qwen_model(target / VOCAB_NAME, partial, shape)
            os.replace(partial, model)
        finally:
            partial.unlink(missing_ok=True)
        log(
            f"generated {model} ({model.stat().st_size / 1e6:.1f} MB) in "
            f"{time.monotonic() - started:.1f} s"
        )
    return model


def _write_qwen_model(vocab_path: Path, out: Path, shape: ModelShape) -> None:
    # Imported here: only the tests that start a real server need gguf and numpy.
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(vocab_path)
    fields = reader.fields
    tokens: list[str] = list(fields["tokenizer.ggml.tokens"].contents())
    token_types: list[int] = list(fields["tokenizer.ggml.token_type"].contents())
    top = max(FIM_TOKENS.values())
    if len(tokens) <= top:
        # A shorter vocabulary is extended with the same placeholders Qwen2 pads with.
        for index in range(len(tokens), top + 1):
            tokens.append(f"[PAD{index}]")
            token_types.append(int(gguf.TokenType.USER_DEFINED))
    for text, index in FIM_TOKENS.items():
        if not tokens[index].startswith("[PAD"):
            raise RuntimeError(f"token {index} is {tokens[index]!r}, not a [PAD…] placeholder")
        tokens[index] = text
        # CONTROL, like the real model: parsed as one token only when special parsing is on.
        token_types[index] = int(gguf.TokenType.CONTROL)
    n_vocab = len(tokens)

    writer = gguf.GGUFWriter(out, "qwen2")
    writer.add_name(shape.title)
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(shape.n_embd)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    # The rest of the tokenizer (model gpt2, pre qwen2, merges, bos/eos/pad ids, chat template)
    # is copied as it is, with the value types it has in the vocabulary file.
    for key, field in fields.items():
        if not key.startswith("tokenizer.") or key in (
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.token_type",
        ):
            continue
        main_type = field.types[0]
        if main_type == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), main_type, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), main_type)
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    for key, text in FIM_KEYS.items():
        writer.add_uint32(f"tokenizer.ggml.fim_{key}_token_id", FIM_TOKENS[text])

    # Shapes are numpy's (rows, columns); GGUF stores them reversed, which gives llama.cpp's
    # {n_embd, n_vocab}-style shapes that the qwen2 loader (src/models/qwen2.cpp) checks.
    # Matrices in f16 keep the file small; norms and biases must be f32.
    rng = np.random.default_rng(20240917)
    n_embd_kv = shape.n_embd // shape.n_head * shape.n_head_kv

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)

    def vector(size: int, fill: float | None = None) -> np.ndarray:
        if fill is not None:
            return np.full(size, fill, dtype=np.float32)
        return (rng.standard_normal(size) * 0.02).astype(np.float32)

    writer.add_tensor("token_embd.weight", matrix(n_vocab, shape.n_embd))
    writer.add_tensor("output_norm.weight", vector(shape.n_embd, 1.0))
    # An output head of its own, although the loader would tie it to token_embd and halve the
    # file: with tied random weights the residual stream stays close to the input embedding and
    # greedy decoding just repeats the prompt's last token (`<|fim_middle|>`, which renders as
    # nothing), so every completion would be empty text.
    writer.add_tensor("output.weight", matrix(n_vocab, shape.n_embd))
    for layer in range(shape.n_layer):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", vector(shape.n_embd, 1.0))
        writer.add_tensor(f"{block}.attn_q.weight", matrix(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"{block}.attn_k.weight", matrix(n_embd_kv, shape.n_embd))
        writer.add_tensor(f"{block}.attn_v.weight", matrix(n_embd_kv, shape.n_embd))
        # Qwen2 is the family with q/k/v biases; the loader accepts them optionally.
        writer.add_tensor(f"{block}.attn_q.bias", vector(shape.n_embd))
        writer.add_tensor(f"{block}.attn_k.bias", vector(n_embd_kv))
        writer.add_tensor(f"{block}.attn_v.bias", vector(n_embd_kv))
        writer.add_tensor(f"{block}.attn_output.weight", matrix(shape.n_embd, shape.n_embd))
        writer.add_tensor(f"{block}.ffn_norm.weight", vector(shape.n_embd, 1.0))
        writer.add_tensor(f"{block}.ffn_gate.weight", matrix(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"{block}.ffn_up.weight", matrix(shape.n_ff, shape.n_embd))
        writer.add_tensor(f"{block}.ffn_down.weight", matrix(shape.n_embd, shape.n_ff))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LlamaServer:
    """`with LlamaServer(binary, model) as url:` runs llama-server on 127.0.0.1 until the end.

    `url` is the base URL without `/v1` (llama.cpp's native endpoints live at the root).
    """

    def __init__(
        self,
        binary: Path,
        model: Path,
        *,
        ctx_size: int = 2048,
        batch_size: int = 512,
        startup_timeout: float = 60.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.binary = binary
        self.model = model
        self.ctx_size = ctx_size
        self.batch_size = batch_size
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args or []
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def log_text(self) -> str:
        """What the server printed so far, for a failing test's message."""
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    def __enter__(self) -> str:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log")
        command = [
            str(self.binary),
            "--model",
            str(self.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ctx-size",
            str(self.ctx_size),
            # /infill keeps only ctx - batch - 2 * server n_predict tokens of `input_extra`: with
            # the default batch (2048) equal to the context nothing of it reaches the prompt.
            "--batch-size",
            str(self.batch_size),
            # One slot: requests run one at a time, as one editor sends them.
            "--parallel",
            "1",
            # Never reach for a hub: everything it needs is on disk.
            "--offline",
            "--no-webui",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_healthy()
        except BaseException:
            self._stop()
            raise
        return self.url

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"llama-server exited with status {self.process.returncode}:\n"
                    + self.log_text()[-4000:]
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet, or 503 while the model loads
            time.sleep(0.1)
        raise RuntimeError(
            f"llama-server was not healthy within {self.startup_timeout} s:\n"
            + self.log_text()[-4000:]
        )

    def _stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __exit__(self, *exc_info: object) -> None:
        self._stop()


def main() -> None:
    """`python -m tests.llamacpp` builds and generates everything, e.g. to warm a CI cache."""
    server = ensure_llama_server()
    model = ensure_tiny_qwen_model()
    print(server)
    print(model)


if __name__ == "__main__":
    main()
