"""Traffic recorded from another server: its OpenAI answers read (:mod:`.answer`) and made records (:mod:`.proxied`).

Below the façade: the proxy (:mod:`audit.serve.proxy`) calls it, and replay, explanation and
attention ask it whether a proxied record's token ids are known.
"""
