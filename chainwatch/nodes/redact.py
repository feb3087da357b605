"""Masking credentials in whatever a node sends back: its error texts and its answers.

A node, or anything answering at its URL (a reverse proxy, a captive portal, a hostile host),
may echo the request inside a JSON-RPC error ("bad request: headers={'Authorization': 'Basic
...'}") or inside a field of its answer. Nothing a node sends is trusted: every fault message
and every answer of every node kind passes ``Redactor.text``/``Redactor.value`` in
``chainwatch.nodes.watcher.NodeWatcher.fetch`` before it reaches the console, the ``run`` log,
``status`` or the database.

What is masked (each replaced by ``***``):
- the credentials of an HTTP ``Authorization`` or ``Proxy-Authorization`` header of any scheme
  (Basic, Bearer, Digest with all its parameters, ...), in raw HTTP, Python, JSON or Go form;
- ``Cookie``/``Set-Cookie`` header values, Bitcoin Core cookie text (``__cookie__:HEX``);
- ``rpcpassword=``, ``rpcauth=``, ``password=``/``"password": ...`` style text;
- the watcher's own secret in every form it went out in: the password, ``user:password``, their
  base64 (standard and URL-safe, with and without padding) and URL-encoded forms. A password
  shorter than ``MIN_SECRET`` characters is not searched for as plain text (it would mask
  ordinary words and numbers of the answers); its encoded forms and the patterns above still are.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # auth raises faults, whose endpoints hold a Redactor
    from chainwatch.nodes.auth import Credentials

MASK = "***"
#: Shortest secret text searched for as such (see the module docstring).
MIN_SECRET = 6

# A header's name and separator as an echo writes them: raw HTTP ("Authorization: "), Python
# or JSON ("'Authorization': '", '"Authorization": "', JSON inside JSON with backslashes), Go
# ("Authorization:[") or a query ("authorization="). Group "open" is the quote or bracket the
# value starts with; the value runs to its closing twin, or, without one, as its shape says.
_HEADER = re.compile(
    r"""(?ix)
    (?:(?<![\w./-])|(?<=\\[nrt]))(?P<name>(?:proxy-)?authorization|(?:set-)?cookie)
    (?P<sep>\\*["']?[ \t]*(?::|(?<=n)=)[ \t]*)
    (?P<open>\[|\\*"|')?"""
)
_SCHEME = re.compile(r"[A-Za-z][\w-]*[ \t]+(?=\S)")
_BITCOIN_COOKIE = re.compile(r"(?P<head>__cookie__:)(?P<cred>[0-9A-Za-z+/=_-]+)")
_KEYWORD = re.compile(
    r"""(?ix)
    (?P<head>\b(?:rpc)?(?:pass(?:word|wd)?|auth|secret|token)\\*["']?[ \t]*[:=][ \t]*
        \\*["']?)
    (?P<cred>[^\s'",;&}\]\\]+)"""
)

# Words without which ``_KEYWORD`` cannot match (a cheap test before the regex).
_KEYWORDS = ("pass", "auth", "secret", "token")

# Without a quote or bracket around it, a header value's shape says where it ends: one token
# (Basic, Bearer) or a list of key=value parameters (Digest); anything else runs to the line end.
_TOKEN = re.compile(r"[\w.~+/*-]+=*(?=[\s;,)]|$)")
# A quoted parameter may sit inside JSON text, its quotes escaped (\" or \\\").
_PARAM = r"""[A-Za-z][\w-]*[ \t]*=[ \t]*(?:\\*"[^"]*?\\*"|[^\s,;"\\]+)"""
_PARAMS = re.compile(_PARAM + r"(?:[ \t]*,[ \t]*" + _PARAM + r")*")
_LINE_END = re.compile(r"[\r\n]|\\r|\\n")


def _value_end(text: str, start: int, opener: str | None, *, shaped: bool) -> int:
    """Where a header value that began at ``start`` after ``opener`` ends; ``shaped``: it is
    an Authorization value, one token or a parameter list (see above)."""
    if opener == "[":
        closer = re.compile(r"\]")
    elif opener == "'":
        closer = re.compile("'")
    elif opener:  # a double quote after k backslashes closes at a quote after exactly k
        closer = re.compile(r"(?<!\\)" + re.escape(opener))
    else:
        for shape in (_PARAMS, _TOKEN) if shaped else ():
            found = shape.match(text, start)
            if found:
                return found.end()
        closer = _LINE_END
    found = closer.search(text, start)
    return found.start() if found else len(text)


def _mask_headers(text: str) -> str:
    parts: list[str] = []
    position = 0
    for match in _HEADER.finditer(text):
        if match.start() < position:  # inside a value already masked
            continue
        start, opener = match.end(), match.group("open")
        if match.group("name").lower().endswith("authorization"):
            scheme = _SCHEME.match(text, start)
            if scheme:  # keep the scheme word (Basic, Digest, Bearer): it says what was sent
                start = scheme.end()
            end = _value_end(text, start, opener, shaped=True)
        else:  # a cookie list (a=1; b=2) has no shape of its own: to its closer or line end
            end = _value_end(text, start, opener, shaped=False)
        parts += [text[position:start], MASK]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _keep_head(match: re.Match[str]) -> str:
    return match.group("head") + MASK


def _b64_forms(raw: bytes) -> set[str]:
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
    return forms


def secret_forms(credentials: Credentials | None) -> list[str]:
    """Every text form in which ``credentials`` may come back, longest first."""
    if credentials is None:
        return []
    password = credentials.password.get()
    pair = f"{credentials.user}:{password}"
    forms: set[str] = set()
    # bitcoinlib encodes Basic credentials as UTF-8, requests (monero, web3) as Latin-1.
    for encoding in ("utf-8", "latin-1"):
        try:
            forms |= _b64_forms(pair.encode(encoding)) | _b64_forms(password.encode(encoding))
        except UnicodeEncodeError:
            continue
    for plain in (password, pair):
        forms |= {
            plain,
            urllib.parse.quote(plain, safe=""),
            urllib.parse.quote_plus(plain),
            urllib.parse.quote(plain),
        }
    # user:password as the userinfo of a URL (each part quoted on its own).
    forms.add(
        urllib.parse.quote(credentials.user, safe="") + ":" + urllib.parse.quote(password, safe="")
    )
    # And each as it appears inside JSON text (quotes and backslashes escaped).
    forms |= {json.dumps(form, ensure_ascii=False)[1:-1] for form in forms}
    return sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)


class Redactor:
    """Masks credentials in text and in parsed JSON answers (see the module docstring)."""

    def __init__(self, credentials: Iterable[Credentials | None] = ()) -> None:
        forms: set[str] = set()
        for item in credentials:
            forms.update(secret_forms(item))
        ordered = sorted(forms, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def text(self, text: str) -> str:
        """``text`` with every credential masked."""
        # Known secrets first: a pattern below could otherwise stop inside one (at a space or
        # an "&" of the password) and leave its tail for no later step to recognise.
        if self._known is not None:
            text = self._known.sub(MASK, text)
        # The patterns run only where their words occur: an honest node's address book (MBs
        # of JSON) then costs a few substring searches instead of seconds of regex scanning.
        lowered = text.lower()
        if "authorization" in lowered or "cookie" in lowered:
            text = _mask_headers(text)
        if "__cookie__" in text:
            text = _BITCOIN_COOKIE.sub(_keep_head, text)
        if any(word in lowered for word in _KEYWORDS):
            text = _KEYWORD.sub(_keep_head, text)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def value(self, value: Any) -> Any:
        """A parsed JSON answer with every string in it (keys too) masked. The answer as a
        whole is looked at first, so one that holds nothing to mask (every honest node's) is
        returned as it is, without a walk through its (maybe 100,000) entries."""
        try:
            whole = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):  # not JSON-shaped (a library's own object): walk it
            whole = None
        if whole is not None and self.text(whole) == whole:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list | tuple):
            return [self._walk(item) for item in value]
        if isinstance(value, Mapping):
            return {
                self.text(key) if isinstance(key, str) else key: self._walk(item)
                for key, item in value.items()
            }
        return value
