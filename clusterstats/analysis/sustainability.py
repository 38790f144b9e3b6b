"""H2 (claim C06): are clusters founded in the call window less often still functioning?

The guide (seed lines 174 and 187-191): many clusters were created during EU-funded projects and
stop operating once the projects end; project-driven formation threatens sustainability. This
module is the declared hypothesis :data:`hypothesis` of ``notebooks/h2_sustainability.ipynb``
(``clusterstats.analysis.formation.run_h2`` is a thin wrapper kept as a contract).

Tests
    * Fisher's exact test, one-sided (H1: founded in the call window -> more often not
      functioning), with the conditional odds ratio and its exact CI (Fisher 1935; Cornfield
      1956) — the primary row of C06;
    * a logistic regression of "not functioning" on the founding year (descriptive second view;
      Agresti 2013, ch. 5);
    * power: the smallest share not functioning among call-window clusters that the one-sided
      Fisher test detects with 80 % power at these group sizes, exactly and by the normal
      approximation (:func:`clusterstats.stats.association.detectable_difference`), so an
      "inconclusive" verdict is backed by a number.

Data: BSMEPA's functioning status as the guide's authors recorded it in early 2018, for the
clusters with a founding year (``data/registry/``).
"""
from __future__ import annotations

import pandas as pd

from .. import claims
from ..calls import call_window
from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..params import check_alpha
from ..stats import association
from ._common import finish_rows
from .formation import (CALL_2016, GUIDE_DATE, SELECTION_CAVEAT, SOURCE_REGISTERS, founding_years,
                        is_active)

NOTEBOOK = "h2_sustainability.ipynb"
CLAIM_ID = "C06"
CLAIM = claims.load()[CLAIM_ID].claim
DEFAULTS = dict(window_call=CALL_2016, window_kind="incentive", alpha=0.05)
POWER = 0.8
PART = "C06.window_clusters_stop"


def check_parameters(window_call=CALL_2016, window_kind="incentive", alpha=0.05) -> dict:
    """Validate H2's parameters; an unknown call or window raises with the valid ones listed."""
    alpha = check_alpha(alpha)
    call_window(window_call, window_kind)
    return dict(window_call=window_call, window_kind=window_kind, alpha=alpha)


def status_table(window_call: str = CALL_2016, window_kind: str = "incentive") -> tuple[pd.DataFrame, int]:
    """Clusters with a founding year and a stated status: ``active``, ``in_window``,
    ``inactive``; and how many were dropped for having no status."""
    founded = founding_years()
    window = call_window(window_call, window_kind)
    data = founded.dropna(subset=["founding_year"]).copy()
    data["active"] = is_active(data["functioning_status"])
    unstated = int(data["active"].isna().sum())
    data = data.dropna(subset=["active"])
    data["in_window"] = data["founding_year"].astype(int).isin(window.years)
    data["inactive"] = ~data["active"].astype(bool)
    data["founding_year_c"] = data["founding_year"].astype(float) - data["founding_year"].astype(float).mean()
    return data, unstated


def test_rows(data: pd.DataFrame, alpha: float) -> tuple[pd.DataFrame, list[list[int]]]:
    """Fisher (primary), logistic on founding year (descriptive) and the power rows
    (diagnostic) for the 2x2 table call window x not functioning."""
    w, o = data["in_window"], ~data["in_window"]
    table = [[int((w & data.inactive).sum()), int((w & ~data.inactive).sum())],
             [int((o & data.inactive).sum()), int((o & ~data.inactive).sum())]]
    fisher = association.fisher_exact_2x2(table=table, alternative="greater", ci_level=1 - alpha)
    logit = association.logistic_association(data.assign(inactive=data["inactive"].astype(int)),
                                             outcome="inactive", predictors=["founding_year_c"],
                                             ci_level=1 - alpha)
    n1, n0 = sum(table[0]), sum(table[1])
    power = association.detectable_difference(table[1][0] / n0, n1, n0, alpha=alpha, power=POWER)
    power["note"] = (power["note"].astype(str) + f"; observed: {table[0][0]} of {n1} in the window vs "
                     f"{table[1][0]} of {n0} earlier not functioning")
    rows = pd.concat([fisher.assign(part=PART, role="primary"),
                      logit.assign(part=pd.NA, role="descriptive"),
                      power.assign(part=PART, role="diagnostic")], ignore_index=True)
    return rows, table


