"""The built-in catalogue of drone types, weapons and platforms (``seeds/catalogue.yaml``).

The catalogue is sourced data shipped with the package: every entry carries the fields of
:class:`~sim.scenario.DroneType`, :class:`~sim.scenario.Weapon` or :class:`~sim.scenario.Platform`
and a ``sources`` mapping saying where each number comes from. A scenario names entries by id and
may override single fields (see :func:`sim.scenario.merge_catalogue`).

A catalogue that cannot be read or does not validate is a bug in the package, not in the user's
input, so it raises :class:`~sim.errors.IncursionError` naming the entry.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim._paths import seeds_dir
from sim.errors import IncursionError
from sim.scenario import DroneType, Platform, Weapon

__all__ = ["CATALOGUE_KINDS", "catalogue_models", "load_catalogue", "shared_catalogue"]

#: The catalogue's sections and the model of their entries.
CATALOGUE_KINDS: dict[str, type[BaseModel]] = {
    "drone_types": DroneType,
    "weapons": Weapon,
    "platforms": Platform,
}

_FILE = "catalogue.yaml"


@functools.cache
def _raw() -> dict[str, Any]:
    path = seeds_dir() / _FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IncursionError(f"cannot read the built-in catalogue {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IncursionError(f"the built-in catalogue {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise IncursionError(f"the built-in catalogue {path} is not a mapping")
    for kind in CATALOGUE_KINDS:
        if data.get(kind) is None:
            data[kind] = {}
        section = data[kind]
        if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
            raise IncursionError(
                f"the built-in catalogue {path}: '{kind}' must map ids to entries (mappings)"
            )
    return data


def load_catalogue() -> dict[str, Any]:
    """The built-in catalogue as plain data.

    Returns
    -------
    dict
        ``{"drone_types": {id: entry}, "weapons": {...}, "platforms": {...}}`` (and any other
        top-level keys of the file). A fresh deep copy on every call: changing it changes nothing
        for later callers.

    Raises
    ------
    IncursionError
        If the catalogue file is missing, is not YAML, or its sections are not mappings.
    """
    return copy.deepcopy(_raw())


def shared_catalogue() -> dict[str, Any]:
    """The built-in catalogue as :func:`load_catalogue` gives it, without the copy: for callers
    that only read it (validation, which copies the entries it takes). Never modify it."""
    return _raw()


@functools.cache
def _models() -> tuple[dict[str, DroneType], dict[str, Weapon], dict[str, Platform]]:
    raw = _raw()
    out: list[dict[str, Any]] = []
    for kind, model in CATALOGUE_KINDS.items():
        entries: dict[str, Any] = {}
        for ident, entry in raw[kind].items():
            try:
                entries[str(ident)] = model.model_validate(entry)
            except ValidationError as exc:
                details = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}"
                    for e in exc.errors(include_url=False)
                )
                raise IncursionError(
                    f"the built-in catalogue entry {kind}.{ident} is invalid: {details}"
                ) from exc
        out.append(entries)
    return out[0], out[1], out[2]


def catalogue_models() -> tuple[dict[str, DroneType], dict[str, Weapon], dict[str, Platform]]:
    """The built-in catalogue validated with the scenario models.

    Returns
    -------
    tuple of dict
        ``(drone_types, weapons, platforms)``, each mapping id to a frozen model.

    Raises
    ------
    IncursionError
        If an entry does not validate (the message names ``kind.id`` and the fields).
    """
    drones, weapons, platforms = _models()
    return dict(drones), dict(weapons), dict(platforms)
