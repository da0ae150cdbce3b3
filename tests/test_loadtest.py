"""``manage.py loadtest`` (``make loadtest``): the load benchmark, kept from rotting.

The quick mode builds a tiny throwaway site, starts gunicorn, runs one short step in
which every virtual rep does each kind of action once, and checks every write. These
tests assert that it works end to end and that its checks catch a lost write; they
never assert on the figures (the machine may be busy).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command

from kb import actions


def test_loadtest_quick_drives_the_server_and_finds_every_write(db):
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "loadtest", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert "2 virtual reps" in result.stdout
    for kind in ("search", "view", "form", "reuse", "write"):
        assert f"\n  {kind} " in result.stdout  # a latency row for each kind of request
    checked = re.search(
        r"Checked (\d+) new entries, (\d+) edits and (\d+) reuses: all stored and searchable\.",
        result.stdout,
    )
    assert checked, result.stdout
    created, edits, reuses = map(int, checked.groups())
    # Each of the 2 reps creates, edits and reuses at least once (an edit may meet the
    # other rep's edit of the same entry: a conflict, not a write).
    assert created >= 2 and reuses >= 2 and edits >= 1


def test_loadtest_check_reports_each_write_that_was_not_stored(
    entry, rep, tmp_path, capsys, django_capture_on_commit_callbacks
):
    actions.record_reuse(entry=entry, user=rep, case_ref="LT-1")
    writes = {
        "created": [
            {"id": entry.pk, "question": entry.question, "answer": entry.answer, "marker": "x"},
            {"id": entry.pk + 1000, "question": "Gone?", "answer": "Yes.", "marker": "zqltgone"},
        ],
        "edits": [{"id": entry.pk, "revision": 2, "marker": "zqltedit"}],
        "reuses": [{"id": entry.pk, "case": "LT-1"}, {"id": entry.pk, "case": "LT-2"}],
    }
    listed = tmp_path / "writes.json"
    listed.write_text(json.dumps(writes))

    call_command("loadtest", "--verify", str(listed))

    failures = json.loads(capsys.readouterr().out)
    assert failures == [
        f"new entry #{entry.pk + 1000} (zqltgone) is not stored",
        f"edit of #{entry.pk} made no revision 2",
        f"reuse of #{entry.pk} for case LT-2 not counted",
    ]
