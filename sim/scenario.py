"""The scenario model: pydantic v2 models of the YAML format (spec section 1).

Units are in the field names; positions are WGS84 degrees, altitudes metres above ground.
Every model forbids unknown fields, so a typo is an error rather than a silently ignored key.

A scenario document names drone types, weapons and platforms that either it defines itself or the
built-in catalogue (``seeds/catalogue.yaml``) provides. :func:`merge_catalogue` fills them in before
validation (a scenario entry with a catalogue name overrides only the fields it gives), so the
validated :class:`Scenario` is complete and self-contained: it is what ``scenario.resolved.yaml``
holds.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pyproj
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sim.geo import BUILTIN_TERRITORIES

__all__ = [
    "MAX_DEFENDERS",
    "MAX_DRONES",
    "MAX_REPLICATIONS",
    "Airbase",
    "Battery",
    "Doctrine",
    "DroneType",
    "EWArea",
    "Geography",
    "LatLon",
    "NoFireZone",
    "Platform",
    "Scenario",
    "Sensor",
    "Source",
    "Wave",
    "Weapon",
    "merge_catalogue",
]

#: Drones in one scenario: a million drones is a typo, not a scenario. The largest raids on
#: record are about 800 drones a night; 20,000 leaves room for studies in bounded memory.
MAX_DRONES = 20_000
#: Replications of one run: beyond this the interval is far narrower than the model's own error.
MAX_REPLICATIONS = 1_000_000
#: Defenders (batteries and airbases) in one scenario.
MAX_DEFENDERS = 2_000
MAX_SENSORS = 1_000
MAX_WAYPOINTS = 200
MAX_DURATION_H = 24 * 14
#: Largest cost (a shot, a drone, a leaker's damage, a flight hour), USD: sums of such costs
#: over a run stay finite (a few 1e308 add up to inf).
MAX_COST_USD = 1e12

#: Names (of the scenario, waves, sensors, defenders, areas, zones): letters, digits, '-' and '_'
#: in any position (spec section 1).
_NAME = r"^[A-Za-z0-9_-]+$"
#: Ids of drone types, weapons and platforms: the same, and '.' after the first character.
_IDENT = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$"

# Numbers and true/false in pydantic's strict mode: YAML already gives them their type, so text
# ("3", "1e4"), true/false for a number and a number or text for true/false are errors rather
# than silently converted. A float field still takes an integer (cost_usd: 1000).
Float = Annotated[float, Strict()]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]

Name = Annotated[str, Field(pattern=_NAME, min_length=1, max_length=100)]
Ident = Annotated[str, Field(pattern=_IDENT, min_length=1, max_length=100)]
Lat = Annotated[Float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, description="degrees north")]
Lon = Annotated[Float, Field(ge=-180.0, le=180.0, allow_inf_nan=False, description="degrees east")]
Prob = Annotated[Float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
NonNeg = Annotated[Float, Field(ge=0.0, allow_inf_nan=False)]
Pos = Annotated[Float, Field(gt=0.0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class Source(_Model):
    """Where a number comes from."""

    source: str = Field(min_length=1, description="document or outlet and what it says")
    year: Int = Field(ge=1900, le=2100)
    estimate: Bool = Field(
        description="true for an analyst estimate, a derived figure or an assumption"
    )
    range: tuple[Float, Float] | None = Field(
        default=None, description="low and high where sources disagree"
    )
    note: str | None = None


class _Catalogued(_Model):
    label: str | None = Field(default=None, description="human-readable name")
    country: str | None = Field(default=None, description="country of manufacture")
    sources: dict[str, Source] = Field(default_factory=dict, description="source per numeric field")

    @model_validator(mode="after")
    def _sources_name_fields(self) -> _Catalogued:
        unknown = sorted(set(self.sources) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"sources name fields that do not exist: {', '.join(unknown)}")
        return self


class DroneType(_Catalogued):
    """An attacking drone type."""

    speed_kmh: Pos = Field(le=5000)
    altitude_m: NonNeg = Field(le=30_000)
    cost_usd: NonNeg = Field(le=MAX_COST_USD)
    endurance_km: Pos = Field(le=20_000, description="distance flown before it comes down")
    rcs_m2: Pos | None = None
    damage_usd: NonNeg = Field(
        default=0.0, le=MAX_COST_USD, description="expected damage if it reaches its aim point"
    )


class Weapon(_Catalogued):
    """A weapon: a missile, a gun burst or an interceptor drone. One shot costs ``cost_usd``."""

    cost_usd: NonNeg = Field(le=MAX_COST_USD)
    pk: Prob = Field(description="probability that one shot kills one drone")
    min_range_km: NonNeg = 0.0
    max_range_km: Pos = Field(le=1000)
    min_altitude_m: NonNeg = 0.0
    max_altitude_m: Pos
    speed_mps: Pos = Field(description="fly-out speed; time of flight = range / speed")
    launched_from: list[str] | None = Field(
        default=None, description="platform ids that carry it, or 'ground' for surface launchers"
    )

    @model_validator(mode="after")
    def _ranges(self) -> Weapon:
        if self.max_range_km <= self.min_range_km:
            raise ValueError(
                f"max_range_km ({self.max_range_km}) must exceed min_range_km ({self.min_range_km})"
            )
        if self.max_altitude_m <= self.min_altitude_m:
            raise ValueError(
                f"max_altitude_m ({self.max_altitude_m}) must exceed min_altitude_m "
                f"({self.min_altitude_m})"
            )
        return self


class Platform(_Catalogued):
    """An aircraft type flown from an airbase."""

    cruise_kmh: Pos = Field(le=5000)
    cost_per_flight_hour_usd: NonNeg = Field(le=MAX_COST_USD)
    endurance_h: Pos = Field(le=48)


class LatLon(_Model):
    """A WGS84 position."""

    lat: Lat
    lon: Lon


class NoFireZone(_Model):
    """Where shooting a drone down is not allowed: a circle or a polygon file."""

    name: Name
    lat: Lat | None = None
    lon: Lon | None = None
    radius_km: Pos | None = None
    polygon: str | None = Field(default=None, description="GeoJSON file, relative to the scenario")

    @model_validator(mode="after")
    def _circle_or_polygon(self) -> NoFireZone:
        circle = (self.lat, self.lon, self.radius_km)
        if self.polygon is not None:
            if any(v is not None for v in circle):
                raise ValueError("give either lat/lon/radius_km or polygon, not both")
        elif any(v is None for v in circle):
            raise ValueError("a no-fire zone needs lat, lon and radius_km, or a polygon file")
        return self

    @field_validator("polygon")
    @classmethod
    def _resolve(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _resolve_path(v, info)


def _resolve_path(v: str | None, info: ValidationInfo) -> str | None:
    if v is None:
        return None
    base = (info.context or {}).get("base_dir")
    p = Path(v).expanduser()
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    return str(p)


class Geography(_Model):
    """The defended territory and the areas where shooting is not allowed."""

    border: str = Field(default="poland", description="built-in territory name or a GeoJSON file")
    no_fire_zones: list[NoFireZone] = Field(default_factory=list, max_length=1000)
    margin_km: NonNeg = Field(
        default=100.0,
        le=5000,
        description="the scenario area is the box around every position given, widened by this; "
        "a drone leaving it has fate 'exited'",
    )

    @field_validator("border")
    @classmethod
    def _border(cls, v: str, info: ValidationInfo) -> str:
        if v.strip().lower() in BUILTIN_TERRITORIES:
            return v.strip().lower()
        return _resolve_path(v, info) or v


class Wave(_Model):
    """Drones of one type launched from one point along one route."""

    name: Name
    type: Ident
    count: Int = Field(ge=1, le=MAX_DRONES)
    launch: LatLon
    launch_time_min: NonNeg | tuple[NonNeg, NonNeg] = Field(
        default=0.0, description="a time, or a window in which launches are uniform at random"
    )
    route: list[LatLon] = Field(
        min_length=1,
        max_length=MAX_WAYPOINTS,
        description="waypoints after launch; the last is the aim point",
    )
    route_spread_km: NonNeg = Field(default=0.0, le=500)
    speed_kmh: Pos | None = Field(default=None, le=5000)
    altitude_m: NonNeg | None = Field(default=None, le=30_000)

    @field_validator("launch_time_min")
    @classmethod
    def _window(cls, v: float | tuple[float, float]) -> float | tuple[float, float]:
        if isinstance(v, tuple) and v[1] < v[0]:
            raise ValueError(f"launch window [{v[0]}, {v[1]}] ends before it starts")
        return v

    @property
    def launch_window_s(self) -> tuple[float, float]:
        """Launch window in seconds (equal ends for a single time)."""
        if isinstance(self.launch_time_min, tuple):
            return self.launch_time_min[0] * 60.0, self.launch_time_min[1] * 60.0
        return self.launch_time_min * 60.0, self.launch_time_min * 60.0


class EWArea(_Model):
    """A jamming / spoofing area that may divert or down drones entering it."""

    name: Name
    lat: Lat
    lon: Lon
    radius_km: Pos = Field(le=2000)
    divert_probability: Prob = 0.0
    divert_deg: tuple[NonNeg, NonNeg] = Field(default=(20.0, 70.0))
    lost_probability: Prob = 0.0

    @model_validator(mode="after")
    def _probs(self) -> EWArea:
        if self.divert_probability + self.lost_probability > 1.0 + 1e-12:
            raise ValueError(
                f"divert_probability + lost_probability = "
                f"{self.divert_probability + self.lost_probability:g} exceeds 1"
            )
        lo, hi = self.divert_deg
        if not lo <= hi <= 180:
            raise ValueError(f"divert_deg [{lo}, {hi}] must satisfy 0 <= low <= high <= 180")
        return self


class Sensor(_Model):
    """A radar (or any sensor) with a detection chance per scan while the target is covered."""

    name: Name
    lat: Lat
    lon: Lon
    range_km: Pos = Field(le=3000)
    antenna_height_m: NonNeg = Field(default=10.0, le=30_000)
    altitude_m: NonNeg | None = Field(
        default=None, le=30_000, description="airborne sensor: antenna at this height"
    )
    scan_s: Pos = Field(default=10.0, le=3600)
    p_detect: Prob = 0.9
    active_h: tuple[NonNeg, NonNeg] | None = Field(
        default=None,
        description="hours from t = 0 during which it is on (e.g. an AEW aircraft's time on "
        "station); default always",
    )

    @field_validator("active_h")
    @classmethod
    def _active(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and v[1] < v[0]:
            raise ValueError(f"active_h [{v[0]:g}, {v[1]:g}] ends before it starts")
        if v is not None and v[1] == v[0]:
            # an instant, not a time on station: the sensor would get a scan only if one fell
            # exactly on it, which is almost certainly not what was meant
            raise ValueError(
                f"active_h [{v[0]:g}, {v[1]:g}] is empty: it must end after it starts "
                "(omit it for a sensor that is always on)"
            )
        return v

    @property
    def antenna_m(self) -> float:
        """Height of the antenna above ground used for the radar horizon."""
        return self.altitude_m if self.altitude_m is not None else self.antenna_height_m


class Battery(_Model):
    """A ground battery: SAM, gun or interceptor-drone launcher."""

    kind: Literal["battery"]
    name: Name
    weapon: Ident
    lat: Lat
    lon: Lon
    magazine: Int = Field(ge=0, le=100_000, description="ready rounds")
    reload_min: Pos | None = Field(default=None, description="time to refill an empty magazine")
    channels: Int = Field(default=1, ge=1, le=1000, description="simultaneous engagements")
    reaction_s: NonNeg = Field(default=20.0, le=86_400, description="assignment to first shot")
    defended_radius_km: Pos | None = Field(
        default=None,
        le=5000,
        description="point defence: engage only drones whose aim point lies within this distance "
        "of the battery; default: any drone in reach",
    )


class Airbase(_Model):
    """Fighters (or helicopters) on quick-reaction alert."""

    kind: Literal["airbase"]
    name: Name
    platform: Ident
    lat: Lat
    lon: Lon
    aircraft: Int = Field(ge=1, le=1000)
    scramble_min: NonNeg = Field(default=15.0, le=1440, description="assignment to wheels-up")
    loadout: dict[Ident, Annotated[Int, Field(ge=0, le=100)]] = Field(
        min_length=1, description="rounds of each weapon per aircraft"
    )
    turnaround_min: NonNeg = Field(default=60.0, le=1440, description="landed to ready again")
    p_acquire: Prob = Field(
        default=1.0,
        description="chance that an aircraft sent to a drone finds and identifies it (a small, "
        "slow target at night); if not, it takes no shot at that drone",
    )

    @field_validator("loadout")
    @classmethod
    def _some_rounds(cls, v: dict[str, int]) -> dict[str, int]:
        if sum(v.values()) == 0:
            raise ValueError("the loadout carries no rounds")
        return v


Defender = Annotated[Battery | Airbase, Field(discriminator="kind")]


class Doctrine(_Model):
    """Rules of engagement and fire doctrine."""

    engage_only_inside_border: Bool = True
    max_shots_per_target: Int = Field(
        default=2, ge=1, le=100, description="per defender engaging one drone"
    )
    shoot_look_shoot: Bool = True
    assessment_s: NonNeg = Field(default=10.0, le=3600)
    assignment: Literal["cheapest", "nearest", "layered"] = "cheapest"
    max_defenders_per_target: Int = Field(
        default=1, ge=1, le=100, description="defenders engaging one drone at once"
    )


class Scenario(_Model):
    """A complete, validated scenario."""

    name: Name
    description: str = ""
    seed: Int = Field(default=0, ge=0, lt=2**63)
    replications: Int = Field(default=1, ge=1, le=MAX_REPLICATIONS)
    duration_h: Pos = Field(le=MAX_DURATION_H)
    start: dt.datetime | None = None
    geography: Geography = Field(default_factory=Geography)
    drone_types: dict[Ident, DroneType] = Field(default_factory=dict)
    waves: list[Wave] = Field(min_length=1, max_length=1000)
    electronic_warfare: list[EWArea] = Field(default_factory=list, max_length=1000)
    sensors: list[Sensor] = Field(default_factory=list, max_length=MAX_SENSORS)
    defenders: list[Defender] = Field(default_factory=list, max_length=MAX_DEFENDERS)
    weapons: dict[Ident, Weapon] = Field(default_factory=dict)
    platforms: dict[Ident, Platform] = Field(default_factory=dict)
    doctrine: Doctrine = Field(default_factory=Doctrine)

    @field_validator("start", mode="before")
    @classmethod
    def _start_is_a_time(cls, v: Any) -> Any:
        # Lax mode reads a number as seconds since 1970; YAML dates and ISO text stay accepted
        # (strict mode would refuse the text that a resolved scenario writes back out).
        if isinstance(v, int | float):
            raise PydanticCustomError("datetime_type", "Input should be a valid datetime")
        return v

    @model_validator(mode="after")
    def _cross_references(self, info: ValidationInfo) -> Scenario:
        # The built-in catalogue's ids (the loader passes them): an unknown id's message lists
        # what the user can name, not only what the scenario itself defines.
        builtin = (info.context or {}).get("catalogue_ids") or {}

        def known(kind: str, own: dict[str, Any]) -> str:
            ids = set(own) | set(builtin.get(kind, ()))
            return ", ".join(sorted(ids, key=str)) or "none"

        errors: list[str] = []
        for label, items in (
            ("waves", self.waves),
            ("sensors", self.sensors),
            ("defenders", self.defenders),
            ("electronic_warfare", self.electronic_warfare),
            ("geography.no_fire_zones", self.geography.no_fire_zones),
        ):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    errors.append(f"{label}: the name {item.name!r} is used twice")
                seen.add(item.name)
        total = sum(w.count for w in self.waves)
        if total > MAX_DRONES:
            errors.append(
                f"waves: they launch {total} drones in all, over the limit of {MAX_DRONES}"
            )
        horizon_min = self.duration_h * 60.0
        for i, w in enumerate(self.waves):
            if w.type not in self.drone_types:
                errors.append(
                    f"waves[{i}].type: unknown drone type {w.type!r} "
                    f"(known: {known('drone_types', self.drone_types)})"
                )
            if w.launch_window_s[1] / 60.0 > horizon_min:
                errors.append(
                    f"waves[{i}].launch_time_min: launches after the horizon ({horizon_min:g} min)"
                )
            if _route_length_m(w) == 0.0:
                errors.append(
                    f"waves[{i}].route: the route has zero length: every waypoint is the launch "
                    f"point (lat {w.launch.lat:g}, lon {w.launch.lon:g}), so each drone would "
                    "reach its aim point at launch without flying; give at least one waypoint "
                    "away from the launch point"
                )
        for i, sensor in enumerate(self.sensors):
            if sensor.active_h is not None and sensor.active_h[0] >= self.duration_h:
                errors.append(
                    f"sensors[{i}].active_h: it starts at {sensor.active_h[0]:g} h, at or after "
                    f"the end of the run (duration_h: {self.duration_h:g}), so the sensor would "
                    f"never switch on; expected a start before {self.duration_h:g} h"
                )
        for i, d in enumerate(self.defenders):
            if isinstance(d, Battery):
                if d.weapon not in self.weapons:
                    errors.append(
                        f"defenders[{i}].weapon: unknown weapon {d.weapon!r} "
                        f"(known: {known('weapons', self.weapons)})"
                    )
                else:
                    lf = self.weapons[d.weapon].launched_from
                    if lf is not None and "ground" not in lf:
                        errors.append(
                            f"defenders[{i}].weapon: {d.weapon!r} is not a ground-launched "
                            f"weapon (launched_from: {', '.join(lf)})"
                        )
            else:
                platform_known = d.platform in self.platforms
                if not platform_known:
                    errors.append(
                        f"defenders[{i}].platform: unknown platform {d.platform!r} "
                        f"(known: {known('platforms', self.platforms)})"
                    )
                for w in d.loadout:
                    if w not in self.weapons:
                        errors.append(
                            f"defenders[{i}].loadout.{w}: unknown weapon {w!r} "
                            f"(known: {known('weapons', self.weapons)})"
                        )
                        continue
                    lf = self.weapons[w].launched_from
                    if lf is not None and platform_known and d.platform not in lf:
                        errors.append(
                            f"defenders[{i}].loadout.{w}: {w!r} is not carried by "
                            f"platform {d.platform!r} (launched_from: {', '.join(lf)})"
                        )
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def with_changes(self, changes: dict[str, Any]) -> Scenario:
        """A validated copy with fields changed by dotted path.

        ``scenario.with_changes({"waves.north.count": 40, "weapons.aim9x.cost_usd": 5e5})``;
        list items are addressed by name (or index; a digit part that is one item's name and
        another's index is refused as ambiguous). Every path names a field of this scenario, and
        no two may set the same field or one inside the other. Raises ``ScenarioError`` naming
        the path if it does not exist, is ambiguous or collides with another, or the new value is
        not valid.
        """
        from sim.loader import with_changes

        return with_changes(self, changes)

    @property
    def total_drones(self) -> int:
        """Drones launched in one replication."""
        return sum(w.count for w in self.waves)

    @property
    def duration_s(self) -> float:
        """Simulated horizon in seconds."""
        return self.duration_h * 3600.0


_GEOD = pyproj.Geod(ellps="WGS84")


def _route_length_m(wave: Wave) -> float:
    """WGS84 geodesic length of a wave's route from its launch point, metres (pyproj, not the
    compiled geodesics: validating loads no numba)."""
    lon = [wave.launch.lon, *(p.lon for p in wave.route)]
    lat = [wave.launch.lat, *(p.lat for p in wave.route)]
    return float(_GEOD.line_length(lon, lat))


_CATALOGUED = ("drone_types", "weapons", "platforms")


def merge_catalogue(document: dict[str, Any], catalogue: dict[str, Any]) -> dict[str, Any]:
    """Fill in the catalogue entries a scenario document uses, and apply its overrides.

    Parameters
    ----------
    document : dict
        A parsed scenario document (not modified).
    catalogue : dict
        The catalogue: ``{"drone_types": {...}, "weapons": {...}, "platforms": {...}}``.

    Returns
    -------
    dict
        A copy of ``document`` whose ``drone_types``, ``weapons`` and ``platforms`` hold every entry
        the document references or defines, a catalogue entry overridden field by field by the
        document's entry of the same name. Names that exist nowhere are left for validation to
        report.
    """
    if not isinstance(document, dict):
        return document
    doc = copy.deepcopy(document)
    wanted: dict[str, set[str]] = {k: set() for k in _CATALOGUED}
    for w in doc["waves"] if isinstance(doc.get("waves"), list) else []:
        if isinstance(w, dict) and isinstance(w.get("type"), str):
            wanted["drone_types"].add(w["type"])
    for d in doc["defenders"] if isinstance(doc.get("defenders"), list) else []:
        if not isinstance(d, dict):
            continue
        if isinstance(d.get("weapon"), str):
            wanted["weapons"].add(d["weapon"])
        if isinstance(d.get("platform"), str):
            wanted["platforms"].add(d["platform"])
        if isinstance(d.get("loadout"), dict):
            wanted["weapons"].update(k for k in d["loadout"] if isinstance(k, str))
    for key in _CATALOGUED:
        own = doc.get(key)
        if own is None:
            own = {}
        if not isinstance(own, dict):
            continue  # validation reports the wrong type
        cat = catalogue.get(key, {})
        merged: dict[str, Any] = {}
        for name in sorted(wanted[key] | set(own), key=str):
            base = copy.deepcopy(cat.get(name, {}))
            override = own.get(name)
            if isinstance(override, dict):
                # A catalogue source no longer describes a value the scenario replaced.
                srcs = {k: v for k, v in (base.get("sources") or {}).items() if k not in override}
                own_sources = override.get("sources")
                if isinstance(own_sources, dict):
                    srcs.update(own_sources)
                base.update(override)
                # Sources that are not a mapping (text, a list) stay for validation to report.
                if own_sources is None or isinstance(own_sources, dict):
                    if srcs:
                        base["sources"] = srcs
                    else:
                        base.pop("sources", None)
            elif override is not None:
                base = override  # wrong type: let validation say so
            if base != {} or name in own:
                merged[name] = base
        if merged or key in doc:
            doc[key] = merged
    return doc


def is_valid_name(name: str) -> bool:
    """Whether ``name`` is a valid scenario/wave/defender name."""
    return re.match(_NAME, name) is not None
