"""A hypothesis as a declared object: parameters, compute, judge, figures, narrative.

Every analysis module (:mod:`clusterstats.analysis`) declares one :class:`Hypothesis` named
``hypothesis``. A notebook is then five thin steps::

    ctx = h8.HYPOTHESIS.context(low=low, high=high, ..., figures_dir=figures_dir)   # context
    evidence = h8.HYPOTHESIS.compute(ctx)                                            # compute
    evidence.rows                                                                    # show
    judged = h8.HYPOTHESIS.judge(evidence)                                           # judge
    h8.HYPOTHESIS.save(ctx, evidence, judged)                                        # save

* :meth:`Hypothesis.compute` does the statistics and returns :class:`Evidence`: tidy test rows
  (each tagged with the claim ``part`` it tests and its ``role``), tables, fitted models.
  It decides nothing.
* :meth:`Hypothesis.judge` is pure: it adjusts the p-values for multiplicity within each claim's
  family (Holm) and applies, to the *primary* rows of each claim part, the rule that
  ``data/claims.yaml`` declares for it (:mod:`clusterstats.rules`), with the threshold
  sensitivity. Diagnostic and descriptive rows carry no verdict.
* :meth:`Hypothesis.figures` draws from the evidence; :meth:`Hypothesis.save` writes figures and
  rows through the run context, so every file is named from the run.
* :meth:`Hypothesis.narrative` renders the notebook's conclusions from the judged rows through a
  template, so no result number is typed by hand.

Row roles: ``primary`` (tests a declared claim part; judged), ``sensitivity`` (the same test
under another reasonable choice; judged by the same rule but not counted in the claim's verdict),
``diagnostic`` (a model check: dispersion, calibration error, placebo; no verdict),
``descriptive`` (a number for context; no verdict).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import pandas as pd

from . import claims as _claims
from . import rules
from .context import OUTPUT_PARAMETERS, RunContext
from .params import ParameterError
from .stats.multiplicity import adjust_within_families, family_of

__all__ = ["Evidence", "Hypothesis", "ROLES", "JUDGED_ROLES"]

ROLES = ("primary", "sensitivity", "diagnostic", "descriptive")
JUDGED_ROLES = ("primary", "sensitivity")


@dataclass
class Evidence:
    """What :meth:`Hypothesis.compute` found, before any verdict.

    rows       -- test rows in the results schema, each with ``claim_id``, ``part``, ``role``
    tables     -- named tidy frames: the data behind each figure and supporting tables
    models     -- fitted model objects (statsmodels results etc.), kept for inspection
    notes      -- plain-language caveats, in the order a reader needs them
    sources    -- datasets / files used, with vintages (for figure source lines)
    vintage    -- the data vintage in one string
    parameters -- the validated parameters the evidence was computed with
    values     -- named numbers for the narrative (counts, bounds) that are not in ``rows``
    """

    rows: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sources: list[Any] = field(default_factory=list)
    vintage: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


class Hypothesis:
    """Base class of a declared hypothesis; subclasses set the class attributes and implement
    :meth:`_check`, :meth:`compute` and :meth:`figures` (and may set :attr:`narrative_template`).
    """

    id: ClassVar[str]                      # "H8"
    notebook: ClassVar[str]                # "h8_cluster_size.ipynb"
    claims: ClassVar[tuple[str, ...]]      # ("C08",)
    defaults: ClassVar[Mapping[str, Any]]  # the notebook's parameters and their defaults
    title: ClassVar[str] = ""
    narrative_template: ClassVar[str] = ""

    # -- parameters ------------------------------------------------------------------------
    def check(self, **parameters: Any) -> dict[str, Any]:
        """Validate parameters (unknown names and bad values raise ParameterError); returns the
        complete parameter set with defaults filled in."""
        unknown = set(parameters) - set(self.defaults) - OUTPUT_PARAMETERS
        if unknown:
            raise ParameterError(f"{self.id}: unknown parameter(s) {sorted(unknown)}; "
                                 f"valid: {', '.join(sorted(self.defaults))}")
        merged = {**self.defaults, **{k: v for k, v in parameters.items()
                                      if k not in OUTPUT_PARAMETERS}}
        return self._check(**merged)

    def _check(self, **parameters: Any) -> dict[str, Any]:
        """Validate the complete parameter set; a module sets ``_check = staticmethod(its
        check_parameters)``. The default accepts every value."""
        return parameters

    def context(self, **parameters: Any) -> RunContext:
        """The run context for these parameters (output folders may be given as
        ``figures_dir``, ``results_dir``, ``build_dir``)."""
        folders = {k: parameters.pop(k) for k in list(parameters) if k in OUTPUT_PARAMETERS}
        return RunContext.create(self.notebook, self.check(**parameters), self.defaults, **folders)

    # -- the three steps -------------------------------------------------------------------
    def compute(self, ctx: RunContext) -> Evidence:  # pragma: no cover - abstract
        raise NotImplementedError

    def figures(self, evidence: Evidence) -> dict[str, tuple[Any, pd.DataFrame]]:
        """Named figures: ``{figure name: (matplotlib figure, data plotted)}``."""
        return {}

    def judge(self, evidence: Evidence) -> pd.DataFrame:
        """Verdicts for the evidence's rows: multiplicity-adjusted, one declared rule per part."""
        return judge_rows(evidence.rows, self.claims)

    # -- conveniences ----------------------------------------------------------------------
    def run(self, **parameters: Any) -> Evidence:
        """Compute and judge without writing anything (the evidence's rows carry verdicts)."""
        ctx = self.context(**parameters)
        evidence = self.compute(ctx)
        evidence.rows = self.judge(evidence)
        return evidence

    def save(self, ctx: RunContext, evidence: Evidence, judged: pd.DataFrame | None = None,
             *, figures: Mapping[str, tuple[Any, pd.DataFrame]] | None = None) -> dict[str, Any]:
        """Write every figure and the judged rows through ``ctx``, record them in the notebook."""
        judged = self.judge(evidence) if judged is None else judged
        for name, (fig, data) in (figures if figures is not None else self.figures(evidence)).items():
            ctx.save_figure(fig, name, data=data, sources=evidence.sources, vintage=evidence.vintage)
        ctx.write_rows(judged)
        return ctx.finish(judged)

    def narrative(self, judged: pd.DataFrame, evidence: Evidence) -> str:
        """The conclusions in Markdown, rendered from the judged rows (no typed numbers)."""
        from .narrative import render

        return render(self.narrative_template, rows=judged, evidence=evidence,
                      claims=_claims.load(), hypothesis=self)


