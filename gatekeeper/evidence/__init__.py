"""Evidence: what gatekeeper saw about a model version, gathered before any check runs."""
