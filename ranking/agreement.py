"""The agreement report of a project (DESIGN.md sections 6 and 7): read the current
annotations once into arrays, then compute every figure with ranking.statistics."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from itertools import combinations

import numpy as np
import orjson
from django.contrib.auth import get_user_model
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from labelling.models import Annotation, Project, Prompt, Response
from ranking import statistics as st

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
    gold_verdicts: np.ndarray  # annotations x pairs, or all zeros with has_gold False
    has_gold: np.ndarray
    day: np.ndarray  # proleptic Gregorian ordinal of the day each annotation was made
    models: np.ndarray  # dense prompts x responses: index into model_names, by response id
    model_names: list[str]

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
            gold_verdicts=self.gold_verdicts[mask],
            has_gold=self.has_gold[mask],
            day=self.day[mask],
            models=self.models[kept],
            model_names=self.model_names,
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
        a, b = np.array(self.pairs).T
        return np.sign(self.ranks[:, b] - self.ranks[:, a]).astype(np.int64)


def labels_load(*, project: Project) -> Labels:
    """Every current, unrejected annotation of the project as arrays, in one pass.

    The JSON columns are read as text and parsed with orjson: Django's JSONField would
    parse them with the standard library, which is most of the cost on a big project.
    """
    n = project.responses_per_prompt
    keys = [c["key"] for c in project.criteria]
    gold = _gold_rank_vectors(project)
    models, model_names = _response_models(project)
    rows = (
        Annotation.objects.filter(project=project, is_current=True, rejected=False)
        .order_by("prompt_id", "id")
        .values_list(
            "prompt_id",
            "annotator_id",
            "guideline_version",
            Cast("ranking", TextField()),
            Cast("ratings", TextField()) if keys else Value(""),
            "seconds_spent",
            Cast("display_order", TextField()),
            "created_at",
        )
    )
    prompts: dict[int, int] = {}
    prompt_col, annotator, version, seconds, first_best, days = [], [], [], [], [], []
    ranks, gold_ranks = [], []
    ratings = {key: [] for key in keys}
    loads = orjson.loads
    for prompt_id, annotator_id, v, ranking, scores, secs, order, created in rows.iterator(
        chunk_size=10_000
    ):
        ranking = loads(ranking)
        ids = sorted(rid for group in ranking for rid in group)
        position = {rid: i for i, rid in enumerate(ids)}
        row = [0] * n
        for g, group in enumerate(ranking):
            for rid in group:
                row[position[rid]] = g + 1
        ranks.append(row)
        if keys:
            scores = loads(scores)
            for key in keys:
                ratings[key].append([scores.get(str(rid), {}).get(key, np.nan) for rid in ids])
        prompt_col.append(prompts.setdefault(prompt_id, len(prompts)))
        annotator.append(annotator_id)
        version.append(v)
        seconds.append(secs)
        first_shown = loads(order)[:1]
        first_best.append(bool(first_shown) and first_shown[0] in ranking[0])
        days.append(created.toordinal())
        gold_ranks.append(gold.get(prompt_id))
    has_gold = np.array([g is not None for g in gold_ranks], dtype=bool)
    gold_matrix = np.array([g if g is not None else np.ones(n) for g in gold_ranks]).reshape(-1, n)
    prompt_ids = np.array(list(prompts), dtype=np.int64)
    labels = Labels(
        n_responses=n,
        prompt=np.array(prompt_col, dtype=np.int64),
        prompt_ids=prompt_ids,
        annotator=np.array(annotator, dtype=np.int64),
        version=np.array(version, dtype=np.int64),
        ranks=np.array(ranks, dtype=float).reshape(-1, n),
        ratings={k: np.array(v, dtype=float).reshape(-1, n) for k, v in ratings.items()},
        seconds=np.array(seconds, dtype=float),
        first_shown_best=np.array(first_best, dtype=bool),
        gold_verdicts=np.zeros((len(prompt_col), n * (n - 1) // 2), dtype=np.int64),
        has_gold=has_gold,
        day=np.array(days, dtype=np.int64),
        models=np.array([models[p] for p in prompts], dtype=np.int64).reshape(-1, n),
        model_names=model_names,
    )
    if has_gold.any():
        a, b = np.array(labels.pairs).T
        labels.gold_verdicts = np.sign(gold_matrix[:, b] - gold_matrix[:, a]).astype(np.int64)
    return labels


def _response_models(project: Project) -> tuple[dict[int, list[int]], list[str]]:
    """Per prompt, the model of each response (by response id) as an index into a list
    of the project's model names."""
    names: dict[str, int] = {}
    by_prompt: dict[int, list[int]] = defaultdict(list)
    rows = (
        Response.objects.filter(prompt__project=project)
        .order_by("prompt_id", "id")
        .values_list("prompt_id", "model_name")
    )
    for prompt_id, model in rows.iterator(chunk_size=20_000):
        by_prompt[prompt_id].append(names.setdefault(model, len(names)))
    return by_prompt, list(names)


