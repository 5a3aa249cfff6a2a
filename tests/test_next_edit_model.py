"""Next edits from a model: Zeta's prompt exactly as Zed writes it (zed-industries/zed,
crates/zeta_prompt/src/zeta_prompt.rs, module zeta1), Instinct's as Continue writes it
(continuedev/continue, core/nextEdit/), their answers read back into edits, and the edit history
as the diffs they are shown."""

from __future__ import annotations

from infill.context.edit_history import change_diff
from infill.context.next_edit import RecentChange, Replacement
from infill.postprocess.next_edit import LastChange, acceptable, applied, region_edits
from infill.prompts.next_edit import (
    INSTINCT_SYSTEM,
    EditEvent,
    Excerpt,
    chat_rewrite,
    chat_user_prompt,
    excerpt_around,
    instinct_rewrite,
    instinct_user_prompt,
    zeta_prompt,
    zeta_rewrite,
)

TEXT = "import os\n\ndef greet(name):\n    print('hi ' + name)\n    print('bye ' + name)\n"


def test_the_prompt_is_zetas_character_for_character():
    cursor = TEXT.index("name)\n    print('bye")
    excerpt = Excerpt("app.py", TEXT, (0, len(TEXT) - 1), (11, len(TEXT) - 1), cursor)
    events = [EditEvent("app.py", "@@ -3,1 +3,1 @@\n-def greet():\n+def greet(name):")]
    # Written out from the source's constants and format strings, not from infill's.
    expected = (
        "### Instruction:\n"
        "You are a code completion assistant and your task is to analyze user edits and then "
        "rewrite an excerpt that the user provides, suggesting the appropriate edits within the "
        "excerpt, taking into account the cursor location.\n\n"
        "### User Edits:\n\n"
        "User edited app.py:\n```diff\n@@ -3,1 +3,1 @@\n-def greet():\n+def greet(name):\n```"
        "\n\n### User Excerpt:\n\n"
        "```app.py\n<|start_of_file|>\nimport os\n\n<|editable_region_start|>\n"
        "def greet(name):\n    print('hi ' + <|user_cursor_is_here|>name)\n"
        "    print('bye ' + name)\n<|editable_region_end|>\n```"
        "\n\n### Response:\n"
    )
    assert zeta_prompt(events, excerpt) == expected


def test_the_excerpt_is_whole_lines_around_the_cursor_and_marks_the_files_start_only_there():
    text = "".join(f"line {i}\n" for i in range(40))
    cursor = text.index("line 20") + 2
    excerpt = excerpt_around("a.py", text, cursor)
    region = excerpt.region
    assert region.startswith("line 15\n") and region.endswith("line 25")
    context = text[excerpt.context[0] : excerpt.context[1]]
    assert context.startswith("line 5\n") and context.endswith("line 35")
    assert "<|start_of_file|>" not in zeta_prompt([], excerpt)
    assert "<|start_of_file|>" in zeta_prompt([], excerpt_around("a.py", text, 3))


def test_the_answer_is_the_rewritten_region_only_when_both_markers_are_there():
    answer = (
        "```app.py\n<|editable_region_start|>\ndef greet(name):\n"
        "    print(f'hi {name}')<|user_cursor_is_here|>\n<|editable_region_end|>"
    )
    assert zeta_rewrite(answer) == "def greet(name):\n    print(f'hi {name}')"
    assert zeta_rewrite(answer.replace("<|editable_region_end|>", "")) is None  # cut short
    assert zeta_rewrite("<|editable_region_start|>\n\n<|editable_region_end|>") == ""


def test_the_instinct_messages_are_continues_character_for_character():
    cursor = TEXT.index("name)\n    print('bye")
    excerpt = Excerpt("app.py", TEXT, (0, len(TEXT) - 1), (11, len(TEXT) - 1), cursor)
    # An empty context line (" ") is dropped, as `editHistoryBlock` drops blank lines.
    diff = "@@ -2,2 +2,2 @@\n \n-def greet():\n+def greet(name):"
    events = [EditEvent("app.py", diff), EditEvent("b.py", "")]
    # Written out from the template in NextEditPromptEngine.ts and the blocks of instinct.ts.
    expected = (
        "Reference the user excerpt, user edits, and the snippets to understand the developer's "
        "intent. Update the editable region of the user excerpt by predicting and completing the "
        "changes they would have made next. This may be a deletion, addition, or modification of "
        "code.\n\n### Context:\n\n\n### User Edits:\n\n"
        'User edited file "app.py"\n\n```diff\n'
        "@@ -2,2 +2,2 @@\n-def greet():\n+def greet(name):\n```"
        "\n\n### User Excerpt:\napp.py\n\n"
        "import os\n\n<|editable_region_start|>\n"
        "def greet(name):\n    print('hi ' + <|user_cursor_is_here|>name)\n"
        "    print('bye ' + name)\n<|editable_region_end|>```\n### Response:"
    )
    assert instinct_user_prompt(events, excerpt) == expected
    assert INSTINCT_SYSTEM.startswith("You are Instinct, an intelligent next-edit predictor")
    assert INSTINCT_SYSTEM.endswith("unless there are obvious typos or errors.")


