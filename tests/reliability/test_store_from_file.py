"""A tracking URI written in an experiment file (perhaps a colleague's) may not create a
sqlite store outside the working folder and the file's, nor turn a database that is not
an MLflow store into one; the same URI given on the command line is the user's choice."""

from __future__ import annotations

import sqlite3

from tests.reliability.conftest import SMALL, run_cli


def with_uri(uri: str) -> str:
    return SMALL + f"tracking:\n  uri: {uri}\n"


def test_a_new_store_outside_the_folders_is_refused(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    (work / "e.yaml").write_text(with_uri(f"sqlite:///{elsewhere / 'x.db'}"))
    result = run_cli("validate", "e.yaml", cwd=work)
    assert result.returncode == 2, result.stderr
    assert "would create a store at" in result.stderr and "--tracking-uri" in result.stderr
    assert not elsewhere.exists()
    # given on the command line, the same store is used
    uri = f"sqlite:///{elsewhere / 'x.db'}"
    elsewhere.mkdir()
    ran = run_cli("run", "e.yaml", "--no-progress", "--tracking-uri", uri, cwd=work)
    assert ran.returncode == 0, ran.stderr
    assert (elsewhere / "x.db").exists()


def test_a_database_that_is_not_an_mlflow_store_is_left_alone(tmp_path):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as connection:
        connection.execute("create table users (name text)")
    before = other.read_bytes()
    (tmp_path / "e.yaml").write_text(with_uri("sqlite:///app.db"))
    result = run_cli("run", "e.yaml", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "is a sqlite database but not an MLflow store" in result.stderr
    assert "Traceback" not in result.stderr
    assert other.read_bytes() == before


def test_a_store_in_the_folder_is_used(tmp_path):
    (tmp_path / "e.yaml").write_text(with_uri("sqlite:///runs/here.db"))
    (tmp_path / "runs").mkdir()
    result = run_cli("run", "e.yaml", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    again = run_cli("run", "e.yaml", "--no-progress", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
