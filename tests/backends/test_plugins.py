"""Third-party targets, passes and dialects are found through entry points alone.

The plugin in ``plugin_example/`` is really installed (``pip install --target``) into
a temporary folder; spikeforge then runs in a subprocess with that folder on its path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).with_name("plugin_example")

GRAPH = """sfir 1
graph @g {dt = none} {
  %x = io.input() {shape = (2)}
  %s = nn.scale(%x) {scale = tensor<f32[]>[3]}
  %y = io.output(%s) {}
}
"""


def _pip_install(source: Path, target: Path) -> None:
    # Offline and without build isolation: setuptools comes from the dev extras.
    flags = ["--quiet", "--no-deps", "--no-index", "--no-build-isolation"]
    command = [sys.executable, "-m", "pip", "install", *flags, "--target", str(target)]
    subprocess.run([*command, str(source)], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("plugin")
    source = work / "src"
    shutil.copytree(PLUGIN, source)  # build outside the repository
    target = work / "site"
    _pip_install(source, target)
    return target


def spikeforge(
    site: Path | None, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if site is not None:
        # In front of the checkout this runs from (which may be on PYTHONPATH).
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(site), env.get("PYTHONPATH", "")) if p
        )
    return subprocess.run(
        [sys.executable, "-m", "compiler.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_installed_target_and_pass_are_listed(site: Path) -> None:
    targets = spikeforge(site, "targets")
    assert targets.returncode == 0, targets.stderr
    assert "toy" in targets.stdout
    assert "a toy plugin target" in targets.stdout
    passes = spikeforge(site, "passes")
    assert "toy-gains" in passes.stdout
    # Without the plugin on the path, neither exists.
    bare = spikeforge(None, "targets")
    assert "toy" not in bare.stdout


def test_plugin_pass_and_dialect_work_through_the_cli(
    site: Path, tmp_path: Path
) -> None:
    src = tmp_path / "g.sfir"
    src.write_text(GRAPH)
    out = spikeforge(site, "opt", str(src), "-p", "toy-gains")
    assert out.returncode == 0, out.stderr
    assert "%s = toy.gain(%x) {factor = 3.0}" in out.stdout
    # The toy dialect is loaded on demand when a file uses it.
    again = spikeforge(site, "opt", "-", stdin=out.stdout)
    assert again.returncode == 0, again.stderr
    assert again.stdout == out.stdout
    # Without the plugin the op is unknown, and the error says where.
    missing = spikeforge(None, "opt", "-", stdin=out.stdout)
    assert missing.returncode == 1
    assert "<stdin>:4:8: unknown op 'toy.gain': no dialect 'toy'" in missing.stderr


def test_compile_and_run_on_the_plugin_target(site: Path, tmp_path: Path) -> None:
    import numpy as np

    src = tmp_path / "g.sfir"
    src.write_text(GRAPH)
    build = tmp_path / "build"
    comp = spikeforge(site, "compile", str(src), "--target", "toy", "-o", str(build))
    assert comp.returncode == 0, comp.stderr
    assert "toy-gains" in comp.stdout
    np.save(tmp_path / "x.npy", np.ones((1, 2, 2), np.float32))
    run = spikeforge(
        site,
        "run",
        str(build),
        "--input",
        str(tmp_path / "x.npy"),
        "-o",
        str(tmp_path / "y.npy"),
    )
    assert run.returncode == 0, run.stderr
    assert np.load(tmp_path / "y.npy").tolist() == [[[3.0, 3.0], [3.0, 3.0]]]


def test_a_plugin_taking_a_built_in_name_is_skipped(tmp_path: Path) -> None:
    dup = tmp_path / "dup"
    (dup / "dup_target").mkdir(parents=True)
    (dup / "dup_target" / "__init__.py").write_text("TARGET = None\n")
    (dup / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "dup-target"\nversion = "0"\n'
        '[project.entry-points."spikeforge.targets"]\nreference = "dup_target:TARGET"\n'
        '[tool.setuptools]\npackages = ["dup_target"]\n'
    )
    site = tmp_path / "site"
    _pip_install(dup, site)
    out = spikeforge(site, "targets")
    # Reported once, naming the entry point and its package; the built-in stays.
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("spikeforge: warning: plugin skipped:") == 1
    assert "'reference = dup_target:TARGET' (spikeforge.targets)" in out.stderr
    assert "package dup-target 0" in out.stderr
    assert "target 'reference' is built in (backends.reference:TARGET)" in out.stderr
    assert "reference" in out.stdout.split()
