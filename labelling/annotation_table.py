"""A prompt's annotations side by side, as the review page and the prompt browser show
them: responses lettered in the file's order, every annotation beside the letters its
own annotator saw (their critiques and comment say "A" for what they saw as A)."""

from labelling.models import Annotation, Project, Response


def response_letters(responses: list[Response]) -> dict[int, str]:
    """The viewer's letters: A for the first response of the imported file."""
    ordered = sorted(responses, key=lambda r: r.position)
    return {r.pk: chr(ord("A") + i) for i, r in enumerate(ordered)}


def ranking_text(ranking: list[list[int]], letters: dict[int, str]) -> str:
    """Groups of response ids as letters: "B > A = C"."""
    return " > ".join(" = ".join(letters[rid] for rid in group) for group in ranking)


def _seen_as(display_order: list[int], response_id: int) -> str:
    """The letter under which the annotator saw this response."""
    return chr(ord("A") + display_order.index(response_id)) if response_id in display_order else ""


def annotation_columns(
    *,
    project: Project,
    annotations: list[Annotation],
    letters: dict[int, str],
    names: dict[int, str],
) -> list[dict]:
    """One column per annotation, its rows in the viewer's letter order; `names` is how
    the viewer sees each annotator (labelling.visibility.annotator_names)."""
    in_order = sorted(letters, key=letters.__getitem__)
    return [
        {
            "annotation": a,
            "name": names.get(a.annotator_id, ""),
            "ranking": ranking_text(a.ranking, letters),
            "their_letters": [
                (chr(ord("A") + i), letters[rid])
                for i, rid in enumerate(a.display_order)
                if rid in letters
            ],
            "rows": [
                {
                    "letter": letters[rid],
                    "seen_as": _seen_as(a.display_order, rid),
                    "ratings": [
                        (c["label"], a.ratings.get(str(rid), {}).get(c["key"]))
                        for c in project.criteria
                    ],
                    "critique": a.critiques.get(str(rid), ""),
                    "flags": a.flags.get(str(rid), []),
                }
                for rid in in_order
            ],
            "none_acceptable": "none_acceptable" in a.flags.get("all", []),
        }
        for a in annotations
    ]
