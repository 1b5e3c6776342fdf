"""Argument types shared by ``deltaproof`` and the bench scripts: each parses one command-line string or raises
:class:`argparse.ArgumentTypeError` saying what was expected and what came, which argparse turns into one line
naming the option (``error: argument --workers: expected a positive integer …``) and exit status 2."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """A positive integer; twelve digits at most, so that no count can ask for unbounded work."""
    if not text.isdigit() or int(text) < 1 or len(text) > 12:
        raise argparse.ArgumentTypeError(f"expected a positive integer (at most 12 digits), got {text!r}")
    return int(text)


def natural_int(text: str) -> int:
    """A non-negative integer (a seed, an offset); twelve digits at most."""
    if not text.isdigit() or len(text) > 12:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer (at most 12 digits), got {text!r}")
    return int(text)


def seconds(text: str) -> float:
    """A positive number of seconds, ``inf`` allowed (no budget)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds (inf allowed), got {text!r}")
    return value


def name_list(allowed: tuple[str, ...]):
    """The parser of a comma-separated list of names, each one of ``allowed``."""

    def parse(text: str) -> tuple[str, ...]:
        chosen = tuple(n.strip() for n in text.split(","))
        unknown = [n for n in chosen if n not in allowed]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(f"expected comma-separated names among {', '.join(allowed)}, got {text!r}")
        return chosen

    return parse


def length_list(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers (sequence lengths)."""
    try:
        values = tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def positive_number(text: str) -> float:
    """A positive finite number (a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def filters(text: str) -> dict[str, tuple[str, ...]]:
    """``--only``'s comma-separated ``key=value|value`` filters: {key: the accepted values, as strings}; "" is none.
    A setting passes when its value, written with ``str``, is one of its key's (:func:`passes`)."""
    chosen = {}
    for item in filter(None, text.split(",")):
        key, sep, values = item.partition("=")
        if not (key and sep and values):
            raise argparse.ArgumentTypeError(f"expected comma-separated key=value|value filters, got {text!r}")
        chosen[key] = tuple(values.split("|"))
    return chosen


def passes(settings: dict, chosen: dict[str, tuple[str, ...]]) -> bool:
    """Whether ``settings`` meets every filter of :func:`filters` (a key it lacks reads as "None")."""
    return all(str(settings.get(key)) in values for key, values in chosen.items())
