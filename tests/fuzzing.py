"""Hypothesis budgets and shared strategies for the fuzz tests: a few thousand cases in
`make test`, INFILL_FUZZ_SCALE times as many in `make fuzz`."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCALE = max(1, int(os.environ.get("INFILL_FUZZ_SCALE", "1")))


def fuzz_settings(examples: int) -> settings:
    """`examples` cases (times the scale). The end-to-end tests share one server between the
    cases of a test on purpose: what one case leaves behind is input for the next."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def frame(body: bytes, declared: int | None = None, headers: bytes = b"") -> bytes:
    """One LSP message on the wire; `declared`: a Content-Length other than the body's."""
    length = len(body) if declared is None else declared
    return b"Content-Length: %d\r\n%s\r\n%s" % (length, headers, body)


# Malformed frames: raw bytes, a body with a wrong length, a header that never ends.
junk_frames = st.one_of(
    st.binary(max_size=120),
    st.tuples(st.binary(max_size=60), st.integers(-40, 200)).map(
        lambda b: frame(b[0], max(len(b[0]) + b[1], 0))
    ),
    st.tuples(st.binary(max_size=60), st.sampled_from([b"\r\n", b"\n", b""])).map(
        lambda b: b"Content-Length: %d%s%s" % (len(b[0]), b[1], b[0])
    ),
)

# Any JSON value, for params of the wrong shape.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
