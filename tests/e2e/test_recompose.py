"""A digest composed again carries the Message-ID of the copy already sent.

A crash between the transport's accept and the store's record of it leaves
the message delivered and the store as it was: the next run composes that
digest again. These tests make that state without a kill (test_crash.py
does it with SIGKILL): they copy the store (conftest.store_copy: SQLite's
backup API, or a PostgreSQL database made from it), send into a Maildir,
put the copy back and send again. The second copy must
carry the first one's Message-ID when it shows the same posts, so the
reader's client can drop it, and a new one when it shows a post the first
lacked, so it is never dropped.
"""
import os
import re

from conftest import POSTS, SUBSCRIBERS, expected_urls, parse, run, store_copy, write_site

ID_SHAPE = re.compile(r"<[0-9a-f]{32}@news\.test>")
# posts added after the first send: one in a tag nobody follows, one in
# a tag two readers follow
UNFOLLOWED = ("g.md", "Talks in Tehran", ["Iran"], "https://news.test/p/g/")
FOLLOWED = ("h.md", "Embassy staff cut", ["USA"], "https://news.test/p/h/")
URLS = [p[3] for p in POSTS] + [UNFOLLOWED[3], FOLLOWED[3]]


def add_post(root, fname, title, tags, url):
    (root / "posts" / fname).write_text(
        "---\n"
        f'title: "{title}"\n'
        "date: 2026-11-27T10:00:00Z\n"
        f"tags: [{', '.join(tags)}]\n"
        f"url: {url}\n"
        "---\n"
        "A paragraph.\n", encoding="utf-8")


def delivered(new_dir, seen):
    """{recipient: (Message-ID, post URLs in the text)} of the files that
    new/ gained since `seen` (which is updated)."""
    got = {}
    for name in sorted(set(os.listdir(new_dir)) - seen):
        seen.add(name)
        msg = parse((new_dir / name).read_bytes())
        to = msg["To"].addresses[0].addr_spec
        assert to not in got, f"two digests for {to} in one run"
        text = msg.get_body(("plain",)).get_content()
        got[to] = (msg["Message-ID"], frozenset(u for u in URLS if u in text))
    return got


def test_recomposed_digest_keeps_its_message_id(tmp_path):
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True)
    before = store_copy(tmp_path)
    new_dir, seen = tmp_path / "outbox" / "new", set()
    due = {s[0]: s for s in SUBSCRIBERS if expected_urls(s[2])}

    run(conf, "send", check=True)
    first = delivered(new_dir, seen)
    assert set(first) == set(due)
    for addr, (mid, urls) in first.items():
        assert urls == expected_urls(due[addr][2]), addr
    assert len({mid for mid, _ in first.values()}) == len(first)

    # the crash: delivered, not recorded; the next run sends them again
    store_copy(tmp_path, before)
    run(conf, "send", check=True)
    again = delivered(new_dir, seen)
    assert again == first, "a recomposed digest got a new Message-ID"
    assert all(ID_SHAPE.fullmatch(mid) for mid, _ in first.values()), first

    # Meanwhile a post arrived in a tag nobody follows, and one in USA:
    # the readers of USA get a new digest with a new id (a client must not
    # drop it); the others get the same posts and keep their ids, though
    # the store's newest seq moved.
    store_copy(tmp_path, before)
    add_post(tmp_path, *UNFOLLOWED)
    add_post(tmp_path, *FOLLOWED)
    run(conf, "ingest", check=True)
    run(conf, "send", check=True)
    later = delivered(new_dir, seen)
    assert set(later) == set(due)
    for addr, (mid, urls) in later.items():
        if "usa" in due[addr][2]:
            assert urls == first[addr][1] | {FOLLOWED[3]}, addr
            assert mid != first[addr][0], f"{addr}: new post, old Message-ID"
        else:
            assert later[addr] == first[addr], addr
    # different digests never share an id
    ids = {}
    for got in (first, later):
        for addr, (mid, urls) in got.items():
            assert ids.setdefault(mid, (addr, urls)) == (addr, urls), mid


def test_message_id_is_keyed_with_the_token_secret(tmp_path):
    """The same digest under another token secret has another id: the id
    is an HMAC, not a plain hash anyone could compute from the address."""
    conf = write_site(tmp_path, "maildir")
    run(conf, "ingest", check=True)
    before = store_copy(tmp_path)
    new_dir, seen = tmp_path / "outbox" / "new", set()
    run(conf, "send", check=True, env={"TAGDIGEST_TOKEN_SECRET": "a" * 32})
    one = delivered(new_dir, seen)
    store_copy(tmp_path, before)
    run(conf, "send", check=True, env={"TAGDIGEST_TOKEN_SECRET": "b" * 32})
    two = delivered(new_dir, seen)
    assert one and set(one) == set(two)
    for addr in one:
        assert one[addr][1] == two[addr][1]
        assert one[addr][0] != two[addr][0], addr