NARRATIVE = """\
{% set f = row(part="C06.window_clusters_stop", role="primary") %}
{% set pw = row(test="smallest detectable effect (exact Fisher)") %}
{% set pa = row(test="smallest detectable effect (normal approximation)") %}
{% set t = evidence.values.table %}
* **"Clusters formed for project funds stop operating": {{ f.verdict }}.** {{ t[0][0] }} of
  {{ t[0][0] + t[0][1] }} clusters founded in the call window are not (or no longer visibly)
  functioning, against {{ t[1][0] }} of {{ t[1][0] + t[1][1] }} founded earlier: odds ratio
  {{ f.effect|num }} (one-sided lower bound {{ f.ci_low|num }}), one-sided Fisher p = {{ f.p_value|p }}.
  Rule: {{ f.verdict_text }}.
  {% if f.verdict_sensitivity %}
  Under other levels: {{ f.verdict_sensitivity }}.
  {% endif %}
* **What these data could have detected.** With these group sizes the one-sided Fisher test has
  {{ evidence.values.power|pct }} power only if at least {{ pw.effect|pct }} of the call-window
  clusters had stopped (against {{ (t[1][0] / (t[1][0] + t[1][1]))|pct }} of the others; {{ pw.note }});
  the normal approximation says {{ pa.effect|pct }}. A gap smaller than that would most likely go
  unseen, so "inconclusive" here means "too few clusters, too early", not "no problem".
* The status was recorded in early 2018, barely a year after the call opened and before any
  funded project had ended: the guide's warning is a forecast these data could not yet test.
"""


class SustainabilityHypothesis(Hypothesis):
    """H2: are clusters founded in the call window less often functioning? (claim C06)"""

    id, notebook, claims = "H2", NOTEBOOK, (CLAIM_ID,)
    defaults = DEFAULTS
    title = "Are clusters born in the call window less sustainable?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        data, unstated = status_table(p["window_call"], p["window_kind"])
        rows, table = test_rows(data, p["alpha"])
        caveats = (f"{SELECTION_CAVEAT}; status as recorded by the guide's authors in early 2018, barely "
                   f"a year after the call, too early to see post-project decline; n = {len(data)} with a "
                   f"founding year and a stated status ({unstated} without a status dropped); Trade "
                   "Register statuses (liquidation/insolvency) exist for too few entries to test")
        rows["claim_id"], rows["claim"], rows["caveats"] = CLAIM_ID, CLAIM, caveats
        rows["h0"] = "clusters founded in the call window are as often functioning as others"
        rows["h1"] = "clusters founded in the call window are less often functioning"
        rows = finish_rows(rows, hypothesis="H2", notebook=NOTEBOOK, parameters=p,
                           data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE, run_id=ctx.name)
        tables = {"status_by_window": data[["cluster_id", "name_latin", "founding_year",
                                            "functioning_status", "active", "in_window"]],
                  "table2x2": pd.DataFrame(table, index=["in window", "other years"],
                                           columns=["inactive", "active"])}
        return Evidence(rows=rows, tables=tables, notes=[caveats], sources=[SOURCE_REGISTERS],
                        vintage=GUIDE_DATE, parameters=p,
                        values={"table": table, "unstated": unstated, "power": POWER})



#: the declared hypothesis of ``notebooks/h2_sustainability.ipynb``
hypothesis = SustainabilityHypothesis()


def run(**parameters) -> Evidence:
    """Run H2 (compute and judge, nothing written); parameters as :data:`DEFAULTS`."""
    return hypothesis.run(**parameters)
