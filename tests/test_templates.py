"""Every FIM family: golden prompts, stop lists, model-name detection, and properties of the
budgeted prompt over random documents (never over budget, exact at the cursor, no injection)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infill.prompts import (
    build_prompt,
    count_tokens,
    counter_for,
    neutralize,
    prompt_budget,
    restore,
)
from infill.prompts.templates import (
    CODELLAMA,
    CODESTRAL,
    DEEPSEEK,
    QWEN,
    TEMPLATES,
    detect_family,
)


@dataclass(frozen=True)
class Ref:
    path: str
    text: str


PREFIX = "def area(r):\n    return "
SUFFIX = "\n\nprint(area(2))\n"
SNIPPETS = [
    Ref("geo/consts.py", "PI = 3.14159"),
    Ref("geo/util.py", "def square(x):\n    return x * x"),
]
COMMENTED = (
    "# Path: geo/util.py\n# def square(x):\n#     return x * x\n"
    "# Path: geo/consts.py\n# PI = 3.14159\n# Path: geo/area.py\n"
)
GOLDEN = {
    "qwen": (
        "<|repo_name|>geo\n"
        "<|file_sep|>geo/util.py\ndef square(x):\n    return x * x\n"
        "<|file_sep|>geo/consts.py\nPI = 3.14159\n"
        "<|file_sep|>geo/area.py\n"
        "<|fim_prefix|>def area(r):\n    return <|fim_suffix|>\n\nprint(area(2))\n<|fim_middle|>"
    ),
    "starcoder": (
        "<repo_name>geo"
        "<file_sep>geo/util.py\ndef square(x):\n    return x * x"
        "<file_sep>geo/consts.py\nPI = 3.14159"
        "<file_sep><fim_prefix>geo/area.py\ndef area(r):\n    return <fim_suffix>\n\n"
        "print(area(2))\n<fim_middle>"
    ),
    "deepseek": (
        "<\uff5cfim\u2581begin\uff5c>"  # a plain "<": only the bars are full-width
        + COMMENTED
        + "def area(r):\n    return <\uff5cfim\u2581hole\uff5c>\n\nprint(area(2))\n"
        + "<\uff5cfim\u2581end\uff5c>"
    ),
    "codellama": f"<PRE> {COMMENTED}def area(r):\n    return  <SUF>\n\nprint(area(2))\n <MID>",
    "codestral": f"[SUFFIX]\n\nprint(area(2))\n[PREFIX]{COMMENTED}def area(r):\n    return ",
    "codegemma": (
        f"<|fim_prefix|>{COMMENTED}def area(r):\n    return <|fim_suffix|>\n\nprint(area(2))\n"
        "<|fim_middle|>"
    ),
}


@pytest.mark.parametrize("family", sorted(GOLDEN))
def test_golden_prompt_with_two_snippets(family: str):
    prompt = build_prompt(
        PREFIX, SUFFIX, TEMPLATES[family], 2048, SNIPPETS, path="geo/area.py", repo="geo"
    )
    assert prompt.text == GOLDEN[family]
    assert [s.path for s in prompt.snippets] == ["geo/consts.py", "geo/util.py"]
    assert prompt.tokens["total"] == count_tokens(prompt.text)


def test_no_snippets_means_the_bare_hole():
    assert build_prompt(PREFIX, SUFFIX, QWEN, 2048).text == QWEN.hole(PREFIX, SUFFIX)
    assert CODESTRAL.hole("P", "S") == "[SUFFIX]S[PREFIX]P"
    assert CODELLAMA.hole("P", "S") == "<PRE> P <SUF>S <MID>"


def test_deepseek_tokens_use_full_width_bars_and_the_low_line():
    assert DEEPSEEK.fim.startswith("<\uff5cfim\u2581begin\uff5c>")
    assert "\uff5c" in DEEPSEEK.stop[0] and "\u2581" in DEEPSEEK.stop[0]


STOPS = {
    "qwen": {"<|endoftext|>", "<|file_sep|>", "<|fim_pad|>", "<|repo_name|>", "<|im_end|>"},
    "starcoder": {"<|endoftext|>", "<file_sep>", "<fim_prefix>", "<fim_middle>"},
    "deepseek": {
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<\uff5cfim\u2581begin\uff5c>",
        "<|EOT|>",
    },
    "codellama": {"<EOT>"},
    "codestral": {"</s>", "[PREFIX]", "[SUFFIX]"},
    "codegemma": {"<|file_separator|>", "<end_of_turn>", "<eos>", "<|fim_prefix|>"},
}


@pytest.mark.parametrize("family", sorted(STOPS))
def test_stop_lists(family: str):
    template = TEMPLATES[family]
    assert STOPS[family] <= set(template.stop)
    # Every stop is also neutralized where user code spells it.
    assert set(template.stop) <= set(template.special)


# Real names people configure (Ollama tags, HF ids, GGUF files, served names).
DETECTED = {
    "qwen": [
        "qwen2.5-coder:1.5b-base",
        "qwen2.5-coder:7b-base",
        "qwen2.5-coder:32b",
        "Qwen/Qwen2.5-Coder-1.5B",
        "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ",
        "qwen2.5-coder-1.5b-instruct-q8_0.gguf",
        "Qwen2.5-Coder-32B-Instruct-Q4_K_M.gguf",
        "ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF",
        "lmstudio-community/qwen2.5-coder-32b-instruct",
    ],
    "starcoder": [
        "starcoder2:3b",
        "starcoder2:7b-q4_K_M",
        "starcoder:1b",
        "bigcode/starcoder2-3b",
        "bigcode/starcoderbase-3b",
        "starcoder2-3b_Q8_0.gguf",
        "starcoderbase-1B.Q8_0.gguf",
        "codeqwen:7b-code",
    ],
    "deepseek": [
        "deepseek-coder:1.3b-base",
        "deepseek-coder:6.7b-base-q8_0",
        "deepseek-coder-v2:16b-lite-base-q4_0",
        "deepseek-ai/deepseek-coder-1.3b-base",
        "deepseek-ai/DeepSeek-Coder-V2-Lite-Base",
        "deepseek-coder-6.7b-base-q8_0.gguf",
    ],
    "codellama": [
        "codellama:7b-code",
        "codellama:13b-code-q4_K_M",
        "codellama/CodeLlama-7b-hf",
        "codellama-7b.Q8_0.gguf",
    ],
    "codestral": [
        "codestral:22b",
        "codestral:latest",
        "mistralai/Codestral-22B-v0.1",
        "Codestral-22B-v0.1-Q8_0.gguf",
        "codestral-latest",
    ],
    "codegemma": ["codegemma:2b-code", "codegemma:7b-code-q4_K_M", "google/codegemma-2b"],
}
NOT_FIM = [
    "gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "llama3.1:8b", "mistral:7b",
    "gemma2:2b", "qwen2.5:7b", "deepseek-r1:7b", "deepseek-v3", "deepseek-v2:16b",
    "deepseek-llm:7b-chat", "mistralai/Mamba-Codestral-7B-v0.1", "codellama:34b-code",
    "codellama:7b-python", "codegemma:7b-instruct", "google/codegemma-7b-it",
    "dolphincoder:15b-starcoder2",
]  # fmt: skip


@pytest.mark.parametrize(
    ("family", "model"), [(f, m) for f, models in DETECTED.items() for m in models]
)
def test_detect_family_from_real_names(family: str, model: str):
    found = detect_family(model)
    assert found is not None and found.family == family


@pytest.mark.parametrize("model", NOT_FIM)
def test_names_that_are_not_fim_models(model: str):
    assert detect_family(model) is None


# -- properties ---------------------------------------------------------------------------

ALL_SPECIAL = sorted({token for t in TEMPLATES.values() for token in t.special})
PIECES = [*ALL_SPECIAL, "a", "b9", " ", "    ", "\n", "\n\n", "(", ")", "{", "}", "<", "|", ">",
          "é", "😀", "漢字", "{prefix}", "{suffix}", "def f(x):", "return x", "\u200b"]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    document=texts,
    cursor=st.integers(min_value=0),
    family=st.sampled_from(sorted(TEMPLATES)),
    budget=st.integers(min_value=64, max_value=400),
    snippet_texts=st.lists(texts, max_size=3),
)
def test_prompt_properties(
    document: str, cursor: int, family: str, budget: int, snippet_texts: list[str]
):
    template = TEMPLATES[family]
    cursor %= len(document) + 1
    prefix, suffix = document[:cursor], document[cursor:]
    refs = [Ref(f"lib/m{i}.py", text) for i, text in enumerate(snippet_texts)]
    prompt = build_prompt(prefix, suffix, template, budget, refs, path="app/main.py", repo="app")

    # Never over budget, counted as one text.
    assert count_tokens(prompt.text) <= budget
    # The prefix ends exactly at the cursor and the suffix starts exactly there (in the
    # user's text as the prompt spells it, control tokens neutralized).
    assert neutralize(prefix, template).endswith(prompt.prefix)
    assert neutralize(suffix, template).startswith(prompt.suffix)
    rendered = tuple(
        template.render_snippet(r.path, neutralize(r.text, template), "#")
        for r in reversed(prompt.snippets)
    )
    assert prompt.text == template.render(
        prompt.prefix, prompt.suffix, rendered, "app/main.py", "app"
    )
    # No user text spells a control token: each one occurs as often as in the bare frame.
    pieces = tuple(template.render_snippet(r.path, "", "#") for r in prompt.snippets)
    frame = template.render("", "", tuple(reversed(pieces)), "app/main.py", "app")
    for token in template.special:
        assert prompt.text.count(token) == frame.count(token), token


def test_neutralized_user_text_comes_back_in_the_suggestion():
    prompt = build_prompt('MARK = "<|fim_middle|>"\nOTHER = "', '"\n', QWEN, 256)
    assert "<|fim_middle|>" not in prompt.prefix
    # A model copying the user's (neutralized) text gets it back as the user wrote it.
    assert restore(prompt.prefix, QWEN) == 'MARK = "<|fim_middle|>"\nOTHER = "'


# -- exact counts with the model's own tokenizer ----------------------------------------------


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) BPE tokenizer.json, trained here with the `tokenizers` library."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = [PREFIX + SUFFIX, "def square(x):\n    return x * x\n", "PI = 3.14159\n"] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=[
            "<unk>",
            "<|endoftext|>",
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
            "<|file_sep|>",
            "<|repo_name|>",
        ],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(corpus, trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tokenizer.save(str(path))
    assert json.loads(path.read_text())["model"]["type"] == "BPE"
    return path


def test_counts_with_the_models_tokenizer(tokenizer_file: Path):
    from tokenizers import Tokenizer

    count = counter_for(str(tokenizer_file))
    exact = Tokenizer.from_file(str(tokenizer_file))
    # The FIM markers are single special tokens to this tokenizer, unlike to cl100k.
    assert count("<|fim_prefix|>") == 1
    assert count_tokens("<|fim_prefix|>") > 1
    long_prefix = "x = 1\n" * 400 + PREFIX
    prompt = build_prompt(long_prefix, SUFFIX, QWEN, 120, count=count)
    assert len(exact.encode(prompt.text, add_special_tokens=False).ids) <= 120
    assert prompt.tokens["total"] == len(exact.encode(prompt.text, add_special_tokens=False).ids)
    assert prompt.prefix.endswith(PREFIX)


def test_the_budget_never_exceeds_the_models_context_minus_the_answer():
    assert prompt_budget(2048, 0, 128) == 2048  # context unknown: the setting alone
    assert prompt_budget(2048, 1024, 128) == 896
    assert prompt_budget(512, 4096, 128) == 512
    assert prompt_budget(2048, 100, 128) == 0
