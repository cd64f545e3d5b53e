"""The shipped nginx site (deploy/nginx.conf), read as text: what it writes to its logs.
(Running nginx itself is for the deployment tests.)"""

import re
from pathlib import Path

NGINX_CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
# nginx variables that hold the query string, hence `?token=<JWT>` ($request is the whole
# request line; $request_method and $request_time are harmless).
QUERY_VARIABLES = re.compile(r"\$(request|request_uri|args|query_string|is_args|arg_\w+)(?!\w)")


def _block(text: str, opening: str) -> str:
    """The body of the `{ ... }` block that starts at `opening`."""
    start = text.index(opening) + len(opening)
    depth, at = 1, start
    while depth:
        depth += {"{": 1, "}": -1}.get(text[at], 0)
        at += 1
    return text[start : at - 1]


def _directives(text: str, name: str) -> list[str]:
    """The arguments of every `name ...;` directive (comments dropped, lines joined)."""
    code = re.sub(r"#[^\n]*", "", text)
    return [" ".join(args.split()) for args in re.findall(rf"(?<![\w$]){name}\s+([^;]*);", code)]


def test_socket_urls_are_logged_without_their_query_string():
    text = NGINX_CONF.read_text()
    ws = _block(text, "location /ws/ {")
    access = _directives(ws, "access_log")
    assert access, "the /ws/ location must choose its own access log format"
    for directive in access:
        if directive == "off":
            continue
        format_name = directive.split()[1]
        (definition,) = [
            args[len(format_name) + 1 :]
            for args in _directives(text, "log_format")
            if args.split()[0] == format_name
        ]
        assert "$uri" in definition
        assert not QUERY_VARIABLES.search(definition), definition
    # nginx's error log writes the whole request line: for sockets only what is critical.
    assert _directives(ws, "error_log") and all(
        d.split()[-1] in ("crit", "alert", "emerg") for d in _directives(ws, "error_log")
    )
