"""A few weeks of a floor's life for the demo: searches, reuses, thanks, flags, questions.

``seed_demo`` runs this once, after the demo entries, so that every page (the gaps
review, KCS measures, profiles, the inbox) shows real-looking data on first run. The
past cannot be written through the actions, which stamp "now", so this module writes
rows directly, with the same links and notifications the actions would have made; the
improvements go through ``actions.edit_entry`` with a past time. It is deterministic:
the same seed gives the same history.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth.models import User

from kb import actions, search
from kb.actions import EntryContent
from kb.models import (
    Entry,
    Flag,
    Notification,
    Question,
    Reuse,
    SearchEvent,
    Team,
    Thanks,
)

WEEKS = 5
SEARCHES_PER_DAY = 45

# What reps type when the answer exists (the demo entries answer these).
FOUND_QUERIES = [
    "bill went up",
    "why is my bill higher",
    "itemised bill",
    "outage check postcode",
    "broadband dropping",
    "broadband keeps dropping out",
    "no signal at home",
    "esim qr expired",
    "verify caller identity",
    "replacement sim checks",
    "moving house broadband",
    "upgrade fibre 500",
    "international calls landline",
    "leave price rise",
    "goodwill credit",
    "softphone dropping calls",
    "book holiday",
    "refund to card",
    "roaming charges",
    "router lights",
    "mesh wifi upstairs",
    "ways to pay bill",
    "direct debit",
    "cancel sim only",
    "port number",
    "outage credit",
    "complaint",
    "pay bill",
]

# Gaps: what the floor searched for and the demo content does not answer, each asked
# several ways, so the review groups them into one row.
GAP_QUERIES = [
    ["parental filter", "what is the parental filter"],
    ["xbox nat", "nat xbox", "why is my xbox nat"],
    ["netflix chromecast", "chromecast netflix"],
    ["alexa doorbell", "doorbell alexa"],
    ["pension"],
]

# Searches that find something, but nothing that helps: nobody reuses what they find.
WEAK_QUERIES = ["student discount", "is there a student discount", "ev charger", "heat pump"]

THANKS_NOTES = [
    "Saved me on a tricky call, thank you!",
    "Exactly what the customer needed.",
    "Clear steps, customer was happy.",
    "",
    "Didn't know about the pro-rata part, great write-up.",
    "",
    "Used this three times today.",
]

OPEN_QUESTIONS = [
    ("What is the parental filter and how do customers turn it on?", 2, None),
    ("Is there a student discount on broadband?", 5, "rep3"),
    ("Customer's Xbox says NAT type strict, what do they change on the router?", 9, None),
    ("Can customers watch Netflix on a Chromecast with our TV plan?", 16, None),
    ("Do we support Alexa with the smart doorbell?", 23, None),
]


def seed_history(people: dict[str, User], *, now: datetime, seed: int = 7) -> dict[str, int]:
    """Write the demo history once; returns how many rows of each kind were added."""
    rng = random.Random(seed)
    reps = [people[name] for name in ("rep1", "rep2", "rep3", "rep4", "rep5", "rep6")]
    entries = list(Entry.objects.exclude(state=Entry.State.DRAFT).select_related("author"))
    by_question = {entry.question: entry for entry in entries}
    _teams(people)
    _orphans(people, entries, rng)
    improved = _improvements(people, entries, rng, now)
    events, reuses = _searches_and_reuses(reps, now, rng)
    thanks = _thanks(reps, entries, rng, now)
    flags = _flags(people, rng, now)
    questions = _questions(people, by_question, now)
    _review_dates(entries, rng, now)
    Notification.objects.filter(created_at__lt=now - timedelta(days=3)).update(
        read_at=now - timedelta(days=2)
    )
    return {
        "searches": events,
        "reuses": reuses,
        "thanks": thanks,
        "flags": flags,
        "questions": questions,
        "improvements": improved,
    }


def _teams(people: dict[str, User]) -> None:
    broadband, _ = Team.objects.get_or_create(name="Broadband team")
    broadband.members.add(people["rep1"], people["rep3"], people["rep4"], people["lee"])
    mobile, _ = Team.objects.get_or_create(name="Mobile team")
    mobile.members.add(people["rep2"], people["rep5"], people["rep6"])


def _orphans(people: dict[str, User], entries: list[Entry], rng: random.Random) -> None:
    """Lee left the company: three of the entries they own now need a new owner."""
    for entry in rng.sample(entries, 3):
        Entry.objects.filter(pk=entry.pk).update(owner=people["lee"], author=people["lee"])
        entry.revisions.filter(number=1).update(editor=people["lee"])


IMPROVEMENTS = [
    ("rep3", "bill went up", "Added how customers word it"),
    ("rep4", "broadband keeps dropping out", "Added how customers word it"),
    ("rep5", "esim qr expired", "Added how customers word it"),
    ("rep6", "roaming charges", "Added how customers word it"),
    ("rep3", "outage check postcode", "Added how customers word it"),
    ("rep5", "port number", "Added how customers word it"),
]


def _improvements(
    people: dict[str, User], entries: list[Entry], rng: random.Random, now: datetime
) -> int:
    """Reps improving each other's entries: adding the words customers use."""
    done = 0
    for username, phrasing, summary in IMPROVEMENTS:
        found = search.search(phrasing, user=people[username], limit=1).results
        if not found:
            continue
        entry = Entry.objects.get(pk=found[0].entry.pk)
        content = EntryContent.of(entry)
        also = "\n".join(filter(None, [content.also_asked, phrasing]))
        when = max(entry.updated_at, now - timedelta(days=rng.randint(1, WEEKS * 7 - 1)))
        actions.edit_entry(
            entry=entry,
            editor=people[username],
            base_version=entry.version,
            content=EntryContent(**{**content.__dict__, "also_asked": also}),
            summary=summary,
            at=when + timedelta(minutes=5),
        )
        done += 1
    return done


