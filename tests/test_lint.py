# Copyright (c) slim_plugins contributors. All rights reserved.
"""Lint gate: flake8 and isort, with the settings of setup.cfg."""
import subprocess
import sys

from conftest import REPO_ROOT

PATHS = ['slim_plugins', 'tools', 'tests', 'benchmarks', 'configs']


def test_flake8_clean():
    result = subprocess.run([sys.executable, '-m', 'flake8', *PATHS],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_isort_clean():
    result = subprocess.run(
        [sys.executable, '-m', 'isort', '--check-only', '--diff', *PATHS],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True)
    assert result.returncode == 0, result.stdout + result.stderr
