"""Helpers shared by the test suite: real MLflow registries and servers, seeded fast."""
