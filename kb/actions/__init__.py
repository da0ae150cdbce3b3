"""Every write a person can make, one function per intent (see DESIGN.md).

Each action validates, writes in one transaction, records what happened (revision,
notification) and schedules indexing for after the commit. Views and commands call
these; nothing else writes.
"""

from kb.actions.entries import (
    CONTENT_FIELDS,
    MAX_ALSO_ASKED,
    MAX_TAGS,
    TAG_MAX_LENGTH,
    EditConflict,
    EntryContent,
    adopt_entry,
    capture_entry,
    change_state,
    edit_entry,
    normalise_phrasings,
    normalise_tags,
    restore_revision,
)
from kb.actions.flags import (
    dismiss_flag,
    flag_entry,
    unwatch_entry,
    watch_entry,
)
from kb.actions.imports import (
    IMPORT_BATCH,
    import_entries,
)
from kb.actions.notifications import (
    display_name,
    mark_read,
    notify,
    shorten,
)
from kb.actions.questions import (
    ANSWER_STATES,
    QUESTION_MIN_LENGTH,
    answer_question,
    ask_question,
    assign_gap,
    assign_question,
    close_question,
)
from kb.actions.reuse import (
    CASE_REF_RE,
    REUSE_REPEAT_WINDOW,
    THANKED_EDITORS,
    counted_reuse,
    credited_people,
    record_reuse,
    thank_entry,
)
from kb.actions.search_log import (
    SEARCH_COALESCE_WINDOW,
    log_search,
    search_opened,
)
from kb.actions.synonyms import (
    MAX_SYNONYM_GROUPS,
    save_synonyms,
)

__all__ = [
    "ANSWER_STATES",
    "CASE_REF_RE",
    "CONTENT_FIELDS",
    "IMPORT_BATCH",
    "MAX_ALSO_ASKED",
    "MAX_SYNONYM_GROUPS",
    "MAX_TAGS",
    "QUESTION_MIN_LENGTH",
    "REUSE_REPEAT_WINDOW",
    "SEARCH_COALESCE_WINDOW",
    "TAG_MAX_LENGTH",
    "THANKED_EDITORS",
    "EditConflict",
    "EntryContent",
    "adopt_entry",
    "answer_question",
    "ask_question",
    "assign_gap",
    "assign_question",
    "capture_entry",
    "change_state",
    "close_question",
    "counted_reuse",
    "credited_people",
    "dismiss_flag",
    "display_name",
    "edit_entry",
    "flag_entry",
    "import_entries",
    "log_search",
    "mark_read",
    "normalise_phrasings",
    "normalise_tags",
    "notify",
    "record_reuse",
    "restore_revision",
    "save_synonyms",
    "search_opened",
    "shorten",
    "thank_entry",
    "unwatch_entry",
    "watch_entry",
]
