"""Math web text: the colon-ending rule (InfiR: such documents taught the model to emit EOS after ':')."""

from __future__ import annotations

from dataclasses import dataclass

from infir.curation.base import Doc, Step, doc_text
from infir.curation.registry import register_step


@register_step("math_colon_ending")
class MathColonEnding(Step):
    """Drop a document whose text, trailing whitespace removed, ends with ':' (or the full-width '：')."""

    reasons = ("ends_with_colon",)

    @dataclass
    class Config:
        colons: str = ":："

    def filter(self, doc: Doc) -> str | None:
        text = doc_text(doc, "math_colon_ending")
        return "ends_with_colon" if text.rstrip().endswith(tuple(self.config.colons)) else None
