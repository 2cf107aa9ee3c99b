"""Word tokenization shared by the web filters, identical to datatrove's English `split_into_words`.

datatrove 0.10.1 tokenizes English with a blank spaCy pipeline (`spacy.blank("en")` + sentencizer) and
keeps the stripped, non-empty token texts. Its FineWeb chain re-tokenizes the whole document in Gopher
repetition, Gopher quality and FineWeb quality, and every kept line again in C4 (sentence counting). Here a
document is tokenized once (`nlp.tokenizer` alone: the sentencizer never changes tokens) and the words are
cached on a `TextStats` object that all four filters read. The duplicate counters of Gopher repetition and
FineWeb quality (`dups`, `all_dup_chars`) live here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
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
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？𐩖𐩗𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑩂𑩃𑪛𑪜𑱁𑱂𖩮𖩯𖫵𖬷𖬸𖭄𛲟𝪈｡。"
)


def nlp() -> Any:
    """The blank English spaCy pipeline datatrove uses (loaded once per process), lean lexemes.

    spaCy computes every lexical attribute getter (shape, like_num, like_url, ...) for each new lexeme,
    which was a quarter of our tokenizing time (spaCy 3.8.18); we only read IS_SPACE and IS_PUNCT, and the tokenizer
    itself reads only ORTH. Our own vocab gets a fresh getter dict (spaCy's defaults stay untouched), so
    token texts and the two flags are unchanged (tests/curation_steps/test_textstats_oracle.py).
    """
    global _NLP
    if _NLP is None:
        import spacy
        from spacy.attrs import IS_PUNCT, IS_SPACE

        pipe = spacy.blank("en")
        full = pipe.vocab.lex_attr_getters
        pipe.vocab.lex_attr_getters = {attr: full[attr] for attr in (IS_PUNCT, IS_SPACE)}
        _NLP = pipe
    return _NLP


@contextmanager
def memory_zone() -> Iterator[None]:
    """spaCy memory zone that nests: spaCy's own must not be nested (the inner exit ends the outer one)."""
    if nlp().vocab.in_memory_zone:
        yield
        return
    with nlp().memory_zone():
        yield


def tokens(text: str) -> list[Any]:
    """Raw spaCy tokens (whitespace tokens included); call inside `memory_zone()`."""
    return list(nlp().tokenizer(text))


#: whitespace-free chunk -> its stripped spaCy tokens; bounded so a long run cannot grow without limit
_CHUNK_CACHE: dict[str, tuple[str, ...]] = {}
CACHE_LIMIT = 1_000_000

#: a chunk that is letters ending in a lowercase one, plus at most one of .,;:!? (see _plain_tokens)
_PLAIN = re.compile(r"([A-Za-z]*[a-z])([.,;:!?]?)")


def clear_caches() -> None:
    """Forget every tokenized chunk (benchmarks time cold passes; tests start from a known state)."""
    _CHUNK_CACHE.clear()


def _plain_tokens(chunk: str) -> tuple[str, ...] | None:
    """spaCy's tokens for a plain word chunk without calling spaCy, or None when spaCy is needed.

    Letters have no prefix or infix rule and a trailing .,;:!? after a lowercase letter is always a
    suffix, so spaCy yields (word, punct) unless a special case (e.g. "Dont", "Dr.") applies to the chunk
    or to the word. The oracle test compares this with spaCy on real text and on every special case.
    """
    m = _PLAIN.fullmatch(chunk)
    if m is None:
        return None
    rules = _special_rules()
    word, punct = m.groups()
    if chunk in rules or word in rules:
        return None
    return (word, punct) if punct else (word,)


_RULES: frozenset[str] | None = None
_RISK: re.Pattern[str] | None = None
_MULTI: re.Pattern[str] | None = None


def _special_rules() -> frozenset[str]:
    global _RULES
    if _RULES is None:
        _RULES = frozenset(nlp().tokenizer.rules)
    return _RULES


def _cross_chunk_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(risk, multi): text where spaCy's special-case matcher could act across a space, and the rules
    that only that matcher applies.

    spaCy tokenizes each whitespace-free chunk on its own, except that its special-case matcher runs over
    the whole token sequence: a special case that affix splitting cuts into several tokens ("''", ":-)")
    can be matched across spaces. Such a match is then dropped (its text holds a space), but it still
    blocks an overlapping in-chunk match. `risk` finds every such "head tail" text (any subset of the
    rule's token boundaries replaced by one space); `multi` finds the in-chunk candidates.
    """
    global _RISK, _MULTI
    if _RISK is None or _MULTI is None:
        import spacy

        plain = spacy.blank("en").tokenizer
        plain.rules = {}
        pieces, multi = set(), []
        for rule in _special_rules():
            parts = [t.text for t in plain(rule)]
            if len(parts) > 1:
                multi.append(rule)
            for mask in range(1, 2 ** (len(parts) - 1)):
                seps = [" " if mask >> j & 1 else "" for j in range(len(parts) - 1)]
                pieces.add(parts[0] + "".join(s + p for s, p in zip(seps, parts[1:])))
        _RISK = re.compile(_trie_regex(pieces))
        _MULTI = re.compile("|".join(re.escape(r) for r in sorted(multi, key=len, reverse=True)))
    return _RISK, _MULTI


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


_WS = re.compile(r"\s")


def _risk_spans(risk: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    """Every risk match, overlapping ones included (each needs its window), by start position.

    `finditer` skips matches that start inside an earlier match, so those starts are retried one by one;
    a lookahead pattern would find them too but is ~4x slower, as it defeats the regex prefix scan.
    """
    for m in risk.finditer(text):
        yield m.start(), m.end()
        for q in range(m.start() + 1, m.end()):
            inner = risk.match(text, q)
            if inner:
                yield q, inner.end()


def _special_windows(text: str) -> list[tuple[int, int]]:
    """Whitespace-bounded [start, end) spans that spaCy must tokenize as one piece.

    Each cross-space risk match widens to the chunks it touches; overlapping windows merge, so no matcher
    match crosses a window edge, and a window tokenized alone gives the same tokens as inside the whole
    document (spaCy's overlap filter only compares overlapping matches). A window matters only if it
    holds an in-chunk multi-token special case that the cross-space match could block.
    """
    risk, multi = _cross_chunk_patterns()
    windows: list[tuple[int, int]] = []
    for start, end in _risk_spans(risk, text):
        a = max(text.rfind(c, 0, start) for c in " \n\t\r") + 1
        ws = _WS.search(text, end)
        b = ws.start() if ws else len(text)
        if windows and a <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(b, windows[-1][1]))
        else:
            windows.append((a, b))
    return [(a, b) for a, b in windows if multi.search(text, a, b)]


def _chunk_words(chunks: list[str], out: list[str]) -> None:
    """Append the words of whitespace-free chunks to `out`, tokenizing only chunks never seen before."""
    cache = _CHUNK_CACHE
    if len(cache) + len(chunks) > CACHE_LIMIT:  # bounded memory; cleared before, so all of ours stay
        cache.clear()
    unseen = []
    for c in dict.fromkeys(chunks):
        if c not in cache:
            plain = _plain_tokens(c)
            if plain is None:
                unseen.append(c)
            else:
                cache[c] = plain
    if unseen:
        # one spaCy call for all unseen chunks; " \n " between them: no special case spans a newline
        k, cur = 0, []
        for tok in nlp().tokenizer(" \n ".join(unseen)):
            if tok.is_space:  # the separator: the current chunk is complete
                cache[unseen[k]] = tuple(cur)
                k, cur = k + 1, []
            else:
                cur.append(tok.text)
        cache[unseen[k]] = tuple(cur)
    for c in chunks:
        out.extend(cache[c])


def split_words(text: str) -> list[str]:
    """datatrove `split_into_words(text, "en")`: stripped, non-empty spaCy token texts.

    The words of a text are the concatenated words of its `text.split()` chunks (spaCy cuts at
    whitespace; whitespace runs only yield whitespace tokens, which datatrove strips). Each distinct chunk
    is tokenized once per process and then served from a cache; only the few windows where a special case
    could act across a space are tokenized in place. The datatrove agreement test and the oracle test
    check the equivalence on real text.
    """
    out: list[str] = []
    with memory_zone():
        pos = 0
        for a, b in _special_windows(text):
            _chunk_words(text[pos:a].split(), out)
            out.extend(s for s in (t.text.strip() for t in nlp().tokenizer(text[a:b])) if s)
            pos = b
        _chunk_words(text[pos:].split() if pos else text.split(), out)
    return out


def count_sentences(text: str) -> int:
    """datatrove's `len(split_into_sentences(text, "en"))`: the spaCy Sentencizer's sentences, whitespace-only
    ones included ("Hello world.  " is 2), and 1 for a text with none (datatrove's split returns the whole
    text as one part)."""
    with memory_zone():
        doc = nlp().tokenizer(text)
        n = len(doc)
        if n == 0:
            return 1
        sentences = 1
        seen_period = False
        for token in doc:
            in_punct = token.text in SENT_PUNCT
            if seen_period and not token.is_punct and not in_punct:
                sentences += 1
                seen_period = False
            elif in_punct:
                seen_period = True
        return sentences


def dups(items: list[str]) -> tuple[int, int]:
    """(duplicate elements, duplicate chars): every repeat after the first occurrence counts."""
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n += 1
            chars += len(x)
        else:
            seen.add(x)
    return n, chars


def all_dup_chars(joined: str, offsets: list[int], n: int, text_len: int, frac: float) -> int:
    """datatrove `find_all_duplicate`: chars of repeated n-grams (joined WITHOUT separator), greedy skip.

    `joined` is "".join(words) and `offsets` its word start offsets (plus the end), built once per document:
    an n-gram is then one slice instead of a join of n words. Without a separator different word
    sequences can give the same gram, which is why grams stay strings. Stops as soon as
    `rep / text_len > frac` (the count only grows, so the decision is the same)."""
    unique: set[str] = set()
    add = unique.add
    rep = skip = 0
    for a, b in zip(offsets, offsets[n:]):
        if skip:  # datatrove jumps past a repeated gram: its n start positions are not counted
            skip -= 1
            continue
        g = joined[a:b]
        if g in unique:
            rep += b - a
            if rep / text_len > frac:
                return rep
            skip = n - 1
        else:
            add(g)
    return rep


class TextStats:
    """Lazily computed views of one text, each computed at most once and shared by the filters."""

    __slots__ = ("text", "__dict__")

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)
