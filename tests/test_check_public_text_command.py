"""`manage.py check_public_text`: the same knowledge as the web pipeline, and clear refusals."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fleet.models import Node
from tests.conftest import ROOT, make_user

POST = """# Post-mortem

alice.nguyen restarted the node at 03:21 UTC and Carol Diaz confirmed it.
The validator val-7 stalled; val-7.internal was reached as ops@val-7.internal:22.
"""


def run(*args) -> str:
    out = StringIO()
    call_command("check_public_text", *args, stdout=out)
    return out.getvalue()


def test_a_file_is_checked_for_registered_nodes_hosts_and_accounts(db, tmp_path):
    Node.objects.create(name="val-7", environment="mainnet", role="validator",
                        target="ops@val-7.internal:22")
    make_user("alice.nguyen", first_name="Alice", last_name="Nguyen")
    make_user("carol2", first_name="Carol", last_name="Diaz")
    post = tmp_path / "post.md"
    post.write_text(POST)
    out = run(str(post))
    for name, rule in (("alice.nguyen", "account-name"), ("Carol Diaz", "account-name"),
                       ("val-7", "node-host"), ("ops@val-7.internal:22", "node-host")):
        assert f'(matched "{name}", rule {rule})' in out
    assert "not checked" not in out


def test_without_a_database_it_checks_the_rest_and_says_names_were_not_checked(tmp_path):
    post = tmp_path / "post.md"
    post.write_text(POST + "\nDB_PASSWORD=hunter2hunter2\n")
    # A database with no tables: qpgov's knowledge cannot be read, the file is still checked.
    env = {**os.environ, "QPGOV_ENV": "dev", "QPGOV_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run([sys.executable, "manage.py", "check_public_text", str(post)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    [said] = [line for line in done.stderr.splitlines() if "not checked" in line]
    assert said.startswith("Node, host and account names not checked: the database cannot be read")
    assert "Traceback" not in done.stderr
    assert "keyword" in done.stdout.lower() and "account-name" not in done.stdout


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "missing.md"))


@pytest.mark.parametrize("text", [
    "price\treport\tThe token price rose 40% today.\thttps://a.example\n",  # no header row at all
    "category\tsentence\nprice\tThe token price rose 40% today.\n",  # a header without label/text
])
def test_eval_without_a_header_row_is_a_clear_error(tmp_path, text):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text(text)
    with pytest.raises(CommandError, match="header row.*label.*text"):
        call_command("check_public_text", eval=str(corpus))


def test_eval_of_a_split_needs_the_split_column(tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("label\ttext\nprice\tThe token price rose 40% today.\n")
    with pytest.raises(CommandError, match="no split column"):
        call_command("check_public_text", eval=str(corpus), split="report")
    assert "price discussion" in run("--eval", str(corpus))  # no split asked: every row