def _working_moment(day: datetime, rng: random.Random) -> datetime:
    return day.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(
        minutes=rng.randint(0, 9 * 60), seconds=rng.randint(0, 59)
    )


def _searches_and_reuses(reps: list[User], now: datetime, rng: random.Random) -> tuple[int, int]:
    """Searches over the last few weeks: most find an answer, some are reused on a call,
    and some find nothing (the gaps)."""
    someone = reps[0]
    outcomes = {}
    for query in FOUND_QUERIES + WEAK_QUERIES + [q for group in GAP_QUERIES for q in group]:
        found = search.search(query, user=someone, limit=1)
        outcomes[query] = (found.total, found.results[0].entry.pk if found.results else None)
    events, reuse_plans = [], []
    for days_back in range(WEEKS * 7, -1, -1):  # up to today, so "this week" has data
        day = now - timedelta(days=days_back)
        if day.weekday() >= 5:
            continue
        for _ in range(rng.randint(SEARCHES_PER_DAY - 15, SEARCHES_PER_DAY + 15)):
            person = rng.choice(reps)
            kind = rng.random()
            if kind < 0.12:
                query = rng.choice(rng.choice(GAP_QUERIES))
            elif kind < 0.2:
                query = rng.choice(WEAK_QUERIES)
            else:
                query = rng.choice(FOUND_QUERIES)
            total, top = outcomes[query]
            at = min(_working_moment(day, rng), now - timedelta(minutes=rng.randint(10, 240)))
            opened = top if top and rng.random() < 0.75 else None
            reused = bool(opened) and query in FOUND_QUERIES and rng.random() < 0.55
            events.append(
                SearchEvent(
                    user=person,
                    query=query,
                    normalized=search.normalise_query(query),
                    result_count=total,
                    opened_entry_id=opened,
                    reused=reused,
                    created_at=at,
                )
            )
            if reused:
                reuse_plans.append((len(events) - 1, opened, person, query, at))
    created = SearchEvent.objects.bulk_create(events, batch_size=500)
    reuses = [
        Reuse(
            entry_id=entry_id,
            user=person,
            case_ref=f"CS-{rng.randint(100000, 999999)}-{index}" if rng.random() < 0.7 else "",
            query=query,
            search_event=created[index],
            created_at=at + timedelta(minutes=rng.randint(1, 6)),
        )
        for index, entry_id, person, query, at in reuse_plans
    ]
    Reuse.objects.bulk_create(reuses, batch_size=500)
    return len(created), len(reuses)


