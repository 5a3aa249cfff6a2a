"""Credentials inside ordinary files are redacted from what is sent (context/credentials.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infill.context.credentials import REDACTED, redact_credentials, typing_credential
from tests.fuzzing import fuzz_settings

GITHUB = "ghp_" + "A1b2C3d4E5" * 4
PLANTED = [
    # (text, the secret in it)
    ('aws_key = "AKIAIOSFODNN7EXAMPLE"\n', "AKIAIOSFODNN7EXAMPLE"),
    ("client = boto3.client(key_id=ASIAY34FZKBOKMUTVV7A)\n", "ASIAY34FZKBOKMUTVV7A"),
    (f"headers = {{'Authorization': 'token {GITHUB}'}}\n", GITHUB),
    ('openai.api_key = "sk-proj-Abcdefghijklmnopqrstuvwx1234"\n', "sk-proj-Abcdefghijklmnop"),
    ("slack = 'xoxb-123456789012-abcdefghijkl'\n", "xoxb-123456789012"),
    (
        'maps = "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234"\n',
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
    ),
    ('stripe.api_key = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"\n', "4eC39HqLyjWDarjtT1zdp7dc"),
    ('DATABASE = "postgres://app:Tr0ub4dor&3@db.internal:5432/app"\n', "Tr0ub4dor&3"),
    ('password = "correct horse battery staple"\n', "correct horse battery staple"),
    ('def connect(token: str = "tok-3f9a8b7c"):\n', "tok-3f9a8b7c"),
    ('config = {"client_secret": "d3adb33fcafe"}\n', "d3adb33fcafe"),
    ("DB_PASSWORD=hunter2hunter2\n", "hunter2hunter2"),
    ("  Token: 'q8Jm2LxZ'\n", "q8Jm2LxZ"),
    (
        "KEY = '''-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nAbCd\n"
        "-----END RSA PRIVATE KEY-----'''\n",
        "MIIEowIBAAKCAQEA7",
    ),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "b3BlbnNzaC1rZXktdjEA"),
    # A window of the document that starts, or lies entirely, inside a key.
    ("b3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\nx = 1\n", "b3BlbnNzaC1rZXkt"),
    ("x = 1\n" + f"{'MIIEowIBAAKCAQEA7' * 4}\n" * 3 + "y = 2\n", "MIIEowIBAAKCAQEA7"),
    (
        "jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n'\n",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n",
    ),
]


@pytest.mark.parametrize(("text", "secret"), PLANTED)
def test_credentials_are_redacted(text: str, secret: str):
    redacted = redact_credentials(text)
    assert secret not in redacted
    assert REDACTED in redacted


CODE = [
    "token = tokens[0]\n",
    "password_hash = hash_password(password)\n",
    'secret_key = os.environ["SECRET_KEY"]\n',
    'api_key = settings.get("api_key")\n',
    "if not token:\n    raise ValueError('missing')\n",
    'author = "Jane Doe"\nurl = "https://example.com/path"\n',
    "def check(password: str) -> bool:\n    return len(password) > 8\n",
    'key = "a"\n',
]


@pytest.mark.parametrize("text", CODE)
def test_ordinary_code_is_left_alone(text: str):
    assert redact_credentials(text) == text


@pytest.mark.parametrize(
    ("line_before", "typing"),
    [
        ('password = "hun', True),
        ("    API_KEY = 'sk-", True),
        ('"client_secret": "', True),
        ('    db_password: str = "', True),
        ('password = "done" + ', False),
        ("token = ", False),
        ('name = "', False),
    ],
)
def test_typing_a_credential(line_before: str, typing: bool):
    assert typing_credential(line_before) is typing


code_lines = st.lists(
    st.sampled_from([*CODE, "x = 1\n", "\n", "    return value\n", "# a comment\n"]), max_size=8
)


@fuzz_settings(300)
@given(before=code_lines, after=code_lines, planted=st.sampled_from(PLANTED))
def test_a_planted_credential_never_survives_in_any_surroundings(
    before: list[str], after: list[str], planted: tuple[str, str]
):
    text, secret = planted
    assert secret not in redact_credentials("".join(before) + text + "".join(after))
