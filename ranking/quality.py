"""What the quality figures say about each rater (issue 5; issue 18, point 4): the
checks behind the dashboard's flags, the agreement report's annotator rows and the
exports' "leave out flagged raters".

Two flags need gold or a clock; four need neither, so they work from a project's first
day:

- `low_gold`: gold accuracy under the project's `gold_threshold`.
- `too_fast`: a median time an item under the project's `min_median_seconds`.
- `low_consensus`: agreement with the leave-one-out consensus of the other raters whose
  one-sided 95% upper bound is under the project's `consensus_threshold`: a rater is
  flagged only when even the best the evidence allows is too low.
- `position_bias`: the response shown first is put in the best group more often than
  chance (a one-sided test at POSITION_ALPHA) and by at least POSITION_MARGIN.
- `straight_lining`: STRAIGHT_SHARE of the rated items give every response the same
  rating on every criterion.
- `contradicts_ranking`: CONTRADICTION_SHARE of the pairs ranked apart have their mean
  ratings the other way round.

Each rests on enough items (MIN_EVIDENCE for the first two, TESTED_EVIDENCE for the
rest). The thresholds were chosen on simulated raters (tests/test_quality.py): a random
rater and one who tops the first-shown response 85% of the time are flagged without any
gold, honest raters with realistic noise in under 5% of runs. docs/decisions.md says why.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, SupportsFloat

import numpy as np

from core import statistics as st
from labelling.models import Project

if TYPE_CHECKING:
    from ranking.agreement import Labels

MIN_EVIDENCE = 3  # items before low_gold or too_fast: one bad item says little
TESTED_EVIDENCE = 10  # items before the checks that rest on a rate
CONSENSUS_CONFIDENCE = 0.95
POSITION_ALPHA = 0.001
POSITION_MARGIN = 0.10
STRAIGHT_SHARE = 0.8
CONTRADICTION_SHARE = 0.25

FLAGS = (
    "low_gold",
    "too_fast",
    "low_consensus",
    "position_bias",
    "straight_lining",
    "contradicts_ranking",
)


@dataclass
class RaterCheck:
    """One rater's figures and flags; None where the rater has nothing to measure."""

    n: int
    n_gold: int
    gold_accuracy: float | None
    median_seconds: float
    consensus: float | None  # pooled agreement with the leave-one-out consensus
    consensus_upper: float | None  # its one-sided upper bound (CONSENSUS_CONFIDENCE)
    consensus_items: int
    position: st.PositionTest | None
    position_items: int
    straight_share: float | None
    rated_items: int
    contradiction_share: float | None
    contradiction_items: int
    flags: list[str]
    # 95% bootstrap intervals over the rater's prompts, when asked for (rater_checks).
    consensus_interval: tuple[float, float] | None = None
    gold_interval: tuple[float, float] | None = None

    def as_row(self) -> dict[str, Any]:
        """The fields the agreement report shows (design §6's annotator rows)."""
        position = self.position
        return {
            "n": self.n,
            "n_gold": self.n_gold,
            "gold_accuracy": rounded(self.gold_accuracy),
            "median_seconds": self.median_seconds,
            "agreement_with_consensus": rounded(self.consensus),
            "agreement_with_consensus_upper": rounded(self.consensus_upper),
            "position_bias": rounded(position.rate) if position else None,
            "position_bias_interval": (
                [rounded(position.interval[0]), rounded(position.interval[1])] if position else None
            ),
            "position_chance": rounded(position.chance) if position else None,
            "position_p_value": rounded(position.p_value) if position else None,
            "straight_lining": rounded(self.straight_share),
            "ratings_contradict_ranking": rounded(self.contradiction_share),
            "flags": self.flags,
            "agreement_with_consensus_interval": rounded_interval(self.consensus_interval),
            "gold_accuracy_interval": rounded_interval(self.gold_interval),
        }


