"""Shard reading and writing (curation/io.py) record by record: names, folders, labels, every kind of bad
line and where its reject says it was, ids, Parquet batches, atomic writes. Fast unit tests: the runner's
tests cover the same code end to end, these pin each rule."""

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infir.curation.io import (
    MALFORMED,
    Shard,
    dumps,
    find_shards,
    malformed_record,
    read_jsonl,
    read_shard,
    shard_name,
    write_jsonl_atomic,
    write_text_atomic,
)


def lines_file(path, *lines: bytes | str):
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def read_all(path, **kw):
    return list(read_shard(Shard(shard_name(path), path), **kw))


@pytest.mark.parametrize(
    "name, expected",
    [("a.jsonl", "a"), ("a.jsonl.gz", "a"), ("a.json", "a"), ("a.parquet", "a"), ("x.y.txt", "x.y"),
     ("b.c.jsonl", "b.c"), ("noext", "noext")],
)  # fmt: skip
def test_shard_name_strips_the_shard_suffix(tmp_path, name, expected):
    assert shard_name(tmp_path / name) == expected


def test_a_folder_expands_to_its_shard_files_sorted(tmp_path):
    for name in ("b.jsonl", "a.jsonl.gz", "c.parquet", "d.json", "notes.txt", "README"):
        (tmp_path / name).write_text("")
    (tmp_path / "sub.jsonl").mkdir()  # a folder with a shard's name is not a shard
    shards = find_shards([tmp_path])
    assert [s.name for s in shards] == ["a", "b", "c", "d"]
    assert [s.path.name for s in shards] == ["a.jsonl.gz", "b.jsonl", "c.parquet", "d.json"]
    assert all(s.label is None for s in shards)


def test_files_keep_the_order_given_and_any_file_is_taken(tmp_path):
    for name in ("z.jsonl", "a.txt"):
        (tmp_path / name).write_text("")
    shards = find_shards([tmp_path / "z.jsonl", str(tmp_path / "a.txt")])
    assert [(s.name, s.path.name) for s in shards] == [("z", "z.jsonl"), ("a", "a.txt")]


def test_a_shard_is_an_immutable_value(tmp_path):
    shard = Shard("a", tmp_path / "a.jsonl")
    assert {shard: 1}[Shard("a", tmp_path / "a.jsonl")] == 1  # hashable: a key for per-shard state
    with pytest.raises(AttributeError):
        shard.name = "b"  # type: ignore[misc]


def test_missing_inputs_and_empty_folders_fail_naming_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.jsonl does not exist"):
        find_shards([tmp_path / "nope.jsonl"])
    (tmp_path / "only.txt").write_text("")
    with pytest.raises(
        FileNotFoundError, match=r"no shard files \(\.jsonl, \.jsonl\.gz, \.json, \.parquet\)"
    ):
        find_shards([tmp_path])
    with pytest.raises(FileNotFoundError, match="no shard files"):
        find_shards([])


