"""Command-line options from config dataclasses: every field an option, its help from the docstring."""
from __future__ import annotations

import argparse
import dataclasses

# `jaxae eval`'s AIS options when --ais is given without them (the parser's defaults are None, so that eval
# can refuse them without --ais: jaxae.apps.evaluate)
AIS_DEFAULTS = {"ais_chains": 100, "ais_temperatures": 14_500, "ais_schedule": "uniform"}


def _parse_value(kind, text: str):
    if kind is bool:
        return text
    if kind in (int, float, str):
        return kind(text)
    return tuple(int(x) for x in text.split(",") if x.strip())  # Sequence[int]


def _field_docs(cls) -> dict:
    """Field descriptions from the 'Attributes:' section of a config class's docstring."""
    docs, current = {}, None
    lines = (cls.__doc__ or "").split("Attributes:", 1)[-1].splitlines()
    for line in lines:
        head, _, rest = line.strip().partition(": ")
        if line.startswith(" " * 6) and head.isidentifier() and rest:
            current, docs[head] = head, rest
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return docs


def add_dataclass_options(parser, cls, group_title: str, defaults: dict | None = None) -> None:
    group = parser.add_argument_group(group_title)
    docs = _field_docs(cls)
    for field in dataclasses.fields(cls):
        default = (defaults or {}).get(field.name, field.default)
        flag = "--" + field.name.replace("_", "-")
        doc = docs.get(field.name, "").replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{doc} (default: {default})")
            continue
        kind = type(default) if isinstance(default, (int, float, str)) else tuple
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        metavar = "N,N,..." if kind is tuple else kind.__name__.upper()
        group.add_argument(flag, dest=field.name, default=None, metavar=metavar,
                           type=lambda text, k=kind, f=flag: _typed(k, text, f), help=f"{doc} (default: {shown})")


def _typed(kind, text, flag):
    try:
        return _parse_value(kind, text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{flag} expects {getattr(kind, '__name__', 'a comma list')}, got {text!r}") from None


def build(cls, args, defaults: dict | None = None):
    """An instance of the config dataclass `cls` from parsed options (unset options: `defaults`, then
    the dataclass's own defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if getattr(args, f.name, None) is not None}
    return cls(**{**(defaults or {}), **values})


def summary(cls) -> str:
    """The first sentence of a config class's docstring (the model's line in `jaxae train --help`)."""
    first = (cls.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(first.split())
