"""The rows of each export format (DESIGN.md sections 5 and 6), streamed from the stored
pairwise preferences and annotations in a fixed order, so the same filters over the same
data give the same rows.

Rows come from one streaming query; the texts of prompts and responses are fetched per
chunk of rows, for the prompts that chunk needs, so memory stays flat however big the
project is.
"""

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.db.models.functions import Greatest, Least

from exports.filters import ExportFilters
from labelling.models import Annotation, Project, Prompt, Response
from ranking.models import PairwisePreference

CHUNK = 10_000


def split_of(external_id: str, test_fraction: float) -> str:
    """ "test" for a stable share `test_fraction` of prompts, by a hash of the prompt's
    external id: the same prompt always lands on the same side, in every export."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(external_id.encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def annotator_pseudonym(project: Project, user_id: int) -> str:
    """A stable, pseudonymous annotator id: never a username or email, and not
    computable from a user id without the project's secret key."""
    digest = hashlib.sha256(f"{project.pseudonym_key}:{user_id}".encode()).hexdigest()
    return f"ann-{digest[:12]}"


def is_conversational(project: Project) -> bool:
    """A project with any chat prompt exports every prompt as a message list (a text
    prompt becomes one user message): one dataset cannot mix TRL's standard and
    conversational forms, and a column cannot mix strings and lists."""
    return Prompt.objects.filter(project=project, kind=Prompt.Kind.CHAT).exists()


@dataclass
class Texts:
    """Prompts and responses of the prompts a chunk of rows needs."""

    prompts: dict[int, tuple[str, str, object]] = field(default_factory=dict)  # ext, kind, content
    responses: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # ext, model, text
    by_prompt: dict[int, list[int]] = field(default_factory=dict)  # response ids, by id

    @classmethod
    def load(cls, prompt_ids: Iterable[int]) -> "Texts":
        ids = sorted(set(prompt_ids))
        texts = cls()
        for pk, ext, kind, content in Prompt.objects.filter(pk__in=ids).values_list(
            "pk", "external_id", "kind", "content"
        ):
            texts.prompts[pk] = (ext, kind, content)
        for pk, prompt_id, ext, model, text in (
            Response.objects.filter(prompt_id__in=ids)
            .order_by("prompt_id", "id")
            .values_list("pk", "prompt_id", "external_id", "model_name", "text")
        ):
            texts.responses[pk] = (ext, model, text)
            texts.by_prompt.setdefault(prompt_id, []).append(pk)
        return texts


