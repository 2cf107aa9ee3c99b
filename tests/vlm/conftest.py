"""Shared fixtures: synthetic PIL data and the three tiny stages trained once per session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Data + stage 1 -> 2 -> 3 on CPU under one folder; yields (folder, configs, results)."""
    from infir.recipes.vlm.cli import run_tiny_stages, tiny_configs

    out = tmp_path_factory.mktemp("vlm_tiny")
    results = run_tiny_stages(out)
    return out, tiny_configs(str(out)), results
