"""Console entry points that run the service binaries, as Mooncake's wheel
provides: those installed with the package (mooncake/bin), or the ones in
MOONCAKE_BIN_DIR when it is set."""
import os
import sys


def _run(name):
    d = os.environ.get("MOONCAKE_BIN_DIR") or os.path.join(os.path.dirname(__file__), "bin")
    path = os.path.join(d, name)
    if not os.access(path, os.X_OK):
        sys.stderr.write(f"{name}: not found in {d} (set MOONCAKE_BIN_DIR)\n")
        return 127
    os.execv(path, [path] + sys.argv[1:])
    return 1  # not reached


def mooncake_master():
    return _run("mooncake_master")


def mooncake_http_metadata_server():
    return _run("mooncake_http_metadata_server")


def mooncake_store_service():
    return _run("mooncake_store_service")
