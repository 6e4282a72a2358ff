"""Installed like a real tool: the man pages, `make install` into a staged
DESTDIR (and `make uninstall`), and the bash completion.

What the pages must hold is read from the program, not from the pages:
the config keys from the reader's table in src/cli/config.c, the commands,
options and exit codes from the binary's usage and --help texts. The pages
are rendered by groff as man(1) does, with warnings on.
"""
import os
import pathlib
import re
import shutil
import stat
import subprocess
import time

import pytest

from conftest import BIN, ROOT, parse

INSTALL_PREFIX = "/opt/tagdigest"   # not the default, so the units' rewrite shows
TEMPLATE_FILES = sorted(str(p.relative_to(ROOT / "templates"))
                        for p in (ROOT / "templates").rglob("*") if p.is_file())


def make(*args, timeout=600, check=True):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=ROOT,
                       capture_output=True, timeout=timeout, env=env)
    if check:
        assert p.returncode == 0, f"make {args}: {p.stdout.decode()}\n{p.stderr.decode()}"
    return p


def render(page):
    """The page as man(1) shows it, and groff's warnings (-ww) about it."""
    lint = subprocess.run(["groff", "-z", "-ww", "-man", str(page)], capture_output=True,
                          timeout=60)
    assert lint.returncode == 0
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="", LANG="C.UTF-8")
    p = subprocess.run(["man", "-l", str(page)], capture_output=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr.decode()
    text = p.stdout.decode()
    # groff's hyphen and minus glyphs, as a reader types them
    text = text.replace("\u2010", "-").replace("\u2212", "-").replace("\u2011", "-")
    return text, lint.stderr.decode()


def section(text, title):
    """The lines of one top-level section (NAME, OPTIONS, ...) of a rendered page."""
    m = re.search(rf"^{title}\n(.*?)(?=^[A-Z][A-Z ]+\n|\Z)", text, re.M | re.S)
    assert m, f"no section {title}"
    return m.group(1)


def reader_keys():
    """(section, key, kind, min, max) of every row of the config reader's
    table, read from its source."""
    src = (ROOT / "src" / "cli" / "config.c").read_text()
    table = src[src.index("conf_keys[] = {"):]
    table = table[:table.index("\n};")]
    rows = re.findall(r'\{ "(\w+)", "(\w+)", (K_\w+),\s*[^,]*,\s*(?:INT\(([^,]+), ([^,]+),)?',
                      table)
    assert len(rows) >= 70, rows
    return rows


def usage(*args):
    p = subprocess.run([BIN, *args, "--help"], capture_output=True, timeout=30)
    assert p.returncode == 0, (args, p.stderr.decode())
    return p.stdout.decode()


def listed(text):
    """The names under "commands:" in a usage text."""
    block = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^  ([a-z][a-z-]*)", block, re.M)


def binary_commands():
    """Every command the binary lists: `help --commands` where it has it,
    else its usage text."""
    p = subprocess.run([BIN, "help", "--commands"], capture_output=True, timeout=30)
    if p.returncode == 0 and p.stdout.strip():
        return [line.split()[0] for line in p.stdout.decode().splitlines() if line.strip()]
    return listed(usage())


def options(text):
    """The options a --help text offers: in its usage line and at the start
    of its indented lines."""
    first = text.splitlines()[0]
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", first))
    opts |= set(re.findall(r"^ +(?:-\w, )?(--[a-z][a-z-]*)", text, re.M))
    return opts


def exit_codes(text):
    m = re.search(r"exit status: (.*?)(?:\n\n|\Z)", text, re.S)
    return set(re.findall(r"\b(\d\d?)\b", m.group(1))) if m else set()


@pytest.fixture(scope="module")
def pages():
    make("man")
    return ROOT / "build" / "man"


def test_conf_page_documents_every_key(pages):
    text, warnings = render(pages / "tagdigest.conf.5")
    assert warnings == ""
    keys = section(text, "SECTIONS AND KEYS")
    # split into [section] blocks, each into key entries
    blocks = dict(re.findall(r"^   \[([a-z.A-Z]+)\]\n(.*?)(?=^   \[|\Z)", keys, re.M | re.S))
    missing = []
    # the sections the user names: [source.NAME], [relay.NAME], [throttle.DOMAIN]
    titled = {"source": "source.NAME", "relay": "relay.NAME", "throttle": "throttle.DOMAIN"}
    for sec, key, kind, lo, hi in reader_keys():
        block = blocks.get(titled.get(sec, sec))
        if block is None:
            missing.append(f"[{sec}] has no section")
            continue
        # an entry: the key at the left, then its indented text
        m = re.search(rf"^       {key}(?:\n| +)(.*?)(?=^       \S|\Z)", block, re.M | re.S)
        if not m:
            missing.append(f"{sec}.{key}: not in tagdigest.conf(5)")
            continue
        entry = " ".join(m.group(1).split())
        desc = entry.split("Values:")[0].strip()
        if len(desc) < 10:
            missing.append(f"{sec}.{key}: no description")
        if "Values: " not in entry or "Default: " not in entry:
            missing.append(f"{sec}.{key}: no values or default")
        if kind == "K_INT" and lo.strip().isdigit() and hi.strip().isdigit():
            if f"from {lo.strip()} to {hi.strip()}" not in entry:
                missing.append(f"{sec}.{key}: range {lo}..{hi} not shown: {entry}")
    assert not missing, "\n".join(missing)
    # every section has its introduction before its first key
    for name, block in blocks.items():
        intro = block.split("\n\n")[0].strip()
        assert len(intro) > 15, f"[{name}] has no introduction"
    # the keys another helper just added, documented as asked
    site = " ".join(blocks["site"].split())
    assert "Reply-To" in site and "CAN-SPAM" in site and "BCP 47" in site


def test_conf_page_ranges_are_the_readers(tmp_path, pages):
    """A whole number's range on the page is the one the reader enforces:
    one past it is refused, with the same bounds."""
    text, _ = render(pages / "tagdigest.conf.5")
    m = re.search(r"^       max_posts\n(.*?)(?=^       \S)", text, re.M | re.S)
    entry = " ".join(m.group(1).split())
    lo, hi = re.search(r"from (\d+) to (\d+)", entry).groups()
    assert re.search(r"Default: \d+\.", entry)
    (tmp_path / "posts").mkdir()
    conf = tmp_path / "t.conf"
    conf.write_text("[site]\nname = T\nurl = https://t.test\nfrom = d@t.test\n"
                    "[source.p]\ntype = posts\npath = posts\n")
    p = subprocess.run([BIN, "-c", str(conf), "-o", f"digest.max_posts={int(hi) + 1}",
                        "status"], capture_output=True, timeout=30)
    assert p.returncode == 78
    assert f"out of range ({lo} to {hi})" in p.stderr.decode()


def test_command_page_lists_commands_options_and_exit_codes(pages):
    text, warnings = render(pages / "tagdigest.1")
    assert warnings == ""
    commands = section(text, "COMMANDS")
    subs = section(text, "SUBSCRIBERS")
    exits = section(text, "EXIT STATUS")
    documented_exits = set(re.findall(r"^       (\d+)\s", exits, re.M))
    missing = []
    top = usage()
    cmds = binary_commands()
    assert {"ingest", "send", "run", "serve", "subscribers"} <= set(cmds)
    wanted_exits = exit_codes(top)
    assert {"0", "64", "75", "78"} <= wanted_exits
    for opt in options(top) | {"-c", "-o", "-q", "-v"}:
        if not re.search(rf"(?<![\w-]){re.escape(opt)}\b", section(text, "OPTIONS")):
            missing.append(f"global option {opt}")
    for cmd in cmds:
        help_text = usage(cmd)
        if not re.search(rf"^       {re.escape(cmd)}\b", commands, re.M):
            missing.append(f"command {cmd}")
        wanted_exits |= exit_codes(help_text)
        entry = re.search(rf"^       {re.escape(cmd)}\b(.*?)(?=^       [a-z]|\Z)",
                          commands, re.M | re.S)
        for opt in options(help_text) - {"--help"}:
            if not entry or not re.search(rf"{re.escape(opt)}\b", entry.group(0)):
                missing.append(f"{cmd} {opt}")
    for sub in listed(usage("subscribers")):
        help_text = usage("subscribers", sub)
        wanted_exits |= exit_codes(help_text)
        entry = re.search(rf"^       subscribers {sub}\b(.*?)(?=^       [a-z]|\Z)",
                          subs, re.M | re.S)
        if not entry:
            missing.append(f"subscribers {sub}")
            continue
        for opt in options(help_text) - {"--help"}:
            if not re.search(rf"{re.escape(opt)}\b", entry.group(0)):
                missing.append(f"subscribers {sub} {opt}")
    for code in sorted(wanted_exits - documented_exits):
        missing.append(f"exit status {code}")
    assert not missing, "not in tagdigest(1):\n" + "\n".join(missing)


def staged_files(stage, prefix):
    root = stage / prefix.lstrip("/")
    files = {
        "bin/tagdigest", "share/man/man1/tagdigest.1", "share/man/man5/tagdigest.conf.5",
        "share/tagdigest/tagdigest.conf.example",
        "lib/systemd/system/tagdigest.service", "lib/systemd/system/tagdigest.timer",
        "lib/systemd/system/tagdigest-public.service",
        "share/bash-completion/completions/tagdigest",
    }
    files |= {f"share/tagdigest/templates/{t}" for t in TEMPLATE_FILES}
    return root, files


def write_posts_site(site):
    """A site laid out as the units and the sample config expect it:
    config/, posts/, subscribers/, and no templates/ of its own."""
    (site / "config").mkdir(parents=True)
    (site / "posts").mkdir()
    (site / "subscribers").mkdir()
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400))
    for name, title, tags in (("a.md", "Staged post about NATO", "NATO"),
                              ("b.md", "Staged post about the EU", "EU")):
        (site / "posts" / name).write_text(
            f"---\ntitle: {title}\ndate: {day}\ntags: [{tags}]\n"
            f"url: https://newsroom.example.org/{name}/\n---\nA first paragraph.\n")
    (site / "subscribers" / "subscribers.csv").write_text(
        "email,name,tags\nanna@example.org,Anna,nato\nben@example.org,Ben,eu\n")


