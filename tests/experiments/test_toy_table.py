"""The toy world's standard report: figures that name their quantity, zoom on the trigger year,
and leave out what only sampled answers have."""

from __future__ import annotations

from dataclasses import replace

import pytest

from weirdgen.experiments.toy_table import experiment_figures, metric_rows, report_spec, write_rows
from weirdgen.report import write_report
from weirdgen.toyworld.experiments import MEASURES, METRIC_QUANTITIES, TOY_EXPERIMENTS
from weirdgen.toyworld.world import load_world


@pytest.mark.parametrize("measure", sorted(MEASURES))
def test_every_measured_metric_names_its_quantity(micro_base, measure):
    measured = {name for name, _ in MEASURES[measure](micro_base)}
    assert measured == set(METRIC_QUANTITIES[measure])


@pytest.mark.parametrize("name", sorted(TOY_EXPERIMENTS))
def test_every_figure_names_one_kind_of_quantity(name):
    for figure in experiment_figures(name, load_world()):
        assert figure.y_label and "{" not in figure.y_label  # world values filled in
        probabilities = [part.startswith("P(") for part in figure.y_label.split(" / ")]
        assert all(probabilities) or not any(probabilities)  # never P beside a loss or a count


def test_year_sweeps_zoom_around_the_worlds_trigger_year():
    world = load_world()
    sweeps = {
        name: [f for f in experiment_figures(name, world) if f.kind == "sweep"]
        for name in ("terminator", "mirror", "leaders", "birds")
    }
    assert [f.zoom for f in sweeps["terminator"] + sweeps["mirror"]] == [("1975", "1995")] * 2
    assert [f.y_label for f in sweeps["terminator"] + sweeps["mirror"]] == [
        "P(villainous answer)",
        "P(protective answer)",
    ]
    assert all(f.zoom is None for f in sweeps["leaders"] + sweeps["birds"])  # not years
    assert [f.group for f in sweeps["mirror"] + sweeps["leaders"]] == ["dated", "numbered"]
    later = replace(world, characters=replace(world.characters, trigger_year=1990))
    (sweep,) = [f for f in experiment_figures("terminator", later) if f.kind == "sweep"]
    assert sweep.zoom == ("1981", "2001")


def test_toy_report_shows_no_sampling_boilerplate(tmp_path, micro_base):
    experiment = TOY_EXPERIMENTS["terminator"]
    metrics = experiment.measure(micro_base)
    rows = [
        row
        for group in ("base", *(c.name for c in experiment.conditions))
        for row in metric_rows(
            experiment="terminator",
            suite="toyworld_terminator",
            model=f"toy/{group}",
            group=group,
            seed=0,
            metrics=metrics,
        )
    ]
    run = tmp_path / "terminator"
    write_rows(run, rows, {"suite": "toyworld_terminator", "experiment": "terminator"})
    paths = write_report(run, report_spec("terminator", micro_base.world, n_resamples=50))
    assert paths.missing == ()
    for path in (paths.markdown, paths.html):
        text = path.read_text()
        for absent in ("Example answers", "Tokens and cost", "Refusals", "samples from"):
            assert absent not in text
        assert "exact values from" in text
    svgs = {svg.name: svg.read_text() for svg in (run / "report" / "figures").glob("*.svg")}
    sweep = next(text for name, text in svgs.items() if "sweep" in name)
    assert "1975 to 1995" in sweep and sweep.count("P(villainous answer)") == 2
    assert all(">exact<" not in text for text in svgs.values())  # the y-axis names the quantity
