"""The agreement report of a project (design §6 and §7): read the current
annotations once into arrays, then compute every figure with core.statistics."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import combinations
from typing import Any

import numpy as np
from django.db import connection

from core import statistics as st
from core.db import on_postgresql
from labelling.models import Annotation, Project, Prompt, Response, ResponseScore
from labelling.visibility import annotator_pseudonym
from ranking.quality import rater_checks, rounded, rounded_interval

BOOTSTRAP = 200


@dataclass
class Labels:
    """Current annotations of one project as aligned arrays (one row per annotation)."""

    n_responses: int
    prompt: np.ndarray  # dense prompt index
    prompt_ids: np.ndarray  # database id of each dense prompt index
    annotator: np.ndarray  # user id
    version: np.ndarray  # guideline version
    ranks: np.ndarray  # annotations x responses: 1 + group index, responses by id order
    ratings: dict[str, np.ndarray]  # criterion -> annotations x responses (NaN if missing)
    seconds: np.ndarray
    first_shown_best: np.ndarray  # the response shown first was ranked in the best group
    first_shown_known: np.ndarray  # the annotation recorded the order it showed
    gold_verdicts: np.ndarray  # annotations x pairs, or all zeros with has_gold False
    has_gold: np.ndarray
    day: np.ndarray  # proleptic Gregorian ordinal of the day each annotation was made
    models: np.ndarray  # dense prompts x responses: index into model_names, by response id
    model_names: list[str]
    scores: np.ndarray  # dense prompts x responses: the reward model's score (NaN if none)

    def subset(self, mask: np.ndarray) -> "Labels":
        kept, dense = np.unique(self.prompt[mask], return_inverse=True)
        return Labels(
            n_responses=self.n_responses,
            prompt=dense,
            prompt_ids=self.prompt_ids[kept],
            annotator=self.annotator[mask],
            version=self.version[mask],
            ranks=self.ranks[mask],
            ratings={key: values[mask] for key, values in self.ratings.items()},
            seconds=self.seconds[mask],
            first_shown_best=self.first_shown_best[mask],
            first_shown_known=self.first_shown_known[mask],
            gold_verdicts=self.gold_verdicts[mask],
            has_gold=self.has_gold[mask],
            day=self.day[mask],
            models=self.models[kept],
            model_names=self.model_names,
            scores=self.scores[kept],
        )

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return list(combinations(range(self.n_responses), 2))

    @property
    def units(self) -> np.ndarray:
        """Krippendorff's units: (prompt, response), numbered prompt * responses + position."""
        return self.prompt[:, None] * self.n_responses + np.arange(self.n_responses)

    def verdicts(self) -> np.ndarray:
        """+1 where the lower-id response of a pair was ranked better, -1 worse, 0 tie."""
        return st.rank_verdicts(self.ranks)


