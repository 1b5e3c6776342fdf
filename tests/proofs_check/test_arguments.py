"""The shared argument types: what each accepts and the message of what it refuses."""

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofs_check.arguments import filters, passes

WORD = st.text(alphabet="abcdefgh_0123456789", min_size=1, max_size=6)


@given(st.dictionaries(WORD, st.lists(WORD, min_size=1, max_size=3).map(tuple), max_size=4))
def test_filters_read_back_what_was_written(chosen):
    text = ",".join(f"{key}={'|'.join(values)}" for key, values in chosen.items())
    assert filters(text) == chosen


@pytest.mark.parametrize("text", ["S3", "task=", "=S3", "task=S3,n_h"])
def test_malformed_filters_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected comma-separated key=value\|value filters"):
        filters(text)


def test_a_setting_passes_when_its_string_is_among_the_values():
    run = {"task": "S3", "n_h": 2, "gate": False}
    assert passes(run, {}) and passes(run, filters("task=S3|S4,n_h=2,gate=False"))
    assert not passes(run, filters("n_h=1|3")) and not passes(run, filters("task=S3,gate=True"))
    assert not passes(run, filters("layers=1")) and passes(run, filters("layers=None"))  # a missing key reads "None"
