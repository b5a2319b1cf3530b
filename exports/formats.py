"""The rows of each export format (DESIGN.md sections 5 and 6), streamed from the stored
pairwise preferences and annotations in a fixed order, so the same filters over the same
data give the same rows.

Rows come from one streaming query; the texts of prompts and responses are fetched per
chunk of rows, for the prompts that chunk needs, so memory stays flat however big the
project is.
"""

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.db.models import QuerySet
from django.db.models.functions import Greatest, Least

from exports.filters import ExportFilters
from labelling.models import Project, Prompt, Response
from ranking.selectors import annotations_for, preferences_for

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
    def load(cls, project: Project, rows: list[tuple]) -> "Texts":
        """The texts of a chunk of rows whose first item is a prompt id. Rows come
        ordered by prompt, so their prompts are a range of ids: asking for the range is
        one cheap index scan, where a list of ids would be a long IN."""
        low, high = rows[0][0], rows[-1][0]
        texts = cls()
        for pk, ext, kind, content in Prompt.objects.filter(
            project=project, pk__gte=low, pk__lte=high
        ).values_list("pk", "external_id", "kind", "content"):
            texts.prompts[pk] = (ext, kind, content)
        # By prompt id alone (a join to check the project made PostgreSQL scan every
        # prompt); responses of another project's prompts in the range are skipped.
        for pk, prompt_id, ext, model, text in (
            Response.objects.filter(prompt_id__gte=low, prompt_id__lte=high)
            .order_by("prompt_id", "id")
            .values_list("pk", "prompt_id", "external_id", "model_name", "text")
        ):
            if prompt_id not in texts.prompts:
                continue
            texts.responses[pk] = (ext, model, text)
            texts.by_prompt.setdefault(prompt_id, []).append(pk)
        return texts