class _PostgresReads:
    """The reads behind labels_load on PostgreSQL: each query yields its rows as "n n n"
    text, and the database joins them into one string that numpy parses in one call.
    Flattening the JSON columns in SQL and reading one value instead of one row per
    annotation keeps a project of 300,000 annotations to seconds; Python-side parsing
    row by row took minutes. A row with a NULL (a rating not given) is NULL as a whole,
    and the join leaves it out."""

    JOIN = "SELECT string_agg(v, ' ') FROM ({}) q"
    CURRENT = (
        f"FROM {Annotation._meta.db_table} a "
        "WHERE a.project_id = %s AND a.is_current AND NOT a.rejected"
    )
    # id, prompt, annotator, guideline version, seconds, day (proleptic Gregorian
    # ordinal, UTC), the response shown first.
    ANNOTATIONS = (
        "SELECT a.id || ' ' || a.prompt_id || ' ' || a.annotator_id || ' ' "
        "|| a.guideline_version || ' ' || a.seconds_spent || ' ' "
        "|| (((a.created_at AT TIME ZONE 'UTC')::date - DATE '0001-01-01') + 1) || ' ' "
        f"|| COALESCE(a.display_order->>0, '0') AS v {CURRENT}"
    )
    # The ranking as text with its brackets turned into numbers: "-2 <id>" opens an
    # annotation, every "]" becomes -1, so the k-th -1 closes group k (see _ranks).
    RANKS = (
        "SELECT '-2 ' || a.id || ' ' || "
        "replace(replace(replace(a.ranking::text, ',', ' '), '[', ' '), ']', ' -1 ') AS v "
        f"{CURRENT}"
    )
    RATINGS = (
        "SELECT a.id || ' ' || r.key || ' ' || (r.value->>%s) AS v "  # noqa: S608
        f"FROM {Annotation._meta.db_table} a CROSS JOIN LATERAL jsonb_each(a.ratings) r "
        "WHERE a.project_id = %s AND a.is_current AND NOT a.rejected"
    )
    # Model names are numbered in a small join rather than a window over every
    # response, which would sort them all.
    RESPONSES = (
        "SELECT r.prompt_id || ' ' || r.id || ' ' || m.number AS v "  # noqa: S608
        f"FROM {Response._meta.db_table} r JOIN {Prompt._meta.db_table} p ON p.id = r.prompt_id "
        "JOIN (SELECT name, ROW_NUMBER() OVER (ORDER BY name) - 1 AS number "
        f"      FROM (SELECT DISTINCT r2.model_name AS name FROM {Response._meta.db_table} r2 "
        f"            JOIN {Prompt._meta.db_table} p2 ON p2.id = r2.prompt_id"
        "             WHERE p2.project_id = %s) d"
        ") m ON m.name = r.model_name "
        "WHERE p.project_id = %s"
    )

    def __init__(self, project: Project) -> None:
        self.project = project

    def annotations(self) -> np.ndarray:
        return _numbers(self.JOIN.format(self.ANNOTATIONS), [self.project.pk], 7)

    def responses(self) -> np.ndarray:
        """(prompt, response, model number) rows, models numbered by name from 0."""
        return _numbers(self.JOIN.format(self.RESPONSES), [self.project.pk, self.project.pk], 3)

    def rank_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(annotation id, group number from 1, response id) for every ranked response."""
        return _ranks(_numbers(self.JOIN.format(self.RANKS), [self.project.pk]).ravel())

    def ratings(self, key: str) -> np.ndarray:
        """(annotation id, response id, value) rows of one criterion."""
        return _numbers(self.JOIN.format(self.RATINGS), [key, self.project.pk], 3)


class _OrmReads:
    """The same reads by the ORM (SQLite), from one read of the current annotations."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.rows = list(
            Annotation.objects.filter(project=project, is_current=True, rejected=False)
            .order_by()
            .values_list(
                "id",
                "prompt_id",
                "annotator_id",
                "guideline_version",
                "seconds_spent",
                "created_at",
                "display_order",
                "ranking",
                "ratings",
            )
        )

    def annotations(self) -> np.ndarray:
        return np.array(
            [
                (pk, prompt, annotator, version, seconds, _utc_day(created), (order or [0])[0])
                for pk, prompt, annotator, version, seconds, created, order, *_ in self.rows
            ],
            dtype=np.int64,
        ).reshape(-1, 7)

    def responses(self) -> np.ndarray:
        rows = list(
            Response.objects.filter(prompt__project=self.project)
            .order_by()
            .values_list("prompt_id", "id", "model_name")
        )
        number = {name: i for i, name in enumerate(sorted({name for *_, name in rows}))}
        return np.array(
            [(prompt, pk, number[name]) for prompt, pk, name in rows], dtype=np.int64
        ).reshape(-1, 3)

    def rank_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cells = [
            (row[0], group, rid)
            for row in self.rows
            for group, members in enumerate(row[7], start=1)
            for rid in members
        ]
        table = np.array(cells, dtype=np.int64).reshape(-1, 3)
        return table[:, 0], table[:, 1], table[:, 2]

    def ratings(self, key: str) -> np.ndarray:
        return np.array(
            [
                (row[0], int(rid), scores[key])
                for row in self.rows
                for rid, scores in row[8].items()
                if scores.get(key) is not None
            ],
            dtype=np.int64,
        ).reshape(-1, 3)


def _utc_day(moment: datetime) -> int:
    return moment.astimezone(UTC).date().toordinal()


