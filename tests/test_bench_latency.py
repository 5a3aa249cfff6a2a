"""bench/latency's parts that need neither rich, matplotlib nor a peer: the typing session,
the fake model's answers, the numbers; and the fake's Tabby API and timing records."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import httpx

from bench.latency import analysis, fake_model, replay, typing_model
from tests.fake_llm import FakeLLM, Received, Reply

# -- the typing session --------------------------------------------------------------------------


def test_enter_types_the_line_end_and_the_next_indentation_as_one_key():
    text = "def f(x):\n    return x\n\nz = 1"
    keys = typing_model.split_keys(text)
    assert "".join(keys) == text
    assert "\n    " in keys and keys.count("\n") == 2  # the blank line, then "z"
    assert all(len(key) == 1 or key.startswith("\n") for key in keys)


def test_the_session_is_fixed_by_its_seed_and_types_the_files_text():
    session = typing_model.make_session(3, seed=7)
    assert session == typing_model.make_session(3, seed=7)
    assert [s.name for s in session] != [s.name for s in typing_model.make_session(3, seed=8)]
    for segment in session:
        # The document opens at the start of a line's code, right after its indentation.
        line_start = segment.source.rfind("\n", 0, segment.start) + 1
        assert not segment.source[line_start : segment.start].strip()
        assert segment.source[segment.start :].startswith(segment.typed)
        assert segment.typed.count("\n") == 2  # three lines
        assert all(key.gap_after > 0 for key in segment.keys)
        assert segment.keys[-1].gap_after >= analysis.PAUSE_S
    gaps = [key.gap_after for segment in session for key in segment.keys]
    assert any(gap >= analysis.PAUSE_S for gap in gaps[:-1])
    assert sorted(gaps)[len(gaps) // 2] < 0.2  # most keys come at typing speed


def test_probes_ask_for_a_value_where_nothing_was_typed():
    session = typing_model.make_session(3, seed=7, probes=2)
    typed, probes = session[: len(typing_model.ANCHORS)], session[len(typing_model.ANCHORS) :]
    assert session == typing_model.make_session(3, seed=7, probes=2)
    assert typed == typing_model.make_session(3, seed=7)  # the typing is the same with probes
    assert len(probes) >= 2 * (len(typing_model.ANCHORS) - 1)  # a file may have too few places
    places = {(p.origin, p.start) for p in probes}
    assert len(places) == len(probes)  # never the same place twice: no answer from a cache
    for probe in probes:
        assert probe.source[: probe.start].endswith(" =") and probe.typed == " "
        line_start = probe.source.rfind("\n", 0, probe.start) + 1
        assert analysis.single_line_position(probe.source[line_start : probe.start + 1])
        assert probe.keys[0].gap_after >= analysis.PAUSE_S
        for segment in typed:
            if segment.origin == probe.origin:
                assert not segment.start <= probe.start < segment.start + len(segment.typed)


# -- the fake model ------------------------------------------------------------------------------


def test_token_pieces_cover_the_text():
    for text in ("    def add(self, item: Item) -> None:\n        pass", "a\tb \r\n\x0cé😀 ", ""):
        pieces = fake_model.token_pieces(text)
        assert "".join(pieces) == text
        assert all(pieces)


def test_next_text_is_the_rest_of_the_line_and_more_lines():
    source = "a = 1\nb = 2\nc = 3\nd = 4\n"
    assert fake_model.next_text(source, 2, 1) == "= 1\nb = 2"
    assert fake_model.next_text(source, 5, 0) == ""  # at the line end: nothing more on it
    assert fake_model.next_text(source, 5, 1) == "\nb = 2"
    assert fake_model.next_text(source, 18, 5) == "d = 4\n"  # up to the end of the file


def test_the_request_is_located_at_the_latest_occurrence_before_the_cursor():
    source = "x = 1\ny = 2\nx = 1\ny = 2\n"
    assert fake_model.locate(source, "y = 2\nx = ", 20) == 16
    assert fake_model.locate(source, "x = ", 5) == 4
    assert fake_model.locate(source, "nowhere", 20) is None
    assert fake_model.locate(source, "", 20) is None


def test_the_prefix_is_read_from_the_fim_prompt_and_from_tabby_segments():
    prompt = (
        "<|repo_name|>w\n<|file_sep|>b.py\nimport os\n"
        "<|file_sep|>a.py\n<|fim_prefix|>def f():\n    ret<|fim_suffix|>\n<|fim_middle|>"
    )
    assert fake_model.prompt_prefix(Received("/v1/completions", {}, {"prompt": prompt})) == (
        "def f():\n    ret"
    )
    tabby = {"language": "python", "segments": {"prefix": "x = ", "suffix": ""}}
    assert fake_model.prompt_prefix(Received("/v1/completions", {}, tabby)) == "x = "
    assert fake_model.prompt_prefix(Received("/v1/chat/completions", {}, {"messages": []})) is None


def test_a_wrong_answer_has_one_word_of_its_first_line_changed():
    pieces = fake_model.token_pieces("\n    total = price * count\n    return total")
    wrong = fake_model.with_a_wrong_word(pieces, random.Random(3))
    assert len(wrong) == len(pieces)
    changed = [i for i, (a, b) in enumerate(zip(pieces, wrong, strict=True)) if a != b]
    assert len(changed) == 1
    assert changed[0] < pieces.index("\n    ", 1)  # in the first line of code
    assert fake_model.with_a_wrong_word(fake_model.token_pieces("():"), random.Random(3)) == [
        "()",
        ":",
    ]


def test_the_model_answers_the_files_text_the_same_way_for_every_system():
    source = "def f(a, b):\n    total = a + b\n    return total\n"
    model = fake_model.TypedFileModel(0.15, 50, 1, wrong=0.0)
    model.segment, model.source, model.cursor = 0, source, 19
    reply = model.reply(Received("/v1/completions", {}, {"segments": {"prefix": source[:19]}}))
    assert reply is not None
    assert "".join(reply.chunks) == "tal = a + b\n    return total"
    assert (reply.ttft, reply.delay) == (0.15, 0.02)
    assert model.answered[0].offset == 19 and not model.answered[0].wrong

    always_wrong = fake_model.TypedFileModel(0.15, 50, 1, wrong=1.0, seed=5)
    always_wrong.segment, always_wrong.source, always_wrong.cursor = 0, source, 19
    answers = [
        always_wrong.reply(Received("/v1/completions", {}, {"segments": {"prefix": source[:19]}}))
        for _ in range(2)
    ]
    assert answers[0] == answers[1]  # chosen by the cursor, not by chance
    assert always_wrong.answered[0].wrong


# -- the numbers ---------------------------------------------------------------------------------


def test_distributions_take_misses_as_infinitely_late():
    assert analysis.distribution([]) == {"p50": None, "p75": None, "p95": None, "p99": None, "n": 0}
    summary = analysis.distribution([1.0, 2.0, 3.0, math.inf])
    assert summary == {"p50": 2.5, "p75": math.inf, "p95": math.inf, "p99": math.inf, "n": 4}


def test_single_line_positions_follow_infills_rule():
    assert analysis.single_line_position("    total = ")
    assert analysis.single_line_position("    print(x")
    assert not analysis.single_line_position("    ")  # an empty line: several lines
    assert not analysis.single_line_position("    if x:")  # a block opener
    assert not analysis.single_line_position('    """Docs')  # a string opened on the line


