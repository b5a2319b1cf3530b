"""The dataset card of a folder export (README.md with YAML front matter, as the Hugging
Face Hub reads it) and LLaMA-Factory's `dataset_info.json` entry (issue 14).

The card's YAML names the configs (which file is which split), the features (the
columns' types, from the export's Arrow schema, so `load_dataset` casts the JSON lines
to them instead of guessing) and the splits with their row counts; its text gives the
provenance the manifest records, minus anything that changes between two runs of the
same export (its id, who made it, when), so the folder stays byte-identical.
"""

import json
import re

import pyarrow as pa
import yaml

from exports.writers import FileFacts

COLUMNS = {
    "prompt": "the prompt: a string, or messages [{role, content}] in conversational form",
    "conversations": "the prompt as messages [{role, content}] (LLaMA-Factory's ShareGPT form)",
    "chosen": "the response the rater(s) preferred",
    "rejected": "the response they ranked lower",
    "rank_gap": "how many rank groups apart the two responses were (1 = neighbours, 0 = tie)",
    "vote_margin": "(votes for - votes against) / all votes on the pair, ties included",
    "margin": "the margin asked for: its source times its scale (see the provenance)",
    "prompt_id": "the prompt's external id in the imported file",
    "chosen_id": "the chosen response's external id",
    "rejected_id": "the rejected response's external id",
    "chosen_model": "the model that wrote the chosen response",
    "rejected_model": "the model that wrote the rejected response",
    "annotator": "the rater's pseudonym, stable within the project (never a username)",
    "guideline_version": "the guideline version the label was made under",
    "guideline_versions": "the guideline versions of the votes",
    "chosen_rating": (
        "the rater's mean rating of the chosen response, each criterion scaled to 0..1"
    ),
    "rejected_rating": "the same for the rejected response",
    "chosen_ratings": "the rater's ratings of the chosen response: [{criterion, value}]",
    "rejected_ratings": "the same for the rejected response",
    "votes_for": "raters who preferred chosen",
    "votes_against": "raters who preferred rejected",
    "ties": "raters who tied the two",
    "agreement": "the largest of votes for, against and ties, over all votes",
    "responses": "every response of the prompt: [{id, model, text}]",
    "letters": "the letter the rater saw for each response: [{letter, response_id}]",
    "ranking": "the ranking as groups of response ids, best first (a group is a tie)",
    "ratings": "[{response_id, criterion, value}]",
    "critiques": "[{response_id, letter, text}]: letter is what the rater saw",
    "flags": "[{response_id, flag}]; response_id is null for a flag on the whole item",
    "comment": "the rater's comment (its letters are those of `letters`)",
    "seconds_spent": "seconds from lease to submission, measured by the server",
    "edit": "1 for a first submission, 2 and more for edits",
    "rejection_reason": "why a reviewer rejected it",
    "created_at": "when it was submitted (UTC)",
    "split": "train or test, by a stable hash of the prompt id",
}


# The annotations format's own meaning of a name the pair formats use otherwise.
ANNOTATION_COLUMNS = {
    "rejected": "whether a reviewer rejected this annotation",
    "prompt": "the prompt as messages [{role, content}] (a text prompt is one user message)",
}


def describe(name: str, format: str) -> str:
    if format == "annotations" and name in ANNOTATION_COLUMNS:
        return ANNOTATION_COLUMNS[name]
    return COLUMNS.get(name, "")


def features_yaml(schema: pa.Schema) -> list[dict]:
    """The schema as the card's `dataset_info.features`, in the form `datasets` writes
    (datasets.Features._to_yaml_list, which the tests hold this to)."""
    return [{"name": f.name, **_feature(f.type)} for f in schema]


def _feature(type_: pa.DataType) -> dict:
    if pa.types.is_struct(type_):
        return {"struct": [{"name": f.name, **_feature(f.type)} for f in type_]}
    if pa.types.is_list(type_):
        inner = _feature(type_.value_type)
        return {"list": inner["dtype"] if list(inner) == ["dtype"] else inner.get("struct", inner)}
    names = {
        pa.string(): "string",
        pa.int64(): "int64",
        pa.float64(): "float64",
        pa.bool_(): "bool",
    }
    return {"dtype": names[type_]}


