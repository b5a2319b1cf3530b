from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from labelling.models import Membership


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

    def clean_username(self):
        username = self.cleaned_data["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise forms.ValidationError(_("No user has this username."))
        self.cleaned_data["user"] = user
        return username
