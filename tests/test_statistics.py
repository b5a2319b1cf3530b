"""Agreement statistics against published worked examples and an independent oracle."""

import krippendorff
import numpy as np
import pytest

from core.statistics import (
    bootstrap_alpha_interval,
    bootstrap_ratio_interval,
    coincidences,
    consensus_agreement,
    krippendorff_alpha,
    krippendorff_alpha_long,
    pairwise_agreement,
    value_counts,
)

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, values 1-5, with missing values. Published results below.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorffs_worked_example(level, published):
    assert round(krippendorff_alpha(KRIPPENDORFF_2011, level), 3) == published


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", range(6))
def test_alpha_matches_the_krippendorff_package_on_random_data(level, seed):
    rng = np.random.default_rng(seed)
    raters, units = rng.integers(2, 8), rng.integers(5, 60)
    data = rng.integers(1, 8, size=(raters, units)).astype(float)
    # agreement above chance: half the raters copy a reference value
    reference = rng.integers(1, 8, size=units)
    data[: raters // 2] = np.where(
        rng.random((raters // 2, units)) < 0.7, reference, data[: raters // 2]
    )
    data[rng.random(data.shape) < 0.25] = nan
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-9)


def test_alpha_in_long_form_equals_the_wide_form():
    raters, units = np.nonzero(~np.isnan(KRIPPENDORFF_2011))
    values = KRIPPENDORFF_2011[raters, units]
    assert krippendorff_alpha_long(units, values, "ordinal") == pytest.approx(
        krippendorff_alpha(KRIPPENDORFF_2011, "ordinal")
    )


def test_alpha_is_one_for_perfect_agreement_and_nan_without_variation():
    assert krippendorff_alpha(np.array([[1, 2, 3], [1, 2, 3]]), "nominal") == 1.0
    assert np.isnan(krippendorff_alpha(np.array([[2, 2, 2], [2, 2, 2]]), "interval"))


def test_value_counts_refuse_a_value_outside_the_given_domain():
    with pytest.raises(ValueError, match="outside"):
        value_counts(np.array([0]), np.array([9.0]), np.arange(1.0, 5.0))


def test_coincidences_weight_each_unit_by_one_over_m_minus_one():
    counts, _domain = value_counts(np.array([0, 0, 0]), np.array([1.0, 1.0, 2.0]))
    o = coincidences(counts)
    # pairs (1,1) x2, (1,2) x2, (2,1) x2, each weighted 1/2
    assert o.tolist() == [[1.0, 1.0], [1.0, 0.0]]


def test_pairwise_agreement_pools_annotator_pairs_and_response_pairs():
    # prompt 0: three annotators, two response pairs; prompt 1: two annotators.
    prompts = np.array([0, 0, 0, 1, 1])
    verdicts = np.array(
        [
            [+1, +1],
            [+1, -1],
            [+1, 0],
            [-1, 0],
            [-1, 0],
        ]
    )
    result = pairwise_agreement(prompts, verdicts)
    # prompt 0: pair 1 all agree (3 of 3 annotator pairs), pair 2 none (0 of 3)
    # prompt 1: both pairs agree (1 of 1 each)
    assert result.agreeing.tolist() == [3, 2]
    assert result.comparisons.tolist() == [6, 2]
    assert result.per_prompt.tolist() == [0.5, 1.0]
    assert result.overall == pytest.approx(5 / 8)


def test_a_prompt_with_one_annotator_adds_no_comparisons():
    result = pairwise_agreement(np.array([0, 1, 1]), np.array([[1], [1], [-1]]))
    assert np.isnan(result.per_prompt[0]) and result.overall == 0.0


def test_consensus_agreement_leaves_the_annotator_out():
    prompts = np.array([0, 0, 0, 0])
    verdicts = np.array([[1, 1], [1, -1], [1, -1], [-1, 0]])
    scores = consensus_agreement(prompts, verdicts)
    # annotator 0: others say (+1: 2 of 3) on pair 1 -> agree; pair 2: -1 twice vs 0 -> -1,
    # annotator 0 said +1 -> disagree. 1 of 2.
    assert scores[0] == 0.5
    # annotator 3: pair 1 others all +1 -> disagree; pair 2 others {+1, -1, -1} -> -1 -> no.
    assert scores[3] == 0.0
    # annotator 1: pair 1 others {+1, +1, -1} -> +1 agree; pair 2 others {+1, -1, 0}: no
    # strict majority, not counted. 1 of 1.
    assert scores[1] == 1.0


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_more_prompts():
    rng = np.random.default_rng(1)
    few = rng.binomial(6, 0.7, size=30).astype(float)
    many = rng.binomial(6, 0.7, size=3000).astype(float)
    low, high = bootstrap_ratio_interval(few, np.full(30, 6.0), resamples=400)
    assert low <= few.sum() / 180 <= high
    low_many, high_many = bootstrap_ratio_interval(many, np.full(3000, 6.0), resamples=400)
    assert high_many - low_many < (high - low) / 3
    assert bootstrap_ratio_interval(few, np.full(30, 6.0), resamples=50, seed=7) == (
        bootstrap_ratio_interval(few, np.full(30, 6.0), resamples=50, seed=7)
    )


def test_bootstrap_alpha_interval_brackets_alpha():
    rng = np.random.default_rng(2)
    domain = np.arange(1.0, 5.0)
    per_prompt = []
    for _ in range(60):
        truth = rng.permutation(4) + 1
        ranks = np.array(
            [truth if rng.random() < 0.8 else rng.permutation(4) + 1 for _ in range(3)]
        )
        raters, units = np.nonzero(np.ones_like(ranks, dtype=bool))
        counts, _ = value_counts(units, ranks[raters, units].astype(float), domain)
        per_prompt.append(coincidences(counts))
    o = np.array(per_prompt)
    from core.statistics import alpha_from_coincidences

    alpha = alpha_from_coincidences(o.sum(axis=0), domain, "ordinal")
    low, high = bootstrap_alpha_interval(o, domain, "ordinal", resamples=300)
    assert low <= alpha <= high and 0.3 < alpha < 1


# --- Bradley-Terry leaderboard ----------------------------------------------------------------


def test_win_matrix_counts_ties_half_to_each_side():
    from core.statistics import win_matrix

    wins = win_matrix(np.array([0, 0, 1]), np.array([1, 2, 2]), np.array([False, True, False]), 3)
    assert wins.tolist() == [[0, 1, 0.5], [0, 0, 1], [0.5, 0, 0]]


def test_bradley_terry_recovers_known_strengths():
    from core.statistics import bradley_terry, win_matrix

    rng = np.random.default_rng(4)
    true = np.array([1.0, 0.3, -0.2, -1.1])
    a = rng.integers(0, 4, 40_000)
    b = (a + rng.integers(1, 4, 40_000)) % 4
    a_wins = rng.random(40_000) < 1 / (1 + np.exp(true[b] - true[a]))
    winners, losers = np.where(a_wins, a, b), np.where(a_wins, b, a)
    fitted = bradley_terry(win_matrix(winners, losers, np.zeros(40_000, bool), 4))
    assert np.allclose(fitted, true - true.mean(), atol=0.05)


def test_leaderboard_intervals_bracket_the_ratings_and_count_games():
    from core.statistics import leaderboard

    rng = np.random.default_rng(5)
    n = 3000
    prompts = np.repeat(np.arange(n // 3), 3)
    winners = rng.choice([0, 0, 0, 1, 1, 2], size=n)
    losers = (winners + 1 + rng.integers(0, 2, n)) % 3
    ties = rng.random(n) < 0.1
    board = leaderboard(prompts, winners, losers, ties, 3, resamples=100)
    assert board.ratings.argmax() == 0 and board.ratings.argmin() == 2
    assert np.all(board.lower <= board.ratings) and np.all(board.ratings <= board.upper)
    assert board.wins.sum() == board.losses.sum() == (~ties).sum()
    assert board.ties.sum() == 2 * ties.sum()
    assert board.win_rate[0, 2] > 0.5 > board.win_rate[2, 0]


def test_per_prompt_coincidences_are_each_prompts_own_and_sum_to_the_whole():
    rng = np.random.default_rng(7)
    n_prompts, n_responses, raters = 40, 4, 3
    values = rng.integers(1, 5, size=(raters, n_prompts * n_responses)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan  # missing values, some units unpairable
    raters_of, units = np.nonzero(~np.isnan(values))
    domain = np.arange(1.0, 5.0)
    counts, _ = value_counts(units, values[raters_of, units], domain, n_units=values.shape[1])
    per_prompt = coincidences(counts, block=n_responses)
    assert per_prompt.shape == (n_prompts, 4, 4)
    np.testing.assert_allclose(per_prompt.sum(axis=0), coincidences(counts))
    for p in (0, 17, 39):
        np.testing.assert_allclose(
            per_prompt[p], coincidences(counts[p * n_responses : (p + 1) * n_responses])
        )


def test_a_consensus_tie_on_net_votes_is_broken_by_the_head_to_head_majority():
    from core.statistics import net_vote_groups, pair_votes

    # Three raters of A B C D (columns 0..3): D>A>B>C, B>A>C>D, D>A>C>B. A and D both
    # have net votes +3, but D beats A 2-1; B beats C 2-1.
    ranks = np.array([[2, 3, 4, 1], [2, 1, 3, 4], [2, 4, 3, 1]], dtype=float)
    votes = pair_votes(ranks)
    score = (votes - votes.T).sum(axis=1)
    assert score[0] == score[3] == 3
    assert votes[3, 0] == 2 and votes[0, 3] == 1
    assert net_vote_groups(votes) == [[3], [0], [1], [2]]
    # A true tie stays a tie.
    assert net_vote_groups(pair_votes(np.array([[1, 2], [2, 1]], dtype=float))) == [[0, 1]]