def _cell(text: object) -> str:
    """A value for a Markdown table cell: one line, pipes escaped."""
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|")


def dataset_card(*, manifest: dict, schema: pa.Schema, files: list[FileFacts]) -> str:
    counts = manifest["counts"]
    # `datasets` refuses to load a split that has no rows ("corresponds to no data"), so
    # the card declares only the splits that have some; an empty file stays in the folder
    # and in the table of files below.
    split_files = [f for f in files if f.split]
    splits = [f for f in split_files if f.rows]
    front = {
        "pretty_name": f"{manifest['project']['name']} · {manifest['format']}",
        "tags": ["rlhf", "preference", manifest["format"]],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": f.split, "path": f.path} for f in splits],
            }
        ],
        "dataset_info": {
            "features": features_yaml(schema),
            # `datasets` wants num_bytes beside num_examples or ignores the splits; it
            # means the split's size in Arrow, which only loading it tells, and checks
            # num_examples alone: the file's size stands in.
            "splits": [
                {"name": f.split, "num_bytes": f.bytes, "num_examples": f.rows} for f in splits
            ],
        },
    }
    options = manifest["options"]
    margin = options.get("margin")
    gold = manifest["gold"]
    provenance = [
        ("project", manifest["project"]["name"]),
        ("format", f"{manifest['format']}, flavour {options['flavour']}"),
        ("conversational", "yes" if manifest["conversational"] else "no"),
        (
            "margin",
            f"{margin['source']} times {margin['scale']}"
            if margin
            else "none (no `margin` column)",
        ),
        ("filters", json.dumps(manifest["filters"], sort_keys=True) or "{}"),
        (
            "test share",
            f"{manifest['test_fraction']} of the prompts, by a hash of the prompt id: "
            "no prompt is in both splits",
        ),
        (
            "rows",
            f"{counts['rows']} ({counts['train']} train, {counts['test']} test) from "
            f"{counts['prompts']} prompts"
            + (f" and {counts['annotators']} raters" if counts.get("annotators") else ""),
        ),
        ("guideline versions", ", ".join(map(str, manifest["guideline_versions"])) or "—"),
        ("models", ", ".join(manifest["models"]) or "—"),
        (
            "gold prompts",
            f"{gold['prompts']} in the project, "
            + ("included" if gold["included"] else "left out (they measure raters)"),
        ),
        ("retired prompts", f"{manifest['retired']['prompts']} in the project, left out"),
        (
            "raters left out as flagged",
            ", ".join(manifest["raters"]["flagged_left_out"]) or "none",
        ),
        ("software", f"{manifest['software']['name']} {manifest['software']['version']}"),
    ]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {_cell(manifest['project']['name'])}: {manifest['format']} preferences",
        "",
        "Exported from a preference-labelling project: every row traces back to its prompt,",
        "responses, models, guideline version and (pseudonymous) rater.",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {key} | {_cell(value)} |" for key, value in provenance),
        "",
        "## Files",
        "",
        "| file | split | rows | sha256 |",
        "| --- | --- | --- | --- |",
        *(f"| `{f.path}` | {f.split or ''} | {f.rows} | `{f.sha256}` |" for f in split_files),
        "",
        "## Columns",
        "",
        *(f"- `{name}`: {describe(name, manifest['format'])}" for name in schema.names),
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'dataset = load_dataset("path/to/this/folder")  # train and test',
        "```",
        "",
    ]
    return "\n".join(lines)


def llamafactory_entry(*, name: str, files: list[FileFacts]) -> dict:
    """LLaMA-Factory's `dataset_info.json` for the folder: one dataset per split (its
    loader reads every file of a folder into one split, so each entry names one file)."""
    entry = {
        "formatting": "sharegpt",
        "ranking": True,
        "columns": {"messages": "conversations", "chosen": "chosen", "rejected": "rejected"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }
    info = {}
    for f in files:
        if f.split and f.rows:  # an empty file is no dataset to train or evaluate on
            key = name if f.split == "train" else f"{name}_{f.split}"
            info[key] = {"file_name": f.path, **entry}
    return info
