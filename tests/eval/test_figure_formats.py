"""Figures for a paper: the suffix picks the format (PDF / SVG are vector files), a style restyles them,
and the report offers summary.parquet as Parquet."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest
from matplotlib.figure import Figure

from devcurriculum.eval import plots
from devcurriculum.workflow import PARQUET_MIMETYPE, register_report_types

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}


def _figure() -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [0, 1], label="a line")
    return fig


@pytest.mark.parametrize("suffix", sorted(MAGIC))
def test_the_suffix_picks_the_format(tmp_path, suffix) -> None:
    path = plots.save_figure(_figure(), tmp_path / f"fig{suffix}")
    data = path.read_bytes()
    assert data.startswith(MAGIC[suffix]), data[:20]
    if suffix == ".svg":
        assert b"<svg" in data[:2000]
    assert not list(tmp_path.glob(".fig*")), "no temp file left behind"


@pytest.mark.parametrize("suffix", [".pdf", ".svg"])
def test_vector_files_do_not_stamp_the_time(tmp_path, suffix) -> None:
    first = plots.save_figure(_figure(), tmp_path / f"a{suffix}").read_bytes()
    second = plots.save_figure(_figure(), tmp_path / f"b{suffix}").read_bytes()
    assert first == second


def test_an_unknown_suffix_is_refused_naming_the_known_ones(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"fig\.tiff: unknown figure format '\.tiff'.*\.pdf.*\.svg"):
        plots.save_figure(_figure(), tmp_path / "fig.tiff")


def test_the_stage_curves_can_be_written_as_pdf(tmp_path) -> None:
    summary = pd.DataFrame({
        "model": "videomae", "curriculum": "mixed", "seed": 0, "after_stage": [0, 1], "benchmark": "digits",
        "readout": "linear", "metric": "top1_accuracy", "value": [0.5, 0.7],
    })
    out = plots.plot_stage_curves(summary, tmp_path / "stage_curves.pdf", chance={"digits": 0.1})
    assert out.read_bytes().startswith(b"%PDF-")


def test_a_style_file_restyles_the_figures_inside_its_block(tmp_path) -> None:
    style = tmp_path / "paper.mplstyle"
    style.write_text("font.size: 17\nlines.linewidth: 3.5\n")
    default = matplotlib.rcParams["font.size"]
    with plots.figure_style(style):
        assert matplotlib.rcParams["font.size"] == 17
        fig = _figure()
        assert fig.axes[0].lines[0].get_linewidth() == 3.5
    assert matplotlib.rcParams["font.size"] == default
    with plots.figure_style(None):
        assert matplotlib.rcParams["font.size"] == default


def test_an_unknown_style_is_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"evaluation\.figure_style: 'no-such-style' is neither"), \
            plots.figure_style("no-such-style"):
        pass


def test_the_report_offers_parquet_as_parquet() -> None:
    from snakemake.report.common import mime_from_file

    register_report_types()
    assert mime_from_file("results/summary.parquet")[0] == PARQUET_MIMETYPE
