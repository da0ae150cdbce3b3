"""Moving a whole site to another database with Django's own dumpdata and loaddata, with
the options the README gives (``Moving a site``): every person, entry, revision, reuse,
flag, question, thanks, search and synonym arrives, and search finds the entries."""

from __future__ import annotations

import io

from django.contrib.auth.models import User
from django.core.management import call_command

from kb import search
from kb.models import (
    Entry,
    Flag,
    Notification,
    Question,
    Reuse,
    Revision,
    SearchEvent,
    SynonymGroup,
    Team,
    Thanks,
)

MOVED = [User, Entry, Revision, Reuse, Flag, Question, Thanks, SearchEvent, Notification]
MOVED += [SynonymGroup, Team]
README_DUMP = [
    "--natural-foreign",
    "--exclude=contenttypes",
    "--exclude=auth.permission",
    "--exclude=auth.group",
    "--exclude=sessions",
    "--exclude=admin.logentry",
]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MOVED}


def test_dumpdata_then_loaddata_moves_the_whole_site(
    tmp_path, db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=io.StringIO())
    before = counts()
    rep1 = User.objects.get(username="rep1")
    groups = set(rep1.groups.values_list("name", flat=True))
    dump = tmp_path / "site.json"
    call_command("dumpdata", *README_DUMP, output=str(dump), verbosity=0)

    # An empty site: migrated (so its groups exist), nothing written yet.
    for model in reversed(MOVED):
        model.objects.all().delete()
    search.rebuild()
    call_command("loaddata", str(dump), verbosity=0)
    call_command("rebuild_index", stdout=io.StringIO())

    assert counts() == before
    assert all(before.values())
    moved = User.objects.get(username="rep1")
    assert moved.check_password("floorbook-demo")
    assert set(moved.groups.values_list("name", flat=True)) == groups
    assert search.search("router lights", user=moved).total
