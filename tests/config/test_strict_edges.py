"""infir/config/strict.py at its edges: each rule's boundary, each type's wrong values, and where the error
points. Written from a mutation run (docs/MUTATION.md): every case here failed to be noticed before."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from infir.config import ConfigError, fail, from_dict, validate


@dataclass
class Inner:
    depth: int = field(default=1, metadata={"ge": 1})

    def validate(self) -> None:
        if self.depth > 5:
            fail("depth", "too deep")


@dataclass
class Kinds:
    ge0: int = field(default=0, metadata={"ge": 0})
    gt0: float = field(default=1.0, metadata={"gt": 0})
    le1: float = field(default=0.5, metadata={"le": 1})
    lt1: float = field(default=0.5, metadata={"lt": 1})
    pair: tuple[float, float] = (0.9, 0.95)
    many: tuple[int, ...] = ()
    names: list[str] = field(default_factory=list)
    flag: bool = False
    ratio: float = 0.5
    count: int = 1
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    maybe: int | None = None
    none_first: None | int = None
    either: int | str = 0
    mapping: dict[str, int] = field(default_factory=dict)
    where: Path = Path(".")
    inner: Inner = field(default_factory=Inner)


@dataclass
class Needs:
    size: int
    label: str = "x"


def _err(data: dict, cls: type = Kinds) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        from_dict(cls, data)
    return exc.value


def test_bounds_hold_at_and_beyond_their_edges():
    ok = from_dict(Kinds, {"ge0": 0, "gt0": 1e-9, "le1": 1, "lt1": 0.999})
    assert (ok.ge0, ok.gt0, ok.le1, ok.lt1) == (0, 1e-9, 1.0, 0.999)
    assert _err({"ge0": -1}).path == "ge0" and ">= 0" in _err({"ge0": -1}).message
    assert ">= 0" not in str(_err({"gt0": 0})) and "> 0" in _err({"gt0": 0}).message
    assert _err({"gt0": -1}).path == "gt0"
    assert "<= 1" in _err({"le1": 1.0001}).message and _err({"le1": 2}).path == "le1"
    assert "< 1" in _err({"lt1": 1}).message and _err({"lt1": 5}).path == "lt1"
    assert from_dict(Kinds, {"ge0": 7, "le1": -3, "lt1": -3}).ge0 == 7  # far inside: fine


def test_containers_check_length_items_and_shape():
    assert from_dict(Kinds, {"pair": [0.1, 0.2]}).pair == (0.1, 0.2)
    assert "expected 2 items, got 1" in _err({"pair": [0.1]}).message
    assert "expected 2 items, got 3" in _err({"pair": [0.1, 0.2, 0.3]}).message
    assert from_dict(Kinds, {"many": [1, 2, 3]}).many == (1, 2, 3)  # tuple[int, ...]: any length, a tuple
    assert _err({"many": [1, "x"]}).path == "many[1]"
    assert from_dict(Kinds, {"names": ["a", "b"]}).names == ["a", "b"]
    assert _err({"names": ["a", 3]}).path == "names[1]" and _err({"names": "a"}).message.startswith(
        "expected a list"
    )
    assert from_dict(Kinds, {"mapping": {"k": 3}}).mapping == {"k": 3}
    assert _err({"mapping": [1]}).message.startswith("expected a mapping")
    assert _err({"mapping": {"k": "v"}}).path == "mapping.k"


def test_scalars_refuse_lookalikes():
    assert (
        "expected a bool" in _err({"flag": 1}).message and "expected a bool" in _err({"flag": "yes"}).message
    )
    assert from_dict(Kinds, {"flag": True}).flag is True
    assert (
        "expected a number" in _err({"ratio": True}).message
        and "expected a number" in _err({"ratio": "1"}).message
    )
    assert from_dict(Kinds, {"ratio": 2}).ratio == 2.0 and isinstance(
        from_dict(Kinds, {"ratio": 2}).ratio, float
    )
    assert (
        "expected an integer" in _err({"count": 1.5}).message
        and "expected an integer" in _err({"count": False}).message
    )
    assert "expected a string" in _err({"name": 3}).message
    assert "must be one of" in _err({"mode": "c"}).message or "'a' | 'b'" in _err({"mode": "c"}).message
    assert "expected Path" in _err({"where": 3}).message


def test_optional_and_union_values():
    assert from_dict(Kinds, {"maybe": None}).maybe is None and from_dict(Kinds, {"maybe": 4}).maybe == 4
    bad = _err({"maybe": "x"})
    assert bad.path == "maybe" and "int | null" in bad.message
    assert from_dict(Kinds, {"none_first": 3}).none_first == 3  # None listed first: the other arm still tried
    assert from_dict(Kinds, {"either": "s"}).either == "s" and from_dict(Kinds, {"either": 3}).either == 3
    assert "int | str" in _err({"either": [1]}).message


def test_required_unknown_and_nested_errors_point_at_the_field():
    assert _err({}, Needs).path == "size" and "required" in _err({}, Needs).message
    assert from_dict(Needs, {"size": 2}).size == 2
    two = _err({"zzz": 1, "aaa": 2})
    assert two.path == "zzz" and "allowed keys of Kinds" in two.message  # the first unknown key as given
    assert _err({"inner": {"depth": 0}}).path == "inner.depth"
    deep = _err({"inner": {"depth": 9}})  # the section's own validate(): its path is prefixed
    assert deep.path == "inner.depth" and deep.message == "too deep"
    built = Kinds(inner=Inner(depth=0))  # built in code: validate() re-checks every nested bound
    with pytest.raises(ConfigError) as exc:
        validate(built)
    assert exc.value.path == "inner.depth"
    already = from_dict(Kinds, {"inner": Inner(depth=3)})  # a section given as an instance is kept
    assert already.inner.depth == 3
