"""How long a server that is reading the prompt is waited for."""

from __future__ import annotations

import pytest

from infill.backends.base import READING_SLACK, SLOWEST_READING, PromptProgress


def test_the_rest_of_the_prompt_is_expected_at_the_speed_read_so_far_with_slack():
    # 1,000 of 2,000 tokens read, 200 of them from the cache, in 4 s: 200 tokens/s.
    assert PromptProgress(2000, 200, 1000, 4000).seconds_left() == pytest.approx(
        READING_SLACK * 1000 / 200
    )
    # Nothing read yet, or slower than the slowest speed waited for: at that speed.
    assert PromptProgress(2000, 0, 0, 0).seconds_left() == pytest.approx(
        READING_SLACK * 2000 / SLOWEST_READING
    )
    assert PromptProgress(2000, 0, 10, 4000).seconds_left() == pytest.approx(
        READING_SLACK * 1990 / SLOWEST_READING
    )
    assert PromptProgress(2000, 0, 2000, 4000).seconds_left() == 0


def test_llama_servers_word_of_progress_is_read_from_its_event():
    report = {"total": 9, "cache": 1, "processed": 5, "time_ms": 20.5}
    assert PromptProgress.of({"prompt_progress": report}) == PromptProgress(9, 1, 5, 20.5)
    assert PromptProgress.of({"content": "x"}) is None
    # An odd report still says that the server is at work.
    assert PromptProgress.of({"prompt_progress": {"total": "many"}}) == PromptProgress(0, 0, 0, 0)
