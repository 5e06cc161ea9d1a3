"""upesi --check warnings: the install runs (exit status 0), but something in it looks wrong."""
import os

from conftest import run_upesi


def check(install):
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout
    return r.stderr


def secret(install, rel, mode, text="secret\n"):
    path = install / "config" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_passwords_readable_by_others_are_named(install):
    path = secret(install, "auth_flat_file.ini", 0o644, "[users]\nbob=secret\n")
    assert f"warning: {path}: holds passwords but is readable by others (mode 0644)" in \
        check(install)
    os.chmod(path, 0o600)
    assert "warning" not in check(install)


def test_private_keys_readable_by_group_or_others_are_named(install):
    default_key = secret(install, "tls_key.pem", 0o640)
    out = check(install)
    assert f"warning: {default_key}: holds a private key but is readable by its group" in out
    # The names tls.ini gives, and the SNI files (key and chain in one file).
    (install / "config/tls.ini").write_text(
        "[main]\nkey=keys/server.pem\n[outbound]\nkey=keys/client.pem\n")
    server_key = secret(install, "keys/server.pem", 0o604)
    client_key = secret(install, "keys/client.pem", 0o644)
    sni = secret(install, "tls/mail.example.com.pem", 0o644)
    out = check(install)
    for path in (server_key, client_key, sni):
        assert f"warning: {path}: holds a private key but is readable by others" in out
    assert str(default_key) not in out, "tls.ini names another key"
    for path in (server_key, client_key, sni):
        os.chmod(path, 0o600)
    assert "warning" not in check(install)


def test_the_group_the_server_drops_to_may_read_secrets(install):
    # Workers run as smtp.ini user/group and read the key after the drop: that group needs it.
    key = secret(install, "tls_key.pem", 0o640)
    os.chown(key, 0, 65534)
    with open(install / "config/smtp.ini", "a") as f:
        f.write("group=65534\n")
    assert "warning" not in check(install)
    os.chown(key, 0, 0)
    assert f"warning: {key}: holds a private key but is readable by its group" in check(install)
