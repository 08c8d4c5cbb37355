"""What a push publishes is judged in process for a push's few commits: the tree
comparison along the task directory's path says what ``git diff-tree -r`` says."""

from __future__ import annotations

from pathlib import Path

import pytest
from tree_support import BASE, TASK_DIR, diff_tree_says, tree_of

from pytest_artifact_store.git.repository import Repository
from pytest_artifact_store.remote.outgoing import _changes_outside


def without(*paths: str) -> dict[str, str]:
    return {k: v for k, v in BASE.items() if k not in paths}


CASES = {
    "a file of the task changed": ({**BASE, "Backtest/codes/t1/a.csv": "A\n"}, BASE),
    "a file added deep in the task": ({**BASE, "Backtest/codes/t1/sub/x/y.txt": "y\n"}, BASE),
    "the task directory removed": (without(*[p for p in BASE if p.startswith(TASK_DIR)]), BASE),
    "README changed": ({**BASE, "README.md": "bye\n"}, BASE),
    "another task changed": ({**BASE, "Backtest/codes/t2/b.csv": "B\n"}, BASE),
    "a sibling whose name starts like the task": ({**BASE, "Backtest/codes/t1x/c": "c\n"}, BASE),
    "the task directory a file": (
        {**without(*[p for p in BASE if p.startswith(TASK_DIR)]), "Backtest/codes/t1": "f\n"},
        BASE,
    ),
    "the path to it a file": ({"README.md": "hello\n", "Backtest": "f\n"}, BASE),
    "a first task on a base without it": (
        {"README.md": "hello\n", "Backtest/codes/t1/a.csv": "a\n"},
        {"README.md": "hello\n"},
    ),
    "a first task and a file beside it": (
        {"README.md": "hello\n", "Backtest/codes/t1/a.csv": "a\n", "Backtest/x": "x\n"},
        {"README.md": "hello\n"},
    ),
    "identical trees": (BASE, BASE),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_tree_walk_says_what_diff_tree_says(repo: Path, case: str) -> None:
    new_files, base_files = CASES[case]
    new, base = tree_of(repo, new_files), tree_of(repo, base_files)
    verdict = _changes_outside(Repository(repo), new, base, TASK_DIR)
    assert verdict is diff_tree_says(repo, new, base), case


@pytest.mark.parametrize("path, outside", [("Backtest/codes/t1/a.csv", False), ("README.md", True)])
def test_a_mode_change_counts_where_it_is(repo: Path, path: str, outside: bool) -> None:
    new = tree_of(repo, BASE, frozenset({path}))
    base = tree_of(repo, BASE)
    assert _changes_outside(Repository(repo), new, base, TASK_DIR) is outside
    assert diff_tree_says(repo, new, base) is outside


def test_an_unreadable_tree_leaves_it_to_diff_tree(repo: Path) -> None:
    base = tree_of(repo, BASE)
    assert _changes_outside(Repository(repo), "0" * 40, base, TASK_DIR) is None
