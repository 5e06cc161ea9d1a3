"""A plugin built out of tree against the installed headers and pkg-config file, loaded with
dlopen; and a shared object built for another plugin API, refused with a clear message."""
import os
import pathlib
import subprocess

import pytest

SOURCE = pathlib.Path(__file__).resolve().parent.parent / "plugins" / "external"
BUILD_DIR = os.environ.get("UPESI_BUILD_DIR", "")


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """`meson install` into a staging directory; returns the env that finds its upesi.pc."""
    if not BUILD_DIR:
        pytest.fail("UPESI_BUILD_DIR must name the build directory")
    dest = tmp_path_factory.mktemp("stage")
    r = subprocess.run(["meson", "install", "-C", BUILD_DIR, "--destdir", str(dest),
                        "--no-rebuild", "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    pcs = list(dest.rglob("upesi.pc"))
    assert len(pcs) == 1, pcs
    env = dict(os.environ, PKG_CONFIG_PATH=str(pcs[0].parent), PKG_CONFIG_SYSROOT_DIR=str(dest))
    return env


def build_plugin(env, source, target):
    flags = subprocess.run(["pkg-config", "--cflags", "upesi"], env=env, capture_output=True,
                           text=True, check=True).stdout.split()
    r = subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-Wall", "-Werror",
                        *flags, str(source), "-o", str(target)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def header_api_version():
    """The version plugin.hpp declares: pkg-config must say the same."""
    import re
    text = (pathlib.Path(__file__).resolve().parents[2] / "common" / "api" / "upesi" /
            "plugin.hpp").read_text()
    return int(re.search(r"PluginApiVersion = (\d+);", text).group(1))


def test_pkg_config_names_the_api(staged):
    r = subprocess.run(["pkg-config", "--modversion", "upesi"], env=staged, capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.strip()
    r = subprocess.run(["pkg-config", "--variable=plugin_api_version", "upesi"], env=staged,
                       capture_output=True, text=True)
    assert r.stdout.strip() == str(header_api_version())


def test_external_plugin_is_loaded_and_runs(staged, install, start_server, connect):
    build_plugin(staged, SOURCE / "hello.cpp", install / "plugins" / "hello.so")
    server = start_server(plugins=["hello"])
    assert server.wait_log("hello plugin loaded")
    c = connect(server)
    assert c.cmd("EHLO friend.example")[0] == 250
    code, lines = c.cmd("HELO stranger")
    assert code == 550 and "does not talk to strangers" in lines[0]
    assert server.wait_log("said hello")


def test_plugin_for_another_api_is_refused(staged, install, upesi_bin):
    build_plugin(staged, SOURCE / "wrong_api.cpp", install / "plugins" / "wrong_api.so")
    (install / "config" / "plugins").write_text("wrong_api\n")
    r = subprocess.run([upesi_bin, "-c", str(install), "--check"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert "config/plugins:1:" in r.stderr
    version = header_api_version()
    assert ("built for plugin API version %d, this upesi has version %d"
            % (version + 41, version)) in r.stderr
