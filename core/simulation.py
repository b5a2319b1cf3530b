"""Simulated raters with a known truth, for the quality checks' tests
(tests/test_quality.py) and the overlap benchmark (bench/overlap.py).

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
