"""Streaming LLM endpoints: the APIs the probe speaks (``--api``), their mix entries, the
streamed exchange with every chunk timed, and the token metrics (TTFT, TPOT, ITL, NTPOT,
goodput) with the definitions of docs/llm.md."""
