from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.text import Truncator

from kb.actions import TAG_MAX_LENGTH, EntryContent
from kb.models import Entry
from kb.reports import GapFilter
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


class OpenFlagsField(forms.MultipleChoiceField):
    """Ids of the entry's open flags that an edit fixes. An id that is no longer among
    them (closed meanwhile, or made up) is dropped rather than refusing the whole edit."""

    widget = forms.CheckboxSelectMultiple

    def clean(self, value) -> list[int]:
        known = {str(pk) for pk, _ in self.choices}
        return [int(pk) for pk in dict.fromkeys(self.to_python(value)) if pk in known]


class EditForm(EntryForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    summary = forms.CharField(
        required=False,
        max_length=200,
        help_text="What you changed, in a few words (optional).",
    )
    resolves = OpenFlagsField(
        label="This edit fixes",
        required=False,
        help_text="Ticked flags are closed with this revision; whoever raised them is told.",
    )

    def __init__(self, *args, flags=(), **kwargs) -> None:
        """``flags``: the entry's open flags, offered as "this edit fixes" checkboxes."""
        super().__init__(*args, **kwargs)
        self.fields["resolves"].choices = [(flag.pk, flag_choice_label(flag)) for flag in flags]


def flag_choice_label(flag) -> str:
    """ "Duplicate of #12: “same as the porting one” (raised by omar)"; needs raised_by."""
    reason = flag.get_reason_display()
    if flag.duplicate_of_id:
        reason += f" of #{flag.duplicate_of_id}"
    comment = f": “{Truncator(flag.comment).chars(120)}”" if flag.comment else ""
    who = flag.raised_by.get_username() if flag.raised_by else "someone who left"
    return f"{reason}{comment} (raised by {who})"


class StateForm(forms.Form):
    state = forms.ChoiceField(choices=Entry.State.choices)
    version = forms.IntegerField(min_value=1)


class RestoreForm(forms.Form):
    version = forms.IntegerField(min_value=1)


class CompareForm(forms.Form):
    a = forms.IntegerField(min_value=1)
    b = forms.IntegerField(min_value=1)


class AskForm(forms.Form):
    """Ask the floor. The length rules live in ``actions.ask_question``, so the form only
    carries what was typed (and keeps it when it is refused)."""

    question = forms.CharField(
        label="Your question",
        required=False,
        strip=False,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autofocus": True,
                # Answers that may already exist appear under it while typing.
                "hx-get": reverse_lazy("kb:similar"),
                "hx-trigger": "input changed delay:300ms, load",
                "hx-target": "#similar",
                "hx-sync": "this:replace",
                "aria-controls": "similar",
            }
        ),
        help_text="As the customer asked it. Anyone on the floor can answer.",
    )
    details = forms.CharField(
        label="Details (optional)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What you already tried, the product or plan: whatever helps whoever answers.",
    )


# --- Gaps ---

GAP_MAX_PAGE = 2_000
GAP_FIRST_YEAR, GAP_LAST_YEAR = 2000, 2100


class PeriodForm(forms.Form):
    """A period of whole days, from and to both optional and within sane years."""

    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))

    def _clean_day(self, name: str) -> date | None:
        day = self.cleaned_data[name]
        if day and not GAP_FIRST_YEAR <= day.year < GAP_LAST_YEAR:
            raise ValidationError(f"Pick a date between {GAP_FIRST_YEAR} and {GAP_LAST_YEAR}.")
        return day

    def clean_since(self) -> date | None:
        return self._clean_day("since")

    def clean_until(self) -> date | None:
        return self._clean_day("until")


class GapFilterForm(PeriodForm):
    """The period and tag a supervisor narrows a gap list to (all optional)."""

    tag = forms.CharField(required=False, max_length=TAG_MAX_LENGTH + len("tag:"))
    page = forms.IntegerField(required=False, min_value=1, max_value=GAP_MAX_PAGE)

    def clean_tag(self) -> str:
        tag = self.cleaned_data["tag"].strip().lower().removeprefix("tag:")
        return " ".join(tag.replace(",", " ").split())

    def clean_page(self) -> int:
        return self.cleaned_data["page"] or 1

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return data

    def gap_filter(self) -> GapFilter:
        """The filter for ``kb.reports``: whole days in the site's time zone."""
        data = self.cleaned_data

        def midnight(day: date | None) -> datetime | None:
            return timezone.make_aware(datetime.combine(day, time.min)) if day else None

        until = data.get("until")
        return GapFilter(
            since=midnight(data.get("since")),
            until=midnight(until + timedelta(days=1) if until else None),
            tag=data.get("tag") or None,
        )

    def query_string(self) -> str:
        """The filter as URL parameters (for pages, other lists and the CSV export)."""
        data = self.cleaned_data
        params = {
            "since": data.get("since").isoformat() if data.get("since") else "",
            "until": data.get("until").isoformat() if data.get("until") else "",
            "tag": data.get("tag") or "",
        }
        return urlencode({key: value for key, value in params.items() if value})


class GapAssignForm(forms.Form):
    """Assign a no-result search group to a rep (``kb.actions.assign_gap``)."""

    normalized = forms.CharField(max_length=MAX_QUERY_LENGTH)
    text = forms.CharField(max_length=MAX_QUERY_LENGTH)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(groups__name="Reps", is_active=True),
        error_messages={"invalid_choice": "Pick a rep who is still on the floor."},
    )


# --- KCS measures ---

MEASURES_DEFAULT_WEEKS = 8
MEASURES_MAX_DAYS = 2 * 366  # two years, leap day included
MEASURES_DATE_ERRORS = {"invalid": "Enter dates as YYYY-MM-DD, for example 2025-03-01."}


class MeasuresForm(PeriodForm):
    """The period (whole days in the site's time zone, both included) and the team of the
    KCS measures page. A missing start is the Monday ``MEASURES_DEFAULT_WEEKS`` weeks back
    (the end's week included); a missing end is today."""

    since = forms.DateField(required=False, label="From", error_messages=MEASURES_DATE_ERRORS)
    until = forms.DateField(required=False, label="To", error_messages=MEASURES_DATE_ERRORS)
    team = forms.ChoiceField(
        required=False,
        error_messages={"invalid_choice": "That team does not exist (any more): pick one."},
    )

    def __init__(self, data, *, teams: list, today: date) -> None:
        super().__init__(data)
        self.today = today
        self.teams = {str(team.pk): team for team in teams}
        self.fields["team"].choices = [("", "Whole floor")] + [
            (key, team.name) for key, team in self.teams.items()
        ]

    def clean(self) -> dict:
        data = super().clean()
        if "since" not in data or "until" not in data:
            return data  # a date was refused already
        until = data["until"] or self.today
        monday = until - timedelta(days=until.weekday())
        since = data["since"] or monday - timedelta(weeks=MEASURES_DEFAULT_WEEKS - 1)
        if since > until:
            raise ValidationError("The start date is after the end date.")
        if (until - since).days > MEASURES_MAX_DAYS:
            raise ValidationError("Pick a period of at most two years.")
        data.update(since=since, until=until)
        return data

    def period(self) -> tuple[datetime, datetime]:
        """``[since, until)``: midnight of the first day to midnight after the last."""
        since, until = self.cleaned_data["since"], self.cleaned_data["until"]
        return (
            timezone.make_aware(datetime.combine(since, time.min)),
            timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min)),
        )

    def chosen_team(self):
        """The team picked, or ``None`` for the whole floor."""
        return self.teams.get(self.cleaned_data.get("team") or "")
