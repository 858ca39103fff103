"""The probe's measurement core: open-model load against one URL, coordinated-omission
corrected latency, mergeable histograms and a per-endpoint report.

Pipeline: a schedule (``schedule``) and a request mix (``requests_mix``) make a plan; the
engine (``engine``) sends it and records one sample per request; ``report`` turns samples into
frozen per-endpoint results built on ``histogram``.
"""