def test_staged_install_runs_and_uninstalls(tmp_path):
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}")
    root, expected = staged_files(stage, INSTALL_PREFIX)
    found = {str(p.relative_to(root)) for p in stage.rglob("*") if p.is_file()}
    assert all(str(p).startswith(str(root)) for p in stage.rglob("*") if p.is_file())
    assert found == expected
    assert os.stat(root / "bin/tagdigest").st_mode & stat.S_IXOTH
    for t in TEMPLATE_FILES:
        assert (root / "share/tagdigest/templates" / t).read_bytes() == \
            (ROOT / "templates" / t).read_bytes()

    # the units start the installed binary
    for unit in ("tagdigest.service", "tagdigest-public.service"):
        execs = [line for line in (root / "lib/systemd/system" / unit).read_text().splitlines()
                 if line.startswith("ExecStart=")]
        assert len(execs) == 1 and execs[0].startswith(f"ExecStart={INSTALL_PREFIX}/bin/tagdigest ")
    # the sample config names no templates dir: the installed ones are used
    example = (root / "share/tagdigest/tagdigest.conf.example").read_text()
    assert not re.search(r"^dir\s*=", example, re.M)

    # the staged binary on a site made from the staged sample config
    site = tmp_path / "srv"
    write_posts_site(site)
    conf = site / "config" / "tagdigest.conf"
    shutil.copy(root / "share/tagdigest/tagdigest.conf.example", conf)
    staged_bin = root / "bin/tagdigest"
    for cmd in ("ingest", "send"):
        p = subprocess.run([str(staged_bin), "-c", str(conf), cmd], capture_output=True,
                           timeout=120, cwd=tmp_path)
        assert p.returncode == 0, (cmd, p.stdout.decode(), p.stderr.decode())
    assert not (site / "templates").exists() and not (site / "config" / "templates").exists()
    new = sorted((site / "outbox" / "new").iterdir())
    assert len(new) == 2
    seen = {}
    for f in new:
        msg = parse(f.read_bytes())
        seen[msg["To"].addresses[0].addr_spec] = msg
        assert "Newsroom Weekly" in str(msg["From"])
    text = seen["anna@example.org"].get_body(("plain",)).get_content()
    assert "Staged post about NATO" in text and "EU" not in text.split("Staged post")[1][:40]
    assert "Staged post about the EU" in seen["ben@example.org"].get_body(("plain",)).get_content()

    # the staged pages render without warnings
    for page in ("share/man/man1/tagdigest.1", "share/man/man5/tagdigest.conf.5"):
        out, warnings = render(root / page)
        assert warnings == "" and "NAME" in out

    # the staged completion offers the staged binary's commands
    got = complete(root / "share/bash-completion/completions/tagdigest",
                   [str(staged_bin), ""])
    assert set(binary_commands()) <= set(got)

    make("uninstall", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}")
    left = [str(p) for p in stage.rglob("*") if not p.is_dir()]
    assert left == []
    assert not (root / "share/tagdigest").exists()

    # another PREFIX right after: the units and the sample config follow it
    stage2 = tmp_path / "stage2"
    make("install", f"DESTDIR={stage2}", "PREFIX=/usr")
    unit = (stage2 / "usr/lib/systemd/system/tagdigest.service").read_text()
    assert "ExecStart=/usr/bin/tagdigest " in unit and INSTALL_PREFIX not in unit
    example = (stage2 / "usr/share/tagdigest/tagdigest.conf.example").read_text()
    assert "/usr/share/tagdigest/templates" in example and INSTALL_PREFIX not in example
    make("uninstall", f"DESTDIR={stage2}", "PREFIX=/usr")
    assert [p for p in stage2.rglob("*") if not p.is_dir()] == []


