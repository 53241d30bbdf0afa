"""Plugins through entry points: a standalone pass (``spikeforge.passes``), and broken
plugins of every group reported once and skipped while the rest works.

Each test writes a distribution by hand (a package and its ``.dist-info`` with
``entry_points.txt``) into a temporary folder and puts that folder on the path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GRAPH = """sfir 1
graph @g {dt = none} {
  %x = io.input() {shape = (2)}
  %s = nn.scale(%x) {scale = tensor<f32[]>[3]}
  %y = io.output(%s) {}
}
"""

PASS_MODULE = '''
from dataclasses import dataclass
from typing import Any

import ir
from compiler import Pass
from ir.ops import nn


@dataclass(frozen=True)
class DoubleScales(Pass):
    """Double every nn.scale.

    Options:
        factor: what the scales are multiplied by.
    """

    name = "double-scales"

    factor: float = 2.0

    def run(self, graph: ir.Graph, /, **inputs: Any) -> ir.Graph:
        out = graph.copy()
        for node in out.nodes():
            op = out.op(node)
            if isinstance(op, nn.Scale):
                out.replace(node, nn.Scale(scale=op.scale * self.factor))
        return out
'''


def distribution(
    site: Path, name: str, entry_points: dict[str, dict[str, str]], **files: str
) -> None:
    """Install ``name`` 1.0 into ``site`` by hand: ``files`` (module name -> source)
    and a ``.dist-info`` declaring ``entry_points`` (group -> name -> value)."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in files.items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    )
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


def spikeforge(
    site: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(site), str(ROOT), env.get("PYTHONPATH", "")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "spikeforge", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """A good pass plugin beside a broken pass, target and dialect plugin."""
    site = tmp_path / "site"
    distribution(
        site,
        "sf-double",
        {"spikeforge.passes": {"double-scales": "sf_double:DoubleScales"}},
        sf_double=PASS_MODULE,
    )
    distribution(
        site,
        "sf-broken",
        {
            "spikeforge.passes": {"broken-pass": "sf_broken:Nope"},
            "spikeforge.targets": {"broken-chip": "sf_broken:TARGET"},
            "spikeforge.dialects": {"brk": "sf_broken"},
        },
        sf_broken="raise RuntimeError('this plugin is broken on purpose')\n",
    )
    return site


def test_a_standalone_pass_plugin_is_listed_and_runs(tmp_path: Path) -> None:
    site = tmp_path / "site"
    distribution(
        site,
        "sf-double",
        {"spikeforge.passes": {"double-scales": "sf_double:DoubleScales"}},
        sf_double=PASS_MODULE,
    )
    listed = spikeforge(site, "passes", "double-scales")
    assert listed.returncode == 0, listed.stderr
    assert "  factor: float, default 2.0" in listed.stdout
    assert "what the scales are multiplied by." in listed.stdout
    out = spikeforge(site, "opt", "-", "-p", "double-scales{factor=5.0}", stdin=GRAPH)
    assert out.returncode == 0, out.stderr
    assert "scale = tensor<f32[]>[15.0]" in out.stdout
    # Without the distribution on the path, the pass does not exist.
    bare = spikeforge(
        tmp_path / "empty", "opt", "-", "-p", "double-scales", stdin=GRAPH
    )
    assert bare.returncode == 1
    assert "double-scales" in bare.stderr


def test_broken_plugins_are_reported_once_and_the_rest_works(broken_site: Path) -> None:
    passes = spikeforge(broken_site, "passes")
    assert passes.returncode == 0, passes.stderr
    names = [ln.split()[0] for ln in passes.stdout.splitlines() if ln[:1] != " "]
    assert "double-scales" in names
    assert "canonicalize" in names
    assert "broken-pass" not in names
    warnings_seen = [ln for ln in passes.stderr.splitlines() if "plugin skipped" in ln]
    assert len(warnings_seen) == 2, passes.stderr  # the pass and the target
    for line in warnings_seen:
        assert line.startswith("spikeforge: warning: plugin skipped: entry point '")
        assert "of package sf-broken 1.0" in line
        assert "RuntimeError: this plugin is broken on purpose" in line
    targets = spikeforge(broken_site, "targets")
    assert targets.returncode == 0, targets.stderr
    assert "xylo-audio2" in targets.stdout
    assert "broken-chip" not in targets.stdout
    assert "'broken-chip = sf_broken:TARGET' (spikeforge.targets)" in targets.stderr
    # Running a plugin pass and compiling for a built-in target still work.
    out = spikeforge(broken_site, "opt", "-", "-p", "double-scales", stdin=GRAPH)
    assert out.returncode == 0, out.stderr
    assert "[6.0]" in out.stdout
    source = broken_site.parent / "g.sfir"
    source.write_text(GRAPH)
    build = broken_site.parent / "build"
    built = spikeforge(
        broken_site, "compile", str(source), "-t", "reference", "-o", str(build)
    )
    assert built.returncode == 0, built.stderr
    assert (build / "config.json").is_file()


def test_a_broken_dialect_is_reported_and_named_where_it_is_used(
    broken_site: Path,
) -> None:
    text = GRAPH.replace("nn.scale(%x) {scale = tensor<f32[]>[3]}", "brk.op(%x) {}")
    out = spikeforge(broken_site, "opt", "-", stdin=text)
    assert out.returncode == 1
    assert "spikeforge: warning: plugin skipped: entry point 'brk = sf_broken'" in (
        out.stderr
    )
    assert (
        "<stdin>:4:8: unknown op 'brk.op': the plugin dialect 'brk' did not load"
        in (out.stderr)
    )


def test_the_registry_warns_once_per_process(
    broken_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler.registry import available_passes
    from ir import plugins

    monkeypatch.syspath_prepend(str(broken_site))
    monkeypatch.setattr(plugins, "_REPORTED", set())
    with pytest.warns(plugins.PluginWarning) as caught:
        first = available_passes()
    assert "double-scales" in first
    assert "broken-pass" not in first
    messages = [str(w.message) for w in caught]
    assert len([m for m in messages if "broken-pass" in m]) == 1
    assert len([m for m in messages if "broken-chip" in m]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert available_passes() == first  # reported already: silent now
    for module in ("sf_double", "sf_broken"):
        sys.modules.pop(module, None)
