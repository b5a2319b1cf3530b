"""The forms an admin sets a project up with (issue 17, point 1): its settings, and its
rating criteria built row by row (a formset: add, reorder, remove), never as raw JSON.

The bounds of every number are the model's (`SETTING_BOUNDS`), the same the API takes,
and the criteria are checked by the one rule (`labelling.criteria`)."""

import re
from typing import Any, cast

from django import forms
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _

from labelling.criteria import SCALE_LIMIT, criteria_errors
from labelling.guidelines import MAX_BODY
from labelling.models import SETTING_BOUNDS, Project

MAX_CRITERIA = 12


def _bounded(name: str, *, step: str | None = None) -> dict[str, Any]:
    low, high = SETTING_BOUNDS[name]
    attrs = {"step": step} if step else {}
    return {"min_value": low, "max_value": high, "widget": forms.NumberInput(attrs=attrs)}


class ProjectForm(forms.Form):
    """A project's settings; `guideline` only when it is created."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Shown to everyone in the project, above its figures."),
    )
    responses_per_prompt = forms.IntegerField(
        label=_("Responses per prompt"),
        help_text=_("Every imported prompt must have exactly this many."),
        **_bounded("responses_per_prompt"),
    )
    annotations_per_prompt = forms.IntegerField(
        label=_("Annotators per prompt (overlap)"),
        help_text=_("How many raters label each prompt before it is complete."),
        **_bounded("annotations_per_prompt"),
    )
    max_annotations_per_prompt = forms.IntegerField(
        label=_("At most, where raters disagree"),
        help_text=_(
            "0 keeps the overlap fixed. Above it, a prompt whose annotations have not settled "
            "asks for one more at a time, up to this; unsettled there, it goes to review."
        ),
        **_bounded("max_annotations_per_prompt"),
    )
    agreement_lead = forms.IntegerField(
        label=_("Settled when the majority leads by"),
        help_text=_(
            "On every pair of responses, the verdict given most (one better, the other, or a "
            "tie) is given this many more times than the next. 2: two raters who agree on "
            "everything are enough."
        ),
        **_bounded("agreement_lead"),
    )
    allow_ties = forms.BooleanField(label=_("Raters may rank responses as tied"), required=False)
    required_critiques = forms.ChoiceField(
        label=_("Critiques"), choices=Project.CritiqueRule.choices
    )
    gold_rate = forms.FloatField(
        label=_("Gold rate"),
        help_text=_("Share of served items that are gold prompts: 0.05 is one in twenty."),
        **_bounded("gold_rate", step="0.01"),
    )
    lease_minutes = forms.IntegerField(
        label=_("Lease (minutes)"),
        help_text=_("How long a rater holds an item before it returns to the queue."),
        **_bounded("lease_minutes"),
    )
    gold_threshold = forms.FloatField(
        label=_("Flag raters below this gold accuracy"), **_bounded("gold_threshold", step="0.05")
    )
    min_median_seconds = forms.IntegerField(
        label=_("Flag raters faster than (median seconds an item)"),
        **_bounded("min_median_seconds"),
    )
    consensus_threshold = forms.FloatField(
        label=_("Flag raters surely below this agreement with the others"),
        help_text=_(
            "Needs no gold: a rater's agreement with the consensus of the others, flagged "
            "when even its 95% upper bound is below this. A random rater agrees about half "
            "the time."
        ),
        **_bounded("consensus_threshold", step="0.05"),
    )
    pause_window = forms.IntegerField(
        label=_("Pause raters over their last (items)"),
        help_text=_(
            "0: never. Otherwise a rater whose last this many gold items score below the gold "
            "threshold, or who agrees with the others below the consensus threshold over their "
            "last this many shared items, gets no new item until an admin or reviewer resumes "
            "them."
        ),
        **_bounded("pause_window"),
    )
    review_below = forms.FloatField(
        label=_("Send prompts to review below this agreement"),
        **_bounded("review_below", step="0.05"),
    )
    guideline = forms.CharField(
        label=_("Guidelines, version 1 (markdown)"),
        required=False,
        max_length=MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Empty: a short default to edit later. Later versions are published from the "
            "guidelines page."
        ),
    )

    # The settings this form edits (the criteria have their builder).
    SETTINGS = ["description", *(f for f in Project.SETTINGS_FIELDS if f != "criteria")]

    def __init__(self, *args: Any, project: Project | None = None, **kwargs: Any) -> None:
        self.project = project
        if project is not None:
            kwargs.setdefault(
                "initial",
                {"name": project.name, **{f: getattr(project, f) for f in self.SETTINGS}},
            )
        super().__init__(*args, **kwargs)
        if project is not None:
            del self.fields["guideline"]
            if project.prompts.exists():
                field = self.fields["responses_per_prompt"]
                field.disabled = True
                field.help_text = _("Fixed: prompts are imported, and each was checked against it.")


def _key_from(label: str) -> str:
    """A criterion's key made from its label: lower-case words joined by underscores."""
    key = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40]
    return key if key[:1].isalpha() else f"c_{key}"[:40]