def test_instincts_answer_is_the_region_with_any_fence_or_marker_taken_off():
    region = "def greet(name):\n    print(f'hi {name}')"
    assert instinct_rewrite(region) == region
    assert instinct_rewrite(f"```python\n{region}\n```\n") == region
    marked = f"<|editable_region_start|>\n{region}<|user_cursor_is_here|>\n<|editable_region_end|>"
    assert instinct_rewrite(marked) == region


def test_a_chat_model_is_shown_the_same_parts_and_answers_in_a_fenced_block():
    cursor = TEXT.index("name)\n    print('bye")
    excerpt = Excerpt("app.py", TEXT, (0, len(TEXT) - 1), (11, len(TEXT) - 1), cursor)
    events = [EditEvent("app.py", "@@ -3,1 +3,1 @@\n-def greet():\n+def greet(name):")]
    assert chat_user_prompt(events, excerpt) == (
        "My recent edits:\n\napp.py:\n```diff\n@@ -3,1 +3,1 @@\n-def greet():\n+def greet(name):"
        "\n```\n\nThe file app.py, around my cursor:\n\n```\nimport os\n\n"
        "<|editable_region_start|>\ndef greet(name):\n"
        "    print('hi ' + <|user_cursor_is_here|>name)\n    print('bye ' + name)\n"
        "<|editable_region_end|>\n```"
    )
    region = "def greet(name):\n    print(f'hi {name}')"
    assert chat_rewrite(f"Here it is:\n```python\n{region}\n```\nDone.") == region
    assert chat_rewrite(
        f"```\n<|editable_region_start|>\n{region}\n<|editable_region_end|>\n```"
    ) == (region)
    assert chat_rewrite(f"```python\n{region}") is None  # cut short
    assert chat_rewrite(region) is None  # no block


def test_a_rewrite_becomes_the_smallest_edits():
    region = (TEXT.index("def"), len(TEXT) - 1)
    rewrite = "def greet(name):\n    print('hi ' + name)\n    print('bye ' + name.title())"
    edits = region_edits(TEXT, region, rewrite)
    at = TEXT.rindex("name)") + len("name")
    assert edits == [Replacement(at, at, ".title()")]
    assert applied(TEXT, edits) == TEXT[:at] + ".title()" + TEXT[at:]
    assert region_edits(TEXT, region, TEXT[region[0] : region[1]]) == []


def test_no_edit_that_breaks_the_syntax_or_undoes_the_last_change():
    region = (TEXT.index("def"), len(TEXT) - 1)
    good = region_edits(TEXT, region, TEXT[region[0] : region[1]].replace("bye", "see you"))
    assert acceptable(TEXT, good, "python", None)
    broken = region_edits(TEXT, region, TEXT[region[0] : region[1]].replace("name)\n", "name\n"))
    assert not acceptable(TEXT, broken, "python", None)
    # The user just changed `hello` to `hi`: a rewrite that writes `hello` back undoes it.
    start = TEXT.index("hi ")
    last = LastChange(start, start + 2, "hello")
    undoing = region_edits(TEXT, region, TEXT[region[0] : region[1]].replace("'hi ", "'hello "))
    assert not acceptable(TEXT, undoing, "python", last)
    assert acceptable(TEXT, good, "python", last)


def test_a_change_is_shown_as_a_unified_diff_with_the_documents_line_numbers():
    before = "".join(f"line {i}\n" for i in range(1, 21))
    start = before.index("line 10")
    after = before[:start] + "line ten" + before[start + len("line 10") :]
    change = RecentChange(before, start, start + len("line 10"), start + len("line ten"))
    assert change_diff(change, after) == (
        "@@ -7,7 +7,7 @@\n line 7\n line 8\n line 9\n-line 10\n+line ten\n line 11\n line 12\n"
        " line 13"
    )
