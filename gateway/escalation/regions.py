"""The seven coordinator regions and the counties and places people name for them.

regions.yml (next to this file) is the source; `sync_regions` copies it into the region and
region_area tables, and `find_region` maps what a person wrote ("jag bor i Malmo") to a region.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.conversations.keywords import normalise
from gateway.escalation.models import Region, RegionArea

REGIONS_FILE = Path(__file__).with_name("regions.yml")


@dataclass(frozen=True)
class RegionSpec:
    code: str
    name: str
    # normalised key -> display name (first spelling listed in the YAML)
    areas: dict[str, str] = field(default_factory=dict)


def area_key(name: str) -> str:
    """The stored key of a county or place: keywords.normalise with single spaces."""
    return " ".join(normalise(name).split())


def load_regions(path: Path = REGIONS_FILE) -> list[RegionSpec]:
    """Read and check regions.yml: seven distinct codes, every key in one region only."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    specs: list[RegionSpec] = []
    owner: dict[str, str] = {}
    for entry in data["regions"]:
        code, name = str(entry["code"]), str(entry["name"])
        if code in {s.code for s in specs}:
            raise ValueError(f"{path.name}: region {code!r} is listed twice")
        areas: dict[str, str] = {}
        for area in [*(entry.get("counties") or []), *(entry.get("places") or [])]:
            area = " ".join(str(area).split())
            key = area_key(area)
            if not key or len(key) > 64 or len(area) > 64:
                raise ValueError(f"{path.name}: bad area name {area!r} in {code}")
            if owner.get(key, code) != code:
                raise ValueError(
                    f"{path.name}: {area!r} is listed in both {owner[key]} and {code}"
                )
            owner[key] = code
            areas.setdefault(key, area)
        specs.append(RegionSpec(code=code, name=name, areas=areas))
    return specs


def sync_regions(session: Session, path: Path = REGIONS_FILE) -> int:
    """Make the region and region_area tables match regions.yml.

    Inserts and updates regions and areas, and deletes areas no longer in the file (regions are
    never deleted: escalations, staff and shifts refer to them). Returns the number of rows
    inserted, changed or deleted, so a second run returns 0.
    """
    specs = load_regions(path)
    changes = 0
    existing_regions = {r.code: r for r in session.scalars(select(Region))}
    for spec in specs:
        region = existing_regions.get(spec.code)
        if region is None:
            session.add(Region(code=spec.code, name=spec.name))
            changes += 1
        elif region.name != spec.name:
            region.name = spec.name
            changes += 1
    session.flush()  # regions exist before areas refer to them

    wanted = {key: (name, spec.code) for spec in specs for key, name in spec.areas.items()}
    existing_areas = {a.key: a for a in session.scalars(select(RegionArea))}
    for key, (name, code) in wanted.items():
        area = existing_areas.get(key)
        if area is None:
            session.add(RegionArea(key=key, name=name, region_code=code))
            changes += 1
        elif (area.name, area.region_code) != (name, code):
            area.name, area.region_code = name, code
            changes += 1
    stale = [key for key in existing_areas if key not in wanted]
    if stale:
        session.execute(delete(RegionArea).where(RegionArea.key.in_(stale)))
        changes += len(stale)
    session.flush()
    return changes


# After a name of 5+ letters: up to 4 more letters (Polish "w Göteborgu", Hungarian
# "Göteborgban", Russian "в Стокгольме", Swedish genitive "Malmös") or a Swedish compound
# ("Göteborgsområdet", "Skånetrakten"). Shorter names only take the genitive s ("Lunds").
_LONG_TAIL = r"(?:[^\W\d_]{0,4}|s?(?:omradet|trakten|regionen|kommun|lan))"
_SHORT_TAIL = r"s?"


@lru_cache(maxsize=2048)
def _pattern(key: str) -> re.Pattern[str]:
    # Whole words from the start (so "koping" is not found inside "jonkoping").
    tail = _LONG_TAIL if len(key) >= 5 else _SHORT_TAIL
    return re.compile(rf"(?<!\w){re.escape(key)}{tail}(?!\w)")


def find_region(session: Session, text: str) -> str | None:
    """The region code for a county, place or region a person names in `text`, or None.

    The text is normalised like the keys (case, å/ä/ö). A key counts where a word starts with
    it (with a short ending, see _LONG_TAIL); the longest key found wins. A region's own name or code counts when it is the whole text ("Väst",
    "nord") or written as "region X" / "X region"; not inside a sentence, because "mitt",
    "syd", "nord" and "ost" are also ordinary Swedish words.
    """
    cleaned = area_key(text)
    if not cleaned:
        return None
    regions = session.execute(select(Region.code, Region.name)).all()
    candidates: dict[str, str] = {}
    for code, name in regions:
        for word in {code, area_key(name)}:
            if cleaned == word:
                return code
            for phrase in (f"region {word}", f"regionen {word}", f"{word} region",
                           f"{word} regionen"):
                candidates[phrase] = code
    for key, code in session.execute(select(RegionArea.key, RegionArea.region_code)):
        candidates[key] = code
    for key in sorted(candidates, key=lambda k: (-len(k), k)):
        if _pattern(key).search(cleaned):
            return candidates[key]
    return None
