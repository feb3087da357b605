"""RPC credentials of a node watcher: user and password from the environment, or a cookie file.

They are read when the watcher connects (so a rotated cookie is picked up on the next poll),
held as ``Secret`` (which never prints itself), and used only to build the request's
authentication. No message here quotes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from chainwatch.config import Secret, WatcherConfig
from chainwatch.nodes.faults import NodeFault


@dataclass(frozen=True)
class Credentials:
    user: str
    password: Secret

    def basic_header(self) -> str:
        """The value of an HTTP ``Authorization: Basic`` header."""
        pair = f"{self.user}:{self.password.get()}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def credentials(config: WatcherConfig) -> Credentials | None:
    """The watcher's credentials, or None when it has none configured.

    Raises ``ConfigError`` for a missing or placeholder ``password_env`` variable and
    ``NodeFault`` for a cookie file that cannot be read or is not ``user:password``.
    """
    if config.cookie is not None:
        return _from_cookie(config)
    password = config.password()
    if password is None:
        return None
    if not config.user:
        raise NodeFault(
            "password_env is set but user is not",
            hint="set user = the node's RPC user name in the watcher's entry",
        )
    return Credentials(config.user, password)


def _from_cookie(config: WatcherConfig) -> Credentials:
    path = config.cookie
    assert path is not None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise NodeFault(
            f"cannot read cookie file {path}: {exc.strerror or type(exc).__name__}",
            hint="is the node running (it writes the cookie when it starts), and may this user "
            "read the file?",
        ) from None
    except UnicodeDecodeError:
        raise NodeFault(
            f"cookie file {path} is not text", hint="cookie must name the node's .cookie file"
        ) from None
    user, colon, password = text.partition(":")
    if not colon or not user or not password:
        raise NodeFault(
            f"cookie file {path} does not hold user:password",
            hint="cookie must name the node's .cookie file (e.g. ~/.bitcoin/.cookie)",
        )
    return Credentials(user, Secret(password))
