"""gatekeeper: a release gate for machine-learning model versions."""

__version__ = "0.1.0"