def _backend(
    segment: int, offset: int, arrived: float, sent: list[float], pieces: list[str], **kw: object
) -> object:
    request = Received("/v1/completions", {}, {}, arrived=arrived, sent=sent)
    request.reply = Reply(chunks=pieces)
    request.ended = kw.get("ended", sent[-1] if sent else arrived)  # type: ignore[assignment]
    request.closed_early = bool(kw.get("closed_early", False))
    return fake_model.Answered(request, segment, offset, "".join(pieces), False)


def _asked(key: int, offset: int, sent: float, pause: float, answered: float, shown: str, **kw):
    item = replay.Asked(
        0, key, offset, sent, pause, key, (0, offset), kw.get("line_before", "    x = ")
    )
    item.until, item.answered, item.shown = kw.get("until", sent + pause), answered, shown
    return item


def test_analysis_tells_backend_answers_from_hits_and_splits_the_overhead():
    asked = [
        # Key 0 at t=10 pauses; its backend request arrives 20 ms later, its line is done
        # at 10.230, the answer comes at 10.233: backend 210 ms, overhead 23 ms.
        _asked(0, 100, 10.0, 1.0, 10.233, "a + b"),
        # Key 1 types along: answered at once from the cache.
        _asked(1, 101, 11.0, 0.1, 11.002, " + b"),
        # Key 2 pauses, and nothing comes before the next key: a miss.
        _asked(2, 102, 11.1, 0.8, 12.5, "+ b"),
        # Key 3 pauses and the system shows nothing: declined.
        _asked(3, 103, 12.0, 0.6, 12.003, ""),
    ]
    answered = [_backend(0, 100, 10.02, [10.17, 10.20, 10.23], ["a", " + b", "\n"])]

    result = analysis.analyse(asked, answered, keys=4)

    sources = [sample.get("source") for sample in result["requests"]]
    assert sources == ["backend", "hit", None, None]
    summary = result["summary"]
    assert round(summary["server_overhead_ms"]["p50"], 6) == 23.0
    assert round(summary["to_backend_ms"]["p50"], 6) == 20.0
    assert round(summary["after_backend_ms"]["p50"], 6) == 3.0
    assert round(summary["beyond_floor_ms"]["p50"], 6) == 23.0  # floor: 210 ms
    assert round(summary["hit_cache_ms"]["p50"], 6) == 2.0
    assert (summary["pauses_shown"], summary["pauses_late"], summary["pauses_declined"]) == (
        1,
        1,
        1,
    )
    assert result["pause_to_ghost_ms"][1] == math.inf
    assert summary["pause_to_model_ghost_ms"]["n"] == 2  # key 0 from the model, key 2 missed
    assert summary["backend_requests_per_100_keys"] == 25.0


