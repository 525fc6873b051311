"""OpenTelemetry export of recorded generations (GenAI semantic conventions) over OTLP/HTTP.

:mod:`.spans` says what a record (and a fairness run) becomes as a span; :mod:`.sender` builds the
spans with the OpenTelemetry SDK and exports them, counting what was dropped; :mod:`.follow` exports
new records in a background thread of ``serve``/``proxy`` (never on the request path); :mod:`.batch`
is ``llm-audit otel-export``.
"""
