from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from labelling.guidelines import MAX_BODY, METADATA_KEY
from labelling.inputs import ascii_int
from labelling.models import Annotation, Membership
from labelling.prompts import Order, PromptFilters, Status
from labelling.visibility import labels_by_letter


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("JSONL file"),
        help_text=_(
            "One prompt a line, with its responses. Nothing is imported if any line is bad."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".jsonl,.ndjson,.json,application/jsonl"}),
    )


class MemberForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(_("No user has this username."))
        self.cleaned_data["user"] = user
        return username


def form_values(post: QueryDict, *, response_ids: list, criteria: list[dict]) -> dict:
    """The labelling form's fields as they were typed, keyed by how the form names the
    responses (the annotator's letters; a reviewer's form, response ids).

    Fields: rank-<name> (1 = best; equal ranks are a tie), rating-<name>-<criterion>,
    critique-<name>, flag-<name> (several), none_acceptable, comment.
    """
    flags = {str(rid): post.getlist(f"flag-{rid}") for rid in response_ids}
    if post.get("none_acceptable"):
        flags["all"] = ["none_acceptable"]
    return {
        "rank": {
            rid: rank
            for rid in response_ids
            if (rank := ascii_int(post.get(f"rank-{rid}", ""))) is not None
        },
        "ratings": {
            rid: {
                c["key"]: _signed(value)
                for c in criteria
                if _signed(value := post.get(f"rating-{rid}-{c['key']}", "")) is not None
            }
            for rid in response_ids
        },
        "critiques": {rid: post.get(f"critique-{rid}", "") for rid in response_ids},
        "flags": flags,
        "comment": post.get("comment", ""),
    }


def _signed(text: str) -> int | None:
    """A whole number typed in a form: ASCII digits, perhaps after a minus sign."""
    number = ascii_int(text.removeprefix("-"))
    return None if number is None else (-number if text.startswith("-") else number)


def labels_from_values(values: dict, *, response_ids: list) -> dict:
    """Typed form values as the API's submission body, so that one set of rules
    (labelling.rules) judges both doors."""
    groups: dict[int, list] = {}
    for rid, rank in values["rank"].items():
        groups.setdefault(rank, []).append(rid)
    complete = len(values["rank"]) == len(response_ids)
    return {
        "ranking": [groups[rank] for rank in sorted(groups)] if complete else [],
        "ratings": {str(rid): scores for rid, scores in values["ratings"].items()},
        "critiques": {str(rid): text for rid, text in values["critiques"].items()},
        "comment": values["comment"],
        "flags": {key: value for key, value in values["flags"].items() if value},
    }


def labels_to_initial(annotation: Annotation, display_order: list[int]) -> dict:
    """A stored annotation as the labelling form's initial values (for reopening to
    edit), by the letters its annotator saw."""
    labels = labels_by_letter(annotation, display_order)
    return {
        "rank": {
            letter: index + 1 for index, group in enumerate(labels["ranking"]) for letter in group
        },
        "ratings": labels["ratings"],
        "critiques": labels["critiques"],
        "flags": labels["flags"],
        "comment": annotation.comment,
    }


class GuidelineForm(forms.Form):
    body = forms.CharField(
        label=_("Guidelines (markdown)"),
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "true"}),
        max_length=MAX_BODY,
        strip=False,
    )
    change_summary = forms.CharField(
        label=_("What changed"),
        help_text=_("Annotators read this first, above the word-by-word changes."),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )
    qualification_set = forms.TypedChoiceField(
        label=_("Ask every rater to qualify again"),
        help_text=_(
            "A draft qualification set raters pass before their next item; they are told "
            "what changed as the reason."
        ),
        required=False,
        coerce=int,
        empty_value=None,
    )

    def __init__(self, *args: Any, sets: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.TypedChoiceField, self.fields["qualification_set"])
        field.choices = [("", _("No: keep the qualification as it is")), *sets]
        if not sets:
            del self.fields["qualification_set"]


class RelabelForm(forms.Form):
    annotations_wanted = forms.IntegerField(
        label=_("Fresh annotations per prompt"), min_value=1, max_value=50
    )
    versions = forms.TypedMultipleChoiceField(
        label=_("Only prompts labelled under"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every prompt whose labels all predate the current version."),
    )
    metadata_key = forms.RegexField(label=_("Metadata key"), regex=METADATA_KEY, required=False)
    metadata_value = forms.CharField(label=_("equals"), required=False, max_length=200)
    max_agreement = forms.FloatField(
        label=_("Only prompts with agreement at most"),
        min_value=0,
        max_value=1,
        required=False,
        help_text=_("Pairwise agreement from 0 to 1, e.g. 0.6; empty: any agreement."),
    )
    repeat_allowed = forms.BooleanField(
        label=_("People who labelled a prompt before may label it again"), required=False
    )

    def __init__(self, *args: Any, versions: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions_field = cast(forms.TypedMultipleChoiceField, self.fields["versions"])
        versions_field.choices = [(v, f"v{v}") for v in versions]

    def clean(self) -> dict[str, Any]:
        # Django's Form.clean returns the cleaned data; the stub allows None for overrides.
        data = cast(dict[str, Any], super().clean())
        if bool(data.get("metadata_key")) != bool(data.get("metadata_value")):
            raise forms.ValidationError(_("Give both a metadata key and its value, or neither."))
        return data


class PromptFilterForm(forms.Form):
    """The prompt browser's search (labelling.prompts.PromptFilters), sent as GET."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=200,
        help_text=_("Words of the prompt, or a prompt's or response's id."),
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any status")), *Status.choices]
    )
    version = forms.TypedChoiceField(
        label=_("Labelled under"), required=False, coerce=int, empty_value=None
    )
    agreement_below = forms.FloatField(
        label=_("Agreement below"),
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05", "inputmode": "decimal"}),
    )
    metadata_key = forms.RegexField(
        label=_("Metadata key"),
        regex=METADATA_KEY,
        required=False,
        error_messages={"invalid": _("A key is a name of letters, digits and _.")},
    )
    metadata_value = forms.CharField(label=_("Metadata value"), required=False, max_length=200)
    gold = forms.ChoiceField(
        label=_("Gold"),
        required=False,
        choices=[("", _("Gold or not")), ("yes", _("Gold only")), ("no", _("Not gold"))],
    )
    order = forms.ChoiceField(label=_("Order"), required=False, choices=Order.choices)

    def __init__(self, *args: Any, versions: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        version = cast(forms.TypedChoiceField, self.fields["version"])
        version.choices = [("", _("Any version"))] + [
            (v, _("Guidelines v%(v)d") % {"v": v}) for v in range(versions, 0, -1)
        ]

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())
        if bool(data.get("metadata_key")) != bool(data.get("metadata_value")):
            raise forms.ValidationError(_("Give both a metadata key and its value, or neither."))
        return data

    def filters(self) -> PromptFilters:
        """What the form asks for: its valid fields (the page marks the others)."""
        self.is_valid()
        data = self.cleaned_data
        key, value = data.get("metadata_key"), data.get("metadata_value")
        gold = data.get("gold")
        return PromptFilters(
            text=(data.get("q") or "").strip(),
            metadata=(key, value) if key and value else None,
            status=data.get("status") or "",
            guideline_version=data.get("version"),
            agreement_below=data.get("agreement_below"),
            gold=None if not gold else gold == "yes",
            order=data.get("order") or Order.IMPORTED,
        )
