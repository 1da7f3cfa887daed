"""Build eddyloop: cargo-build libeddy.a, then compile the Cython extension
against include/eddy.h and link the static library into it.

The repository root is python/.. (override with EDDY_ROOT); the Rust target
directory honours CARGO_TARGET_DIR as cargo does.
"""
import os
import re
import shlex
import subprocess
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("EDDY_ROOT", HERE.parent)).resolve()


def cargo_version():
    text = (ROOT / "Cargo.toml").read_text()
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^version\s*=\s*"([^"]+)"', package, re.M).group(1)


def static_libs():
    """The system libraries a static libeddy.a needs: pkg-config's
    Libs.private, the one place the project records them."""
    pc = (ROOT / "pkgconfig" / "eddy.pc.in").read_text()
    line = re.search(r"^Libs\.private:(.*)$", pc, re.M).group(1)
    return [flag[2:] for flag in shlex.split(line) if flag.startswith("-l")]


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")).resolve()


class BuildWithCargo(build_ext):
    """Runs `cargo build --release` for the repository before compiling, so
    `pip install ./python` is one step and the extension always links the
    library built from the same tree."""

    def run(self):
        if not os.environ.get("EDDY_SKIP_CARGO"):
            cargo = os.environ.get("CARGO", "cargo")
            subprocess.run([cargo, "build", "--release", "--manifest-path",
                            str(ROOT / "Cargo.toml")], check=True)
        lib = target_dir() / "release" / "libeddy.a"
        if not lib.exists():
            raise RuntimeError(f"{lib} was not built")
        for ext in self.extensions:
            ext.extra_objects = [str(lib)]
            # build_ext relinks only when a source or a dependency is newer
            # than the module: without this, a rebuilt libeddy.a alone
            # would leave the old library linked in.
            ext.depends = [*ext.depends, str(lib)]
        super().run()


ext = Extension(
    "eddyloop._loop",
    ["eddyloop/_loop.pyx"],
    include_dirs=[str(ROOT / "include")],
    libraries=static_libs(),
    # libeddy.a carries Rust's std: keep its symbols private to this module
    # so another Rust extension in the same process cannot clash with it.
    extra_link_args=["-Wl,--exclude-libs,ALL"],
    extra_compile_args=["-O2"],
)

setup(
    version=cargo_version(),
    ext_modules=cythonize([ext], language_level=3,
                          compiler_directives={"embedsignature": True}),
    cmdclass={"build_ext": BuildWithCargo},
)
