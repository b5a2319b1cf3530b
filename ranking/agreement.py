"""The agreement report of a project (DESIGN.md sections 6 and 7): read the current
annotations once into arrays, then compute every figure with ranking.statistics."""

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import numpy as np

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
    n = project.responses_per_prompt
    keys = [c["key"] for c in project.criteria]
    gold = _gold_rank_vectors(project)
    rows = (
        Annotation.objects.filter(project=project, is_current=True)
        .order_by("prompt_id", "id")
        .values_list(
            "prompt_id",
            "annotator_id",
            "guideline_version",
            "ranking",
            "ratings",
            "seconds_spent",
            "display_order",
        )
    )
    prompts: dict[int, int] = {}
    prompt_col, annotator, version, seconds, first_best = [], [], [], [], []
    ranks, gold_ranks = [], []
    ratings = {key: [] for key in keys}
    for prompt_id, annotator_id, v, ranking, scores, secs, order in rows.iterator(chunk_size=5000):
        ids = sorted(rid for group in ranking for rid in group)
        position = {rid: i for i, rid in enumerate(ids)}
        row = np.empty(n)
        for g, group in enumerate(ranking):
            for rid in group:
                row[position[rid]] = g + 1
        ranks.append(row)
        for key in keys:
            ratings[key].append([float(scores.get(str(rid), {}).get(key, np.nan)) for rid in ids])
        prompt_col.append(prompts.setdefault(prompt_id, len(prompts)))
        annotator.append(annotator_id)
        version.append(v)
        seconds.append(secs)
        first_best.append(bool(order) and order[0] in ranking[0])
        gold_ranks.append(gold.get(prompt_id))
    has_gold = np.array([g is not None for g in gold_ranks], dtype=bool)
    gold_matrix = np.array([g if g is not None else np.ones(n) for g in gold_ranks]).reshape(-1, n)
    labels = Labels(
        n_responses=n,
        prompt=np.array(prompt_col, dtype=np.int64),
        prompt_ids=np.array(list(prompts), dtype=np.int64),
        annotator=np.array(annotator, dtype=np.int64),
        version=np.array(version, dtype=np.int64),
        ranks=np.array(ranks).reshape(-1, n),
        ratings={k: np.array(v, dtype=float).reshape(-1, n) for k, v in ratings.items()},
        seconds=np.array(seconds, dtype=float),
        first_shown_best=np.array(first_best, dtype=bool),
        gold_verdicts=np.zeros((len(prompt_col), n * (n - 1) // 2), dtype=np.int64),
        has_gold=has_gold,
    )
    if has_gold.any():
        a, b = np.array(labels.pairs).T
        labels.gold_verdicts = np.sign(gold_matrix[:, b] - gold_matrix[:, a]).astype(np.int64)
    return labels


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
        for c in criteria:
            values = labels.ratings[c["key"]]
            seen = ~np.isnan(values)
            result["alpha_criteria"][c["key"]] = _round(
                st.krippendorff_alpha_long(units[seen], values[seen], "interval")
            )
    return result


def _alpha_interval(labels, values, domain, level, seed):
    """Bootstrap over prompts: one coincidence matrix per prompt, summed per resample."""
    units = labels.units.ravel()
    counts, _ = st.value_counts(units, values.ravel(), domain)
    per_prompt = st.coincidences(
        counts, groups=np.arange(len(counts)) // labels.n_responses, n_groups=len(labels.prompt_ids)
    )
    return st.bootstrap_alpha_interval(per_prompt, domain, level, resamples=BOOTSTRAP, seed=seed)


def annotator_rows(labels: Labels, names: dict[int, str]) -> list[dict]:
    """Per annotator: count, agreement with the leave-one-out consensus, gold accuracy,
    median seconds, and how often the response shown first was ranked best."""
    if len(labels.prompt) == 0:
        return []
    verdicts = labels.verdicts()
    consensus = st.consensus_agreement(labels.prompt, verdicts)
    gold_hits = (verdicts == labels.gold_verdicts).mean(axis=1)
    rows = []
    for user_id in np.unique(labels.annotator):
        mine = labels.annotator == user_id
        gold = mine & labels.has_gold
        rows.append(
            {
                "annotator": names.get(int(user_id), str(user_id)),
                "n": int(mine.sum()),
                "agreement_with_consensus": _round(_nanmean(consensus[mine])),
                "gold_accuracy": _round(gold_hits[gold].mean()) if gold.any() else None,
                "median_seconds": float(np.median(labels.seconds[mine])),
                "position_bias": _round(labels.first_shown_best[mine].mean()),
            }
        )
    return sorted(rows, key=lambda row: row["annotator"])


def prompt_agreement(*, project: Project) -> dict[int, float]:
    """Pairwise agreement of each prompt that at least two annotators labelled."""
    labels = labels_load(project=project)
    if len(labels.prompt) == 0:
        return {}
    result = st.pairwise_agreement(labels.prompt, labels.verdicts(), len(labels.prompt_ids))
    labelled_twice = result.comparisons > 0
    return dict(
        zip(
            labels.prompt_ids[labelled_twice].tolist(),
            result.per_prompt[labelled_twice].tolist(),
            strict=True,
        )
    )


def agreement_report(*, project: Project) -> dict:
    from django.contrib.auth import get_user_model

    labels = labels_load(project=project)
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
        "annotators": annotator_rows(labels, names),
        # Model-vs-human accuracy arrives with reward-model scoring (issue 7).
        "reward_model": {},
    }


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _round(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 4)


def _interval(bounds: tuple[float, float]) -> list[float | None]:
    return [_round(bounds[0]), _round(bounds[1])]
