"""Agreement statistics as plain functions over numpy arrays (design §7).

Nothing here touches the database: selectors build the arrays, these functions compute.
Every function is vectorised; none loops over annotations in Python.

Verdicts: for a pair of responses (a, b) with a < b, an annotation's verdict is +1 if it
ranked a above b, -1 if below, 0 for a tie.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np

Level = Literal["nominal", "ordinal", "interval", "ratio"]


# --- Krippendorff's alpha ------------------------------------------------------------------


def value_counts(
    units: np.ndarray,
    values: np.ndarray,
    domain: np.ndarray | None = None,
    n_units: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The counts matrix of reliability data in long form.

    `units[i]` is the unit (0..U-1) of the i-th pairable value `values[i]` (one rater's
    value for that unit). Returns (counts, domain): counts[u, c] is how many raters gave
    unit u the c-th value of the sorted `domain` (the values seen, unless a domain is
    given, as coincidence matrices that are summed later must share one), for units
    0..n_units-1 (default: up to the highest unit seen).
    """
    units = np.asarray(units, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    if domain is None:
        domain, index = np.unique(values, return_inverse=True)
    else:
        domain = np.asarray(domain, dtype=float)
        index = np.searchsorted(domain, values)
        if np.any(index >= len(domain)) or np.any(
            domain[np.minimum(index, len(domain) - 1)] != values
        ):
            raise ValueError("a value is outside the given domain")
    if n_units is None:
        n_units = int(units.max()) + 1 if units.size else 0
    counts = np.bincount(units * len(domain) + index, minlength=n_units * len(domain))
    return counts.reshape(n_units, len(domain)).astype(float), domain


def coincidences(counts: np.ndarray, block: int = 0) -> np.ndarray:
    """Krippendorff's coincidence matrix o[c, k] from a counts matrix (units x values).

    Each unit with m >= 2 values contributes every ordered pair of its values, weighted
    1 / (m - 1) (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability", sec. B).
    With `block`, consecutive runs of `block` units (one prompt's responses) each get a
    matrix of their own (blocks x values x values), whose sum is the whole matrix: the
    bootstrap resamples prompts.
    """
    m = counts.sum(axis=1)
    weighted = np.zeros_like(counts, dtype=float)
    pairable = m >= 2
    weighted[pairable] = counts[pairable] / (m[pairable] - 1)[:, None]
    if not block:
        return weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_values = counts.shape[1]
    w = weighted.reshape(-1, block, n_values)
    c = np.asarray(counts, dtype=float).reshape(-1, block, n_values)
    per_block = np.einsum("pnv,pnw->pvw", w, c)
    diagonal = np.arange(n_values)
    per_block[:, diagonal, diagonal] -= w.sum(axis=1)
    return per_block


def _delta2(domain: np.ndarray, n_c: np.ndarray, level: Level) -> np.ndarray:
    """The squared difference function of each level (Krippendorff 2011, sec. A.4)."""
    c, k = domain[:, None], domain[None, :]
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(d)
    if level == "ordinal":
        # (sum of n_g for g from c to k, minus half of n_c and n_k) squared
        cumulative = np.cumsum(n_c)
        index = np.arange(len(n_c))
        low, high = np.minimum.outer(index, index), np.maximum.outer(index, index)
        between = cumulative[high] - cumulative[low] + n_c[low]
        return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    raise ValueError(f"unknown level of measurement {level!r}")


def alpha_from_coincidences(o: np.ndarray, domain: np.ndarray, level: Level) -> float:
    """alpha = 1 - (n - 1) * sum(o * delta2) / sum(n_c * n_k * delta2); NaN when the data
    has no variation to disagree about."""
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n <= 1:
        return float("nan")
    delta2 = _delta2(domain, n_c, level)
    expected = (np.outer(n_c, n_c) * delta2).sum()
    if expected == 0:
        return float("nan")
    return float(1 - (n - 1) * (o * delta2).sum() / expected)


def krippendorff_alpha(data: np.ndarray, level: Level = "interval") -> float:
    """Krippendorff's alpha of reliability data: raters x units, NaN where missing.

    Any number of raters per unit; units with fewer than two values are not pairable and
    are left out, as the definition says. Checked against the worked example of
    Krippendorff (2011) and, on random data, against the `krippendorff` package.
    """
    data = np.asarray(data, dtype=float)
    raters, units = np.nonzero(~np.isnan(data))
    counts, domain = value_counts(units, data[raters, units])
    return alpha_from_coincidences(coincidences(counts), domain, level)


def krippendorff_alpha_long(units: np.ndarray, values: np.ndarray, level: Level) -> float:
    """The same from long data: one (unit, value) pair per rater and unit."""
    counts, domain = value_counts(units, values)
    return alpha_from_coincidences(coincidences(counts), domain, level)


# --- pairwise agreement ----------------------------------------------------------------------


@dataclass(frozen=True)
class PairwiseAgreement:
    overall: float  # pooled share of agreeing (annotator pair, response pair) comparisons
    per_prompt: np.ndarray  # the same share for each prompt (NaN with < 2 annotators)
    agreeing: np.ndarray  # per prompt: agreeing comparisons
    comparisons: np.ndarray  # per prompt: all comparisons


def verdict_counts(prompt_index: np.ndarray, verdicts: np.ndarray, n_prompts: int) -> np.ndarray:
    """counts[p, q, v]: annotators of prompt p giving verdict v-1 on response pair q.

    `verdicts` is (annotations x response pairs) in {-1, 0, +1}; `prompt_index[i]` is the
    prompt (0..n_prompts-1) of annotation i.
    """
    verdicts = np.asarray(verdicts, dtype=np.int64)
    n_pairs = verdicts.shape[1]
    flat = (
        np.asarray(prompt_index, dtype=np.int64)[:, None] * n_pairs * 3
        + np.arange(n_pairs)[None, :] * 3
        + (verdicts + 1)
    )
    counts = np.bincount(flat.ravel(), minlength=n_prompts * n_pairs * 3)
    return counts.reshape(n_prompts, n_pairs, 3)


def pairwise_agreement(
    prompt_index: np.ndarray, verdicts: np.ndarray, n_prompts: int | None = None
) -> PairwiseAgreement:
    """Over every pair of annotators of a prompt and every response pair, the share that
    give the same verdict (A better, B better, or a tie), pooled (design §7).

    For one prompt and response pair with c_v annotators giving verdict v, the agreeing
    annotator pairs are sum_v c_v (c_v - 1) / 2 out of a (a - 1) / 2.
    """
    prompt_index = np.asarray(prompt_index, dtype=np.int64)
    n_prompts = int(prompt_index.max()) + 1 if n_prompts is None else n_prompts
    counts = verdict_counts(prompt_index, verdicts, n_prompts)
    agreeing = (counts * (counts - 1) / 2).sum(axis=(1, 2))
    a = counts.sum(axis=2)
    comparisons = (a * (a - 1) / 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_prompt = agreeing / comparisons
    total = comparisons.sum()
    overall = float(agreeing.sum() / total) if total else float("nan")
    return PairwiseAgreement(overall, per_prompt, agreeing, comparisons)


def consensus_agreement(prompt_index: np.ndarray, verdicts: np.ndarray) -> np.ndarray:
    """For each annotation, the share described in `consensus_counts`."""
    agree, decided = consensus_counts(prompt_index, verdicts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return agree / decided


def consensus_counts(
    prompt_index: np.ndarray, verdicts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each annotation, its agreement with the leave-one-out consensus of the other
    annotators of the same prompt: the share of response pairs on which its verdict is the
    others' strict majority verdict. Pairs where the others have no strict majority (or
    no one else labelled the prompt) do not count. Returns (agreeing, counted) pairs per
    annotation; the share is NaN where no pair counts."""
    prompt_index = np.asarray(prompt_index, dtype=np.int64)
    verdicts = np.asarray(verdicts, dtype=np.int64)
    counts = verdict_counts(prompt_index, verdicts, int(prompt_index.max()) + 1)
    own = np.eye(3, dtype=np.int64)[verdicts + 1]  # annotations x pairs x 3
    others = counts[prompt_index] - own
    top = others.max(axis=2)
    strict = (others == top[..., None]).sum(axis=2) == 1
    decided = strict & (top > 0)
    majority = others.argmax(axis=2) - 1
    agree = (majority == verdicts) & decided
    return agree.sum(axis=1), decided.sum(axis=1)


# --- bootstrap intervals over prompts ------------------------------------------------------------


def bootstrap_ratio_interval(
    numerators: np.ndarray,
    denominators: np.ndarray,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of sum(numerators) / sum(denominators), resampling
    prompts with replacement (Efron and Tibshirani 1993, ch. 13). Pooled shares such as
    pairwise agreement are ratios of per-prompt sums, so resampling prompts keeps each
    prompt's annotations together."""
    numerators = np.asarray(numerators, dtype=float)
    denominators = np.asarray(denominators, dtype=float)
    rng = np.random.default_rng(seed)
    n = len(numerators)
    estimates = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(n, 1))  # bound the (chunk x n) index matrix
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        picks = rng.integers(0, n, size=(stop - start, n))
        with np.errstate(invalid="ignore", divide="ignore"):
            estimates[start:stop] = numerators[picks].sum(axis=1) / denominators[picks].sum(axis=1)
    return _percentile_interval(estimates, confidence)


def bootstrap_alpha_interval(
    coincidences_by_prompt: np.ndarray,
    domain: np.ndarray,
    level: Level,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of alpha, resampling prompts: each prompt's
    coincidence matrix (prompts x values x values) is summed over the resample."""
    o = np.asarray(coincidences_by_prompt, dtype=float)
    rng = np.random.default_rng(seed)
    n = len(o)
    flat = o.reshape(n, -1)
    estimates = np.empty(resamples)
    batch = max(1, 5_000_000 // max(n, 1))  # bound the (batch x prompts) weight matrix
    for start in range(0, resamples, batch):
        stop = min(resamples, start + batch)
        weights = np.stack(
            [np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(start, stop)]
        ).astype(float)
        # One matrix product sums every resample's coincidence matrices at once.
        for b, summed in enumerate(weights @ flat, start=start):
            estimates[b] = alpha_from_coincidences(summed.reshape(o.shape[1:]), domain, level)
    return _percentile_interval(estimates, confidence)


def _percentile_interval(estimates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The central `confidence` share of the bootstrap estimates; resamples with no
    defined estimate (every comparison drawn was empty) are left out."""
    estimates = estimates[~np.isnan(estimates)]
    if estimates.size == 0:
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return float(low), float(high)


# --- Bradley-Terry leaderboard ------------------------------------------------------------------

ARENA_SCALE = 400 / np.log(10)  # log-strength to Elo-like points, as public arenas report
ARENA_BASE = 1000.0


def _win_cells(
    winners: np.ndarray, losers: np.ndarray, ties: np.ndarray, n_models: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each comparison as cells of a flattened (models x models) win matrix: the winner's
    cell, plus, for a tie, the loser's, half a win each. Returns (comparison, cell, share)
    so that callers can add the shares per comparison group (all of them, or per prompt)."""
    winners = np.asarray(winners, dtype=np.int64)
    losers = np.asarray(losers, dtype=np.int64)
    ties = np.asarray(ties, dtype=bool)
    index = np.arange(len(winners))
    comparison = np.concatenate([index, index[ties]])
    cell = np.concatenate([winners * n_models + losers, (losers * n_models + winners)[ties]])
    share = np.concatenate([np.where(ties, 0.5, 1.0), np.full(ties.sum(), 0.5)])
    return comparison, cell, share


def win_matrix(
    winners: np.ndarray, losers: np.ndarray, ties: np.ndarray, n_models: int
) -> np.ndarray:
    """wins[i, j]: how often model i beat model j, a tie counting half to each side."""
    _comparison, cell, share = _win_cells(winners, losers, ties, n_models)
    wins = np.bincount(cell, weights=share, minlength=n_models * n_models)
    return wins.reshape(n_models, n_models)


def bradley_terry(wins: np.ndarray, *, regularisation: float = 0.01) -> np.ndarray:
    """Bradley-Terry log-strengths (mean 0) from a win matrix, by choix's iterative
    Luce spectral ranking (Maystre and Grossglauser 2015); a little regularisation keeps
    a model that never lost (or never won) finite."""
    import choix

    if wins.shape[0] < 2 or wins.sum() == 0:
        return np.zeros(wins.shape[0])
    strengths = choix.ilsr_pairwise_dense(wins, alpha=regularisation, max_iter=500)
    return strengths - strengths.mean()


def arena_ratings(strengths: np.ndarray) -> np.ndarray:
    return ARENA_BASE + ARENA_SCALE * np.asarray(strengths)


@dataclass(frozen=True)
class Leaderboard:
    ratings: np.ndarray  # per model, Elo-like
    lower: np.ndarray  # 95% bootstrap interval
    upper: np.ndarray
    wins: np.ndarray  # decisive comparisons won, per model
    losses: np.ndarray
    ties: np.ndarray
    win_rate: np.ndarray  # win_rate[i, j]: share of i-vs-j comparisons i won (ties half)


def leaderboard(
    prompt_index: np.ndarray,
    winners: np.ndarray,
    losers: np.ndarray,
    ties: np.ndarray,
    n_models: int,
    *,
    resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> Leaderboard:
    """Bradley-Terry ratings of the models behind the responses, with percentile bootstrap
    intervals from resampling prompts (all comparisons of a prompt stay together)."""
    from scipy import sparse

    prompt_index = np.asarray(prompt_index, dtype=np.int64)
    winners = np.asarray(winners, dtype=np.int64)
    losers = np.asarray(losers, dtype=np.int64)
    ties = np.asarray(ties, dtype=bool)
    wins = win_matrix(winners, losers, ties, n_models)
    ratings = arena_ratings(bradley_terry(wins))
    rng = np.random.default_rng(seed)
    n_prompts = int(prompt_index.max()) + 1 if prompt_index.size else 0
    # Each prompt's own win matrix, one sparse row (prompts x models^2): a resample's
    # win matrix is then a weighted sum of rows, one sparse product for all resamples.
    comparison, cell, share = _win_cells(winners, losers, ties, n_models)
    per_prompt = sparse.csr_matrix(
        (share, (prompt_index[comparison], cell)), shape=(n_prompts, n_models * n_models)
    )
    samples = np.empty((resamples, n_models))
    batch = max(1, 5_000_000 // max(n_prompts, 1))  # bound the (batch x prompts) weights
    for start in range(0, resamples, batch):
        stop = min(resamples, start + batch)
        weights = np.stack(
            [np.bincount(rng.integers(0, n_prompts, n_prompts), minlength=n_prompts)
             for _ in range(stop - start)]
        )  # fmt: skip
        resampled = np.asarray((per_prompt.T @ weights.T).T).reshape(-1, n_models, n_models)
        for b, matrix in enumerate(resampled):
            samples[start + b] = arena_ratings(bradley_terry(matrix))
    tail = (1 - confidence) / 2 * 100
    lower, upper = (
        np.percentile(samples, [tail, 100 - tail], axis=0)
        if resamples
        else (
            ratings,
            ratings,
        )
    )
    decisive = ~ties
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(games > 0, wins / games, np.nan)
    return Leaderboard(
        ratings=ratings,
        lower=lower,
        upper=upper,
        wins=np.bincount(np.asarray(winners)[decisive], minlength=n_models),
        losses=np.bincount(np.asarray(losers)[decisive], minlength=n_models),
        ties=np.bincount(
            np.concatenate([np.asarray(winners)[ties], np.asarray(losers)[ties]]),
            minlength=n_models,
        ),
        win_rate=win_rate,
    )


# --- one prompt: votes and a consensus ranking ----------------------------------------------


def rank_verdicts(ranks: np.ndarray) -> np.ndarray:
    """Verdicts (see the module's docstring) of rank rows on every column pair (a, b),
    a < b, in np.triu_indices order: +1 where a is ranked better (lower), -1 worse, 0 tie."""
    a, b = np.triu_indices(ranks.shape[1], k=1)
    return np.sign(ranks[:, b] - ranks[:, a]).astype(np.int64)


def ranks_from_groups(rankings: list[list[list[int]]], ids: list[int]) -> np.ndarray:
    """Rankings (groups of ids, best first) as a rank matrix: one row per ranking, one
    column per id in `ids`, value 1 + the index of the id's group (ties share a value)."""
    column = {rid: i for i, rid in enumerate(ids)}
    ranks = np.zeros((len(rankings), len(ids)))
    for row, groups in enumerate(rankings):
        for g, group in enumerate(groups):
            for rid in group:
                ranks[row, column[rid]] = g + 1
    return ranks


def pairs_alike(first: list[list[int]], second: list[list[int]], ids: list[int]) -> tuple[int, int]:
    """How many of the response pairs two rankings (groups of ids, best first) give the
    same verdict (ties included), and how many pairs there are."""
    verdicts = rank_verdicts(ranks_from_groups([first, second], ids))
    return int((verdicts[0] == verdicts[1]).sum()), int(verdicts.shape[1])


def pair_votes(ranks: np.ndarray) -> np.ndarray:
    """votes[a, b]: how many rankings put column a strictly above column b (lower rank).
    Ties on (a, b) are n - votes[a, b] - votes[b, a]."""
    return (ranks[:, :, None] < ranks[:, None, :]).sum(axis=0)


def net_vote_groups(votes: np.ndarray) -> list[list[int]]:
    """A consensus ranking from pairwise votes: columns ordered by their net votes (times
    preferred minus times dispreferred, summed over the other columns); with complete
    rankings this is the Borda count (Saari, "Basic Geometry of Voting", 1995: Borda
    equals the sum of pairwise tallies), which, unlike a majority graph, never cycles.
    Columns with equal net votes are then ordered by their net votes among themselves
    (so a head-to-head majority decides between two), and stay tied only if that is
    equal too."""
    return _net_groups(votes, list(range(votes.shape[0])), depth=0)


def _net_groups(votes: np.ndarray, columns: list[int], *, depth: int) -> list[list[int]]:
    sub = votes[np.ix_(columns, columns)]
    score = (sub - sub.T).sum(axis=1)
    groups: dict[int, list[int]] = {}
    for i in np.argsort(-score, kind="stable"):
        groups.setdefault(int(score[i]), []).append(columns[i])
    ordered = [groups[s] for s in sorted(groups, reverse=True)]
    if len(ordered) == 1 or depth > 0:
        return ordered
    result = []
    for group in ordered:
        result.extend(_net_groups(votes, group, depth=1) if len(group) > 1 else [group])
    return result


# --- rater checks without gold (issue 18, point 4) ------------------------------------------------


def rating_means(
    ratings: dict[str, np.ndarray], scales: dict[str, tuple[float, float]]
) -> np.ndarray:
    """Each response's mean rating over the criteria rated, every criterion's scale
    first mapped onto [0, 1] so that a 1-7 scale weighs as much as a 1-3 one.
    `ratings` maps a criterion key to (annotations x responses) with NaN where a rating
    is missing; the result has the same shape, NaN where no criterion is rated."""
    shares = [
        (values - scales[key][0]) / max(scales[key][1] - scales[key][0], 1)
        for key, values in ratings.items()
    ]
    if not shares:
        return np.empty((0, 0))
    stacked = np.stack(shares)
    seen = (~np.isnan(stacked)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, np.nansum(stacked, axis=0) / seen, np.nan)


def rating_contradictions(ranks: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation: how many response pairs contradiction_cells finds contradicting,
    and how many could."""
    contradicting, comparable = contradiction_cells(ranks, means)
    return contradicting.sum(axis=1), comparable.sum(axis=1)


def contradiction_cells(ranks: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(annotations x response pairs, pairs in np.triu_indices order) booleans: the pairs
    ranked strictly apart whose mean ratings are ordered the other way (the better-ranked
    response rated lower), and the pairs that could show it (ranked strictly apart, both
    rated). `ranks` is 1 + group index, 0 for a response not ranked; `means` is
    rating_means, NaN where unrated."""
    first, second = np.triu_indices(ranks.shape[1], k=1)
    if means.size == 0:
        none = np.zeros((len(ranks), len(first)), dtype=bool)
        return none, none
    rank_gap = ranks[:, first] - ranks[:, second]
    rating_gap = means[:, first] - means[:, second]
    comparable = (
        (ranks[:, first] > 0) & (ranks[:, second] > 0) & (rank_gap != 0) & ~np.isnan(rating_gap)
    )
    # A better rank is a smaller number: a contradiction is both gaps of one sign.
    contradicting = comparable & (np.sign(rank_gap) == np.sign(rating_gap))
    return contradicting, comparable


def straight_lined(
    ratings: dict[str, np.ndarray], n_annotations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per annotation: whether it rated at least two responses on some criterion (rated),
    and whether, on every criterion where it did, it gave every response the same value
    (straight-lined). A project without criteria rates nothing."""
    rated = np.zeros(n_annotations, dtype=bool)
    same = np.ones(n_annotations, dtype=bool)
    for values in ratings.values():
        given = (~np.isnan(values)).sum(axis=1) >= 2
        missing = np.isnan(values)
        flat = np.where(missing, -np.inf, values).max(axis=1) == np.where(
            missing, np.inf, values
        ).min(axis=1)
        rated |= given
        same &= flat | ~given
    return rated, rated & same


def ratio_upper_bound(
    numerators: np.ndarray, denominators: np.ndarray, *, confidence: float
) -> tuple[float, float]:
    """The pooled share sum(numerators) / sum(denominators) over clusters (a rater's
    prompts) and its one-sided upper confidence bound, from the linearised variance of a
    ratio estimator (Cochran 1977, §6.4) with Student's t: the pairs of one prompt are
    not independent, so the prompts are the units."""
    from scipy import stats

    numerators = np.asarray(numerators, dtype=float)
    denominators = np.asarray(denominators, dtype=float)
    k = len(numerators)
    share = float(numerators.sum() / denominators.sum())
    if k < 2:
        return share, 1.0
    residuals = (numerators - share * denominators) / denominators.mean()
    error = float(np.sqrt((residuals**2).sum() / (k * (k - 1))))
    return share, min(1.0, share + float(stats.t.ppf(confidence, k - 1)) * error)


@dataclass
class PositionTest:
    rate: float  # share of annotations that ranked the response shown first in the best group
    chance: float  # the share expected with no position effect: mean best-group size / n
    interval: tuple[float, float]  # Wilson 95% interval of `rate`
    p_value: float  # one-sided: rate above chance


def position_test(first_best: np.ndarray, best_share: np.ndarray) -> PositionTest:
    """Is the response shown first put in the best group more often than chance?

    Without a position effect, annotation i puts the first-shown response in its best
    group with probability best_share[i] (the best group's size over the responses
    ranked: 1/n without ties). Without ties the count is binomial and the one-sided
    p-value exact; with ties it is Poisson-binomial, and its normal approximation with a
    continuity correction gives the p-value."""
    from scipy import stats

    n = len(first_best)
    hits = float(np.sum(first_best))
    expected = float(best_share.sum())
    spread = float(np.sqrt((best_share * (1 - best_share)).sum()))
    if spread == 0:
        p_value = 0.0 if hits > expected else 1.0
    elif np.all(best_share == best_share[0]):  # no ties: the count is binomial, exactly
        p_value = float(stats.binom.sf(hits - 1, n, best_share[0]))
    else:
        p_value = float(stats.norm.sf((hits - 0.5 - expected) / spread))
    rate = hits / n
    z = float(stats.norm.ppf(0.975))
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n))
    return PositionTest(rate, expected / n, (centre - half, centre + half), p_value)


def consensus_settled(ranks: np.ndarray, lead: int) -> bool:
    """Adaptive overlap's agreement rule (issue 18, point 7): one prompt's annotations
    (rows of `ranks`, 1 + group index) have settled when, on every response pair, the
    verdict given most (one side better, the other, or a tie) is given at least `lead`
    more times than the next. With two annotations and a lead of 2 that is "they agree
    on every pair"; later, it is the stopping rule of a sequential test: one more
    annotation could no longer turn the majority of any pair."""
    if len(ranks) == 0:
        return False
    verdicts = rank_verdicts(ranks)
    # Each pair's three outcomes (one side, the other, a tie), most given first: a pair
    # every rater tied is as settled as one every rater ordered the same way.
    outcomes = np.sort(np.stack([(verdicts == v).sum(axis=0) for v in (1, -1, 0)]), axis=0)
    return bool((outcomes[-1] - outcomes[-2]).min() >= lead)
