"""The messages the scripted test plugin saved (accept.ini `save=DIR`: an envelope line, then
the message as queued), found by subject."""
import email
import email.policy
import time


def stored_raw(saved, subject, timeout=10):
    """The bytes of the saved message whose Subject is `subject`, without the envelope line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in saved.iterdir():
            raw = path.read_bytes().split(b"\r\n", 1)[1]
            message = email.message_from_bytes(raw, policy=email.policy.compat32)
            if message["Subject"] == subject:
                return raw
        time.sleep(0.05)
    raise AssertionError("no stored message with subject %r" % subject)


def stored(saved, subject, timeout=10):
    """The same, parsed (email.message.Message)."""
    return email.message_from_bytes(stored_raw(saved, subject, timeout),
                                    policy=email.policy.compat32)
