from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from exports.models import Export
from exports.options import FLAVOURS


class ExportForm(forms.Form):
    """The exports page's form: the API's request, field for field, so one parser (the
    service's) judges both."""

    format = forms.ChoiceField(label=_("Format"), choices=Export.Format.choices)
    file_format = forms.ChoiceField(
        label=_("File"),
        choices=Export.FileFormat.choices,
        initial=Export.FileFormat.JSONL,
        widget=forms.RadioSelect,
    )
    flavour = forms.ChoiceField(
        label=_("Shaped for"),
        choices=[
            ("trl", _("TRL (reward and DPO trainers)")),
            ("openrlhf", _("OpenRLHF (with --data.apply_chat_template)")),
            ("llamafactory", _("LLaMA-Factory (ShareGPT ranking, with its dataset_info.json)")),
        ],
        initial="trl",
        required=False,
        help_text=_("Pairwise and consensus only."),
    )
    conversational = forms.TypedChoiceField(
        label=_("Prompts as"),
        choices=[
            ("", _("messages if the project has chat prompts, else text")),
            ("true", _("messages (a text prompt becomes one user message)")),
            ("false", _("text")),
        ],
        coerce=lambda value: value == "true",
        empty_value=None,
        required=False,
        help_text=_(
            "TRL and OpenRLHF join a text prompt and its answer with nothing between: "
            "ask for messages when training a chat model."
        ),
    )
    margin_source = forms.ChoiceField(
        label=_("Margin column"),
        choices=[
            ("", _("none")),
            ("rank_gap", _("rank gap (pairwise, hh)")),
            ("vote_margin", _("vote margin (consensus)")),
        ],
        required=False,
        help_text=_("TRL's reward loss subtracts a margin column from the reward gap."),
    )
    margin_scale = forms.FloatField(
        label=_("times"),
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )
    guideline_versions = forms.TypedMultipleChoiceField(
        label=_("Guideline versions"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every version."),
    )
    min_guideline_version = forms.IntegerField(
        label=_("or version at least"), min_value=1, required=False
    )
    since = forms.DateField(
        label=_("Labelled from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("to (inclusive)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    min_agreement = forms.FloatField(
        label=_("Minimum agreement"),
        min_value=0,
        max_value=1,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text=_("Consensus: the pair's agreement; other formats: the prompt's."),
    )
    models = forms.MultipleChoiceField(
        label=_("Only these models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every model. Pair formats only."),
    )
    annotators = forms.CharField(
        label=_("Only these raters"),
        required=False,
        help_text=_("Pseudonyms (ann-…) as the dashboard shows them, separated by commas."),
    )
    exclude_annotators = forms.CharField(label=_("Leave out these raters"), required=False)
    exclude_flagged_annotators = forms.BooleanField(
        label=_("Leave out the raters the quality figures flag"), required=False
    )
    include_ties = forms.BooleanField(label=_("Include ties"), required=False)
    include_rejected = forms.BooleanField(label=_("Include rejected annotations"), required=False)
    include_flagged = forms.BooleanField(label=_("Include flagged responses"), required=False)
    include_gold = forms.BooleanField(
        label=_("Include gold prompts"),
        required=False,
        help_text=_("Gold prompts measure raters; they are left out of training data by default."),
    )
    test_fraction = forms.FloatField(
        label=_("Test share"),
        min_value=0,
        max_value=1,
        initial=0,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text=_(
            "Whole prompts go to test by a stable hash: none is in both splits. Above 0 the "
            "export is a dataset folder (a zip) with a train and a test file."
        ),
    )

    def __init__(self, *args: Any, versions: list[int], models: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Form.fields types its fields as Field: these three are the choice fields above.
        guideline_versions = cast(forms.ChoiceField, self.fields["guideline_versions"])
        models_field = cast(forms.ChoiceField, self.fields["models"])
        flavour = cast(forms.ChoiceField, self.fields["flavour"])
        guideline_versions.choices = [(v, f"v{v}") for v in versions]
        models_field.choices = [(m, m) for m in models]
        # Read back, choices are the list the setter normalised them to; the stub's type
        # still holds the setter's other inputs (a mapping, a callable, a Choices class).
        flavour.choices = [(key, label) for key, label in flavour.choices if key in FLAVOURS]  # type: ignore[misc, union-attr]

    def filters(self) -> dict:
        """The cleaned form as the API's `filters` object."""
        data = self.cleaned_data
        filters: dict = {}
        for key in ("guideline_versions", "models"):
            if data.get(key):
                filters[key] = list(data[key])
        for key in ("min_guideline_version", "min_agreement"):
            if data.get(key) is not None:
                filters[key] = data[key]
        for key in ("since", "until"):
            if data.get(key):
                filters[key] = data[key].isoformat()
        for key in ("annotators", "exclude_annotators"):
            names = [name.strip() for name in (data.get(key) or "").split(",") if name.strip()]
            if names:
                filters[key] = names
        for key in (
            "include_ties",
            "include_rejected",
            "include_flagged",
            "include_gold",
            "exclude_flagged_annotators",
        ):
            if data.get(key):
                filters[key] = True
        return filters

    def options(self) -> dict:
        """The cleaned form as the API's flavour, conversational and margin."""
        data = self.cleaned_data
        margin = None
        if data.get("margin_source") or data.get("margin_scale") is not None:
            margin = {
                key: value
                for key, value in (
                    ("source", data.get("margin_source") or None),
                    ("scale", data.get("margin_scale")),
                )
                if value is not None
            }
        return {
            "flavour": data.get("flavour") or None,
            "conversational": data.get("conversational"),
            "margin": margin,
        }