def test_two_shards_with_one_name_are_refused_naming_both(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.jsonl").write_text("")
    (tmp_path / "a.jsonl.gz").write_text("")
    with pytest.raises(ValueError, match=r"share the name 'a': .*a\.jsonl and .*a\.jsonl\.gz"):
        find_shards([tmp_path / "x", tmp_path])


def test_labelled_sources_name_their_shards_and_stay_in_order(tmp_path):
    for src in ("web", "code"):
        (tmp_path / src).mkdir()
        (tmp_path / src / "part0.jsonl").write_text("")
    shards = find_shards([f"web={tmp_path / 'web'}", f"code.v2={tmp_path / 'code' / 'part0.jsonl'}"])
    assert [(s.name, s.label) for s in shards] == [("web/part0", "web"), ("code.v2/part0", "code.v2")]
    # a real path that contains `=` is a path, not a label
    odd = tmp_path / "k=v.jsonl"
    odd.write_text("")
    assert [(s.name, s.label) for s in find_shards([odd])] == [("k=v", None)]
    with pytest.raises(FileNotFoundError, match="missing does not exist"):
        find_shards([f"web={tmp_path / 'missing'}"])


def test_good_records_and_ids(tmp_path):
    path = lines_file(
        tmp_path / "s.jsonl",
        json.dumps({"id": "d1", "text": "one", "extra": 1}),
        json.dumps({"text": "no id"}),
        json.dumps({"id": 7, "text": "int id"}),
        json.dumps({"id": None, "text": "null id"}),
    )
    got = read_all(path)
    assert all(r is None for _, r in got)
    docs = [d for d, _ in got]
    assert docs[0] == {"id": "d1", "text": "one", "extra": 1}
    assert docs[1]["id"] == "s-2"  # the fallback names the shard and the line
    assert docs[2]["id"] == 7  # an id field the record has is kept as it is
    assert docs[3]["id"] == "s-4"


def test_other_text_and_id_fields(tmp_path):
    path = lines_file(
        tmp_path / "s.jsonl",
        json.dumps({"content": "body", "uid": 12, "id": "ignored"}),
        json.dumps({"content": "body2", "uid": None}),
        json.dumps({"text": "wrong field"}),
    )
    got = read_all(path, text_field="content", id_field="uid")
    assert got[0] == ({"text": "body", "uid": 12, "id": "12"}, None)
    assert got[1][0]["id"] == "s-2" and "content" not in got[1][0]
    assert got[2][0] is None and got[2][1]["_error"] == "field 'content' missing or not a string"


def test_the_text_field_keeps_its_place_among_the_keys(tmp_path):
    path = lines_file(tmp_path / "k.jsonl", json.dumps({"text": "t", "id": "a", "meta": 1}))
    # the field name as a config file gives it: equal to "text", not the same object
    ((doc, _),) = read_all(path, text_field="".join(["te", "xt"]))
    assert list(doc) == ["text", "id", "meta"]  # outputs keep the input's key order


def test_field_names_on_either_side_of_the_defaults(tmp_path):
    path = lines_file(tmp_path / "f.jsonl", json.dumps({"zz": "body", "doc_id": 3, "id": "other"}))
    ((doc, _),) = read_all(path, text_field="zz", id_field="doc_id")  # both sort after/before the defaults
    assert doc == {"text": "body", "doc_id": 3, "id": "3"}
    path = lines_file(tmp_path / "g.jsonl", json.dumps({"text": "t", "id": 7}))
    ((doc, _),) = read_all(path, id_field="".join(["i", "d"]))  # "id" from a config file
    assert doc["id"] == 7


def test_rows_without_text_start_empty_when_no_text_field_is_asked_for(tmp_path):
    path = lines_file(tmp_path / "p.jsonl", json.dumps({"question": "q"}), json.dumps({"text": "t", "q": 1}))
    got = read_all(path, text_field="")
    assert got[0] == ({"question": "q", "text": "", "id": "p-1"}, None)
    assert got[1][0]["text"] == "t"


def test_every_bad_line_is_a_reject_saying_where_and_why(tmp_path):
    path = lines_file(
        tmp_path / "bad.jsonl",
        json.dumps({"id": "ok1", "text": "fine"}),
        "",  # blank lines are skipped, but still counted for line numbers
        b'{"id": "u", "text": "caf\xe9"}',
        "{not json",
        "[1, 2]",
        json.dumps({"id": "n", "text": 5}),
        '{"id": "s", "text": "a\\ud83d b"}',
        '{"id": "k", "text": "fine", "title": "x\\udc00"}',
        json.dumps({"id": "ok2", "text": "fine too"}),
    )
    got = read_all(path)
    assert [d["id"] for d, _ in got if d] == ["ok1", "ok2"]
    rejects = [r for d, r in got if r]
    assert [r["_source"] for r in rejects] == [f"{path}:{n}" for n in (3, 4, 5, 6, 7, 8)]
    assert all(r["_reason"] == MALFORMED and r["_step"] == "read" for r in rejects)
    errors = [r["_error"] for r in rejects]
    assert errors[0] == "invalid UTF-8 at byte 24 of the line"
    assert rejects[0]["_raw"] == '{"id": "u", "text": "caf\ufffd"}'  # shown, newline stripped
    assert errors[1].startswith("invalid JSON: ") and "property name" in errors[1]
    assert rejects[1]["_raw"] == "{not json"
    assert errors[2] == "expected a JSON object, got list"
    assert errors[3] == "field 'text' missing or not a string"
    assert errors[4] == "field 'text': lone surrogate U+D83D at character 1"
    assert errors[5] == "field 'title': lone surrogate U+DC00 at character 1"
    assert rejects[4]["_raw"] == '{"id": "s", "text": "a\\ud83d b"}'


def test_a_huge_bad_line_keeps_only_its_start(tmp_path):
    path = lines_file(tmp_path / "big.jsonl", "{" + "x" * 10_000)
    (_, reject), = read_all(path)  # fmt: skip
    assert reject["_raw"] == ("{" + "x" * 10_000)[:2000]
    assert malformed_record("f:1", "y" * 2001, "why")["_raw"] == "y" * 2000


def test_gzip_shards_and_labels(tmp_path):
    path = tmp_path / "g.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b'{"id": "a", "text": "x"}\n{"text": "y"}\nnot json\n')
    got = list(read_shard(Shard("web/g", path, "web")))
    assert got[0] == ({"id": "web/a", "text": "x", "_input": "web"}, None)
    assert got[1][0] == {"id": "web/web/g-2", "text": "y", "_input": "web"}
    assert got[2][0] is None and got[2][1]["_source"] == f"{path}:3"
    assert "_input" not in got[2][1]


def test_parquet_rows_are_numbered_across_batches(tmp_path):
    n = 4096 + 5  # past the reader's batch size
    texts = [f"row {i}" for i in range(n)]
    texts[4097] = None  # row 4098 has no text
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(n)], "text": texts}), tmp_path / "t.parquet")
    got = read_all(tmp_path / "t.parquet")
    assert len(got) == n
    assert got[4096] == ({"id": "r4096", "text": "row 4096"}, None)
    reject = got[4097][1]
    assert reject["_source"] == f"{tmp_path / 't.parquet'}:4098"
    assert reject["_error"] == "field 'text' missing or not a string"
    assert json.loads(reject["_raw"]) == {"id": "r4097", "text": None}
    pq.write_table(pa.table({"body": ["a", "b"]}), tmp_path / "u.parquet")
    got = read_all(tmp_path / "u.parquet", text_field="body")
    assert [d for d, _ in got] == [{"text": "a", "id": "u-1"}, {"text": "b", "id": "u-2"}]


def test_writers_are_atomic_and_keep_unicode(tmp_path):
    docs = [{"id": "1", "text": "naïve – 文字"}, {"id": "2", "text": "two"}]
    assert dumps(docs[0]) == '{"id": "1", "text": "naïve – 文字"}\n'
    out = tmp_path / "deep" / "er" / "o.jsonl"
    assert write_jsonl_atomic(out, iter(docs)) == 2
    assert out.read_text(encoding="utf-8") == "".join(map(dumps, docs))
    assert list(read_jsonl(out)) == docs
    assert os.listdir(out.parent) == ["o.jsonl"]  # no temporary left behind

    def boom():
        yield docs[0]
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(out, boom())
    assert list(read_jsonl(out)) == docs  # the old file is untouched by a failed write
    txt = tmp_path / "new" / "er" / "r.md"
    write_text_atomic(txt, "ü\n")
    assert txt.read_bytes() == "ü\n".encode() and os.listdir(txt.parent) == ["r.md"]
    write_text_atomic(txt, "second")
    assert txt.read_text(encoding="utf-8") == "second"
