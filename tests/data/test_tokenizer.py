"""train_bpe: a Llama-3-shaped tokenizer folder that transformers loads offline, chat template included."""

import pytest
from transformers import AutoTokenizer

from infir.data.tokenizer import LLAMA3_CHAT_TEMPLATE, SPECIAL_TOKENS, train_bpe


def test_tokenizer_loads_with_llama3_specials(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert len(tok) == 1024
    assert tok.bos_token == "<|begin_of_text|>" and tok.eos_token == "<|end_of_text|>"
    assert tok.pad_token == "<|finetune_right_pad_id|>"
    # special tokens sit after the learned vocabulary, as in Llama 3 (128000+)
    ids = tok.convert_tokens_to_ids(SPECIAL_TOKENS)
    assert ids == list(range(1024 - len(SPECIAL_TOKENS), 1024))
    for name in ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"):
        assert len(tok(name, add_special_tokens=False)["input_ids"]) == 1


def test_bos_added_and_byte_level_roundtrip(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    text = "def f(x):\n    return x ** 2  # ünïcödé 12345 ∑"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.eos_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    # Llama 3 splits digits in groups of at most three
    digits = tok.convert_ids_to_tokens(tok("1234567", add_special_tokens=False)["input_ids"])
    assert all(len(t) <= 3 for t in digits)


def test_chat_template_matches_llama3_format(tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tok.chat_template == LLAMA3_CHAT_TEMPLATE
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": " What is 2+2? "},
        {"role": "assistant", "content": "4"},
    ]
    text = tok.apply_chat_template(messages, tokenize=False)
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n4<|eot_id|>"
    )
    prompt = tok.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    ids = tok.apply_chat_template(messages[:2], add_generation_prompt=True, tokenize=True, return_dict=True)
    ids = ids["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.convert_tokens_to_ids("<|eot_id|>")) == 2


def test_vocab_too_small_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="vocab_size must be >="):
        train_bpe(["hello world"], 100, tmp_path / "tiny")
