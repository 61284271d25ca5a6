"""The README's examples run as written, twice in a row (a reader runs them again), and leave a
checkout clean: what they write goes to folders git ignores. Its pictures exist."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
#: The `simqueue ...` lines of the README's shell blocks (the make targets are tested elsewhere).
COMMANDS = [
    shlex.split(line, comments=True)
    for block in re.findall(r"```sh\n(.*?)```", TEXT, re.S)
    for line in block.splitlines()
    if line.startswith("simqueue ")
]
ENV = {
    "MPLBACKEND": "Agg",
    "PATH": "/usr/bin:/bin",
    **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
}


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, env=ENV
    )


def _simqueue(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simqueue", *argv[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


def test_readme_has_python_and_shell_examples() -> None:
    assert len(BLOCKS) >= 2 and COMMANDS


def test_readme_pictures_exist() -> None:
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", TEXT):
        assert (ROOT / path).is_file(), f"README shows {path}, which is missing"


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A scratch git repository holding what the examples read (data/) and the checkout's
    .gitignore, everything added to its index: `git status` then lists what they leave."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    shutil.copytree(ROOT / "data", tmp_path / "data")
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    return tmp_path


def _status(repo: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_readme_examples_run_twice_and_leave_the_checkout_clean(checkout: Path) -> None:
    before = _status(checkout)  # every file added, none changed, nothing untracked
    for round_ in (1, 2):
        for code in BLOCKS:
            run = _python(code, checkout)
            assert run.returncode == 0 and not run.stderr, f"run {round_}:\n{code}\n{run.stderr}"
        for argv in COMMANDS:
            run = _simqueue(argv, checkout)
            assert run.returncode == 0, f"run {round_}: {shlex.join(argv)}\n{run.stderr}"
            assert "Traceback" not in run.stderr
    after = _status(checkout)
    assert after == before, f"the README's examples left files git would see:\n{after}"


def test_the_durable_queue_example_says_what_a_second_run_finds(tmp_path) -> None:
    """The first run enqueues and completes the job; the second is refused the duplicate id,
    finds nothing to dispatch, and reports the job completed all the same."""
    (code,) = [b for b in BLOCKS if "DurableQueue" in b]
    first, second = _python(code, tmp_path), _python(code, tmp_path)
    assert first.stdout.splitlines() == ["completed"], first.stderr
    assert second.stdout.splitlines() == ["resize-42 is already in the queue", "completed"]


def test_the_wal_verify_example_checks_the_log_the_queue_example_wrote(tmp_path) -> None:
    (code,) = [b for b in BLOCKS if "DurableQueue" in b]
    _python(code, tmp_path)
    (verify,) = [argv for argv in COMMANDS if argv[1:3] == ["wal", "verify"]]
    run = _simqueue(verify, tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("clean:"), run.stdout + run.stderr


def test_the_simulate_example_prints_one_verdict_per_target(tmp_path) -> None:
    (simulate,) = [argv for argv in COMMANDS if argv[1] == "simulate"]
    lines = _simqueue(simulate, tmp_path).stdout.splitlines()
    (throughput,) = [x for x in lines if x.startswith("throughput >= 200 jobs/s: ")]
    assert throughput in " ".join(TEXT.split()), "the README quotes the verdict as printed"
    assert any(x.startswith("recovery < 3 s: PASS: ") for x in lines)


NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _says(comment: str, line: str) -> bool:
    """The comment's words are the line's, and each of its numbers is within 10% of the line's:
    a modeled recovery time may move a little as the disk model is tuned, its shape may not."""
    if NUMBER.sub("#", line)[: len(NUMBER.sub("#", comment))] != NUMBER.sub("#", comment):
        return False
    pairs = zip(NUMBER.findall(comment), NUMBER.findall(line), strict=False)
    return all(abs(float(a) - float(b)) <= 0.1 * float(b) for a, b in pairs)


def test_the_first_example_prints_what_its_comments_say(tmp_path) -> None:
    """Each ``print(...)  # comment`` of the first example says what the line prints (up to its
    ``...``, or before the ``: why``)."""
    comments = [
        line.split("# ", 1)[1] for line in BLOCKS[0].splitlines() if line.startswith("print(")
    ]
    run = _python(BLOCKS[0], tmp_path)
    lines = run.stdout.splitlines()
    assert len(lines) == len(comments) == 3, run.stderr
    for comment, line in zip(comments, lines, strict=True):
        if "..." in comment:  # "what it prints ...": the start of the line
            said = comment.rsplit("...", 1)[0].rstrip(" ;")
        else:  # "what it prints: why": all of the line
            said = comment.split(": ", 1)[0]
        assert _says(said, line), (comment, line)


def test_the_comparison_of_comments_and_output_can_fail() -> None:
    assert _says("recovered in 50 ms (modeled)", "recovered in 52.5 ms (modeled) from")
    assert not _says("recovered in 5.0 ms (modeled)", "recovered in 52.5 ms (modeled) from")
    assert not _says("recovered in 50 ms from", "recovered in 52.5 ms (modeled) from")
