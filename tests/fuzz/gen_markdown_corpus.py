#!/usr/bin/env python3
"""Writes Markdown post bodies that are hard on a Markdown parser, one file
each, into a folder: the stress corpus of fuzz_markdown (make test) and of
tests/bench/bench_markdown.py. Generated each time rather than committed:
they are up to a megabyte each.

Most come from cmark's own list of pathological inputs
(test/pathological_tests.py upstream) and the advisories behind cmark
0.30.3 and 0.31 (CVE-2023-22486, GHSA-66g8-4hjf-77xh); cmark 0.30.2, which
Debian 12 ships, still takes seconds to minutes on several of them.

    gen_markdown_corpus.py OUT_DIR [--size BYTES]

--size is the target size of each body (default 350000, the size of the
post in issue 9); every body stays under the 1 MiB post cap with room for
a front matter.
"""
import argparse
import itertools
import pathlib

MAX_BODY = (1 << 20) - 512


def hash_collisions(size):
    """Link reference labels that collide in cmark's reference map."""
    def badhash(ref):
        h = 0
        for c in ref:
            a = (h << 6) & 0xFFFFFFFF
            b = (h << 16) & 0xFFFFFFFF
            h = (ord(c) + a + b - h) & 0xFFFFFFFF
        return h % 16 == 0

    keys = (k for k in (f"x{i}" for i in itertools.count()) if badhash(k))
    bad = next(keys)
    out, n = [], 0
    for key in keys:
        chunk = f"[{key}]: /url\n\n[{bad}]\n\n"
        if n + len(chunk) > size:
            break
        out.append(chunk)
        n += len(chunk)
    return "".join(out)


def cases(size):
    """(name, body) pairs, each about size bytes."""
    def times(unit, extra=0):
        return max(1, (size - extra) // len(unit))

    half = size // 2
    yield "emph-in-deep-quote", ">" * half + "a*" * (half // 2)
    yield "deep-quote-emph-line", "> " * (size // 4) + "*a " * (size // 6)
    yield "blank-lines-in-deep-lists", "- " * (size // 4) + "x" + "\n" * half
    yield "blank-lines-in-deep-lists-in-quote", "> " + "- " * (size // 4) + "x\n" + ">\n" * (size // 4)
    deep = []
    n = k = 0
    while n < half:
        line = "  " * k + "* a\n"
        deep.append(line)
        n += len(line)
        k += 1
    yield "indented-deep-lists", "".join(deep) + "\n" * half
    yield "ordered-and-tabs", "1.\t> " * (size // 8) + "x\n" + "\n" * half
    yield "nested-quotes", "> " * times("> ") + "a"
    yield "image-brackets", "![[]()" * times("![[]()")
    yield "image-brackets-escaped-backslash", "\\\\![[]()" * times("\\\\![[]()")
    yield "image-brackets-code", "![`](x)`[]()" * times("![`](x)`[]()")
    n = times("*a **a ", 10) // 2
    yield "nested-strong-emph", "*a **a " * n + "b" + " a** a*" * n
    yield "emph-closers-no-openers", "a_ " * times("a_ ")
    yield "emph-openers-no-closers", "_a " * times("_a ")
    yield "link-closers-no-openers", "a]" * times("a]")
    yield "link-openers-no-closers", "[a" * times("[a")
    yield "mismatched-openers-closers", "*a_ " * times("*a_ ")
    n = times("*a _a*_ ") // 2
    yield "issue-389", "*a " * n + "_a*_ " * n
    yield "openers-closers-multiple-of-3", "a**b" + "c* " * times("c* ", 4)
    yield "link-openers-emph-closers", "[ a_" * times("[ a_")
    yield "pattern-paren-bracket", "[ (](" * times("[ (](")
    n = times("[]", 1) // 2
    yield "nested-brackets", "[" * n + "a" + "]" * n
    ticks, n, i = [], 0, 1
    while n < size:
        ticks.append("e" + "`" * i)
        n += i + 1
        i += 1
        if i > 3000:
            i = 1
    yield "backticks", "".join(ticks)
    yield "unclosed-links-a", "[a](<b" * times("[a](<b")
    yield "unclosed-links-b", "[a](b" * times("[a](b")
    yield "unclosed-comments", "</" + "<!--" * times("<!--", 2)
    n = times("*", 1) // 2
    yield "nested-inlines", "*" * n + "a" + "*" * n
    yield "reference-collisions", hash_collisions(size)
    yield "many-links", "".join(f"[l](https://x.example/{i}) " for i in range(times("[l](https://x.example/00000) ")))
    yield "one-long-line", "word " * times("word ")
    yield "raw-html-nesting", "<b><i>" * times("<b><i>")
    yield "controls", "a\x1b[31mb\x0b\x07\x7f &#27; " * times("a\x1b[31mb\x0b\x07\x7f &#27; ")
    yield "long-first-paragraph", "A **bold** claim and a [link](https://x.example/), " * times(
        "A **bold** claim and a [link](https://x.example/), ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=350_000)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = min(args.size, MAX_BODY)
    for name, body in cases(size):
        data = body.encode("utf-8")[:MAX_BODY]
        (out / f"{name}.md").write_bytes(data)


if __name__ == "__main__":
    main()