def _chunks(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    while chunk := list(islice(rows, CHUNK)):
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
    return preferences_for(
        project=project,
        versions=filters.guideline_versions,
        min_version=filters.min_guideline_version,
        since=filters.since,
        until=filters.until,
        include_ties=ties,
        include_rejected=filters.include_rejected,
        include_flagged=filters.include_flagged,
        models=filters.models,
    )


def annotations(project: Project, filters: ExportFilters) -> QuerySet:
    rows = annotations_for(
        project=project,
        versions=filters.guideline_versions,
        min_version=filters.min_guideline_version,
        since=filters.since,
        until=filters.until,
        include_rejected=filters.include_rejected,
    )
    if filters.min_agreement is not None:
        rows = rows.filter(prompt__agreement__gte=filters.min_agreement)
    return rows


# --- the formats ---------------------------------------------------------------------------


class Stats:
    """What the manifest counts, gathered as the rows are made (per chunk where the
    rows are many, so no per-row bookkeeping slows the stream)."""

    def __init__(self) -> None:
        self.splits = {"train": 0, "test": 0}
        self.prompts: set[str] = set()
        self.annotators: set[int] = set()
        self.versions: set[int] = set()
        self.models: set[str] = set()

    def add_chunk(self, chunk: list[tuple], texts: "Texts", splits: dict, project) -> None:
        """Rows of (prompt, chosen, rejected, margin, annotator, version)."""
        for prompt_id, count in Counter(row[0] for row in chunk).items():
            self.splits[splits[prompt_id]] += count
            self.prompts.add(texts.prompts[prompt_id][0])
        self.annotators.update(row[4] for row in chunk)
        self.versions.update(row[5] for row in chunk)
        responses = {row[1] for row in chunk} | {row[2] for row in chunk}
        self.models.update(texts.responses[rid][1] for rid in responses)

    def add(self, row: dict, *, annotator: int | None = None) -> None:
        self.splits[row["split"]] += 1
        self.prompts.add(row["prompt_id"])
        if annotator is not None:
            self.annotators.add(annotator)
        if "guideline_versions" in row:
            self.versions.update(row["guideline_versions"])
        else:
            self.versions.add(row["guideline_version"])
        if "chosen_model" in row:
            self.models.update((row["chosen_model"], row["rejected_model"]))
        else:
            self.models.update(r["model"] for r in row["responses"])

    def counts(self) -> dict:
        counts = {
            "rows": self.splits["train"] + self.splits["test"],
            **self.splits,
            "prompts": len(self.prompts),
        }
        if self.annotators:
            counts["annotators"] = len(self.annotators)
        return counts


@dataclass
class Source:
    """A format's rows, how much work they are (for progress: done / total), and what the
    manifest will count once the rows have been read. Where `batches` is given, it is the
    same rows as Arrow record batches (a writer reads one or the other, never both)."""

    total: int
    rows: Iterator[dict]
    columns: list[str]
    stats: Stats
    conversational: bool  # prompts as message lists (the manifest says so)
    batches: Iterator | None = None


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
    stats = Stats()

    def prepared() -> Iterator[tuple]:
        """Chunks of rows with everything a row repeats (a prompt's value, a response
        as a completion, a pseudonym, a split) worked out once per chunk."""
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
            texts = Texts.load(project, chunk)
            prompts = {row[0] for row in chunk}
            splits = {p: split_of(texts.prompts[p][0], test_fraction) for p in prompts}
            stats.add_chunk(chunk, texts, splits, project)
            for annotator_id in {row[4] for row in chunk} - pseudonyms.keys():
                pseudonyms[annotator_id] = annotator_pseudonym(project, annotator_id)
            prompt_values = {
                p: (texts.prompts[p][0], _prompt_value(*texts.prompts[p][1:], conversational))
                for p in prompts
            }
            responses = {
                rid: (ext, model, _completion(text, conversational))
                for rid, (ext, model, text) in texts.responses.items()
            }
            yield chunk, texts, splits, pseudonyms, prompt_values, responses

    def generate() -> Iterator[dict]:
        for chunk, texts, splits, pseudonyms, prompt_values, responses in prepared():
            if hh:
                yield from _hh_rows(chunk, texts, splits, pseudonyms)
                continue
            for prompt_id, chosen, rejected, margin, annotator_id, version in chunk:
                ext, prompt = prompt_values[prompt_id]
                c_ext, c_model, c_value = responses[chosen]
                r_ext, r_model, r_value = responses[rejected]
                yield {
                    "prompt": prompt,
                    "chosen": c_value,
                    "rejected": r_value,
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

    def batches() -> Iterator:
        """The same rows as Arrow record batches, one a chunk, for Parquet. No Python
        object is made per row: each text column is the chunk's few distinct values
        taken by index (numpy finds the indices)."""
        import numpy as np
        import pyarrow as pa

        schema = parquet_schema("pairwise", conversational)
        types = {field.name: field.type for field in schema}
        for chunk, _texts, splits, pseudonyms, prompt_values, responses in prepared():
            data = np.array(chunk, dtype=np.int64)
            prompt_keys = np.array(sorted(prompt_values), dtype=np.int64)
            response_keys = np.array(sorted(responses), dtype=np.int64)
            annotator_keys = np.unique(data[:, 4])
            at_prompt = pa.array(np.searchsorted(prompt_keys, data[:, 0]))
            at_chosen = pa.array(np.searchsorted(response_keys, data[:, 1]))
            at_rejected = pa.array(np.searchsorted(response_keys, data[:, 2]))
            at_annotator = pa.array(np.searchsorted(annotator_keys, data[:, 4]))

            def values(keys, pick, name, lookup):
                return pa.array([pick(lookup[int(k)]) for k in keys], types[name])

            ext_of_response = values(response_keys, lambda r: r[0], "chosen_id", responses)
            model_of_response = values(response_keys, lambda r: r[1], "chosen_model", responses)
            completion = values(response_keys, lambda r: r[2], "chosen", responses)
            columns = {
                "prompt": values(prompt_keys, lambda p: p[1], "prompt", prompt_values).take(
                    at_prompt
                ),
                "chosen": completion.take(at_chosen),
                "rejected": completion.take(at_rejected),
                "margin": pa.array(data[:, 3], pa.int64()),
                "prompt_id": values(prompt_keys, lambda p: p[0], "prompt_id", prompt_values).take(
                    at_prompt
                ),
                "chosen_id": ext_of_response.take(at_chosen),
                "rejected_id": ext_of_response.take(at_rejected),
                "chosen_model": model_of_response.take(at_chosen),
                "rejected_model": model_of_response.take(at_rejected),
                "annotator": values(annotator_keys, lambda a: a, "annotator", pseudonyms).take(
                    at_annotator
                ),
                "guideline_version": pa.array(data[:, 5], pa.int64()),
                "split": values(prompt_keys, lambda p: p, "split", splits).take(at_prompt),
            }
            yield pa.RecordBatch.from_arrays([columns[n] for n in schema.names], schema=schema)

    return Source(
        total=rows.count(),
        rows=generate(),
        batches=None if hh else batches(),
        columns=HH_COLUMNS if hh else PAIRWISE_COLUMNS,
        stats=stats,
        conversational=conversational,
    )


def _hh_rows(chunk, texts: Texts, splits: dict, pseudonyms: dict) -> Iterator[dict]:
    for prompt_id, chosen, rejected, _margin, annotator_id, version in chunk:
        ext, kind, content = texts.prompts[prompt_id]
        c_ext, c_model, c_text = texts.responses[chosen]
        r_ext, r_model, r_text = texts.responses[rejected]
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


def consensus_rows(project: Project, filters: ExportFilters, test_fraction: float) -> Source:
    """One row per response pair of a prompt: the majority direction over its annotators.

    Every counted vote enters (ties too, whatever `include_ties` says); a pair whose
    decisive votes are even is a tie, kept only with `include_ties`; `min_agreement`
    drops pairs whose agreement is lower."""
    rows = preferences(project, filters, ties=True).annotate(
        low=Least("chosen_id", "rejected_id"), high=Greatest("chosen_id", "rejected_id")
    )
    conversational = is_conversational(project)
    stats = Stats()

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
            yield from _consensus_of(ready, project, filters, test_fraction, conversational, stats)
        yield from _consensus_of(pending, project, filters, test_fraction, conversational, stats)

    return Source(
        total=rows.count(),
        rows=generate(),
        columns=CONSENSUS_COLUMNS,
        stats=stats,
        conversational=conversational,
    )


def _consensus_of(
    rows, project, filters, test_fraction, conversational, stats: Stats
) -> Iterator[dict]:
    if not rows:
        return
    texts = Texts.load(project, rows)
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
        row = {
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
        stats.add(row)
        yield row


def annotation_rows(project: Project, filters: ExportFilters, test_fraction: float) -> Source:
    """Every annotation as recorded, with response external ids in place of database ids."""
    rows = annotations(project, filters)
    conversational = is_conversational(project)
    stats = Stats()

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
            texts = Texts.load(project, chunk)
            for (
                prompt_id, ranking, ratings, critiques, flags, comment, seconds, order,
                version, annotator_id, edit, rejected, reason, created_at,
            ) in chunk:  # fmt: skip
                if not filters.include_flagged and any(flags.values()):
                    continue
                ext_of = {rid: texts.responses[rid][0] for rid in texts.by_prompt[prompt_id]}
                ext, kind, content = texts.prompts[prompt_id]
                row = {
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
                stats.add(row, annotator=annotator_id)
                yield row

    return Source(
        total=rows.count(),
        rows=generate(),
        columns=ANNOTATION_COLUMNS,
        stats=stats,
        conversational=conversational,
    )


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


def parquet_schema(format: str, conversational: bool):
    """The Arrow schema of a Parquet export: message lists where the project is
    conversational, strings otherwise."""
    import pyarrow as pa

    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    text = messages if conversational else pa.string()
    ids = [
        ("prompt_id", pa.string()),
        ("chosen_id", pa.string()),
        ("rejected_id", pa.string()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
    ]
    head = [("prompt", text), ("chosen", text), ("rejected", text)]
    if format == "pairwise":
        return pa.schema(
            [*head, ("margin", pa.int64()), *ids, ("annotator", pa.string()),
             ("guideline_version", pa.int64()), ("split", pa.string())]
        )  # fmt: skip
    return pa.schema(
        [*head, ("margin", pa.float64()), *ids, ("votes_for", pa.int64()),
         ("votes_against", pa.int64()), ("ties", pa.int64()), ("agreement", pa.float64()),
         ("guideline_versions", pa.list_(pa.int64())), ("split", pa.string())]
    )  # fmt: skip
