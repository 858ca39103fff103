"""Act: what gatekeeper changes outside itself, only after a recorded pass. Today the MLflow
registry (version tags, then the alias); publishing verdicts to pull requests belongs here too."""