def _numbers(sql: str, params: list, width: int = 1) -> np.ndarray:
    """A query's rows of whole numbers as a (rows x width) array, in no set order."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        text = cursor.fetchone()[0] or ""
    return np.fromstring(text, dtype=np.int64, sep=" ").reshape(-1, width)


def _ranks(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(annotation id, group number from 1, response id) for every ranked response, from
    the token stream of the "ranks" query: -2, an annotation id, then its ranking with
    each closing bracket as -1, e.g. [[2], [1, 3]] -> 2 -1 1 3 -1 -1."""
    start = tokens == -2
    starts = np.flatnonzero(start)
    is_id = np.zeros(len(tokens), dtype=bool)
    is_id[starts + 1] = True
    closing = tokens == -1
    owner = np.cumsum(start) - 1  # which annotation each token belongs to
    closed_before = np.cumsum(closing)
    group = closed_before - closed_before[starts][owner] + 1
    response = ~(start | is_id | closing)
    return tokens[starts + 1][owner[response]], group[response], tokens[response]


def _positions(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where in `keys` (unique, any order) each value of `wanted` (all present) is."""
    order = np.argsort(keys, kind="stable")
    return order[np.searchsorted(keys, wanted, sorter=order)]


def labels_load(*, project: Project) -> Labels:
    """Every current, unrejected annotation of the project as arrays, rows ordered by
    prompt and then annotation id."""
    n = project.responses_per_prompt
    reads = _PostgresReads(project) if on_postgresql() else _OrmReads(project)
    ann = reads.annotations()
    ann = ann[np.lexsort((ann[:, 0], ann[:, 1]))]  # by prompt, then annotation id
    ann_ids, prompt_col = ann[:, 0], ann[:, 1]
    prompt_ids, prompt = np.unique(prompt_col, return_inverse=True)

    # Each response's column (its place among its prompt's responses by id) and model.
    responses = reads.responses()
    responses = responses[np.lexsort((responses[:, 1], responses[:, 0]))]
    response_prompt, response_ids = responses[:, 0], responses[:, 1]
    first = np.unique(response_prompt, return_index=True)[1]
    column = np.arange(len(responses)) - np.repeat(first, np.diff(np.append(first, len(responses))))
    model_names = list(
        Response.objects.filter(prompt__project=project)
        .order_by("model_name")
        .values_list("model_name", flat=True)
        .distinct()
    )
    models = np.zeros((len(prompt_ids), n), dtype=np.int64)
    labelled = np.isin(response_prompt, prompt_ids)
    models[np.searchsorted(prompt_ids, response_prompt[labelled]), column[labelled]] = responses[
        labelled, 2
    ]
    scores = np.full((len(prompt_ids), n), np.nan)
    if project.reward_model:
        scored = list(
            ResponseScore.objects.filter(
                reward_model=project.reward_model, response__prompt__project=project
            ).values_list("response_id", "score")
        )
        if scored:
            ids, values = (np.array(c) for c in zip(*scored, strict=True))
            at = _positions(response_ids, ids)
            mine = np.isin(response_prompt[at], prompt_ids)
            scores[np.searchsorted(prompt_ids, response_prompt[at][mine]), column[at][mine]] = (
                values[mine]
            )

    def cells(annotation_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _positions(ann_ids, annotation_ids), column[_positions(response_ids, ids)]

    ranks = np.zeros((len(ann), n))
    annotation_ids, groups, ids = reads.rank_cells()
    rows, cols = cells(annotation_ids, ids)
    ranks[rows, cols] = groups

    ratings = {}
    for criterion in project.criteria:
        values = np.full((len(ann), n), np.nan)
        flat = reads.ratings(criterion["key"])
        if len(flat):
            rows, cols = cells(flat[:, 0], flat[:, 1])
            values[rows, cols] = flat[:, 2]
        ratings[criterion["key"]] = values

    first_shown_best = np.zeros(len(ann), dtype=bool)
    first_shown_known = ann[:, 6] != 0
    shown = np.flatnonzero(first_shown_known)
    if len(shown):
        first_columns = column[_positions(response_ids, ann[shown, 6])]
        first_shown_best[shown] = ranks[shown, first_columns] == 1

    gold = _gold_rank_vectors(project)
    has_gold = np.isin(prompt_col, list(gold))
    labels = Labels(
        n_responses=n,
        prompt=prompt.astype(np.int64),
        prompt_ids=prompt_ids.astype(np.int64),
        annotator=ann[:, 2],
        version=ann[:, 3],
        ranks=ranks,
        ratings=ratings,
        seconds=ann[:, 4].astype(float),
        first_shown_best=first_shown_best,
        first_shown_known=first_shown_known,
        gold_verdicts=np.zeros((len(ann), n * (n - 1) // 2), dtype=np.int64),
        has_gold=has_gold,
        day=ann[:, 5],
        models=models,
        model_names=model_names,
        scores=scores,
    )
    if has_gold.any():
        gold_matrix = np.ones((len(ann), n))
        gold_matrix[has_gold] = [gold[int(p)] for p in prompt_col[has_gold]]
        labels.gold_verdicts = st.rank_verdicts(gold_matrix)
    return labels


def _gold_rank_vectors(project: Project) -> dict[int, np.ndarray]:
    """Gold rankings (groups of response external ids) as rank vectors by response id."""
    # JSON (groups of external ids), never null here.
    gold: dict[int, Any] = dict(
        Prompt.objects.filter(project=project, gold__isnull=False).values_list("pk", "gold")
    )
    if not gold:
        return {}
    ids: dict[int, dict[str, int]] = defaultdict(dict)
    for prompt_id, response_id, external_id in Response.objects.filter(
        prompt_id__in=list(gold)
    ).values_list("prompt_id", "pk", "external_id"):
        ids[prompt_id][external_id] = response_id
    vectors = {}
    for prompt_id, groups in gold.items():
        by_id = {ids[prompt_id][ext]: g + 1 for g, group in enumerate(groups) for ext in group}
        vectors[prompt_id] = np.array([by_id[rid] for rid in sorted(by_id)], dtype=float)
    return vectors


def figures(labels: Labels, criteria: list[dict], *, seed: int = 0) -> dict:
    """Section 6's F: pairwise agreement, alpha on ranks and per criterion, with 95%
    bootstrap intervals over prompts, and how many prompts and annotations it rests on."""
    n_prompts = len(labels.prompt_ids)
    empty: dict[str, Any] = {
        "pairwise_agreement": None,
        "pairwise_agreement_interval": None,
        "alpha_rank": None,
        "alpha_rank_interval": None,
        "alpha_criteria": {c["key"]: None for c in criteria},
        "alpha_criteria_interval": {c["key"]: None for c in criteria},
        "n_prompts": n_prompts,
        "n_annotations": len(labels.prompt),
    }
    if len(labels.prompt) == 0:
        return empty
    agreement = st.pairwise_agreement(labels.prompt, labels.verdicts(), n_prompts)
    multi = agreement.comparisons > 0
    units = labels.units
    rank_domain = np.arange(1.0, labels.n_responses + 1)
    result = dict(empty)
    if multi.any():
        result["pairwise_agreement"] = rounded(agreement.overall)
        result["pairwise_agreement_interval"] = rounded_interval(
            st.bootstrap_ratio_interval(
                agreement.agreeing[multi],
                agreement.comparisons[multi],
                resamples=BOOTSTRAP,
                seed=seed,
            )
        )
        result["alpha_rank"] = rounded(
            st.krippendorff_alpha_long(units.ravel(), labels.ranks.ravel(), "ordinal")
        )
        result["alpha_rank_interval"] = rounded_interval(
            _alpha_interval(labels, labels.ranks, rank_domain, "ordinal", seed)
        )
        result["alpha_criteria_interval"] = {}
        for c in criteria:
            values = labels.ratings[c["key"]]
            seen = ~np.isnan(values)
            if not seen.any():
                continue
            result["alpha_criteria"][c["key"]] = rounded(
                st.krippendorff_alpha_long(units[seen], values[seen], "interval")
            )
            domain = np.unique(values[seen])
            result["alpha_criteria_interval"][c["key"]] = rounded_interval(
                _alpha_interval(labels, values, domain, "interval", seed)
            )
    return result


def _alpha_interval(
    labels: Labels, values: np.ndarray, domain: np.ndarray, level: st.Level, seed: int
) -> tuple[float, float]:
    """Bootstrap over prompts: one coincidence matrix per prompt, summed per resample.
    Missing values (NaN) are left out."""
    units, values = labels.units.ravel(), values.ravel()
    seen = ~np.isnan(values)
    counts, _ = st.value_counts(units[seen], values[seen], domain, n_units=len(units))
    per_prompt = st.coincidences(counts, block=labels.n_responses)
    return st.bootstrap_alpha_interval(per_prompt, domain, level, resamples=BOOTSTRAP, seed=seed)


def annotator_rows(labels: Labels, *, project: Project, seed: int = 0) -> list[dict]:
    """Per annotator: the checks of ranking.quality (count, agreement with the
    leave-one-out consensus, gold accuracy, median seconds, position bias with its test,
    straight-lining, ratings against the ranking, and the flags they raise), with 95%
    bootstrap intervals over the annotator's prompts for the consensus and gold figures.
    Rows name the annotator by user id and pseudonym; who sees which name is decided
    when the rows are shown (agreement_shown)."""
    checks = rater_checks(labels, project=project, resamples=BOOTSTRAP, seed=seed)
    return [
        {
            "annotator_id": user_id,
            "pseudonym": annotator_pseudonym(project, user_id),
            **check.as_row(),
        }
        for user_id, check in sorted(checks.items())
    ]


def quality_flags(labels: Labels, *, project: Project) -> dict[int, list[str]]:
    """The quality flags of every annotator with labels, by user id (ranking.quality),
    without the bootstrap intervals of annotator_rows. `low_consensus` compares each
    annotator with the others in `labels`, so callers pass every rater's labels."""
    return {user: check.flags for user, check in rater_checks(labels, project=project).items()}


def agreement_by_day(labels: Labels) -> list[dict]:
    """Pairwise agreement over time: each prompt counts on the day of its latest
    annotation (when its agreement became what it is), pooled over that day's prompts."""
    if len(labels.prompt) == 0:
        return []
    result = st.pairwise_agreement(labels.prompt, labels.verdicts(), len(labels.prompt_ids))
    last_day = np.zeros(len(labels.prompt_ids), dtype=np.int64)
    np.maximum.at(last_day, labels.prompt, labels.day)
    counted = result.comparisons > 0
    days, index = np.unique(last_day[counted], return_inverse=True)
    agreeing = np.bincount(index, weights=result.agreeing[counted], minlength=len(days))
    comparisons = np.bincount(index, weights=result.comparisons[counted], minlength=len(days))
    prompts = np.bincount(index, minlength=len(days))
    return [
        {
            "day": date.fromordinal(int(day)).isoformat(),
            "agreement": rounded(agreeing[i] / comparisons[i]),
            "prompts": int(prompts[i]),
        }
        for i, day in enumerate(days)
    ]


def leaderboard_rows(labels: Labels, *, resamples: int = BOOTSTRAP) -> list[dict]:
    """The models behind the responses ranked by Bradley-Terry over every compared pair
    (section 7), best first, with 95% bootstrap intervals and the win-rate matrix.

    Pairs of responses from one model (a prompt answered twice by it) say nothing about
    models and are left out; a tie counts half to each side."""
    if len(labels.prompt) == 0:
        return []
    a, b = np.array(labels.pairs).T
    verdicts = labels.verdicts()
    model_a = labels.models[labels.prompt][:, a]
    model_b = labels.models[labels.prompt][:, b]
    prompt = np.broadcast_to(labels.prompt[:, None], verdicts.shape)
    keep = model_a != model_b
    verdicts, model_a, model_b, prompt = (x[keep] for x in (verdicts, model_a, model_b, prompt))
    if verdicts.size == 0:
        return []
    # A verdict of +1 means the lower-id response (a) was ranked better.
    winners = np.where(verdicts >= 0, model_a, model_b)
    losers = np.where(verdicts >= 0, model_b, model_a)
    used = np.unique(np.concatenate([winners, losers]))
    dense = np.full(len(labels.model_names), -1)
    dense[used] = np.arange(len(used))
    names = [labels.model_names[i] for i in used]
    board = st.leaderboard(
        prompt, dense[winners], dense[losers], verdicts == 0, len(used), resamples=resamples
    )
    order = np.argsort(-board.ratings, kind="stable")
    return [
        {
            "model": names[i],
            "rating": round(float(board.ratings[i]), 1),
            "lower": round(float(board.lower[i]), 1),
            "upper": round(float(board.upper[i]), 1),
            "wins": int(board.wins[i]),
            "losses": int(board.losses[i]),
            "ties": int(board.ties[i]),
            "win_rate": {names[j]: rounded(board.win_rate[i, j]) for j in order if j != i},
        }
        for i in order
    ]


def model_leaderboard(
    *, project: Project, versions: list[int] | None = None, labels: Labels | None = None
) -> list[dict]:
    labels = labels_load(project=project) if labels is None else labels
    if versions:
        labels = labels.subset(np.isin(labels.version, versions))
    return leaderboard_rows(labels)


def reward_model_accuracy(labels: Labels) -> dict:
    """How often the reward model scores the human-preferred response of a consensus
    pair higher (section 7: a pair whose annotators' decisive votes have a majority), a
    tie in scores counting half; with a 95% bootstrap interval over prompts."""
    empty = {"n_pairs": 0, "accuracy": None, "accuracy_interval": None}
    if len(labels.prompt) == 0:
        return empty
    a, b = np.array(labels.pairs).T
    counts = st.verdict_counts(labels.prompt, labels.verdicts(), len(labels.prompt_ids))
    a_better, b_better = counts[..., 2], counts[..., 0]
    score_a, score_b = labels.scores[:, a], labels.scores[:, b]
    valid = (a_better != b_better) & ~np.isnan(score_a) & ~np.isnan(score_b)
    agree = np.where(a_better > b_better, score_a > score_b, score_b > score_a)
    correct = np.where(valid, agree + 0.5 * (score_a == score_b), 0.0)
    numerators, denominators = correct.sum(axis=1), valid.sum(axis=1)
    total = int(denominators.sum())
    if not total:
        return empty
    used = denominators > 0
    result: dict[str, Any] = {
        "n_pairs": total,
        "accuracy": rounded(numerators.sum() / total),
        "accuracy_interval": rounded_interval(
            st.bootstrap_ratio_interval(
                numerators[used], denominators[used], resamples=BOOTSTRAP, seed=0
            )
        ),
    }
    # Per pair of models (named in alphabetical order).
    names = labels.model_names
    first = np.minimum(labels.models[:, a], labels.models[:, b])
    second = np.maximum(labels.models[:, a], labels.models[:, b])
    by_pair = []
    for i, j in sorted(
        {(int(x), int(y)) for x, y in zip(first[valid], second[valid], strict=True)}
    ):
        cell = valid & (first == i) & (second == j)
        by_pair.append(
            {
                "models": [names[i], names[j]],
                "n_pairs": int(cell.sum()),
                "accuracy": rounded(correct[cell].sum() / cell.sum()),
            }
        )
    result["by_model_pair"] = by_pair
    return result


def reward_model_report(labels: Labels, project: Project) -> dict:
    """Section 6's `reward_model`: accuracy against humans overall and per guideline
    version; empty when the project names no reward model."""
    if not project.reward_model:
        return {}
    report = {"model": project.reward_model, **reward_model_accuracy(labels)}
    report["by_guideline_version"] = [
        {
            "version": int(v),
            **_without_pairs(reward_model_accuracy(labels.subset(labels.version == v))),
        }
        for v in np.unique(labels.version)
    ]
    return report


def _without_pairs(figures: dict) -> dict:
    figures.pop("by_model_pair", None)
    return figures


def agreement_report(*, project: Project, labels: Labels | None = None) -> dict:
    """Section 6's agreement answer: every figure overall, per guideline version, and
    per annotator (rows by user id and pseudonym: see agreement_shown)."""
    labels = labels_load(project=project) if labels is None else labels
    overall = figures(labels, project.criteria)
    return {
        "overall": overall,
        "by_guideline_version": [
            {"version": int(v), **_figures_of_version(labels, v, overall, project.criteria)}
            for v in np.unique(labels.version)
        ],
        "annotators": annotator_rows(labels, project=project),
        "reward_model": reward_model_report(labels, project),
    }


def agreement_shown(report: dict, *, names: dict[int, str]) -> dict:
    """The report as one viewer sees it: each annotator row named by `names` (a username
    or a pseudonym, labelling.visibility.annotator_names), the user id left out, rows in
    name order."""
    rows = []
    for row in report.get("annotators", []):
        shown = {key: value for key, value in row.items() if key != "annotator_id"}
        rows.append({"annotator": names[row["annotator_id"]], **shown})
    return {**report, "annotators": sorted(rows, key=lambda row: row["annotator"])}


def _figures_of_version(labels: Labels, version: int, overall: dict, criteria: list[dict]) -> dict:
    mask = labels.version == version
    # With one version in use, its figures are the overall ones: no second computation.
    return overall if mask.all() else figures(labels.subset(mask), criteria)
