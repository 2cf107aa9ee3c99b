"""The Bridge build check's inputs: the shared tiny tokenizer and Megatron data, and a multi-turn SFT file.

These tests run in the Bridge venv (scripts/bridge_check.sh: Python 3.12, the pinned Megatron-Bridge);
in the main venv, where megatron.bridge does not import, the module skips itself.
"""

import json

import pytest
from recipe_inputs import blend_yaml, tokenizer_dir  # noqa: F401 (fixtures)

# One record of each shape the SFT data takes: prompt/response, a system turn, and several assistant turns.
SFT_ROWS = [
    {"prompt": "what is the cat on?", "response": "the cat sat on the mat."},
    {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say dog"},
                  {"role": "assistant", "content": "dog"}]},
    {"messages": [{"role": "user", "content": "what is 2+2?"}, {"role": "assistant", "content": "it is 4."},
                  {"role": "user", "content": "and the sun?"}, {"role": "assistant", "content": "the sun was hot"}]},
]  # fmt: skip


@pytest.fixture(scope="session")
def sft_jsonl(tmp_path_factory):
    path = tmp_path_factory.mktemp("sft") / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS * 8))
    return path
