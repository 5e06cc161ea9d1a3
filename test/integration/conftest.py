"""Shared fixtures: the binary under test and fresh install directories."""
import os
import pathlib
import subprocess

import pytest

UPESI = os.environ.get("UPESI_BIN", "")


@pytest.fixture(scope="session")
def upesi_bin():
    if not UPESI or not os.access(UPESI, os.X_OK):
        pytest.fail("UPESI_BIN must name the built upesi binary")
    return UPESI


def run_upesi(*args, timeout=30, **kwargs):
    return subprocess.run([UPESI, *args], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


@pytest.fixture
def install(tmp_path, upesi_bin):
    """A fresh install directory made with `upesi -i`."""
    d = tmp_path / "inst"
    r = run_upesi("-i", str(d))
    assert r.returncode == 0, r.stderr
    return pathlib.Path(d)
