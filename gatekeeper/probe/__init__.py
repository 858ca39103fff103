"""The probe's measurement core: open-model load against one URL, coordinated-omission
corrected latency, mergeable histograms and a per-endpoint report.

Pipeline: a schedule (``schedule``) and a request mix (``requests_mix``) make a plan; a mode
(``modes``: a plain run, a capacity search, a cache proof, an import) measures it, a plain run
on an engine of ``engines.ENGINES``; the built-in engine (``engine``) sends each request through
``exchange`` (one request, sent and timed) and records one sample per request; ``report`` and
``timeline`` turn samples into frozen results built on ``histogram``; ``run`` judges them.
"""