def _chunks(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _prompt_value(kind: str, content, conversational: bool):
    if not conversational:
        return content
    if kind == Prompt.Kind.CHAT:
        return [{"role": m["role"], "content": m["content"]} for m in content]
    return [{"role": "user", "content": content}]


def _completion(text: str, conversational: bool):
    return [{"role": "assistant", "content": text}] if conversational else text


def hh_transcript(kind: str, content, response: str) -> str:
    """Anthropic HH-RLHF style: "\\n\\nHuman: ...\\n\\nAssistant: ..." turns, the
    response as the last Assistant turn. A system message leads as "\\n\\nSystem: ..."
    (HH has none; dropping it would lose what the response answered to)."""
    roles = {"user": "Human", "assistant": "Assistant", "system": "System"}
    turns = content if kind == Prompt.Kind.CHAT else [{"role": "user", "content": content}]
    body = "".join(f"\n\n{roles[m['role']]}: {m['content']}" for m in turns)
    return f"{body}\n\nAssistant: {response}"


# --- the queries ---------------------------------------------------------------------------


def preferences(project: Project, filters: ExportFilters, *, ties: bool) -> QuerySet:
    rows = PairwisePreference.objects.filter(project=project)
    if not filters.include_rejected:
        rows = rows.filter(annotation_rejected=False)
    if not filters.include_flagged:
        rows = rows.filter(flagged=False)
    if not ties:
        rows = rows.filter(is_tie=False)
    if filters.guideline_versions:
        rows = rows.filter(guideline_version__in=filters.guideline_versions)
    if filters.min_guideline_version:
        rows = rows.filter(guideline_version__gte=filters.min_guideline_version)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.models:
        rows = rows.filter(
            chosen__model_name__in=filters.models, rejected__model_name__in=filters.models
        )
    return rows


def annotations(project: Project, filters: ExportFilters) -> QuerySet:
    rows = Annotation.objects.filter(project=project, is_current=True)
    if not filters.include_rejected:
        rows = rows.filter(rejected=False)
    if filters.guideline_versions:
        rows = rows.filter(guideline_version__in=filters.guideline_versions)
    if filters.min_guideline_version:
        rows = rows.filter(guideline_version__gte=filters.min_guideline_version)
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    if filters.min_agreement is not None:
        rows = rows.filter(prompt__agreement__gte=filters.min_agreement)
    return rows


# --- the formats ---------------------------------------------------------------------------


@dataclass
class Source:
    """A format's rows and how much work they are (for progress: done / total)."""

    total: int
    rows: Iterator[dict]
    columns: list[str]


PAIRWISE_COLUMNS = [
    "prompt", "chosen", "rejected", "margin", "prompt_id", "chosen_id", "rejected_id",
    "chosen_model", "rejected_model", "annotator", "guideline_version", "split",
]  # fmt: skip
HH_COLUMNS = [
    "chosen", "rejected", "prompt_id", "chosen_id", "rejected_id", "chosen_model",
    "rejected_model", "annotator", "guideline_version", "split",
]  # fmt: skip
CONSENSUS_COLUMNS = [
    "prompt", "chosen", "rejected", "margin", "prompt_id", "chosen_id", "rejected_id",
    "chosen_model", "rejected_model", "votes_for", "votes_against", "ties", "agreement",
    "guideline_versions", "split",
]  # fmt: skip
ANNOTATION_COLUMNS = [
    "prompt_id", "prompt", "responses", "ranking", "ratings", "critiques", "flags", "comment",
    "seconds_spent", "display_order", "guideline_version", "annotator", "edit", "rejected",
    "rejection_reason", "created_at", "split",
]  # fmt: skip


def pairwise_rows(
    project: Project, filters: ExportFilters, test_fraction: float, *, hh: bool = False
) -> Source:
    """One row per annotator and non-tied pair (ties too with `include_ties`, margin 0,
    the lower-id response named chosen)."""
    rows = preferences(project, filters, ties=filters.include_ties)
    if filters.min_agreement is not None:
        rows = rows.filter(prompt__agreement__gte=filters.min_agreement)
    conversational = is_conversational(project)

    def generate() -> Iterator[dict]:
        stream = (
            rows.order_by("prompt_id", "annotation_id", "chosen_id", "rejected_id")
            .values_list(
                "prompt_id",
                "chosen_id",
                "rejected_id",
                "margin",
                "annotator_id",
                "guideline_version",
            )
            .iterator(chunk_size=CHUNK)
        )
        pseudonyms: dict[int, str] = {}
        for chunk in _chunks(stream):
            texts = Texts.load(row[0] for row in chunk)
            prompt_values: dict[int, object] = {}
            splits: dict[int, str] = {}
            for prompt_id, chosen, rejected, margin, annotator_id, version in chunk:
                ext, kind, content = texts.prompts[prompt_id]
                c_ext, c_model, c_text = texts.responses[chosen]
                r_ext, r_model, r_text = texts.responses[rejected]
                if annotator_id not in pseudonyms:
                    pseudonyms[annotator_id] = annotator_pseudonym(project, annotator_id)
                if prompt_id not in splits:
                    splits[prompt_id] = split_of(ext, test_fraction)
                if hh:
                    yield {
                        "chosen": hh_transcript(kind, content, c_text),
                        "rejected": hh_transcript(kind, content, r_text),
                        "prompt_id": ext,
                        "chosen_id": c_ext,
                        "rejected_id": r_ext,
                        "chosen_model": c_model,
                        "rejected_model": r_model,
                        "annotator": pseudonyms[annotator_id],
                        "guideline_version": version,
                        "split": splits[prompt_id],
                    }
                    continue
                if prompt_id not in prompt_values:
                    prompt_values[prompt_id] = _prompt_value(kind, content, conversational)
                yield {
                    "prompt": prompt_values[prompt_id],
                    "chosen": _completion(c_text, conversational),
                    "rejected": _completion(r_text, conversational),
                    "margin": margin,
                    "prompt_id": ext,
                    "chosen_id": c_ext,
                    "rejected_id": r_ext,
                    "chosen_model": c_model,
                    "rejected_model": r_model,
                    "annotator": pseudonyms[annotator_id],
                    "guideline_version": version,
                    "split": splits[prompt_id],
                }

    return Source(
        total=rows.count(), rows=generate(), columns=HH_COLUMNS if hh else PAIRWISE_COLUMNS
    )


def consensus_rows(project: Project, filters: ExportFilters, test_fraction: float) -> Source:
    """One row per response pair of a prompt: the majority direction over its annotators.

    Every counted vote enters (ties too, whatever `include_ties` says); a pair whose
    decisive votes are even is a tie, kept only with `include_ties`; `min_agreement`
    drops pairs whose agreement is lower."""
    rows = preferences(project, filters, ties=True).annotate(
        low=Least("chosen_id", "rejected_id"), high=Greatest("chosen_id", "rejected_id")
    )
    conversational = is_conversational(project)

    def generate() -> Iterator[dict]:
        stream = (
            rows.order_by("prompt_id", "low", "high", "annotation_id")
            .values_list("prompt_id", "low", "high", "chosen_id", "is_tie", "guideline_version")
            .iterator(chunk_size=CHUNK)
        )
        pending: list[tuple] = []
        for chunk in _chunks(stream):
            # A pair's votes may run across two chunks: hold the last pair back.
            rows_now = pending + chunk
            last = rows_now[-1][:3]
            cut = len(rows_now)
            while cut and rows_now[cut - 1][:3] == last:
                cut -= 1
            ready, pending = rows_now[:cut], rows_now[cut:]
            yield from _consensus_of(ready, project, filters, test_fraction, conversational)
        yield from _consensus_of(pending, project, filters, test_fraction, conversational)

    return Source(total=rows.count(), rows=generate(), columns=CONSENSUS_COLUMNS)


def _consensus_of(rows, project, filters, test_fraction, conversational) -> Iterator[dict]:
    if not rows:
        return
    texts = Texts.load(row[0] for row in rows)
    index = 0
    while index < len(rows):
        prompt_id, low, high = rows[index][:3]
        low_votes = high_votes = ties = 0
        versions = set()
        while index < len(rows) and rows[index][:3] == (prompt_id, low, high):
            _p, _l, _h, chosen, is_tie, version = rows[index]
            if is_tie:
                ties += 1
            elif chosen == low:
                low_votes += 1
            else:
                high_votes += 1
            versions.add(version)
            index += 1
        if low_votes == high_votes and not filters.include_ties:
            continue
        total = low_votes + high_votes + ties
        agreement = max(low_votes, high_votes, ties) / total
        if filters.min_agreement is not None and agreement < filters.min_agreement:
            continue
        chosen, rejected = (high, low) if high_votes > low_votes else (low, high)
        votes_for, votes_against = max(low_votes, high_votes), min(low_votes, high_votes)
        ext, kind, content = texts.prompts[prompt_id]
        c_ext, c_model, c_text = texts.responses[chosen]
        r_ext, r_model, r_text = texts.responses[rejected]
        yield {
            "prompt": _prompt_value(kind, content, conversational),
            "chosen": _completion(c_text, conversational),
            "rejected": _completion(r_text, conversational),
            "margin": round((votes_for - votes_against) / total, 6),
            "prompt_id": ext,
            "chosen_id": c_ext,
            "rejected_id": r_ext,
            "chosen_model": c_model,
            "rejected_model": r_model,
            "votes_for": votes_for,
            "votes_against": votes_against,
            "ties": ties,
            "agreement": round(agreement, 6),
            "guideline_versions": sorted(versions),
            "split": split_of(ext, test_fraction),
        }


def annotation_rows(project: Project, filters: ExportFilters, test_fraction: float) -> Source:
    """Every annotation as recorded, with response external ids in place of database ids."""
    rows = annotations(project, filters)
    conversational = is_conversational(project)

    def generate() -> Iterator[dict]:
        stream = (
            rows.order_by("prompt_id", "id")
            .values_list(
                "prompt_id",
                "ranking",
                "ratings",
                "critiques",
                "flags",
                "comment",
                "seconds_spent",
                "display_order",
                "guideline_version",
                "annotator_id",
                "version",
                "rejected",
                "rejection_reason",
                "created_at",
            )
            .iterator(chunk_size=CHUNK)
        )
        for chunk in _chunks(stream):
            texts = Texts.load(row[0] for row in chunk)
            for (
                prompt_id, ranking, ratings, critiques, flags, comment, seconds, order,
                version, annotator_id, edit, rejected, reason, created_at,
            ) in chunk:  # fmt: skip
                if not filters.include_flagged and any(flags.values()):
                    continue
                ext_of = {rid: texts.responses[rid][0] for rid in texts.by_prompt[prompt_id]}
                ext, kind, content = texts.prompts[prompt_id]
                yield {
                    "prompt_id": ext,
                    "prompt": _prompt_value(kind, content, conversational),
                    "responses": [
                        {
                            "id": ext_of[rid],
                            "model": texts.responses[rid][1],
                            "text": texts.responses[rid][2],
                        }
                        for rid in texts.by_prompt[prompt_id]
                    ],
                    "ranking": [[ext_of[rid] for rid in group] for group in ranking],
                    "ratings": {
                        ext_of[int(rid)]: scores
                        for rid, scores in sorted(ratings.items(), key=lambda kv: int(kv[0]))
                    },
                    "critiques": {
                        ext_of[int(rid)]: text
                        for rid, text in sorted(critiques.items(), key=lambda kv: int(kv[0]))
                        if text
                    },
                    "flags": {
                        (key if key == "all" else ext_of[int(key)]): items
                        for key, items in sorted(flags.items())
                        if items
                    },
                    "comment": comment,
                    "seconds_spent": seconds,
                    "display_order": [ext_of[rid] for rid in order],
                    "guideline_version": version,
                    "annotator": annotator_pseudonym(project, annotator_id),
                    "edit": edit,
                    "rejected": rejected,
                    "rejection_reason": reason,
                    "created_at": created_at.isoformat(),
                    "split": split_of(ext, test_fraction),
                }

    return Source(total=rows.count(), rows=generate(), columns=ANNOTATION_COLUMNS)


def rows_for(export) -> Source:
    from exports.filters import filters_parse

    filters = filters_parse(export.filters, format=export.format)
    builders = {
        "pairwise": lambda: pairwise_rows(export.project, filters, export.test_fraction),
        "hh": lambda: pairwise_rows(export.project, filters, export.test_fraction, hh=True),
        "consensus": lambda: consensus_rows(export.project, filters, export.test_fraction),
        "annotations": lambda: annotation_rows(export.project, filters, export.test_fraction),
    }
    return builders[export.format]()
