"""infir mix: shares + token counts + budget -> blend weights/epochs, read by megatron-core's builder."""

import json

import numpy as np
import pytest
from data_helpers import REPO, demo_texts, write_jsonl
from typer.testing import CliRunner

from infir.config import ConfigError, from_dict
from infir.data.cli import mix_app, parse_tokens, tokenize_app
from infir.data.mix import Blend, MixtureConfig, build_blend, load_mixture
from infir.data.tokenize import tokenize_shards


def mixture(repeat: bool = True, **shares) -> MixtureConfig:
    return from_dict(MixtureConfig, {"budget_tokens": 1000, "max_epochs": 2, "sources": {
        k: {"share": v, "allow_repeat": repeat} for k, v in shares.items()}})  # fmt: skip


COUNTS = {
    "web": {"tokens": 400, "prefix": "web_text_document"},
    "code": {"tokens": 100, "prefix": "/abs/code"},
}


def test_weights_epochs_and_warning(tmp_path):
    blend = build_blend(mixture(web=3, code=1), COUNTS, counts_dir=tmp_path)
    assert blend.megatron_blend() == ([str(tmp_path / "web_text_document"), "/abs/code"], [0.75, 0.25])
    assert blend.epochs == pytest.approx({"web": 750 / 400, "code": 250 / 100})
    assert "shares sum to 4" in blend.warnings[0]
    too_many = [w for w in blend.warnings if "would repeat" in w]
    assert len(too_many) == 1 and "'code' would repeat 2.50 epochs (> max_epochs 2)" in too_many[0]
    smaller = build_blend(mixture(web=3, code=1), COUNTS, budget=400, counts_dir=tmp_path)
    assert smaller.budget_tokens == 400 and not [w for w in smaller.warnings if "repeat" in w]


def test_one_epoch_a_source_may_repeat_only_when_the_mixture_says_so(tmp_path):
    """The paper: pretraining and annealing are "one epoch" over their data. A source whose share of the
    budget needs more tokens than it has is an error naming it, unless it is marked allow_repeat: true."""
    with pytest.raises(
        ConfigError, match=r"sources\.web: source 'web' would repeat 1\.88 epochs.*allow_repeat"
    ):
        build_blend(mixture(repeat=False, web=3, code=1), COUNTS, counts_dir=tmp_path)
    web_only = build_blend(mixture(repeat=False, web=3, code=1), COUNTS, budget=400, counts_dir=tmp_path)
    assert max(web_only.epochs.values()) <= 1  # fits in one epoch: no error, no warning
    assert not [w for w in web_only.warnings if "repeat" in w]


def test_mix_errors_name_the_source():
    with pytest.raises(ConfigError, match=r"sources\.math: source 'math' has no token count"):
        build_blend(mixture(web=1, math=1), COUNTS)
    with pytest.raises(ConfigError, match=r"sources\.web: .* 0 tokens"):
        build_blend(mixture(web=1), {"web": {"tokens": 0, "prefix": "p"}})
    with pytest.raises(ConfigError, match=r"sources\.web\.share: must be >= 0"):
        mixture(web=-1)
    with pytest.raises(ConfigError, match="every share is 0"):
        mixture(web=0)
    with pytest.raises(ConfigError, match=r"sources\.web\.shares: unknown key"):
        from_dict(MixtureConfig, {"budget_tokens": 1, "sources": {"web": {"shares": 1}}})
    # a zero share drops the source, even when it was never tokenized
    assert [s.name for s in build_blend(mixture(web=1, math=0), COUNTS).sources] == ["web"]


@pytest.mark.parametrize("name", ["pretrain", "anneal", "demo"])
def test_shipped_mixtures_are_valid(name):
    cfg = load_mixture(REPO / "conf" / "mixtures" / f"{name}.yaml")
    assert sum(s.share for s in cfg.sources.values()) == pytest.approx(1.0)
    counts = {k: {"tokens": 10**12, "prefix": k} for k in cfg.sources}
    assert sum(build_blend(cfg, counts).megatron_blend()[1]) == pytest.approx(1.0)


def test_recipe_sources_and_budgets():
    pretrain = load_mixture(REPO / "conf" / "mixtures" / "pretrain.yaml")
    anneal = load_mixture(REPO / "conf" / "mixtures" / "anneal.yaml")
    assert (pretrain.budget_tokens, anneal.budget_tokens) == (900 * 10**9, 40 * 10**9)
    assert "synthetic" not in pretrain.sources and "synthetic" in anneal.sources
    code = ("the_stack_v2", "starcoder", "opc_annealing_corpus", "apps_codecontests")
    share = lambda m: sum(m.sources[k].share for k in code if k in m.sources)  # noqa: E731
    assert share(anneal) == pytest.approx(share(pretrain))  # code keeps its original proportion


