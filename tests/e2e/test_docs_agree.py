"""The places that tell an operator how to schedule tagdigest say the same
thing: the crontab line in the README, docs/CRON.md and `run --help`."""
import re
import subprocess

from conftest import BIN, ROOT

CRON_LINE = re.compile(r"^\s*(\S+ \S+ \S+ \S+ \S+)\s+cd /srv/tagdigest && (.*tagdigest.* run)\s*$",
                       re.M)


def cron_lines(text):
    return {(m.group(1), m.group(2).strip()) for m in CRON_LINE.finditer(text)}


def test_crontab_line_is_the_same_everywhere():
    readme = cron_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    cron_doc = cron_lines((ROOT / "docs" / "CRON.md").read_text(encoding="utf-8"))
    helped = subprocess.run([BIN, "run", "--help"], capture_output=True, timeout=30)
    assert helped.returncode == 0
    run_help = cron_lines(helped.stdout.decode())
    assert readme and cron_doc and run_help, (readme, cron_doc, run_help)
    assert readme == cron_doc == run_help, (readme, cron_doc, run_help)


# ---- exit codes: `tagdigest --help`, tagdigest(1) and the source ----

SYSEXITS = "/usr/include/sysexits.h"
# EX_NAME where the code sets or returns it; not where it tests one
# (`case EX_NOHOST:` reads sendmail's status, `rc == EX_NOPERM` compares)
EX_USE = re.compile(r"(?<![\w])(?<!case )(?<!== )(?<!!= )(EX_[A-Z]+)\b")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def sysexits():
    text = open(SYSEXITS, encoding="ascii").read()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^#define\s+(EX_[A-Z]+)\s+(\d+)", text, re.M)}


def source_codes():
    """The exit codes the source can set: each EX_ name used outside a
    comment, a `case` or a comparison, mapped through sysexits.h."""
    names = sysexits()
    codes = {}
    for path in sorted((ROOT / "src").rglob("*.[ch]")):
        code = COMMENT.sub("", path.read_text(encoding="utf-8"))
        for m in EX_USE.finditer(code):
            assert m.group(1) in names, (path, m.group(1))
            codes.setdefault(names[m.group(1)], str(path.relative_to(ROOT)))
    return codes


def usage_codes():
    """The codes after "exit status:" in `tagdigest --help`, up to the
    paragraph's end."""
    p = subprocess.run([BIN, "--help"], capture_output=True, timeout=30)
    assert p.returncode == 0
    m = re.search(r"^exit status:(.*?)(?:\n\n|\Z)", p.stdout.decode(), re.S | re.M)
    assert m, p.stdout
    # "73 or 74", "66/74", "0 done": every number of 0 or 64..78
    return {int(n) for n in re.findall(r"\b(\d+)\b", m.group(1))
            if n == "0" or 64 <= int(n) <= 78}


def man_codes():
    """The codes tagdigest(1)'s EXIT STATUS section lists (.TP / .B N)."""
    man = (ROOT / "docs" / "man" / "tagdigest.1").read_text(encoding="utf-8")
    m = re.search(r"^\.SH \"?EXIT STATUS\"?\n(.*?)^\.SH ", man, re.S | re.M)
    assert m, "no EXIT STATUS section"
    return {int(n) for n in re.findall(r"^\.TP\n\.B (\d+)$", m.group(1), re.M)}


def test_usage_and_man_page_list_the_same_exit_codes():
    usage, man = usage_codes(), man_codes()
    assert len(man) >= 5, man
    assert usage == man, (sorted(usage - man), sorted(man - usage))


def test_man_page_lists_exactly_the_exit_codes_the_source_returns():
    man, source = man_codes(), source_codes()
    assert 0 in man
    # every code documented can happen, and every code that can happen
    # is documented
    assert man - {0} == set(source), {
        "documented, never returned": sorted(man - {0} - set(source)),
        "returned, not documented": {c: source[c] for c in sorted(set(source) - man)}}