def test_an_answer_typed_along_a_request_in_flight_is_a_joined_hit():
    asked = [_asked(0, 100, 10.0, 0.1, 10.5, "b", until=10.6)]
    # The request for the cursor before was on its way and went on until it answered.
    answered = [_backend(0, 99, 9.9, [10.45, 10.49], ["a", "b"], ended=10.49)]
    assert analysis.analyse(asked, answered, keys=1)["requests"][0]["source"] == "joined"
    # One called off when the key came did not serve it.
    answered = [_backend(0, 99, 9.9, [], [], ended=10.001, closed_early=True)]
    assert analysis.analyse(asked, answered, keys=1)["requests"][0]["source"] == "hit"


def test_the_servers_own_sources_are_matched_to_the_answers_after_them(tmp_path: Path):
    database = tmp_path / "metrics.sqlite3"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE events (ts REAL, kind TEXT, source TEXT)")
        rows = [(99.0, "request", "backend"), (100.3, "keystroke", None)]
        rows += [(100.5, "request", "typeahead"), (101.0, "request", "inflight")]
        db.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
    db.close()
    asked = [
        _asked(0, 1, 0.4, 0.1, 0.5005, "x"),  # wall clock = client clock + 100 s
        _asked(1, 2, 0.6, 0.1, 0.7, "y"),  # cancelled: the server recorded nothing
        _asked(2, 3, 0.9, 0.1, 1.001, "z"),
    ]
    asked[1].error = "-32800: cancelled"

    found = analysis.server_sources(database, asked, wall_minus_perf=100.0)

    assert found == {0: "typeahead", 2: "inflight"}  # the warm-up's event matches nothing
    assert analysis.server_sources(tmp_path / "none.sqlite3", asked, 100.0) == {}


# -- the fake's Tabby API and timing records -----------------------------------------------------


async def test_the_fake_speaks_tabbys_api_and_records_its_timing(fake: FakeLLM):
    fake.default = Reply(chunks=["a", " + b", "\n"], ttft=0.01, delay=0.001)
    async with httpx.AsyncClient(base_url=fake.root) as http:
        health = (await http.get("/v1/health")).json()
        assert {"model", "device"} <= set(health) and "git_describe" in health["version"]
        setting = (await http.get("/v1beta/server_setting")).json()
        assert setting == {"disable_client_side_telemetry": True}

        body = {"language": "python", "segments": {"prefix": "x = ", "suffix": "\n"}}
        answer = (await http.post("/v1/completions", json=body)).json()
        assert answer["choices"] == [{"index": 0, "text": "a + b\n"}]
        assert answer["id"]

        event = {"type": "view", "completion_id": answer["id"], "choice_index": 0}
        response = await http.post("/v1/events?select_kind=line", json=event)
        assert response.status_code == 200

        streamed = await http.post("/v1/completions", json={"prompt": "x = ", "stream": True})
        assert streamed.text.count("data: ") == 4  # three deltas and [DONE]

    assert [r.path for r in fake.requests] == ["/v1/completions", "/v1/completions"]
    assert [r.body["type"] for r in fake.events] == ["view"]
    whole, stream = fake.requests
    assert len(whole.sent) == 1 and len(stream.sent) == 3  # Tabby's answer goes at once
    for request in fake.requests:
        assert request.ended is not None
        assert request.arrived <= request.sent[0] <= request.sent[-1] <= request.ended
        assert not request.closed_early
        assert request.reply is fake.default