def test_blend_read_by_megatron_builder(tokenizer_dir, tmp_path):
    """Tokenize two sources, mix them, and build megatron-core's blended GPT dataset on CPU."""
    from infir.data.megatron import gpt_datasets

    out = tmp_path / "tok"
    for name, folder, n in (("web", "web", 30), ("math", "math", 200)):
        write_jsonl(tmp_path / name / "s.jsonl", [{"text": t} for t in demo_texts(folder, n)])
        entry = tokenize_shards([tmp_path / name], out, tokenizer_dir)
    cfg = from_dict(MixtureConfig, {"budget_tokens": 64 * 33 * 40, "sources": {
        "web": {"share": 0.7}, "math": {"share": 0.3}}})  # fmt: skip
    path = build_blend(cfg, out / "token_counts.json").save(tmp_path / "blend.yaml")
    blend = Blend.load(path)
    assert [s.name for s in blend.sources] == ["web", "math"]
    assert blend.megatron_blend() == (
        [str(out / "web_text_document"), str(out / "math_text_document")],
        [0.7, 0.3],
    )
    n_samples = blend.budget_tokens // 64
    train, _, _ = gpt_datasets(path, tokenizer_dir, 64, [n_samples, 0, 0])
    assert len(train) == n_samples
    picks = np.bincount(train.dataset_index[:], minlength=2)
    assert picks[0] / picks.sum() == pytest.approx(0.7, abs=0.02)  # sampled by blend weight
    tokens = np.concatenate([train[i]["tokens"].numpy() for i in range(50)])
    assert tokens.shape == (50 * 64,) and int(tokens.max()) < entry["vocab_size"]
    assert (tokens == entry["eos_id"]).any()  # documents are EOS-separated inside packed sequences


def test_cli_mix_and_tokenize(tokenizer_dir, tmp_path):
    runner = CliRunner()
    write_jsonl(tmp_path / "code" / "a.jsonl", [{"text": t} for t in demo_texts("code", 5)])
    res = runner.invoke(tokenize_app, ["-i", str(tmp_path / "code"), "-o", str(tmp_path / "t"), "-t", str(tokenizer_dir), "--dry-run"])  # fmt: skip
    assert res.exit_code == 0 and "source: code" in res.output and not (tmp_path / "t").exists()
    res = runner.invoke(tokenize_app, ["-i", str(tmp_path / "code"), "-o", str(tmp_path / "t"), "-t", str(tokenizer_dir)])  # fmt: skip
    assert res.exit_code == 0, res.output
    counts = tmp_path / "t" / "token_counts.json"
    mix_yaml = write_jsonl(tmp_path / "m.yaml", [])
    mix_yaml.write_text("budget_tokens: 1000\nmax_epochs: 1\nsources:\n  code: {share: 1.0}\n")
    res = runner.invoke(mix_app, [str(mix_yaml), "--counts", str(counts), "--budget", "1M", "--dry-run"])
    assert res.exit_code == 0 and "budget_tokens: 1000000" in res.output
    res = runner.invoke(mix_app, [str(mix_yaml), "--counts", str(counts), "-o", str(tmp_path / "b.yaml")])
    assert res.exit_code == 0, res.output
    tokens = json.loads(counts.read_text())["code"]["tokens"]
    assert Blend.load(tmp_path / "b.yaml").epochs["code"] == pytest.approx(1000 / tokens, rel=1e-5)
    assert parse_tokens("900B") == 900 * 10**9 and parse_tokens("2.5m") == 2_500_000
    with pytest.raises(ConfigError, match="budget"):
        parse_tokens("lots")


