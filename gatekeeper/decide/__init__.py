"""Decide: from check outcomes to the verdict. Advisory checks report but never block, a
milestone needs its earlier milestones passed under the same definition, and an empty or
erroring gate never passes. ``result.py`` is the frozen Result that carries the verdict."""
