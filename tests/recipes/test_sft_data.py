"""SFT data rules one by one (recipes/sft_data.py), without training: which records are accepted and what the
error names, which tokens carry loss over several turns, truncation, first-fit packing, the pad id, and the
block-causal mask. The training tests (test_sft.py) show the same data trains; these pin each rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from infir.config import ConfigError
from infir.recipes.sft_data import (
    IGNORE,
    block_causal_mask,
    build_packs,
    encode,
    pack,
    read_records,
    to_example,
)


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


def write(tmp_path, *records, name="d.jsonl"):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_records_of_both_shapes_become_chat_turns(tmp_path):
    chat = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    path = write(tmp_path, {"messages": chat}, "", {"prompt": "p", "response": "r", "extra": 1})
    assert read_records(path) == [
        chat,
        [{"role": "user", "content": "p"}, {"role": "assistant", "content": "r"}],
    ]


@pytest.mark.parametrize(
    "record, field, why",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, ":messages", "with an assistant turn"),
        ({"messages": "hi"}, ":messages", "with an assistant turn"),
        (
            {"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]},
            ":messages",
            "assistant turn",
        ),
        (
            {"messages": [{"role": "user", "content": 1}, {"role": "assistant", "content": "a"}]},
            ":messages",
            "",
        ),
        ({"messages": [{"role": 2, "content": "x"}, {"role": "assistant", "content": "a"}]}, ":messages", ""),
        ({"messages": ["x", {"role": "assistant", "content": "a"}]}, ":messages", "assistant turn"),
        (
            {"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]},
            ":messages",
            "must be the user's, got 'assistant'",
        ),
        (
            {"messages": [{"role": "user", "content": "u"}, {"role": "aardvark", "content": "a"}]},
            ":messages",
            "with an assistant turn",
        ),
        (
            {"messages": [{"role": "wizard", "content": "w"}, {"role": "assistant", "content": "a"}]},
            ":messages",
            "must be the user's, got 'wizard'",
        ),
        ({"prompt": "p"}, "", "needs `messages` or string `prompt` and `response`"),
        ({"prompt": "p", "response": 3}, "", "string `prompt` and `response`"),
        ({"prompt": None, "response": "r"}, "", "string `prompt`"),
        (["prompt", "response"], "", "a record needs"),
    ],
)
def test_a_bad_record_names_its_file_line_and_field(tmp_path, record, field, why):
    path = write(tmp_path, {"prompt": "ok", "response": "ok"}, record)
    with pytest.raises(ConfigError) as err:
        read_records(path)
    assert err.value.path == f"{path}:2{field}"
    assert why in str(err.value)


def test_only_assistant_turns_carry_loss_over_several_turns(tok):
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "second answer"},
    ]
    ids, trainable = encode(tok, msgs)
    assert ids.dtype == np.int64 and len(ids) == len(trainable)
    # exactly two runs of trainable tokens: each answer and its end-of-turn token
    edges = np.flatnonzero(np.diff(np.concatenate([[0], trainable.astype(int), [0]])))
    assert len(edges) == 4
    runs = [tok.decode(ids[a:b]) for a, b in zip(edges[::2], edges[1::2])]
    assert runs == ["first answer<|eot_id|>", "second answer<|eot_id|>"]
    assert tok.decode(ids) == tok.apply_chat_template(msgs, tokenize=False)


def test_a_template_that_is_not_prefix_stable_is_refused(tok):
    class Shuffled:
        """A chat template that renders the last turn first: earlier turns are not a prefix of later ones."""

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            text = "".join(f"<{m['role']}>{m['content']}" for m in reversed(messages))
            return text + ("<assistant>" if add_generation_prompt else "")

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": list(range(len(text)))}

    with pytest.raises(ValueError, match="not prefix-stable"):
        encode(Shuffled(), [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}])


def test_examples_are_shifted_and_truncated():
    ids = np.arange(100, 110)
    trainable = np.array([0, 0, 0, 1, 1, 1, 0, 1, 1, 1], dtype=bool)
    inp, lab = to_example(ids, trainable, 20)
    assert inp.tolist() == list(range(100, 109))
    assert lab.tolist() == [IGNORE, IGNORE, 103, 104, 105, IGNORE, 107, 108, 109]
    inp, lab = to_example(ids, trainable, 4)  # 4 positions: ids[:5] shifted
    assert inp.tolist() == [100, 101, 102, 103]
    assert lab.tolist() == [IGNORE, IGNORE, 103, 104]
    inp, lab = to_example(ids, trainable, 5)  # an odd length too
    assert inp.tolist() == [100, 101, 102, 103, 104]
    assert lab.tolist() == [IGNORE, IGNORE, 103, 104, 105]


def ex(n, start=1):
    return np.arange(start, start + n), np.arange(start + 1, start + 1 + n)


def test_first_fit_packing_in_file_order():
    examples = [ex(6, 10), ex(5, 20), ex(3, 30), ex(4, 40), ex(2, 50)]
    packs = pack(examples, seq_length=10, pad_id=0, packing=True)
    # 6 -> bin0 (room 4); 5 -> bin1 (room 5); 3 -> bin0 (room 1); 4 -> bin1 (room 1); 2 -> bin2
    assert [p.segment_ids.tolist() for p in packs] == [
        [0] * 6 + [1] * 3 + [-1],
        [0] * 5 + [1] * 4 + [-1],
        [0] * 2 + [-1] * 8,
    ]
    assert packs[0].input_ids.tolist() == [10, 11, 12, 13, 14, 15, 30, 31, 32, 0]
    assert packs[0].labels.tolist() == [11, 12, 13, 14, 15, 16, 31, 32, 33, IGNORE]
    assert packs[1].position_ids.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 0]
    assert all(p.input_ids.dtype == p.labels.dtype == p.position_ids.dtype == np.int64 for p in packs)
    # a sample that fills its slot exactly fits
    (full,) = pack([ex(7), ex(3)], seq_length=10, pad_id=9, packing=True)
    assert full.segment_ids.tolist() == [0] * 7 + [1] * 3


def test_without_packing_each_sample_has_its_own_slot():
    packs = pack([ex(2, 5), ex(3, 7)], seq_length=4, pad_id=99, packing=False)
    assert [p.input_ids.tolist() for p in packs] == [[5, 6, 99, 99], [7, 8, 9, 99]]
    assert [p.labels.tolist() for p in packs] == [[6, 7, IGNORE, IGNORE], [8, 9, 10, IGNORE]]
    assert [p.segment_ids.tolist() for p in packs] == [[0, 0, -1, -1], [0, 0, 0, -1]]
    assert packs[1].position_ids.tolist() == [0, 1, 2, 0]


def test_build_packs_errors_name_the_field(tmp_path, tok):
    with pytest.raises(ConfigError, match="at least one JSONL") as err:
        build_packs([], tok, 64, True, True)
    assert err.value.path == "data.sft_files"
    with pytest.raises(ConfigError, match="file not found: .*missing.jsonl") as err:
        build_packs([str(tmp_path / "missing.jsonl")], tok, 64, True, True)
    assert err.value.path == "data.sft_files"


def test_build_packs_masks_prompts_unless_asked_and_pads(tmp_path, tok):
    a = write(tmp_path, {"prompt": "what is one", "response": "one"}, name="a.jsonl")
    b = write(tmp_path, {"prompt": "what is two", "response": "two"}, name="b.jsonl")
    masked = build_packs([str(a), str(b)], tok, 64, packing=True, mask_prompt=True)
    assert len(masked) == 1 and masked[0].segment_ids.max() == 1  # both files, one pack
    kept = masked[0].labels[masked[0].labels != IGNORE]
    assert tok.decode(kept) == "one<|eot_id|>two<|eot_id|>"
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    assert masked[0].input_ids[-1] == pad
    whole = build_packs([str(a)], tok, 64, packing=False, mask_prompt=False)
    n = int((whole[0].segment_ids == 0).sum())
    assert (whole[0].labels[:n] != IGNORE).all() and (whole[0].labels[n:] == IGNORE).all()


def test_build_packs_uses_eos_without_a_pad_token(tmp_path, tok):
    path = write(tmp_path, {"prompt": "p", "response": "r"})

    class NoPad:
        pad_token_id = None
        eos_token_id = 7

        def __getattr__(self, name):
            return getattr(tok, name)

        def __call__(self, *a, **kw):
            return tok(*a, **kw)

    (p,) = build_packs([str(path)], NoPad(), 64, packing=True, mask_prompt=True)
    assert p.input_ids[-1] == 7 and (p.input_ids[p.segment_ids == -1] == 7).all()


def test_block_causal_mask():
    seg = np.array([[0, 0, 1, 1, 1, -1]])
    mask = block_causal_mask(seg)
    assert mask.shape == (1, 1, 6, 6) and mask.dtype == bool
    expected = np.array(
        [
            [1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],  # padding sees itself only
        ],
        dtype=bool,
    )
    assert (mask[0, 0] == expected).all()
    two = block_causal_mask(np.array([[0, 0, -1], [0, 1, 1]]))
    assert two.shape == (2, 1, 3, 3)
    assert two[1, 0].tolist() == [[True, False, False], [False, True, False], [False, True, True]]


def test_chat_records_from_a_file_label_their_assistant_turns(tmp_path, tok):
    msgs = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "ans"},
    ]
    path = write(tmp_path, {"messages": msgs})  # roles read from JSON: equal strings, not the same objects
    (p,) = build_packs([str(path)], tok, 64, packing=True, mask_prompt=True)
    assert tok.decode(p.labels[p.labels != IGNORE]) == "ans<|eot_id|>"


def test_masked_labels_are_the_value_torch_ignores():
    import torch

    assert IGNORE == torch.nn.CrossEntropyLoss().ignore_index == -100
