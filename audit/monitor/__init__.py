"""Monitoring recorded decisions over time: windows, segments, tests against a reference, alert rules.

:func:`~.run.monitor` reads decided records through the store and reduces each window and group to
counts (:mod:`.tally`), tests them against the reference (:mod:`.compare`, with the statistics of
:mod:`.stats`) and evaluates alert rules (:mod:`.rules`, :mod:`.alerts`); fired alerts are stored as
evidence by :func:`~.run.store_alerts` (the ``alerts`` table) and enter the review queue.
"""