class CriterionForm(forms.Form):
    label = forms.CharField(label=_("Criterion"), max_length=100)
    key = forms.CharField(
        label=_("Key"),
        required=False,
        max_length=40,
        help_text=_("How exports name it; made from the label if empty."),
    )
    low = forms.IntegerField(
        label=_("Lowest"), initial=1, min_value=-SCALE_LIMIT, max_value=SCALE_LIMIT
    )
    high = forms.IntegerField(
        label=_("Highest"), initial=7, min_value=-SCALE_LIMIT, max_value=SCALE_LIMIT
    )
    help = forms.CharField(label=_("Help for raters"), required=False, max_length=300)

    def has_changed(self) -> bool:
        """Typed in: a blank row the builder added (and numbered) is not a criterion."""
        return any(name not in ("ORDER", "DELETE") for name in self.changed_data)

    def as_criterion(self) -> dict:
        data = self.cleaned_data
        criterion = {
            "key": data["key"] or _key_from(data["label"]),
            "label": data["label"],
            "scale": [data["low"], data["high"]],
        }
        if data["help"]:
            criterion["help"] = data["help"]
        return criterion


class BaseCriteriaFormSet(BaseFormSet):
    """Rows in the order asked for (ORDER), removed rows and blank new rows left out,
    checked as one criteria list; a problem is shown on the row it is about."""

    frozen = False

    def criteria(self) -> list[dict]:
        return [form.as_criterion() for form in self.kept]

    @property
    def kept(self) -> list[CriterionForm]:
        initial = set(map(id, self.initial_forms))
        deleted = set(map(id, self.deleted_forms))
        return [
            form
            for form in self.ordered_forms
            if (id(form) in initial or form.has_changed()) and id(form) not in deleted
        ]

    def clean(self) -> None:
        if not self.management_form.is_valid() or any(self.errors):
            return  # a tampered form, or rows with problems of their own
        kept = self.kept
        for where, message in criteria_errors([form.as_criterion() for form in kept]):
            parts = where.split(".")
            if len(parts) >= 3 and parts[1].isdigit():
                form, name = kept[int(parts[1])], parts[2]
                field = {"scale": "high"}.get(name, name)
                form.add_error(field if field in form.fields else None, message)
            else:
                raise forms.ValidationError(message)


CriteriaFormSet = formset_factory(
    CriterionForm,
    formset=BaseCriteriaFormSet,
    extra=0,
    can_order=True,
    can_delete=True,
    max_num=MAX_CRITERIA,
    validate_max=True,
)


def criteria_formset(
    data: Any = None, *, criteria: list[dict] | None = None, frozen: bool = False
) -> BaseCriteriaFormSet:
    """The builder's rows: from what was posted, or from a project's criteria. Frozen
    (the project has annotations), a row's key and scale are shown but not taken, and
    rows are neither added nor removed: only labels, help and order may change."""
    initial = [
        {
            "label": c["label"],
            "key": c["key"],
            "low": c["scale"][0],
            "high": c["scale"][1],
            "help": c.get("help", ""),
        }
        for c in criteria or []
    ]
    formset = cast(BaseCriteriaFormSet, CriteriaFormSet(data, initial=initial, prefix="criteria"))
    formset.frozen = frozen
    if frozen:
        # Read-only, not disabled: each row's key and scale are posted with its label,
        # so a row is the criterion it names even if another admin reordered them since
        # (the service refuses any change to them).
        for form in formset.initial_forms:
            for name in ("key", "low", "high"):
                form.fields[name].widget.attrs["readonly"] = True
    return formset
