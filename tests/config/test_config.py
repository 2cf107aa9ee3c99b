"""The strict config system: one error type naming the field, and recipe < YAML < CLI precedence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from infir.config import (
    ConfigError,
    dump_yaml,
    fail,
    from_dict,
    parse_override,
    resolve,
    resolve_merged,
    to_dict,
)


@dataclass
class Optim:
    lr: float = field(default=1e-3, metadata={"gt": 0})
    betas: tuple[float, float] = (0.9, 0.95)
    name: Literal["adamw", "sgd"] = "adamw"


@dataclass
class Train:
    global_batch: int = field(default=8, metadata={"ge": 1})
    micro_batch: int = 2
    tags: list[str] = field(default_factory=list)
    init_from: str | None = None

    def validate(self) -> None:
        if self.global_batch % self.micro_batch:
            fail("global_batch", f"must be divisible by micro_batch={self.micro_batch}")


@dataclass
class Recipe:
    optim: Optim = field(default_factory=Optim)
    train: Train = field(default_factory=Train)
    seed: int = 1234


def test_bad_key_names_the_field_and_the_allowed_keys():
    with pytest.raises(ConfigError) as err:
        from_dict(Recipe, {"optim": {"lrr": 0.1}})
    assert err.value.path == "optim.lrr"
    assert "unknown key" in str(err.value) and "'lr'" in str(err.value) and "'betas'" in str(err.value)


def test_bad_type_names_the_field_and_the_expected_type():
    with pytest.raises(ConfigError) as err:
        from_dict(Recipe, {"train": {"global_batch": "eight"}})
    assert err.value.path == "train.global_batch"
    assert "expected an integer" in str(err.value)
    with pytest.raises(ConfigError, match=r"train\.tags\[1\]: expected a string"):
        from_dict(Recipe, {"train": {"tags": ["a", 3]}})
    with pytest.raises(ConfigError, match="seed: expected an integer"):
        from_dict(Recipe, {"seed": True})  # bools are not ints here


def test_bad_value_names_the_field_and_the_allowed_values():
    with pytest.raises(ConfigError) as err:
        from_dict(Recipe, {"optim": {"name": "lion"}})
    assert err.value.path == "optim.name"
    assert "['adamw', 'sgd']" in str(err.value)
    with pytest.raises(ConfigError, match=r"optim\.lr: must be > 0"):
        from_dict(Recipe, {"optim": {"lr": 0.0}})
    with pytest.raises(ConfigError, match=r"train\.global_batch: must be divisible"):
        from_dict(Recipe, {"train": {"global_batch": 7}})


def test_types_that_convert_and_defaults():
    cfg = from_dict(Recipe, {"optim": {"lr": 1, "betas": [0.8, 0.9]}, "train": {"init_from": None}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.train.global_batch == 8
    assert from_dict(Recipe, to_dict(cfg)) == cfg


def test_precedence_recipe_then_yaml_then_cli(tmp_path):
    base = Recipe(seed=1, optim=Optim(lr=0.5))
    layer = tmp_path / "over.yaml"
    layer.write_text("seed: 2\noptim:\n  lr: 0.25\ntrain:\n  micro_batch: 4\n")
    cfg = resolve(base, [layer], ["seed=3", "train.tags=[x, y]"])
    assert cfg.seed == 3  # CLI beats YAML beats recipe
    assert cfg.optim.lr == 0.25  # YAML beats recipe
    assert cfg.optim.name == "adamw"  # untouched keys keep the recipe's value
    assert cfg.train.micro_batch == 4 and cfg.train.tags == ["x", "y"]
    assert resolve(base).seed == 1


def test_errors_say_which_layer_set_the_bad_value(tmp_path):
    layer = tmp_path / "bad.yaml"
    layer.write_text("optim:\n  name: lion\n")
    with pytest.raises(ConfigError, match=r"optim\.name: .*set in .*bad\.yaml"):
        resolve(Recipe(), [layer])
    with pytest.raises(ConfigError, match=r"train\.micro_batch: expected an integer.*command-line"):
        resolve(Recipe(), [], ["train.micro_batch=two"])
    with pytest.raises(ConfigError, match=r"optim\.momentum: unknown key"):
        resolve(Recipe(), [], ["optim.momentum=0.9"])


def test_merged_layers_build_once_and_errors_name_the_layer(tmp_path):
    """resolve_merged (curation configs): a YAML may leave a value that only validates with the command
    line's (global_batch 9 needs micro_batch 3); an error still names the layer that set the bad value."""
    batch, first, second = tmp_path / "batch.yaml", tmp_path / "a.yaml", tmp_path / "b.yaml"
    batch.write_text("train:\n  global_batch: 9\n")
    first.write_text("optim:\n  name: lion\n")
    second.write_text("optim:\n  name: sgd\n")
    with pytest.raises(ConfigError, match="must be divisible"):
        resolve(Recipe(), [batch], ["train.micro_batch=3"])  # layer by layer: 9 % 2 fails before the CLI
    cfg = resolve_merged(Recipe, [batch, second], ["train.micro_batch=3"], base=to_dict(Recipe()))
    assert (cfg.train.global_batch, cfg.train.micro_batch, cfg.optim.name) == (9, 3, "sgd")
    with pytest.raises(ConfigError, match=rf"optim\.name: .*lion.*\(set in {first}\)"):
        resolve_merged(Recipe, [batch, first], ["train.micro_batch=3"], base=to_dict(Recipe()))
    with pytest.raises(
        ConfigError, match=r"train\.micro_batch: expected an integer.*\(set in a command-line"
    ):
        resolve_merged(Recipe, [batch, second], ["train.micro_batch=three"])
    later = tmp_path / "c.yaml"  # the last file that sets the key is named, not the first
    later.write_text("optim:\n  name: lamb\n")
    with pytest.raises(ConfigError, match=rf"\(set in {later}\)"):
        resolve_merged(Recipe, [first, later], base=to_dict(Recipe()))


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    layer = tmp_path / "broken.yaml"
    layer.write_text("seed: 1\noptim: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+"):
        resolve(Recipe(), [layer])


def test_override_parsing():
    assert parse_override("optim.lr=3e-4") == (["optim", "lr"], 3e-4)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("path=/x/y.yaml") == (["path"], "/x/y.yaml")
    with pytest.raises(ConfigError, match="a.b=c"):
        parse_override("optim.lr")


def test_dump_round_trips():
    import yaml

    cfg = Recipe(seed=7)
    assert from_dict(Recipe, yaml.safe_load(dump_yaml(cfg))) == cfg
