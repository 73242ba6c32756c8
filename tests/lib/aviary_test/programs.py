"""The programs under test and the build they come from."""

import os
import shutil
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[3]


def build_dir():
    """The CMake build directory: AVIARY_BUILD from ctest, else build/."""
    env = os.environ.get("AVIARY_BUILD")
    return Path(env) if env else SOURCE / "build"


def bin_dir():
    """The build's bin/ directory: AVIARY_BIN from ctest, else build/bin."""
    env = os.environ.get("AVIARY_BIN")
    return Path(env) if env else build_dir() / "bin"


def program(name):
    path = bin_dir() / name
    if not path.exists():
        # A failure, not a skip: under ctest the programs are always built.
        raise AssertionError(f"{path} does not exist (build first, or set AVIARY_BIN)")
    return str(path)


def tool(name):
    """A program the tests need from the system (tools/install-deps.sh)."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        raise AssertionError(f"{name} is not installed (tools/install-deps.sh installs it)")
    return path


def sanitized_build():
    """True when the programs are an AddressSanitizer build (tools/test.sh
    --sanitize): memory figures then measure ASan's shadow and quarantine,
    and valgrind cannot run them."""
    cache = bin_dir().parent / "CMakeCache.txt"
    try:
        return "AVIARY_SANITIZE:BOOL=ON" in cache.read_text(errors="replace")
    except OSError:
        return False


def keep_tmp():
    """AVIARY_KEEP_TMP set: temporary directories stay for a post-mortem."""
    return bool(os.environ.get("AVIARY_KEEP_TMP"))
