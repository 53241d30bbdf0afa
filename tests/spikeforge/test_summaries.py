"""Text and Jupyter summaries of graphs, compile reports and yield reports."""

from __future__ import annotations

import re
from html import escape as html_escape

import numpy as np

import compiler
from compiler.chip_yield import YieldReport
from tests.backends.xylo.snn_graphs import cuba_graph, lif_graph


def test_print_graph_is_a_node_table() -> None:
    graph = cuba_graph(0)
    text = str(graph)
    lines = text.splitlines()
    assert lines[0] == f"graph @cuba: {len(graph)} nodes, dt = 0.001"
    assert lines[1].split() == ["node", "op", "inputs", "shape", "params"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == set(graph.nodes())
    # op, inputs (a recurrent edge reads 'prev'), shape, parameter count
    assert rows["h1"].split()[1] == "snn.cubalif"
    assert "fc1, prev rec1" in rows["h1"]
    assert rows["fc1"].split()[-2:] == ["10", f"{10 * 5 + 10}"]
    # dependency order: every node after its non-recurrent inputs
    order = [line.split()[0] for line in lines[2:]]
    for edge in graph.edges():
        if not edge.recurrent:
            assert order.index(edge.src) < order.index(edge.dst)
    assert repr(graph) == f"<Graph @cuba: {len(graph)} nodes, dt=0.001>"


def test_graph_html_has_one_row_per_node() -> None:
    graph = lif_graph(0)
    html = graph._repr_html_()
    assert html.count("<tr>") == len(graph) + 1  # and the header
    assert "<td>snn.lif</td>" in html


def test_compile_report_html_shows_each_section() -> None:
    report = compiler.compile(lif_graph(0), target="xylo-audio2").report
    html = report._repr_html_()
    for section in ("passes", "ops", "resources", "fidelity", "energy per inference"):
        assert f"<b>{section}" in html
    for timing in report.timings:
        assert html_escape(timing.pass_spec) in html
    assert re.fullmatch(
        r"<CompileReport xylo-audio2: 3 nodes, 8 passes in [0-9.e-]+ s>", repr(report)
    )


def test_yield_report_summaries() -> None:
    report = YieldReport(
        seeds=(1, 2, 3, 4),
        accuracy=np.array([0.9, 0.8, 0.85, 0.95]),
        reference=0.9,
        reference_source="ideal chip",
        tolerance=0.05,
    )
    assert repr(report) == (
        "<YieldReport 4 chips: mean 87.50%, min 80.00%, 75.0% within 5% of 90.00%>"
    )
    assert str(report).splitlines()[2] == f"{'mean accuracy':<32} 87.50%"
    html = report._repr_html_()
    assert html.count("<tr>") == 6
    assert "<pre>" in html