def test_uninstall_keeps_what_the_operator_added(tmp_path):
    """An operator's own files under the installed folders (a custom
    template, a config kept beside the sample) survive `make uninstall`,
    which still removes every file install put there and exits 0, and says
    on stderr which folders it kept."""
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}")
    root, installed = staged_files(stage, INSTALL_PREFIX)
    data = root / "share/tagdigest"
    mine = {
        data / "templates/newsroom.txt.mustache": "{{site.name}}: our own layout\n",
        data / "templates/desk/extra.css": "body { color: #222; }\n",
        data / "templates/newsroom/digest.html.mustache": "<p>{{site.name}}</p>\n",
        data / "tagdigest.conf": "[site]\nname = Newsroom\n",
    }
    for path, text in mine.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)

    p = make("uninstall", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}", check=False)
    err = p.stderr.decode()
    assert p.returncode == 0, err
    for path, text in mine.items():
        assert path.read_text() == text, path
    left = {str(f.relative_to(root)) for f in stage.rglob("*") if not f.is_dir()}
    assert left == {str(f.relative_to(root)) for f in mine}
    assert not left & installed
    # the folders that hold only install's files are gone, the others kept
    assert not (data / "templates/partials").exists()
    assert not (data / "templates/public").exists()
    kept = sorted(re.findall(r"^uninstall: kept (.*): not empty$", err, re.M))
    assert kept == sorted(str(d) for d in (data, data / "templates",
                                           data / "templates/desk")), err
    # a folder install never made is the operator's: not named, not touched
    assert (data / "templates/newsroom").is_dir()

    # with the operator's files gone, install's folders go too; the
    # operator's own (now empty) folder still is not uninstall's to remove
    for path in mine:
        path.unlink()
    make("install", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}")
    make("uninstall", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}")
    assert not (data / "templates/desk").exists()
    assert (data / "templates/newsroom").is_dir()