def _thanks(reps: list[User], entries: list[Entry], rng: random.Random, now: datetime) -> int:
    made, seen = [], set()
    notices = []
    for _ in range(30):
        entry, person = rng.choice(entries), rng.choice(reps)
        if entry.author_id in (None, person.pk) or (entry.pk, person.pk) in seen:
            continue
        seen.add((entry.pk, person.pk))
        at = _working_moment(now - timedelta(days=rng.randint(0, WEEKS * 7)), rng)
        note = rng.choice(THANKS_NOTES)
        made.append(Thanks(entry=entry, from_user=person, note=note, created_at=at))
        quoted = f": “{note}”" if note else "."
        notices.append(
            Notification(
                recipient_id=entry.author_id,
                kind=Notification.Kind.ENTRY_THANKED,
                actor=person,
                text=f"{actions.display_name(person)} thanked you for "
                f"“{actions.shorten(entry.question)}”{quoted}",
                entry=entry,
                created_at=at,
            )
        )
    Thanks.objects.bulk_create(made)
    Notification.objects.bulk_create(n for n in notices if n.recipient_id in _active_ids())
    return len(made)


def _active_ids() -> set[int]:
    return set(User.objects.filter(is_active=True).values_list("pk", flat=True))


# Who flags what, why, how many days ago, and a search that finds the entry meant.
FLAGS = [
    (
        "rep2",
        Flag.Reason.OUTDATED,
        "The April price rise figure changed this year.",
        3,
        "bill went up",
    ),
    (
        "rep4",
        Flag.Reason.UNCLEAR,
        "Step 3 doesn't say which screen in Compass.",
        6,
        "outage credit",
    ),
    ("rep5", Flag.Reason.WRONG, "Roaming zone list is missing Turkey.", 1, "roaming charges"),
    ("rep6", Flag.Reason.DUPLICATE, "Same question as the other one about paying.", 10, "pay bill"),
]


def _found(query: str, user: User, *, limit: int = 1) -> list[Entry]:
    return [result.entry for result in search.search(query, user=user, limit=limit).results]


def _flags(people: dict[str, User], rng: random.Random, now: datetime) -> int:
    """Open flags with their banners, plus one resolved by an edit and one dismissed."""
    made = []
    for username, reason, comment, days, query in FLAGS:
        found = _found(query, people[username], limit=2)
        if not found:
            continue
        duplicate = found[1] if reason == Flag.Reason.DUPLICATE and len(found) > 1 else None
        if reason == Flag.Reason.DUPLICATE and duplicate is None:
            continue
        made.append(
            Flag(
                entry=found[0],
                reason=reason,
                duplicate_of=duplicate,
                comment=comment,
                raised_by=people[username],
                created_at=_working_moment(now - timedelta(days=days), rng),
            )
        )
    improved = Entry.objects.filter(revisions__number__gt=1, revisions__summary__startswith="Added")
    revision = improved.first().revisions.order_by("-number").first() if improved.exists() else None
    if revision:
        made.append(
            Flag(
                entry_id=revision.entry_id,
                reason=Flag.Reason.UNCLEAR,
                comment="Customers don't say it this way; add their words.",
                raised_by=people["rep1"],
                created_at=revision.created_at - timedelta(days=1),
                state=Flag.State.RESOLVED,
                resolved_by=revision.editor,
                resolved_at=revision.created_at,
                resolution_revision=revision,
            )
        )
    for entry in _found("leave price rise", people["rep3"]):
        made.append(
            Flag(
                entry=entry,
                reason=Flag.Reason.WRONG,
                comment="I think the early exit fee is different.",
                raised_by=people["rep3"],
                created_at=now - timedelta(days=12),
                state=Flag.State.DISMISSED,
                resolved_by=people["supervisor"],
                resolved_at=now - timedelta(days=11),
                dismiss_reason="Checked with billing: the fee is right.",
            )
        )
    Flag.objects.bulk_create(made)
    active = _active_ids()
    Notification.objects.bulk_create(
        Notification(
            recipient_id=flag.entry.owner_id,
            kind=Notification.Kind.ENTRY_FLAGGED,
            actor=flag.raised_by,
            text=f"{actions.display_name(flag.raised_by)} flagged your entry "
            f"“{actions.shorten(flag.entry.question)}” as {flag.get_reason_display().lower()}: "
            f"“{flag.comment}”",
            entry=flag.entry,
            created_at=flag.created_at,
        )
        for flag in made
        if flag.entry.owner_id in active
    )
    return len(made)


