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
