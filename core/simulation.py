"""Simulated raters with a known truth, for the quality checks' tests
(tests/test_quality.py) and for comparing fixed and adaptive overlap (overlap_run:
bench/overlap.py, tests/test_overlap.py).

Each prompt's responses have a true quality, drawn N(0, 1). A rater sees the responses
in a random order and:

- `honest`: perceives each quality with Gaussian noise (`noise`, 0.8 by default, which
  gives two honest raters about 70% pairwise agreement, about what published preference
  datasets report) and ranks by it, best first; rates each criterion from the same
  perception with a little more noise, rounded onto the scale.
- `random`: ranks in a random order and rates at random.
- `first`: like an honest rater, except that with probability `bias` (0.85) the response
  shown first goes on top.
"""

from dataclasses import dataclass

import numpy as np

from core import statistics as st

HONEST, RANDOM, FIRST = "honest", "random", "first"


@dataclass(frozen=True)
class Rater:
    kind: str = HONEST
    noise: float = 0.8
    bias: float = 0.85
    median_seconds: float = 60.0


@dataclass
class Label:
    """One rater's label of one prompt; responses by their column 0..n-1."""

    order: list[int]  # the order the responses were shown in
    groups: list[list[int]]  # best first, one response a group (no ties)
    ratings: dict[int, dict[str, int]]
    seconds: int


def qualities(rng: np.random.Generator, n_prompts: int, n_responses: int) -> np.ndarray:
    return rng.normal(size=(n_prompts, n_responses))


def label(
    rng: np.random.Generator, rater: Rater, quality: np.ndarray, criteria: list[dict]
) -> Label:
    """`rater`'s label of a prompt whose responses have true `quality`."""
    n = len(quality)
    order = [int(c) for c in rng.permutation(n)]
    seen = quality + rng.normal(scale=rater.noise, size=n)
    if rater.kind == RANDOM:
        best_first = [int(c) for c in rng.permutation(n)]
    else:
        best_first = [int(c) for c in np.argsort(-seen, kind="stable")]
        if rater.kind == FIRST and rng.random() < rater.bias:
            best_first.remove(order[0])
            best_first.insert(0, order[0])
    ratings: dict[int, dict[str, int]] = {c: {} for c in range(n)}
    for criterion in criteria:
        low, high = criterion["scale"]
        if rater.kind == RANDOM:
            values = rng.integers(low, high + 1, size=n)
        else:
            middle, spread = (low + high) / 2, (high - low) / 4
            felt = seen + rng.normal(scale=0.3, size=n)
            values = np.clip(np.rint(middle + spread * felt), low, high)
        for c in range(n):
            ratings[c][criterion["key"]] = int(values[c])
    seconds = int(max(1, rng.lognormal(np.log(rater.median_seconds), 0.4)))
    return Label(order=order, groups=[[c] for c in best_first], ratings=ratings, seconds=seconds)


def _ranks(label: Label, n: int) -> np.ndarray:
    ranks = np.zeros(n)
    for group, members in enumerate(label.groups, start=1):
        ranks[members] = group
    return ranks


def _accuracy(ranks: np.ndarray, quality: np.ndarray) -> float:
    first, second = np.triu_indices(len(quality), k=1)
    consensus = np.sign(st.rank_verdicts(ranks).sum(axis=0))  # +1: the first is better
    truth = np.sign(quality[first] - quality[second])
    return float(np.mean(np.where(consensus == 0, 0.5, consensus == truth)))


def overlap_run(
    *, prompts: int, responses: int, least: int, most: int, lead: int | None, seed: int
) -> tuple[float, float, float]:
    """Honest raters label `prompts` prompts of `responses` responses: each gets `least`
    annotations, then (with a `lead`) one more at a time until the agreement rule of
    adaptive overlap holds (core.statistics.consensus_settled) or it has `most`. Returns
    the consensus's accuracy against the truth (each pair's majority, a tie counting
    half), the annotations spent a prompt, and the share left unsettled at `most`.
    `lead` None: fixed overlap of `least` (bench/overlap.py)."""
    rng = np.random.default_rng(seed)
    quality = qualities(rng, prompts, responses)
    rater = Rater()
    accuracy, spent, unsettled = 0.0, 0, 0
    for p in range(prompts):
        ranks = [_ranks(label(rng, rater, quality[p], []), responses) for _ in range(least)]
        if lead is not None:
            while not st.consensus_settled(np.array(ranks), lead):
                if len(ranks) >= most:
                    unsettled += 1
                    break
                ranks.append(_ranks(label(rng, rater, quality[p], []), responses))
        accuracy += _accuracy(np.array(ranks), quality[p])
        spent += len(ranks)
    return accuracy / prompts, spent / prompts, unsettled / prompts
