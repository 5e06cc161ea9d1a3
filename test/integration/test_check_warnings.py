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


def test_an_unknown_key_is_named_with_its_line_and_the_key_meant(install):
    smtp = install / "config/smtp.ini"
    smtp.write_text("[main]\nnodes=0\nlistne=127.0.0.1:2525\nmax_mesage_size=1000000\n"
                    "colour=blue\n")
    out = check(install)
    assert f"warning: {smtp}:3: unknown key listne (did you mean listen?)" in out
    assert f"warning: {smtp}:4: unknown key max_mesage_size (did you mean max_message_size?)" \
        in out
    assert f"warning: {smtp}:5: unknown key colour\n" in out
    # The built-in plugins' files whose keys are fixed, and tls.ini's sections.
    (install / "config/rcpt_to.in_host_list.ini").write_text("[main]\nmailbox=listed\n")
    (install / "config/relay.ini").write_text("[relay]\nacl=true\ndest_domain=true\n")
    (install / "config/tls.ini").write_text("[outbound]\nfallback_to_plian=false\n")
    (install / "config/auth_flat_file.ini").write_text("[users]\nlisten=x\n")
    os.chmod(install / "config/auth_flat_file.ini", 0o600)
    out = check(install)
    assert "rcpt_to.in_host_list.ini:2: unknown key mailbox (did you mean mailboxes?)" in out
    assert "relay.ini:3: unknown key dest_domain in [relay] (did you mean dest_domains?)" in out
    assert ("tls.ini:2: unknown key fallback_to_plian in [outbound] "
            "(did you mean fallback_to_plain?)") in out
    assert "auth_flat_file.ini" not in out, "user names are not keys to check"


def test_warnings_leave_the_exit_status_to_errors(install):
    smtp = install / "config/smtp.ini"
    smtp.write_text("[main]\nlistne=127.0.0.1:2525\nnodes=lots\n")
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 1
    assert f"warning: {smtp}:2: unknown key listne" in r.stderr
    assert f"{smtp}:3: nodes must be" in r.stderr
    # Starting runs the same check: its errors (and warnings) are shown there too.
    r = run_upesi("-c", str(install))
    assert r.returncode == 1
    assert f"{smtp}:3: nodes must be" in r.stderr
    assert f"warning: {smtp}:2: unknown key listne" in r.stderr


def test_the_shipped_files_and_a_fresh_install_have_no_unknown_keys(install):
    defaults = os.environ["UPESI_DEFAULTS_DIR"]
    assert "warning" not in check(install)
    for name in os.listdir(defaults):
        if name.endswith(".ini"):
            (install / "config" / name).write_text(open(os.path.join(defaults, name)).read())
    (install / "config/smtp.ini").write_text(
        (install / "config/smtp.ini").read_text() + "listen=127.0.0.1:2525\nnodes=0\n")
    assert "warning" not in check(install)


def test_check_prints_no_plugin_progress_but_keeps_their_errors(install):
    r = run_upesi("-c", str(install), "--check")
    assert r.returncode == 0, r.stderr
    assert "loaded 2 domains" not in r.stdout + r.stderr
    assert "[INFO]" not in r.stdout + r.stderr
    (install / "config/plugins").write_text("relay\nrcpt_to.in_host_list\nqueue/maildir\n")
    (install / "config/relay_acl_allow").write_text("127.0.0.1\nnot-a-network\n")
    r = run_upesi("-c", str(install), "--check")
    assert "invalid entry in relay_acl_allow: not-a-network" in r.stderr
    assert "loaded 2 domains" not in r.stdout + r.stderr
