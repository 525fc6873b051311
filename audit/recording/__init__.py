"""Recording one generation, in one direction: request -> prompt and config -> model -> record -> store.

:mod:`.request` holds the one typed :class:`GenerationRequest`, built and checked one way (by
the CLI, the recording server, the proxy and Python alike) before any model loads; :mod:`.run`
builds the prompt, measures it against the model's context and runs the seeded generation
(scoring the decision, if any); :mod:`.assemble` turns what was generated (here, or by another
server through the proxy) into the :class:`~audit.record.GenerationRecord`; :mod:`.append` applies
the privacy policy and appends it with its event, or keeps it in the pending spool
(:mod:`audit.spool`) when the database cannot take it. :func:`record_generation` calls them in
that order; none of them calls back.
"""

from __future__ import annotations

from .append import append_record, check_storable, store_record
from .assemble import assemble_record
from .local import record_generation
from .request import USE_CASES, GenerationRequest, default_operator
from .run import prepare

__all__ = [
    "USE_CASES",
    "GenerationRequest",
    "append_record",
    "assemble_record",
    "check_storable",
    "default_operator",
    "prepare",
    "record_generation",
    "store_record",
]