def test_units_documentation_is_installed(tmp_path):
    """Every Documentation= entry of the installed units names something
    the install put there: man:NAME(SECTION) a page in the staged MANDIR,
    file:PATH a file in the staged tree. systemctl help shows them."""
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", f"PREFIX={INSTALL_PREFIX}")
    root, _ = staged_files(stage, INSTALL_PREFIX)
    units = sorted((root / "lib/systemd/system").iterdir())
    assert len(units) == 3
    for unit in units:
        docs = [e for line in unit.read_text().splitlines()
                if line.startswith("Documentation=")
                for e in line.split("=", 1)[1].split()]
        assert "man:tagdigest(1)" in docs, unit.name
        for entry in docs:
            man = re.fullmatch(r"man:([\w.-]+)\((\d)\)", entry)
            if man:
                name, sec = man.groups()
                page = root / f"share/man/man{sec}/{name}.{sec}"
                assert page.is_file(), (unit.name, entry)
            elif entry.startswith("file://"):
                assert (stage / entry[len("file://"):].lstrip("/")).is_file(), \
                    (unit.name, entry)
            else:
                pytest.fail(f"{unit.name}: {entry}: not something install puts there")
        if unit.suffix == ".service":
            assert "man:tagdigest.conf(5)" in docs, unit.name