def rater_checks(
    labels: "Labels", *, project: Project, resamples: int = 0, seed: int = 0
) -> dict[int, RaterCheck]:
    """Every rater's checks, by user id. `low_consensus` compares a rater with the others
    in `labels`; every other check rests on the rater's own labels. With `resamples`,
    the consensus and gold figures get bootstrap intervals over the rater's prompts."""
    if len(labels.prompt) == 0:
        return {}
    verdicts = labels.verdicts()
    agree, decided = st.consensus_counts(labels.prompt, verdicts)
    gold_hits = (verdicts == labels.gold_verdicts).sum(axis=1)
    n_pairs = verdicts.shape[1]
    ranked = (labels.ranks > 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        best_share = np.where(ranked > 0, (labels.ranks == 1).sum(axis=1) / ranked, 0.0)
    rated, straight = st.straight_lined(labels.ratings, len(labels.prompt))
    scales = {c["key"]: (c["scale"][0], c["scale"][1]) for c in project.criteria}
    means = st.rating_means({k: v for k, v in labels.ratings.items() if k in scales}, scales)
    contradicting, comparable = st.rating_contradictions(labels.ranks, means)

    checks = {}
    for user_id in np.unique(labels.annotator):
        mine = labels.annotator == user_id
        gold = mine & labels.has_gold
        counted = mine & (decided > 0)
        shown = mine & labels.first_shown_known
        mine_rated = mine & rated
        compared = mine & (comparable > 0)
        consensus = (
            st.ratio_upper_bound(agree[counted], decided[counted], confidence=CONSENSUS_CONFIDENCE)
            if counted.any()
            else None
        )
        check = RaterCheck(
            n=int(mine.sum()),
            n_gold=int(gold.sum()),
            gold_accuracy=float(gold_hits[gold].sum() / (gold.sum() * n_pairs))
            if gold.any()
            else None,
            median_seconds=float(np.median(labels.seconds[mine])),
            consensus=consensus[0] if consensus else None,
            consensus_upper=consensus[1] if consensus else None,
            consensus_items=int(counted.sum()),
            position=(
                st.position_test(labels.first_shown_best[shown], best_share[shown])
                if shown.any()
                else None
            ),
            position_items=int(shown.sum()),
            straight_share=float(straight[mine_rated].mean()) if mine_rated.any() else None,
            rated_items=int(mine_rated.sum()),
            contradiction_share=(
                float(contradicting[compared].sum() / comparable[compared].sum())
                if compared.any()
                else None
            ),
            contradiction_items=int(compared.sum()),
            flags=[],
        )
        check.flags = _flags(check, project)
        if resamples and counted.any():
            check.consensus_interval = st.bootstrap_ratio_interval(
                agree[counted], decided[counted], resamples=resamples, seed=seed
            )
        if resamples and gold.any():
            check.gold_interval = st.bootstrap_ratio_interval(
                gold_hits[gold], np.full(gold.sum(), n_pairs), resamples=resamples, seed=seed
            )
        checks[int(user_id)] = check
    return checks


def _flags(check: RaterCheck, project: Project) -> list[str]:
    raised = {
        "low_gold": check.n_gold >= MIN_EVIDENCE
        and check.gold_accuracy is not None
        and check.gold_accuracy < project.gold_threshold,
        "too_fast": check.n >= MIN_EVIDENCE and check.median_seconds < project.min_median_seconds,
        "low_consensus": check.consensus_items >= TESTED_EVIDENCE
        and check.consensus_upper is not None
        and check.consensus_upper < project.consensus_threshold,
        "position_bias": check.position_items >= TESTED_EVIDENCE
        and check.position is not None
        and check.position.p_value < POSITION_ALPHA
        and check.position.rate >= check.position.chance + POSITION_MARGIN,
        "straight_lining": check.rated_items >= TESTED_EVIDENCE
        and check.straight_share is not None
        and check.straight_share >= STRAIGHT_SHARE,
        "contradicts_ranking": check.contradiction_items >= TESTED_EVIDENCE
        and check.contradiction_share is not None
        and check.contradiction_share >= CONTRADICTION_SHARE,
    }
    return [flag for flag in FLAGS if raised[flag]]


def rounded_interval(bounds: tuple[float, float] | None) -> list[float | None] | None:
    """An interval as reports show it: both ends to four places, None for none."""
    return None if bounds is None else [rounded(bounds[0]), rounded(bounds[1])]


def rounded(value: SupportsFloat | None) -> float | None:
    """A figure as reports show it: four places, None for a missing or undefined one."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else round(value, 4)