def test_mix_with_a_pattern_of_parts_counts_their_tokens_without_crashing(tokenizer_dir, tmp_path):
    """`pattern:` (several tokenized parts forming one source) through the real CLI in a fresh process:
    it segfaulted (a temporary IndexedDataset's closed mmap); its token count is the parts' sum, and a
    truncated part is one error naming the source."""
    import subprocess
    import sys

    runner = CliRunner()
    for part in ("p1", "p2"):
        write_jsonl(tmp_path / part / "a.jsonl", [{"text": t} for t in demo_texts("code", 4)])
        res = runner.invoke(tokenize_app, ["-i", str(tmp_path / part), "-o", str(tmp_path / "t"), "-t", str(tokenizer_dir)])  # fmt: skip
        assert res.exit_code == 0, res.output
    counts = json.loads((tmp_path / "t" / "token_counts.json").read_text())
    mix_yaml = tmp_path / "m.yaml"
    mix_yaml.write_text(
        f"budget_tokens: 100\nmax_epochs: 1\nsources:\n  code: {{share: 1.0, pattern: '{tmp_path}/t/p*_text_document.idx'}}\n"
    )
    cmd = [sys.executable, "-m", "infir.cli", "mix", str(mix_yaml), "--counts", str(tmp_path / "t" / "token_counts.json"),
           "-o", str(tmp_path / "b.yaml")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # -11 was the segfault
    blend = Blend.load(tmp_path / "b.yaml")
    assert len(blend.blend) == 2
    assert blend.to_dict()["sources"]["code"]["tokens"] == counts["p1"]["tokens"] + counts["p2"]["tokens"]
    idx = tmp_path / "t" / "p2_text_document.idx"
    idx.write_bytes(idx.read_bytes()[:40])
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "sources.code.pattern" in bad.stderr and "truncated" in bad.stderr


def test_mix_refuses_a_blend_whose_prefix_is_missing(tmp_path):
    counts = tmp_path / "token_counts.json"
    counts.write_text(json.dumps({"code": {"tokens": 100, "prefix": str(tmp_path / "gone_text_document")}}))
    mix_yaml = tmp_path / "m.yaml"
    mix_yaml.write_text("budget_tokens: 100\nmax_epochs: 1\nsources:\n  code: {share: 1.0}\n")
    res = CliRunner().invoke(
        mix_app, [str(mix_yaml), "--counts", str(counts), "-o", str(tmp_path / "b.yaml")]
    )
    assert isinstance(res.exception, ConfigError) and "gone_text_document.idx not found" in str(res.exception)
    assert not (tmp_path / "b.yaml").exists()


def test_prefix_and_pattern_are_exclusive_and_a_pattern_alone_is_fine():
    src = {"share": 1.0, "prefix": "/a", "pattern": "/b/*.idx"}
    with pytest.raises(ConfigError, match="either prefix or pattern"):
        from_dict(MixtureConfig, {"budget_tokens": 10, "sources": {"x": src}})
    alone = from_dict(
        MixtureConfig, {"budget_tokens": 10, "sources": {"x": {"share": 1.0, "pattern": "/b/*.idx"}}}
    )
    assert alone.sources["x"].pattern == "/b/*.idx" and alone.sources["x"].prefix is None


def test_max_epochs_warns_only_above_it_and_defaults_to_four():
    counts = {"a": {"tokens": 100, "prefix": "/x/a"}}
    mix = from_dict(
        MixtureConfig, {"budget_tokens": 400, "sources": {"a": {"share": 1.0, "allow_repeat": True}}}
    )
    assert mix.max_epochs == 4.0
    assert build_blend(mix, counts).warnings == []  # exactly 4 epochs: at the limit, not over it
    over = build_blend(mix, counts, budget=401)
    assert len(over.warnings) == 1 and "4.01 epochs (> max_epochs 4)" in over.warnings[0]


def test_blend_save_load_keeps_warnings(tmp_path):
    blend = build_blend(mixture(web=3, code=1), COUNTS, counts_dir=tmp_path)
    assert blend.warnings  # code repeats 2.5 epochs > max_epochs 2
    back = Blend.load(blend.save(tmp_path / "b.yaml"))
    assert back.warnings == blend.warnings and back.megatron_blend() == blend.megatron_blend()


def test_a_relative_pattern_is_read_from_the_counts_folder(tmp_path, tokenizer_dir):
    for part in ("p1", "p2"):
        write_jsonl(tmp_path / part / "a.jsonl", [{"text": t} for t in demo_texts("code", 3)])
        tokenize_shards([tmp_path / part], tmp_path / "t", tokenizer_dir)
    counts = json.loads((tmp_path / "t" / "token_counts.json").read_text())
    mix = from_dict(MixtureConfig, {"budget_tokens": 10, "sources": {"code": {"share": 1.0,
                                                                              "pattern": "p*_text_document.idx"}}})  # fmt: skip
    blend = build_blend(mix, tmp_path / "t" / "token_counts.json")  # relative to the counts file's folder
    assert blend.to_dict()["sources"]["code"]["tokens"] == counts["p1"]["tokens"] + counts["p2"]["tokens"]
    assert [p for _, p in blend.sources[0].prefixes] == [
        str(tmp_path / "t" / f"{n}_text_document") for n in ("p1", "p2")
    ]


def test_blend_load_edge_cases(tmp_path):
    """Blend.load on what hands and editors make of a blend file (from mix's mutation run)."""
    saved = build_blend(mixture(web=3, code=1), COUNTS, counts_dir=tmp_path).save(tmp_path / "b.yaml")
    import yaml

    data = yaml.safe_load(saved.read_text())
    no_epochs = tmp_path / "no_epochs.yaml"
    no_epochs.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "epochs"}, sort_keys=False))
    assert Blend.load(no_epochs).epochs == {"web": 0.0, "code": 0.0}
    edited = tmp_path / "edited.yaml"  # weights changed by hand: `blend` wins over the stale sources
    edited.write_text(
        yaml.safe_dump({**data, "blend": [[0.5, p] for _, p in data["blend"]]}, sort_keys=False)
    )
    assert Blend.load(edited).megatron_blend()[1] == [0.5, 0.5]
    for bad in ({"share": None}, {"share": "abc"}):  # sources the loader cannot read: `blend` alone counts
        broken = tmp_path / "broken.yaml"
        broken.write_text(yaml.safe_dump({**data, "sources": {"web": {**data["sources"]["web"], **bad}}}))
        (only,) = Blend.load(broken).sources
        assert (only.name, only.share, only.epochs) == ("blend", 1.0, 0.0)
    hand = tmp_path / "hand.yaml"
    hand.write_text("blend:\n  - [0, /p/a]\n  - [1.0, /p/b]\n")  # a zero weight is allowed
    loaded = Blend.load(hand)
    assert loaded.budget_tokens == 0 and loaded.megatron_blend() == (["/p/a", "/p/b"], [0.0, 1.0])
    (hand_plan,) = loaded.sources
    assert (hand_plan.share, hand_plan.epochs) == (1.0, 0.0)
    hand.write_text("blend:\n  - [1.0, /p/a, extra]\n")
    with pytest.raises(ConfigError, match=r"blend\[0\]"):
        Blend.load(hand)


