"""How Floorbook ranks a search: one function, its weights in one place.

A document's text score is BM25 summed over its fields, each field weighted:

    text(d) = sum over query terms t, fields f:
              FIELD_WEIGHTS[f] * idf(t) * tf(t,d,f) * (K1 + 1)
              / (tf(t,d,f) + K1 * (1 - B[f] + B[f] * len(d,f) / avglen(f)))

with idf(t) = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5)) over the whole index. Then:

    score(d) = text(d) * coordination(d) * state_boost(d) * reuse_boost(d)

- fields: the question, its other phrasings ("also asked as"), the answer's text (with
  environment and cause), and ``question_pairs``, adjacent word pairs of the question
  and its phrasings, so words typed together
  ("reset router") rank an entry that has them together above one that merely has both;
- coordination: (idf of the typed words the entry matches / idf of all typed words)
  ** COORDINATION, so an entry matching more of what the rep said, weighted by how
  telling each word is, ranks above one matching a single word many times;
- state_boost: validated entries (checked by a supervisor) rank a little higher;
- reuse_boost: 1 + REUSE_WEIGHT * ln(1 + times the entry helped on a call), so
  entries the floor keeps using rise, with diminishing returns; applied to the best
  RERANK_DEPTH results by text, from the database, so a reuse needs no reindexing;
- each query term has a weight: 1 for the words as typed, less for a completion of the
  last, unfinished word (``pass`` -> ``password``), a corrected typo, or a synonym.

Measured with ``make eval``; change these only with its figures in hand.
"""

from __future__ import annotations

import math

FIELD_WEIGHTS = {"question": 2.5, "also_asked": 2.0, "question_pairs": 1.0, "body": 1.0}
K1 = 1.2
B = {"question": 0.75, "also_asked": 0.75, "question_pairs": 0.75, "body": 0.75}
COORDINATION = 1.0
STATE_BOOST = {"validated": 1.15}
REUSE_WEIGHT = 0.15
RERANK_DEPTH = 50

EXACT_WEIGHT = 1.0
# Words that only resemble what was typed count less: completions of the word still
# being typed, and the closest known spelling of a word the index has never seen.
PREFIX_WEIGHT = 0.7
CORRECTED_WEIGHT = 0.8
SYNONYM_WEIGHT = 0.8  # the supervisors' synonym list (kb.search.synonyms)


def reuse_boost(reuse_count: int) -> float:
    return 1 + REUSE_WEIGHT * math.log1p(reuse_count)
