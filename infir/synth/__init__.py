"""Synthetic data: generation engines (engines.py), reward models (reward.py), and the steps of the
paper's synthesis pipelines as curation steps (steps.py, select.py, code_verify.py). `infir synth`."""
