"""The guide's claims and the declared rule that judges each part of each claim.

``data/claims.yaml`` lists every quantitative claim of the guide (paraphrased, with its line in
the seed text) and splits it into *parts*, each with the verdict rule that judges it
(:mod:`clusterstats.rules`), the rule's thresholds, why those thresholds read the guide's words
fairly, and the alternative thresholds the verdict is re-judged under (its sensitivity)::

    - id: C08
      claim: "... most have between 10 and 30 members."
      parts:
        - id: C08.range
          says: "members mainly between 10 and 30"
          rule: interval_inside
          thresholds: {low: 0.5, high: 1.0}
          justification: "'mainly' read as more than half of the clusters ..."
          sensitivity: {low: [0.5, 0.6, 0.667]}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import _paths

__all__ = ["ClaimPart", "Claim", "load", "part", "claim_numbers", "ClaimsError"]


class ClaimsError(ValueError):
    """``data/claims.yaml`` is malformed; the message names the claim and the field."""


@dataclass(frozen=True)
class ClaimPart:
    id: str
    claim_id: str
    says: str
    rule: str
    thresholds: dict[str, Any] = field(default_factory=dict)
    justification: str = ""
    sensitivity: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    id: str
    topic: str
    claim: str
    seed_lines: str
    hypotheses: tuple[str, ...]
    parts: tuple[ClaimPart, ...] = ()


def _path(path: str | Path | None) -> Path:
    return Path(path) if path is not None else _paths.data_dir() / "claims.yaml"


def _part(claim_id: str, raw: dict[str, Any], where: str) -> ClaimPart:
    from .rules import RULES

    missing = [k for k in ("id", "says", "rule", "justification") if not raw.get(k)]
    if missing:
        raise ClaimsError(f"{where}: part {raw.get('id', '?')} lacks {', '.join(missing)}")
    if raw["rule"] not in RULES:
        raise ClaimsError(f"{where}: part {raw['id']} names unknown rule {raw['rule']!r}; "
                          f"known: {', '.join(sorted(RULES))}")
    bad_keys = [k for k in (raw.get("thresholds") or {}) if not isinstance(k, str)]
    if bad_keys:
        raise ClaimsError(f"{where}: part {raw['id']} has threshold keys that are not names "
                          f"{bad_keys!r} (YAML reads a bare null/true/false key as a value: quote it)")
    if not str(raw["id"]).startswith(claim_id + "."):
        raise ClaimsError(f"{where}: part id {raw['id']!r} must start with {claim_id}.")
    return ClaimPart(id=str(raw["id"]), claim_id=claim_id, says=str(raw["says"]), rule=raw["rule"],
                     thresholds=dict(raw.get("thresholds") or {}),
                     justification=str(raw["justification"]).strip(),
                     sensitivity={k: list(v) for k, v in (raw.get("sensitivity") or {}).items()})


def load(path: str | Path | None = None) -> dict[str, Claim]:
    """Every claim of ``data/claims.yaml`` by id, with its parts (checked: known rules, ids)."""
    path = _path(path)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, Claim] = {}
    for raw in doc.get("claims", []):
        cid = str(raw["id"])
        if cid in out:
            raise ClaimsError(f"{path}: duplicate claim id {cid}")
        parts = tuple(_part(cid, p, f"{path}: claim {cid}") for p in raw.get("parts") or [])
        ids = [p.id for p in parts]
        if len(set(ids)) != len(ids):
            raise ClaimsError(f"{path}: claim {cid} has duplicate part ids")
        out[cid] = Claim(id=cid, topic=str(raw.get("topic", "")), claim=str(raw["claim"]),
                         seed_lines=str(raw.get("seed_lines", "")),
                         hypotheses=tuple(raw.get("hypotheses") or ()), parts=parts)
    return out


def part(part_id: str, path: str | Path | None = None) -> ClaimPart:
    """One claim part by id, e.g. ``part("C08.range")``."""
    claim_id = part_id.split(".", 1)[0]
    claims = load(path)
    if claim_id not in claims:
        raise KeyError(f"no claim {claim_id} in claims.yaml")
    for p in claims[claim_id].parts:
        if p.id == part_id:
            return p
    raise KeyError(f"claim {claim_id} has no part {part_id}; parts: "
                   f"{', '.join(p.id for p in claims[claim_id].parts) or 'none'}")


def claim_numbers(path: str | Path | None = None) -> set[str]:
    """Every number written anywhere in ``claims.yaml`` (the guide's claimed values, thresholds),
    as text: the numbers a notebook's prose may quote."""
    import re

    text = _path(path).read_text(encoding="utf-8")
    return set(re.findall(r"\d+(?:\.\d+)?", text))
