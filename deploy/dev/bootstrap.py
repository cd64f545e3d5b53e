"""Create `.venv` with this python (3.11 or newer) and install requirements-dev.txt into it;
install again only when a requirements file changed since the last install (their hash is kept
in `.venv/.requirements-installed`). Runs with the system python (the Makefile has checked
it is 3.11 or newer), standard library only."""

import hashlib
import importlib.util
import shutil
import subprocess
import sys

from devenv import ROOT, SetupError, apt_install, fail, say

VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
STAMP = VENV / ".requirements-installed"
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]


def requirements_hash() -> str:
    digest = hashlib.sha256()
    for path in REQUIREMENTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def venv_usable() -> bool:
    check = "import sys; sys.exit(sys.version_info < (3, 11))"
    return PYTHON.exists() and subprocess.run([PYTHON, "-c", check], check=False).returncode == 0


def create_venv() -> None:
    if VENV.exists():
        say(".venv: its python is gone or older than 3.11, creating it again")
        shutil.rmtree(VENV)
    if importlib.util.find_spec("ensurepip") is None:  # Debian splits it into python3-venv
        apt_install(["python3-venv"], f"{sys.executable} cannot create a virtualenv")
    say(f".venv: creating it with {sys.executable}")
    subprocess.run([sys.executable, "-m", "venv", VENV], check=True)


def main() -> None:
    try:
        if not venv_usable():
            create_venv()
    except SetupError as error:
        fail(error)
    wanted = requirements_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say(".venv: installing requirements-dev.txt (the first time takes a few minutes)")
    requirements = ROOT / "requirements-dev.txt"
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(requirements)], check=True)
    STAMP.write_text(wanted + "\n")


if __name__ == "__main__":
    main()