def _gold_rank_vectors(project: Project) -> dict[int, np.ndarray]:
    """Gold rankings (groups of response external ids) as rank vectors by response id."""
    gold = dict(
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
    empty = {
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
        result["pairwise_agreement"] = _round(agreement.overall)
        result["pairwise_agreement_interval"] = _interval(
            st.bootstrap_ratio_interval(
                agreement.agreeing[multi],
                agreement.comparisons[multi],
                resamples=BOOTSTRAP,
                seed=seed,
            )
        )
        result["alpha_rank"] = _round(
            st.krippendorff_alpha_long(units.ravel(), labels.ranks.ravel(), "ordinal")
        )
        result["alpha_rank_interval"] = _interval(
            _alpha_interval(labels, labels.ranks, rank_domain, "ordinal", seed)
        )
        result["alpha_criteria_interval"] = {}
        for c in criteria:
            values = labels.ratings[c["key"]]
            seen = ~np.isnan(values)
            if not seen.any():
                continue
            result["alpha_criteria"][c["key"]] = _round(
                st.krippendorff_alpha_long(units[seen], values[seen], "interval")
            )
            domain = np.unique(values[seen])
            result["alpha_criteria_interval"][c["key"]] = _interval(
                _alpha_interval(labels, values, domain, "interval", seed)
            )
    return result


def _alpha_interval(labels, values, domain, level, seed):
    """Bootstrap over prompts: one coincidence matrix per prompt, summed per resample.
    Missing values (NaN) are left out."""
    units, values = labels.units.ravel(), values.ravel()
    seen = ~np.isnan(values)
    counts, _ = st.value_counts(units[seen], values[seen], domain)
    per_prompt = st.coincidences(
        counts, groups=np.arange(len(counts)) // labels.n_responses, n_groups=len(labels.prompt_ids)
    )
    return st.bootstrap_alpha_interval(per_prompt, domain, level, resamples=BOOTSTRAP, seed=seed)


MIN_EVIDENCE = 3  # items an annotator needs before a quality flag is raised


def annotator_rows(
    labels: Labels, names: dict[int, str], *, project: Project | None = None, seed: int = 0
) -> list[dict]:
    """Per annotator: count, agreement with the leave-one-out consensus, gold accuracy
    (each with a 95% bootstrap interval over their prompts), median seconds, how often
    the response shown first was ranked best, and, given the project, its quality flags:
    `low_gold` (gold accuracy under the project's threshold) and `too_fast` (median time
    under the project's plausible minimum), each on at least MIN_EVIDENCE items."""
    if len(labels.prompt) == 0:
        return []
    verdicts = labels.verdicts()
    agree, decided = st.consensus_counts(labels.prompt, verdicts)
    gold_hits = (verdicts == labels.gold_verdicts).sum(axis=1)
    n_pairs = verdicts.shape[1]
    rows = []
    for user_id in np.unique(labels.annotator):
        mine = labels.annotator == user_id
        gold = mine & labels.has_gold
        counted = mine & (decided > 0)
        row = {
            "annotator": names.get(int(user_id), str(user_id)),
            "n": int(mine.sum()),
            "agreement_with_consensus": (
                _round(agree[counted].sum() / decided[counted].sum()) if counted.any() else None
            ),
            "agreement_with_consensus_interval": (
                _interval(
                    st.bootstrap_ratio_interval(
                        agree[counted], decided[counted], resamples=BOOTSTRAP, seed=seed
                    )
                )
                if counted.any()
                else None
            ),
            "n_gold": int(gold.sum()),
            "gold_accuracy": _round(gold_hits[gold].sum() / (gold.sum() * n_pairs))
            if gold.any()
            else None,
            "gold_accuracy_interval": (
                _interval(
                    st.bootstrap_ratio_interval(
                        gold_hits[gold],
                        np.full(gold.sum(), n_pairs),
                        resamples=BOOTSTRAP,
                        seed=seed,
                    )
                )
                if gold.any()
                else None
            ),
            "median_seconds": float(np.median(labels.seconds[mine])),
            "position_bias": _round(labels.first_shown_best[mine].mean()),
        }
        if project is not None:
            row["flags"] = _quality_flags(row, project)
        rows.append(row)
    return sorted(rows, key=lambda row: row["annotator"])


def _quality_flags(row: dict, project: Project) -> list[str]:
    flags = []
    if row["n_gold"] >= MIN_EVIDENCE and row["gold_accuracy"] < project.gold_threshold:
        flags.append("low_gold")
    if row["n"] >= MIN_EVIDENCE and row["median_seconds"] < project.min_median_seconds:
        flags.append("too_fast")
    return flags


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
            "agreement": _round(agreeing[i] / comparisons[i]),
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
            "win_rate": {names[j]: _round(board.win_rate[i, j]) for j in order if j != i},
        }
        for i in order
    ]


def model_leaderboard(*, project: Project, versions: list[int] | None = None) -> list[dict]:
    labels = labels_load(project=project)
    if versions:
        labels = labels.subset(np.isin(labels.version, versions))
    return leaderboard_rows(labels)


def agreement_report(*, project: Project, labels: Labels | None = None) -> dict:
    """Section 6's agreement answer: every figure overall, per guideline version, and
    per annotator."""
    labels = labels_load(project=project) if labels is None else labels
    names = dict(
        get_user_model()
        .objects.filter(pk__in=np.unique(labels.annotator).tolist())
        .values_list("pk", "username")
    )
    return {
        "overall": figures(labels, project.criteria),
        "by_guideline_version": [
            {"version": int(v), **figures(labels.subset(labels.version == v), project.criteria)}
            for v in np.unique(labels.version)
        ],
        "annotators": annotator_rows(labels, names, project=project),
        # Model-vs-human accuracy arrives with reward-model scoring (issue 7).
        "reward_model": {},
    }


def _round(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def _interval(bounds: tuple[float, float]) -> list[float | None]:
    return [_round(bounds[0]), _round(bounds[1])]
