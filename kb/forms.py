from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from kb.actions import EntryContent
from kb.models import Entry
from kb.search import MAX_QUERY_LENGTH

MAX_PAGE = 50


class SearchForm(forms.Form):
    q = forms.CharField(required=False, strip=True)
    tag = forms.CharField(required=False)
    archived = forms.BooleanField(required=False)
    exact = forms.BooleanField(required=False)
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    def clean_q(self) -> str:
        q = self.cleaned_data["q"].replace("\x00", "")
        if len(q) > MAX_QUERY_LENGTH:
            raise ValidationError(
                f"Searches are limited to {MAX_QUERY_LENGTH} characters "
                f"(this one has {len(q):,}). Try the few words that matter."
            )
        return q

    def clean_page(self) -> int:
        return self.cleaned_data["page"] or 1


class EntryForm(forms.Form):
    """The KCS template: question and answer up front, environment and cause folded away."""

    question = forms.CharField(
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
        help_text="As the customer would ask it.",
    )
    answer = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        strip=False,
        help_text="Markdown: **bold**, lists, `code`, | tables |.",
    )
    tags = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "list": "tag-suggestions"}),
        help_text="Comma-separated, e.g. billing, router",
    )
    also_asked = forms.CharField(
        label="Also asked as",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Other ways customers put it, one a line; search finds the entry by these too.",
    )
    environment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Product, plan or device this applies to.",
    )
    cause = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why it happens, if known.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # While the question is typed, likely duplicates appear under it ("already answered?").
        self.fields["question"].widget.attrs.update(
            {
                "hx-get": reverse("kb:similar"),
                "hx-trigger": "input changed delay:300ms, load",
                "hx-target": "#similar",
                "hx-sync": "this:replace",
                "hx-include": "#similar-exclude",
                "aria-controls": "similar",
            }
        )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            data["content"] = EntryContent(
                question=data["question"],
                answer=data["answer"],
                tags=data.get("tags", "").split(","),
                also_asked=data.get("also_asked", ""),
                environment=data.get("environment", ""),
                cause=data.get("cause", ""),
            ).clean()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                self.add_error(name, messages)
        return data

    @staticmethod
    def initial_for(content: EntryContent) -> dict:
        """Form values showing ``content`` (an entry's, or what someone typed)."""
        return {
            "question": content.question,
            "answer": content.answer,
            "tags": ", ".join(content.tags),
            "also_asked": content.also_asked,
            "environment": content.environment,
            "cause": content.cause,
        }


class CaptureForm(EntryForm):
    draft = forms.BooleanField(required=False, widget=forms.HiddenInput)


class EditForm(EntryForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    summary = forms.CharField(
        required=False,
        max_length=200,
        help_text="What you changed, in a few words (optional).",
    )


class StateForm(forms.Form):
    state = forms.ChoiceField(choices=Entry.State.choices)
    version = forms.IntegerField(min_value=1)


class RestoreForm(forms.Form):
    version = forms.IntegerField(min_value=1)


class CompareForm(forms.Form):
    a = forms.IntegerField(min_value=1)
    b = forms.IntegerField(min_value=1)
