"""Unit tests for server/settings.py (infill.settings): layers, validation, config file, --set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infill.backends import BackendConfig
from infill.settings import (
    FIELDS,
    CompletionSettings,
    PromptSettings,
    Settings,
    SettingsError,
    closest_key,
    describe_unknown,
    expand_dotted,
    load_user_config,
    parse_assignment,
    parse_settings,
    settings_table,
    take_file_api_key,
    user_config_path,
)

# -- dotted keys and layers ----------------------------------------------------------------------


def test_dotted_keys_expand():
    assert expand_dotted({"backend.url": "u"}) == {"backend": {"url": "u"}}
    assert expand_dotted({"a.b.c": 1}) == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize(
    "layer",
    [
        {"backend.url": "http://h:1/v1", "backend": {"model": "m"}},
        {"backend": {"model": "m"}, "backend.url": "http://h:1/v1"},
        {"backend": {"model": "m", "max_tokens": 5}, "backend.url": "http://h:1/v1"},
    ],
)
def test_dotted_keys_merge_with_nested_objects(layer: dict[str, Any]):
    expanded = expand_dotted(layer)
    assert expanded["backend"]["url"] == "http://h:1/v1"
    assert expanded["backend"]["model"] == "m"
    settings, unknown = parse_settings(layer)
    assert unknown == []
    assert settings.backend.url == "http://h:1/v1"
    assert settings.backend.model == "m"


def test_dotted_keys_inside_nested_objects():
    assert expand_dotted({"backend": {"x.y": 1}}) == {"backend": {"x": {"y": 1}}}
    settings, _ = parse_settings({"prompt": {"max_tokens": 100}, "backend": {"max_tokens": 3}})
    assert settings.prompt.max_tokens == 100


def test_later_layers_win_and_earlier_keys_survive():
    file_layer = {"backend": {"url": "http://file/v1", "model": "a", "max_tokens": 10}}
    init_layer = {"backend.model": "b"}
    client_layer = {"backend": {"url": "http://client/v1"}}
    settings, unknown = parse_settings(file_layer, init_layer, client_layer)
    assert unknown == []
    assert settings.backend.url == "http://client/v1"
    assert settings.backend.model == "b"
    assert settings.backend.max_tokens == 10


def test_no_layers_is_the_defaults():
    settings, unknown = parse_settings()
    assert settings == Settings()
    assert unknown == []
    assert settings.backend == BackendConfig()
    assert settings.backend.kind == "ngram"  # the built-in offline engine
    assert settings.backend.url == ""
    assert settings.backend.template == "auto"
    assert settings.backend.max_tokens == 128
    assert settings.backend.temperature == 0.0
    assert settings.backend.timeout_ms == 5000
    assert settings.prompt.max_tokens == 2048
    assert settings.completion.candidates == 3


def test_every_key_of_the_contract_parses():
    contract = {
        "backend": {
            "kind": "openai",
            "url": "https://api.example.com/v1",
            "model": "qwen2.5-coder-1.5b",
            "template": "qwen",
            "api_key_env": "MY_API_KEY",
            "max_tokens": 64,
            "temperature": 0.2,
            "timeout_ms": 1500,
        },
        "prompt": {"max_tokens": 1024},
        "completion": {"candidates": 5},
    }
    settings, unknown = parse_settings(contract)
    assert unknown == []
    assert settings == Settings(
        backend=BackendConfig(
            kind="openai",
            url="https://api.example.com/v1",
            model="qwen2.5-coder-1.5b",
            template="qwen",
            api_key_env="MY_API_KEY",
            max_tokens=64,
            temperature=0.2,
            timeout_ms=1500,
        ),
        prompt=PromptSettings(max_tokens=1024),
        completion=CompletionSettings(candidates=5),
    )


def test_the_contract_parses_dotted_too():
    settings, unknown = parse_settings(
        {"backend.template": "auto", "backend.temperature": 1, "prompt.max_tokens": 64}
    )
    assert unknown == []
    assert settings.backend.template == "auto"
    assert settings.backend.temperature == 1.0
    assert isinstance(settings.backend.temperature, float)
    assert settings.prompt.max_tokens == 64


def test_url_is_trimmed_and_may_be_empty():
    settings, _ = parse_settings({"backend.url": "  http://127.0.0.1:8080/v1 "})
    assert settings.backend.url == "http://127.0.0.1:8080/v1"
    settings, _ = parse_settings({"backend.url": "http://x/v1"}, {"backend.url": ""})
    assert settings.backend.url == ""


# -- invalid values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("backend.max_tokens", -1, "1 to 8192"),
        ("backend.max_tokens", 0, "1 to 8192"),
        ("backend.max_tokens", 8193, "1 to 8192"),
        ("backend.max_tokens", 1.5, "whole number"),
        ("backend.max_tokens", "64", "whole number"),
        ("backend.temperature", "hot", "number"),
        ("backend.temperature", -0.1, "0.0 to 2.0"),
        ("backend.temperature", 2.5, "0.0 to 2.0"),
        ("backend.timeout_ms", 99, "100 to 600000"),
        ("backend.url", "localhost:8080", "http:// or https://"),
        ("backend.url", "ftp://example.com/v1", "http:// or https://"),
        ("backend.url", 8080, "string"),
        ("backend.url", "notaurl", "http:// or https://"),
        ("backend.url", "http://", "with a host"),
        ("backend.url", "https:///v1", "with a host"),
        ("backend.url", "http://host:port/v1", "with a host"),
        ("backend.url", "http://a b/v1", "with a host"),
        ("backend.kind", "gemini", "expected one of ngram, openai"),
        ("backend.kind", "gpt", "expected one of ngram, openai"),
        ("backend.template", "nope", "one of auto, chat, qwen"),
        ("backend.model", 7, "string"),
        ("backend.api_key_env", "1ABC", "NAME of an environment variable"),
        ("prompt.max_tokens", 10, "64 to 131072"),
        ("completion.candidates", 0, "1 to 10"),
        ("completion.candidates", 11, "1 to 10"),
        ("completion.candidates", 2.0, "whole number"),
        ("completion.candidates", True, "whole number"),
    ],
)
def test_invalid_values_name_their_key(key: str, value: Any, fragment: str):
    with pytest.raises(SettingsError) as info:
        parse_settings({key: value})
    assert info.value.key == key
    assert key in str(info.value)
    assert fragment in str(info.value)


def test_invalid_nested_value_names_the_dotted_key():
    with pytest.raises(SettingsError) as info:
        parse_settings({"backend": {"url": "http://ok/v1", "timeout_ms": "soon"}})
    assert info.value.key == "backend.timeout_ms"


def test_a_section_that_is_not_an_object_is_refused():
    with pytest.raises(SettingsError) as info:
        parse_settings({"backend": "http://127.0.0.1:8080/v1"})
    assert info.value.key == "backend"


def test_an_invalid_later_layer_fails_even_over_a_good_earlier_one():
    with pytest.raises(SettingsError) as info:
        parse_settings({"backend.max_tokens": 64}, {"backend.max_tokens": -1})
    assert info.value.key == "backend.max_tokens"


@pytest.mark.parametrize("secret", ["sk-abc123-def", "sk-proj-AbC/dEf+123=", "Bearer xyz"])
def test_a_pasted_api_key_is_refused_without_echoing_it(secret: str):
    with pytest.raises(SettingsError) as info:
        parse_settings({"backend": {"api_key_env": secret}})
    error = info.value
    assert error.key == "backend.api_key_env"
    assert secret not in str(error)
    assert secret not in repr(error)
    assert all(secret not in str(arg) for arg in error.args)
    # Not in the chained exception either, should anything print the traceback.
    for chained in (error.__cause__, error.__context__):
        assert chained is None or secret not in str(chained)


def test_an_api_key_of_the_wrong_type_in_config_toml_is_refused_without_echoing_it():
    with pytest.raises(SettingsError) as info:
        parse_settings(take_file_api_key({"backend": {"api_key": 31415926535}}))
    assert info.value.key == "backend.api_key"  # as config.toml has it
    assert "31415926535" not in str(info.value)


def test_an_environment_variable_name_is_accepted():
    settings, _ = parse_settings({"backend.api_key_env": "OPENAI_API_KEY"})
    assert settings.backend.api_key_env == "OPENAI_API_KEY"
    settings, _ = parse_settings({"backend.api_key_env": "_key2"})
    assert settings.backend.api_key_env == "_key2"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("backend.max_tokens", True),
        ("backend.timeout_ms", True),
        ("prompt.max_tokens", False),
        ("backend.temperature", True),
    ],
)
def test_booleans_are_not_numbers(key: str, value: bool):
    with pytest.raises(SettingsError) as info:
        parse_settings({key: value})
    assert info.value.key == key


# -- unknown keys and nulls ----------------------------------------------------------------------


def test_unknown_keys_are_returned_and_ignored():
    settings, unknown = parse_settings(
        {"backend": {"colour": "red", "model": "m"}, "extra": 1, "prompt.snippets": 3}
    )
    assert sorted(unknown) == ["backend.colour", "extra", "prompt.snippets"]
    assert settings == Settings(backend=BackendConfig(model="m"))


def test_every_key_of_an_unknown_section_is_named():
    _, unknown = parse_settings({"backnd": {"url": "http://h/v1", "model": "m"}})
    assert sorted(unknown) == ["backnd.model", "backnd.url"]


@pytest.mark.parametrize(
    ("key", "closest"),
    [
        ("backend.foo", None),  # nothing like it: "backend." alone makes no match
        ("backend.timeout", "backend.timeout_ms"),
        ("temprature", "backend.temperature"),  # a known name misspelt, in no section
        ("kindd", "backend.kind"),
        ("backnd.url", "backend.url"),  # a misspelt section
        ("completion.debounce", "completion.debounce_ms"),
        ("xyzzy", None),
    ],
)
def test_an_unknown_key_is_told_the_closest_known_one(key: str, closest: str | None):
    assert closest_key(key) == closest


def test_unknown_keys_make_one_warning_naming_each_and_its_closest_known_key():
    _, unknown = parse_settings({"backend.foo": 1, "temprature": 0.2, "xyzzy": True})
    assert describe_unknown(unknown) == (
        "backend.foo, temprature (did you mean backend.temperature?), xyzzy"
    )


def test_an_object_where_a_value_belongs_is_invalid_not_unknown():
    with pytest.raises(SettingsError) as info:
        parse_settings({"backend": {"url": {"host": "h"}}})
    assert info.value.key == "backend.url"
    assert "string" in str(info.value)


def test_an_empty_section_is_no_unknown_key():
    assert parse_settings({"backend": {}, "prompt": {}}) == (Settings(), [])


def test_null_values_mean_default():
    settings, unknown = parse_settings(
        {
            "backend": {"max_tokens": None, "url": None, "kind": None, "temperature": None},
            "prompt.max_tokens": None,
        }
    )
    assert unknown == []
    assert settings == Settings()


def test_an_address_without_a_kind_is_an_openai_compatible_server():
    settings, _ = parse_settings({"backend": {"kind": None}}, {"backend.url": "http://h:1/v1"})
    assert settings.backend.kind == "openai"
    assert settings.backend.configured and not settings.backend.offline


def test_a_kind_given_anywhere_wins_over_the_address():
    settings, _ = parse_settings({"backend.kind": "ngram"}, {"backend.url": "http://h:1/v1"})
    assert settings.backend.kind == "ngram"
    settings, _ = parse_settings({"backend.kind": "ollama"})
    assert settings.backend.base_url == "http://127.0.0.1:11434"


def test_no_backend_settings_mean_the_offline_engine():
    settings, _ = parse_settings({"backend": {"model": "m", "max_tokens": 32}})
    assert settings.backend.offline and settings.backend.configured
    # An LLM kind without an address has nothing to ask.
    settings, _ = parse_settings({"backend.kind": "openai"})
    assert not settings.backend.configured


# -- config file ---------------------------------------------------------------------------------


def test_load_user_config_reads_toml(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[backend]\nkind = "openai"\nurl = "http://127.0.0.1:8080/v1"\nmax_tokens = 64\n\n'
        "[prompt]\nmax_tokens = 512\n",
        encoding="utf-8",
    )
    config = load_user_config(path)
    assert config == {
        "backend": {"kind": "openai", "url": "http://127.0.0.1:8080/v1", "max_tokens": 64},
        "prompt": {"max_tokens": 512},
    }
    settings, unknown = parse_settings(config)
    assert unknown == []
    assert settings.backend.max_tokens == 64
    assert settings.prompt.max_tokens == 512


def test_load_user_config_of_a_missing_file_is_empty(tmp_path: Path):
    assert load_user_config(tmp_path / "absent" / "config.toml") == {}


@pytest.mark.parametrize("content", ["[backend\nurl = 1\n", 'url = "unterminated\n', "a = = 1"])
def test_load_user_config_of_broken_toml_raises(tmp_path: Path, content: str):
    path = tmp_path / "config.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_user_config(path)
    assert info.value.key == str(path)


def test_load_user_config_of_an_unreadable_path_raises(tmp_path: Path):
    with pytest.raises(SettingsError):
        load_user_config(tmp_path)  # a directory


def test_user_config_lives_under_xdg_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_config_path() == tmp_path / "infill" / "config.toml"
    (tmp_path / "infill").mkdir()
    (tmp_path / "infill" / "config.toml").write_text('backend.model = "m"\n', encoding="utf-8")
    assert load_user_config() == {"backend": {"model": "m"}}


def test_user_config_defaults_to_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_config_path() == tmp_path / ".config" / "infill" / "config.toml"


# -- --set KEY=VALUE -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("backend.max_tokens=64", {"backend": {"max_tokens": 64}}),
        ("backend.temperature=0.5", {"backend": {"temperature": 0.5}}),
        ("backend.url=http://127.0.0.1:8080/v1", {"backend": {"url": "http://127.0.0.1:8080/v1"}}),
        ("backend.template=qwen", {"backend": {"template": "qwen"}}),
        ('backend.model="quoted"', {"backend": {"model": "quoted"}}),
        ("backend.model=a=b", {"backend": {"model": "a=b"}}),
        ("backend.model=", {"backend": {"model": ""}}),
        ("backend.model=null", {"backend": {"model": None}}),
        ("backend.max_tokens=true", {"backend": {"max_tokens": True}}),
        (" backend.model =x", {"backend": {"model": "x"}}),
    ],
)
def test_parse_assignment(text: str, expected: dict[str, Any]):
    assert parse_assignment(text) == expected


def test_parse_assignment_feeds_parse_settings():
    settings, unknown = parse_settings(
        parse_assignment("backend.max_tokens=64"), parse_assignment("backend.url=http://h/v1")
    )
    assert unknown == []
    assert settings.backend.max_tokens == 64
    assert settings.backend.url == "http://h/v1"


@pytest.mark.parametrize("text", ["backend.max_tokens", "=64", "  =x", ""])
def test_parse_assignment_without_key_and_value_raises(text: str):
    with pytest.raises(SettingsError):
        parse_assignment(text)


def test_null_in_a_later_layer_keeps_the_earlier_value():
    # Editors send null for options the user has not set; the config file's values stay.
    user_file = {"backend": {"url": "http://file.example/v1", "max_tokens": 64}}
    editor = {"backend": {"url": None, "max_tokens": None}, "prompt": None}
    settings, unknown = parse_settings(user_file, editor)
    assert settings.backend.url == "http://file.example/v1"
    assert settings.backend.max_tokens == 64
    assert unknown == []


# -- the schema, the README's table ---------------------------------------------------------------


def test_the_readme_table_is_the_schemas():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("| key | meaning | default |")
    table = readme[start : readme.index("\n\n", start) + 1]
    # To update it: python -c 'from infill.settings import settings_table as t; print(t())'
    assert table == settings_table()


def test_defaults_are_valid_values_of_their_own_schema():
    defaults = {key: field.default for key, field in FIELDS.items() if field.default is not None}
    assert parse_settings(defaults) == (Settings(), [])
