"""Full-text search behind one small interface (see DESIGN.md, "search/").

Views and actions import from here only; the backends never import views or forms.
"""

from kb.search.backends import IndexBusy
from kb.search.query import MAX_QUERY_LENGTH, ParsedQuery, normalise_query, parse_query
from kb.search.service import (
    SearchResult,
    SearchResults,
    close_matches,
    forget_synonyms,
    get_backend,
    index_after_commit,
    index_entries,
    indexing_deferred,
    rebuild,
    reset_backend,
    search,
)

__all__ = [
    "MAX_QUERY_LENGTH",
    "IndexBusy",
    "ParsedQuery",
    "SearchResult",
    "SearchResults",
    "close_matches",
    "forget_synonyms",
    "get_backend",
    "index_after_commit",
    "index_entries",
    "indexing_deferred",
    "normalise_query",
    "parse_query",
    "rebuild",
    "reset_backend",
    "search",
]
