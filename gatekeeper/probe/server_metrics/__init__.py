"""Server-side evidence for a probe run: what the model server itself (vLLM, TGI, Triton) and
the GPU exporter (DCGM) counted over the run's window, read from their Prometheus ``/metrics``.

- :mod:`.registry`: our concepts and each server's metric names, types, units and renames.
- :mod:`.exposition`: a strict parser of the Prometheus text exposition format.
- :mod:`.window`: deltas over the window (counters, Triton's cumulative microseconds,
  histogram quantiles from bucket deltas), gauges over samples, saturation.
- :mod:`.scrape`: scraping ``--server-metrics URL`` before, during and after a run.
"""