def _questions(people: dict[str, User], by_question: dict[str, Entry], now: datetime) -> int:
    made = []
    askers = ["rep2", "rep4", "rep1", "rep6", "rep5"]
    for (text, days, assignee), asker in zip(OPEN_QUESTIONS, askers, strict=True):
        at = now - timedelta(days=days, hours=3)
        made.append(
            Question(
                text=text,
                normalized=search.normalise_query(text),
                asked_by=people[asker],
                created_at=at,
                assigned_to=people[assignee] if assignee else None,
                assigned_by=people["supervisor"] if assignee else None,
                assigned_at=at + timedelta(days=1) if assignee else None,
            )
        )
    recent = sorted(by_question.values(), key=lambda e: e.created_at, reverse=True)[:2]
    for entry, asker in zip(recent, ["rep3", "rep5"], strict=False):
        made.append(
            Question(
                text=entry.question[:300],
                normalized=search.normalise_query(entry.question),
                state=Question.State.ANSWERED,
                asked_by=people[asker],
                created_at=entry.created_at - timedelta(hours=20),
                answer_entry=entry,
                answered_by=entry.author,
                answered_at=entry.created_at,
            )
        )
    Question.objects.bulk_create(made)
    notices = [
        Notification(
            recipient=q.assigned_to,
            kind=Notification.Kind.QUESTION_ASSIGNED,
            actor=people["supervisor"],
            text=f"{actions.display_name(people['supervisor'])} asked you to answer "
            f"“{actions.shorten(q.text)}”.",
            question=q,
            created_at=q.assigned_at,
        )
        for q in made
        if q.assigned_to
    ] + [
        Notification(
            recipient=q.asked_by,
            kind=Notification.Kind.QUESTION_ANSWERED,
            actor=q.answered_by,
            text=f"{actions.display_name(q.answered_by)} answered your question "
            f"“{actions.shorten(q.text)}”.",
            entry=q.answer_entry,
            question=q,
            created_at=q.answered_at,
        )
        for q in made
        if q.answer_entry
    ]
    Notification.objects.bulk_create(notices)
    return len(made)


def _review_dates(entries: list[Entry], rng: random.Random, now: datetime) -> None:
    """A few entries on a shorter review cycle are overdue; some were drafts a while."""
    usable = [e for e in entries if e.state in (Entry.State.PUBLISHED, Entry.State.VALIDATED)]
    older = [e for e in usable if e.updated_at < now - timedelta(days=70)]
    for entry in rng.sample(older, min(3, len(older))):
        Entry.objects.filter(pk=entry.pk).update(
            review_interval_days=60,
            review_due_at=entry.updated_at + timedelta(days=60),
        )
    for entry in rng.sample(usable, 12):
        Entry.objects.filter(pk=entry.pk).update(
            published_at=entry.created_at + timedelta(hours=rng.randint(1, 30))
        )