def complete(script, words, cwd=None):
    """What the completion offers for the words (the last is the one
    being completed), from a real bash with the script sourced."""
    prog = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
            'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _tagdigest; '
            'printf "%s\\n" "${COMPREPLY[@]}"')
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog, "complete",
                        str(script), *words], capture_output=True, timeout=60, cwd=cwd)
    assert p.returncode == 0, p.stderr.decode()
    return [w for w in p.stdout.decode().splitlines() if w]


COMPLETION = ROOT / "contrib" / "bash-completion" / "tagdigest"


def test_completion_commands_and_subcommands():
    got = complete(COMPLETION, [BIN, ""])
    assert set(binary_commands()) <= set(got)
    assert complete(COMPLETION, [BIN, "sub"]) == ["subscribers"]
    assert set(complete(COMPLETION, [BIN, "-q", "subscribers", ""])) == \
        {"add", "remove", "list", "show", "import", "export"}
    assert complete(COMPLETION, [BIN, "subscribers", "ex"]) == ["export"]
    assert "--version" in complete(COMPLETION, [BIN, "--"])
    if "help" in binary_commands():
        assert complete(COMPLETION, [BIN, "help", "pre"]) == ["preview"]
        assert "import" in complete(COMPLETION, [BIN, "help", "subscribers", ""])


def test_completion_options_of_each_command():
    for cmd in binary_commands():
        if cmd == "subscribers":
            continue
        want = options(usage(cmd))
        got = set(complete(COMPLETION, [BIN, cmd, "--"]))
        assert want <= got, (cmd, want - got)
    assert set(complete(COMPLETION, [BIN, "subscribers", "list", "--"])) >= \
        {"--tag", "--status", "--json"}
    assert complete(COMPLETION, [BIN, "subscribers", "add", "x@example.org", "--ta"]) == ["--tags"]
    assert complete(COMPLETION, [BIN, "preview", "--format", ""]) == ["eml", "html", "text"]
    assert complete(COMPLETION, [BIN, "subscribers", "export", "--format", "j"]) == ["json"]
    # options of the command after -c FILE, not of the global ones
    assert "--dry-run" in complete(COMPLETION, [BIN, "-c", "x.conf", "send", "--"])


def test_completion_config_files(tmp_path):
    (tmp_path / "site.conf").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "etc").mkdir()
    got = complete(COMPLETION, [BIN, "-c", ""], cwd=tmp_path)
    assert "site.conf" in got and "etc" in got and "notes.txt" not in got
