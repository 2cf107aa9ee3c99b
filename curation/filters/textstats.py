"""Word tokenization shared by the web filters, identical to datatrove's English `split_into_words`.

datatrove 0.10.1 tokenizes English with a blank spaCy pipeline (`spacy.blank("en")` + sentencizer) and
keeps the stripped, non-empty token texts. Its FineWeb chain re-tokenizes the whole document in Gopher
repetition, Gopher quality and FineWeb quality, and every kept line again in C4 (sentence counting). Here a
document is tokenized once (`nlp.tokenizer` alone: the sentencizer never changes tokens) and the words are
cached on a `TextStats` object that all four filters read.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

_NLP: Any = None

#: datatrove.utils.text.PUNCTUATION and TERMINAL_PUNCTUATION (copied so datatrove stays optional)
PUNCTUATION = "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f"
TERMINAL_PUNCTUATION = tuple(
    sorted(
        "!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？｡𐩖𐩗𐽕𐽖𐽗𐽘𐽙𐾆𐾇𐾈𐾉𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑥄𑥆𑩂𑩃𑪛𑪜𑱁𑱂𑻷𑻸\U00011f43\U00011f44𖩮𖩯𖫵𖬷𖬸𖭄𖺘𛲟𝪈"
    )
)
PUNCTUATION_SET = frozenset(PUNCTUATION).union(TERMINAL_PUNCTUATION)

#: spaCy's Sentencizer default punctuation (spacy/pipeline/sentencizer.pyx), used to count sentences
SENT_PUNCT = frozenset(
    [
        "!",
        ".",
        "?",
        "։",
        "؟",
        "۔",
        "܀",
        "܁",
        "܂",
        "߹",
        "।",
        "॥",
        "၊",
        "။",
        "።",
        "፧",
        "፨",
        "᙮",
        "᜵",
        "᜶",
        "᠃",
        "᠉",
        "᥄",
        "᥅",
        "᪨",
        "᪩",
        "᪪",
        "᪫",
        "᭚",
        "᭛",
        "᭞",
        "᭟",
        "᰻",
        "᰼",
        "᱾",
        "᱿",
        "‼",
        "‽",
        "⁇",
        "⁈",
        "⁉",
        "⸮",
        "⸼",
        "꓿",
        "꘎",
        "꘏",
        "꛳",
        "꛷",
        "꡶",
        "꡷",
        "꣎",
        "꣏",
        "꤯",
        "꧈",
        "꧉",
        "꩝",
        "꩞",
        "꩟",
        "꫰",
        "꫱",
        "꯫",
        "﹒",
        "﹖",
        "﹗",
        "！",
        "．",
        "？",
        "𐩖",
        "𐩗",
        "𑁇",
        "𑁈",
        "𑂾",
        "𑂿",
        "𑃀",
        "𑃁",
        "𑅁",
        "𑅂",
        "𑅃",
        "𑇅",
        "𑇆",
        "𑇍",
        "𑇞",
        "𑇟",
        "𑈸",
        "𑈹",
        "𑈻",
        "𑈼",
        "𑊩",
        "𑑋",
        "𑑌",
        "𑗂",
        "𑗃",
        "𑗉",
        "𑗊",
        "𑗋",
        "𑗌",
        "𑗍",
        "𑗎",
        "𑗏",
        "𑗐",
        "𑗑",
        "𑗒",
        "𑗓",
        "𑗔",
        "𑗕",
        "𑗖",
        "𑗗",
        "𑙁",
        "𑙂",
        "𑜼",
        "𑜽",
        "𑜾",
        "𑩂",
        "𑩃",
        "𑪛",
        "𑪜",
        "𑱁",
        "𑱂",
        "𖩮",
        "𖩯",
        "𖫵",
        "𖬷",
        "𖬸",
        "𖭄",
        "𛲟",
        "𝪈",
        "｡",
        "。",
    ]
)


def nlp() -> Any:
    """The blank English spaCy pipeline datatrove uses (loaded once per process)."""
    global _NLP
    if _NLP is None:
        import spacy

        _NLP = spacy.blank("en")
    return _NLP


def tokens(text: str) -> list[Any]:
    """Raw spaCy tokens (whitespace tokens included); call inside `nlp().memory_zone()`."""
    tok = nlp().tokenizer
    return list(tok(text))


#: whitespace-free chunk -> its stripped spaCy tokens; bounded so a long run cannot grow without limit
_CHUNK_CACHE: dict[str, tuple[str, ...]] = {}
CACHE_LIMIT = 1_000_000


def _cross_chunk_risk() -> re.Pattern[str]:
    """Text where spaCy's special-case matcher could act across a single space (e.g. `x' ''y`).

    spaCy tokenizes each whitespace-free chunk on its own, except that its special-case matcher runs over
    the whole token sequence: a special case that affix splitting cuts into several tokens ("''", ":-)")
    can be matched across one space and then blocks the in-chunk match. Documents containing such a
    "head tail" pair are tokenized whole, like datatrove does; all others use the chunk cache.
    """
    global _RISK
    if _RISK is None:
        tok = nlp().tokenizer
        plain = __import__("spacy").blank("en").tokenizer
        plain.rules = {}
        pieces = set()
        for rule in tok.rules:
            parts = [t.text for t in plain(rule)]
            # a cross-space match needs the space at one of the rule's own token boundaries
            for j in range(1, len(parts)):
                pieces.add("".join(parts[:j]) + " " + "".join(parts[j:]))
        _RISK = re.compile(_trie_regex(pieces))
        multi = [r for r in tok.rules if len(plain(r)) > 1]
        global _MULTI
        _MULTI = re.compile("|".join(re.escape(r) for r in sorted(multi, key=len, reverse=True)))
    return _RISK


_RISK: re.Pattern[str] | None = None


def _trie_regex(words: set[str]) -> str:
    """One regex for many literals, factored by common prefix (a flat alternation is ~10x slower)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    return build(trie)


_MULTI: re.Pattern[str] | None = None


def _needs_whole_doc(text: str) -> bool:
    """A cross-space special-case match only matters when it overlaps a real in-chunk special case."""
    for m in _cross_chunk_risk().finditer(text):
        a = max(text.rfind(c, 0, m.start()) for c in " \n\t\r") + 1
        ends = [i for i in (text.find(c, m.end()) for c in " \n\t\r") if i != -1]
        window = text[a : min(ends) if ends else len(text)]
        if _MULTI.search(window):
            return True
    return False


def split_words(text: str) -> list[str]:
    """datatrove `split_into_words(text, "en")`: stripped, non-empty spaCy token texts.

    The words of a text are the concatenated words of its `text.split()` chunks (spaCy cuts at
    whitespace; whitespace runs only yield whitespace tokens, which datatrove strips). Each distinct chunk
    is tokenized once per process (one spaCy call per document for all its unseen chunks, separated by
    newlines so no special case can match across them) and then served from a cache. The datatrove
    agreement test checks the equivalence on real text.
    """
    if _needs_whole_doc(text):
        with nlp().memory_zone():
            return [s for s in (t.text.strip() for t in nlp().tokenizer(text)) if s]
    chunks = text.split()
    cache = _CHUNK_CACHE
    unseen = [c for c in dict.fromkeys(chunks) if c not in cache]
    if unseen:
        if len(cache) + len(unseen) > CACHE_LIMIT:
            cache.clear()
        with nlp().memory_zone():
            k, cur = 0, []
            for tok in nlp().tokenizer(" \n ".join(unseen)):
                if tok.is_space:  # the separator: the current chunk is complete
                    cache[unseen[k]] = tuple(cur)
                    k, cur = k + 1, []
                else:
                    cur.append(tok.text)
            cache[unseen[k]] = tuple(cur)
    out: list[str] = []
    for c in chunks:
        out.extend(cache[c])
    return out


def count_sentences(text: str) -> int:
    """datatrove `len(split_into_sentences(text, "en"))`: spaCy Sentencizer boundaries, empty ones dropped."""
    with nlp().memory_zone():
        doc = nlp().tokenizer(text)
        n = len(doc)
        if n == 0:
            return 0
        starts = [0]
        seen_period = False
        for i, token in enumerate(doc):
            in_punct = token.text in SENT_PUNCT
            if seen_period and not token.is_punct and not in_punct:
                starts.append(i)
                seen_period = False
            elif in_punct:
                seen_period = True
        bounds = starts + [n]
        # a sentence made only of whitespace tokens is stripped to "" and dropped by datatrove
        return sum(1 for a, b in zip(bounds, bounds[1:]) if any(not doc[j].is_space for j in range(a, b)))


class TextStats:
    """Lazily computed views of one text, each computed at most once and shared by the filters."""

    __slots__ = ("text", "__dict__")

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)
