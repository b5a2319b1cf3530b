from django import forms
from django.utils.translation import gettext_lazy as _

from exports.models import Export


class ExportForm(forms.Form):
    format = forms.ChoiceField(label=_("Format"), choices=Export.Format.choices)
    file_format = forms.ChoiceField(
        label=_("File"),
        choices=Export.FileFormat.choices,
        initial=Export.FileFormat.JSONL,
        widget=forms.RadioSelect,
        help_text=_("Parquet for pairwise and consensus only."),
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
    include_ties = forms.BooleanField(label=_("Include ties"), required=False)
    include_rejected = forms.BooleanField(label=_("Include rejected annotations"), required=False)
    include_flagged = forms.BooleanField(label=_("Include flagged responses"), required=False)
    test_fraction = forms.FloatField(
        label=_("Test share"),
        min_value=0,
        max_value=1,
        initial=0,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text=_("Whole prompts go to test by a stable hash: none is in both splits."),
    )

    def __init__(self, *args, versions: list[int], models: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["guideline_versions"].choices = [(v, f"v{v}") for v in versions]
        self.fields["models"].choices = [(m, m) for m in models]

    def filters(self) -> dict:
        """The cleaned form as the API's `filters` object, so one parser judges both."""
        data = self.cleaned_data
        filters = {}
        for key in ("guideline_versions", "models"):
            if data.get(key):
                filters[key] = list(data[key])
        for key in ("min_guideline_version", "min_agreement"):
            if data.get(key) is not None:
                filters[key] = data[key]
        for key in ("since", "until"):
            if data.get(key):
                filters[key] = data[key].isoformat()
        for key in ("include_ties", "include_rejected", "include_flagged"):
            if data.get(key):
                filters[key] = True
        return filters
