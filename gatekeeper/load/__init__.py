"""Playbooks: the declared gate for one registered model, three milestones in order."""
