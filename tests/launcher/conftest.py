"""Shared tiny training inputs (tests/recipe_inputs.py) for the SLURM requeue test of a real stage."""

from recipe_inputs import blend_yaml, tokenizer_dir  # noqa: F401 (fixtures)