# ---------------------------------------------------------------------------------------------
# judging rows (pure)
# ---------------------------------------------------------------------------------------------
def _parts_of(claim_ids: tuple[str, ...]) -> dict[str, _claims.ClaimPart]:
    every = _claims.load()
    return {p.id: p for cid in claim_ids if cid in every for p in every[cid].parts}


def judge_rows(rows: pd.DataFrame, claim_ids: tuple[str, ...],
               parts: Mapping[str, _claims.ClaimPart] | None = None,
               apply: Callable[..., rules.Judgement] = rules.judge_part) -> pd.DataFrame:
    """Add ``family``, ``p_holm``, ``rule``, ``verdict``, ``verdict_text`` and
    ``verdict_sensitivity`` to test rows (a copy).

    Rows whose ``role`` is primary or sensitivity and whose ``part`` is declared are judged by
    that part's rule (each row's sensitivity variant on its own; the primary rows of a part
    together); every other row gets no verdict. Rows tagged "not testable offline" keep it.
    """
    parts = _parts_of(claim_ids) if parts is None else parts
    out = rows.copy()
    for col in ("part", "role", "verdict", "verdict_text"):
        if col not in out.columns:
            out[col] = pd.NA
    out["role"] = out["role"].fillna("descriptive")
    bad = set(out["role"]) - set(ROLES)
    if bad:
        raise ValueError(f"unknown row role(s) {sorted(bad)}; valid: {', '.join(ROLES)}")
    # A family is the claim's primary tests within the run. Re-runs of a test under another
    # choice (sensitivity rows) and model checks (diagnostic, descriptive rows) are adjusted in
    # families of their own, so they neither inflate nor join the claim's family.
    out["family"] = family_of(out).where(out["role"] == "primary",
                                         family_of(out) + " (" + out["role"].astype(str) + ")")
    out = adjust_within_families(out, "family")
    out["rule"], out["verdict_sensitivity"] = pd.NA, pd.NA
    untestable = (out["verdict"].astype("string") == rules.NOT_TESTABLE).fillna(False).astype(bool)
    judged = out["role"].isin(JUDGED_ROLES) & out["part"].isin(list(parts)) & ~untestable
    out.loc[~judged & ~untestable, ["verdict", "verdict_text"]] = pd.NA
    for part_id, idx in out[judged].groupby("part", sort=False).groups.items():
        spec = parts[part_id]
        groups = [out.loc[idx][out.loc[idx, "role"] == "primary"].index]
        groups += [[i] for i in idx if out.at[i, "role"] == "sensitivity"]
        for group in groups:
            if len(group) == 0:
                continue
            sub = out.loc[group]
            verdict = apply(sub, spec.rule, spec.thresholds)
            out.loc[group, "verdict"] = verdict.verdict
            out.loc[group, "verdict_text"] = verdict.reason
            out.loc[group, "rule"] = spec.rule
            out.loc[group, "verdict_sensitivity"] = rules.sensitivity(
                sub, spec.rule, spec.thresholds, spec.sensitivity) or pd.NA
    return out