def test_a_budget_override_must_be_positive():
    counts = {"a": {"tokens": 100, "prefix": "/x/a"}}
    mix = from_dict(MixtureConfig, {"budget_tokens": 50, "sources": {"a": {"share": 1.0}}})
    assert build_blend(mix, counts, budget=1).budget_tokens == 1
    for budget in (0, -5):
        with pytest.raises(ConfigError, match="budget_tokens"):
            build_blend(mix, counts, budget=budget)


@pytest.mark.parametrize(
    "entry, field", [({"tokens": "many", "prefix": "/x"}, "counts.a.tokens"), (5, "counts.a.tokens"),
                     ({"tokens": -5, "prefix": "/x"}, "sources.a"), ({"tokens": 0, "prefix": "/x"}, "sources.a")],
)  # fmt: skip
def test_bad_token_counts_name_the_source(entry, field):
    mix = from_dict(MixtureConfig, {"budget_tokens": 50, "sources": {"a": {"share": 1.0}}})
    with pytest.raises(ConfigError) as err:
        build_blend(mix, {"a": entry})
    assert err.value.path == field


def test_blend_items_need_a_weight_and_a_prefix(tmp_path):
    hand = tmp_path / "hand.yaml"
    for item in ("[0.5]", "[-0.5, /p/a]", "[-2, /p/a]", "[1.0, 3]", "/p/a"):
        hand.write_text(f"blend:\n  - [1.0, /p/b]\n  - {item}\n")
        with pytest.raises(ConfigError, match=r"hand\.yaml:blend\[1\]: expected \[weight >= 0, prefix\]"):
            Blend.load(hand)


def test_a_zero_share_first_leaves_the_others_in_and_one_token_is_enough(tmp_path):
    blend = build_blend(mixture(off=0, web=1), {"off": {"tokens": 0, "prefix": "/p/off"},
                                                "web": {"tokens": 1, "prefix": "/p/web"}})  # fmt: skip
    assert blend.megatron_blend() == (["/p/web"], [1.0]) and blend.epochs == {"web": 1000.0}


def test_unreadable_mixture_and_counts_files_are_named(tmp_path):
    from infir.data.mix import load_counts

    bad = tmp_path / "mix.yaml"
    bad.write_text("budget_tokens: -5\nsources: {web: {share: 1}}\n")
    with pytest.raises(ConfigError, match=r"budget_tokens: .*\(in .*mix\.yaml\)"):
        load_mixture(bad)
    counts = tmp_path / "token_counts.json"
    counts.write_text("{not json")
    with pytest.raises(ConfigError, match=r"token_counts\.json: invalid JSON"):
        load_counts(counts)


def test_mixture_bounds_and_the_one_epoch_default():
    base = {"budget_tokens": 1000, "sources": {"web": {"share": 1}}}
    assert from_dict(MixtureConfig, base).sources["web"].allow_repeat is False  # one epoch unless told
    for field, bad in (("budget_tokens", 0), ("max_epochs", 0)):
        with pytest.raises(ConfigError, match=field):
            from_dict(MixtureConfig, {**base, field: bad})
    with pytest.raises(ConfigError, match=r"sources\.web: source 'web' would repeat"):
        build_blend(from_dict(MixtureConfig, base), {"web": {"tokens": 10, "prefix": "/p/web"}})
