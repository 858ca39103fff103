"""Importers of LLM benchmark tools' results (AIPerf/GenAI-Perf, GuideLLM, vLLM ``bench
serve``, inference-perf) into probe evidence, one module each, registered in
:data:`gatekeeper.probe.importers.IMPORTERS`; :mod:`.common` maps their names onto ours."""
