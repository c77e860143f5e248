"""The mooncake package: mooncake.store over libmooncake_client.

Builds offline (pip install --no-build-isolation --no-index ./clients/python)
with Debian's setuptools and python3-dev. It needs the built C client:
MOONCAKE_CLIENT_LIB_DIR (default: <repo>/build/release/lib) holds
libmooncake_client.so, which is copied into the package next to the
extension; MOONCAKE_BIN_DIR (default: <repo>/build/release/bin) holds the
three service binaries, copied into mooncake/bin when present."""
import glob
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
LIB_DIR = os.environ.get("MOONCAKE_CLIENT_LIB_DIR", os.path.join(REPO, "build", "release", "lib"))
BIN_DIR = os.environ.get("MOONCAKE_BIN_DIR", os.path.join(REPO, "build", "release", "bin"))
INCLUDE = os.path.join(REPO, "clients", "c", "include")
BINARIES = ["mooncake_master", "mooncake_http_metadata_server", "mooncake_store_service"]


class BuildExt(build_ext):
    """Builds the extension, then puts the client library (and the service
    binaries) inside the package, so an installed package needs nothing from
    the build tree."""

    def run(self):
        super().run()
        pkg = os.path.join(self.build_lib, "mooncake")
        lib = os.path.join(LIB_DIR, "libmooncake_client.so.0")
        if not os.path.exists(lib):
            raise SystemExit(f"{lib} not found: build the project first (or set "
                             "MOONCAKE_CLIENT_LIB_DIR)")
        shutil.copy2(os.path.realpath(lib), os.path.join(pkg, "libmooncake_client.so.0"))
        os.makedirs(os.path.join(pkg, "bin"), exist_ok=True)
        for name in BINARIES:
            src = os.path.join(BIN_DIR, name)
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(pkg, "bin", name))


setup(
    name="mooncake",
    version="0.2.0",
    description="mooncake.store: a drop-in MooncakeDistributedStore over libmooncake_client",
    packages=["mooncake"],
    ext_modules=[Extension(
        "mooncake._store", sources=["src/_store.c"], include_dirs=[INCLUDE],
        library_dirs=[LIB_DIR], libraries=[":libmooncake_client.so.0"],
        runtime_library_dirs=["$ORIGIN"], extra_compile_args=["-std=c11", "-Wall", "-Wextra"])],
    cmdclass={"build_ext": BuildExt},
    entry_points={"console_scripts": [f"{b} = mooncake.cli:{b}" for b in BINARIES]},
    python_requires=">=3.9",
)
