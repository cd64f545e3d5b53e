"""The steps behind `make test`, `make lint` and `make bench`, run with the virtualenv's python:

    checks.py test    ruff, ruff format, mypy, migrations, OpenAPI schema, pytest ($PYTEST_ARGS)
    checks.py fast    ruff, then pytest without the tests marked slow (the everyday lane)
    checks.py lint    ruff, ruff format, mypy
    checks.py bench   every bench/*.py (files starting with _ are helpers, not benchmarks)

Each step gets a one-line header; a failing step does not hide the ones after it; the exit
status is non-zero when any step failed, and pytest collecting no test counts as a failure.
"""

import os
import shlex
import subprocess
import sys

from devenv import ROOT

PYTHON = sys.executable
NO_TESTS_COLLECTED = 5
MYPY = ("mypy", [PYTHON, "-m", "mypy", "."])
RUFF = [
    ("ruff check", [PYTHON, "-m", "ruff", "check", "."]),
    ("ruff format --check", [PYTHON, "-m", "ruff", "format", "--check", "."]),
]


def test_steps() -> list[tuple[str, list[str]]]:
    manage = [PYTHON, "manage.py"]
    pytest_args = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    return [
        *RUFF,
        MYPY,
        ("migrations", [*manage, "makemigrations", "--check", "--dry-run"]),
        ("openapi schema", [*manage, "spectacular", "--validate", "--fail-on-warn",
                            "--file", "/dev/null"]),
        ("pytest", [PYTHON, "-m", "pytest", *pytest_args]),
    ]  # fmt: skip


def fast_steps() -> list[tuple[str, list[str]]]:
    pytest_args = shlex.split(os.environ.get("PYTEST_ARGS", ""))
    # Tests marked slow start servers, browsers, fuzzers or fault injection (pyproject.toml).
    # The rest mostly wait on the stores, so three processes (pytest-xdist, each with stores
    # of its own: tests/settings.py) beat two cores' worth; their test databases are kept
    # between runs (--reuse-db; PYTEST_ARGS=--create-db makes them anew).
    pytest = [PYTHON, "-m", "pytest", "-m", "not slow", "-n", "3", "--reuse-db"]
    return [RUFF[0], ("pytest (not slow)", [*pytest, *pytest_args])]


def lint_steps() -> list[tuple[str, list[str]]]:
    return [*RUFF, MYPY]


def bench_steps() -> list[tuple[str, list[str]]]:
    scripts = sorted(p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))
    # As modules from the root: bench/chat.py run as a script would shadow the chat app.
    return [(f"bench/{p.name}", [PYTHON, "-m", f"bench.{p.stem}"]) for p in scripts]


def run(steps: list[tuple[str, list[str]]], env: dict[str, str]) -> int:
    failed = []
    for title, command in steps:
        print(f"\n==> {title}", flush=True)
        code = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
        if code == NO_TESTS_COLLECTED and title.startswith("pytest"):
            print("pytest collected no tests: that counts as a failure", flush=True)
        if code != 0:
            failed.append(f"{title} (exit {code})")
    print(f"\n==> {len(steps) - len(failed)} of {len(steps)} steps passed", flush=True)
    for failure in failed:
        print(f"    FAILED: {failure}", flush=True)
    return 1 if failed else 0


def main() -> int:
    kinds = {"test": test_steps, "fast": fast_steps, "lint": lint_steps, "bench": bench_steps}
    if len(sys.argv) != 2 or sys.argv[1] not in kinds:
        sys.exit(__doc__)
    env = dict(os.environ)
    if sys.argv[1] in ("test", "fast"):
        # Also in front of a developer's own DJANGO_SETTINGS_MODULE: tests must never run
        # against the development databases.
        env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    steps = kinds[sys.argv[1]]()
    if not steps:
        print("==> no benchmarks yet (add bench/<name>.py)")
        return 0
    return run(steps, env)


if __name__ == "__main__":
    sys.exit(main())
