"""Commands about generalizing to new generators: a published `reference` detector to compare
against, and `adapt` a network detector to a new generator with a few of its images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..console import console, warn
from ..errors import ExitStatus, UserError
from .app import app, start_line
from .options import DataRootOption, out_option


@app.command()
def reference(
    name: Annotated[str, typer.Argument(help="Reference network (ferretnet_s)")],
    output: Annotated[Path, out_option("Detector folder to create")],
    weights: Annotated[str, typer.Option(help="The published checkpoint file (offline), or 'random' for a seeded twin (tests)")] = "",
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Verdict 'fake' above this probability (published: 0.5)")] = 0.5,
) -> int:
    """Make a detector folder from a published detector's checkpoint, to compare against ours.

    ferretnet_s: ferretnet-s-median-3.pth from https://github.com/xigua7105/FerretNet
    (checkpoints/4cls_ckpt/), Apache-2.0. Nothing is downloaded: give the file with --weights.
    """
    from ..convert.checkpoint import make_reference_detector
    from ..backbones.reference_networks import reference_network

    network = reference_network(name)
    if not weights:
        raise UserError(f"give --weights FILE: {network.source} (or --weights random for a random twin)")
    folder = make_reference_detector(name, weights, output, threshold)
    console.print(f"{network.title} ({network.license}) saved as a detector in [bold]{folder}[/]")
    return ExitStatus.OK


def _ks(text: str) -> list[int]:
    try:
        ks = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--curve {text!r}: give counts separated by commas, e.g. 1,5,10,50,100") from None
    if not ks or min(ks) < 1:
        raise UserError(f"--curve {text!r}: every count must be 1 or more")
    return ks


@app.command()
def adapt(
    detector: Annotated[Path, typer.Argument(help="Network detector folder (kind finetune or reference), or 'builtin'")],
    fakes: Annotated[Path, typer.Option("--fakes", help="Folder of images of the new generator")],
    output: Annotated[Path, out_option("The adapted detector folder (with --curve: the run folder)")],
    reals: Annotated[Optional[Path], typer.Option("--reals", help="Folder of real photographs; then the threshold is recalibrated on them")] = None,
    k: Annotated[Optional[int], typer.Option("-k", min=1, help="Use only the first k images (seeded shuffle) of each folder")] = None,
    curve: Annotated[Optional[str], typer.Option("--curve", help="Counts K1,K2,... : measure AUC on --test against k (1,5,10,50,100)")] = None,
    test: Annotated[Optional[str], typer.Option("--test", help="With --curve: the test set (reals and fakes of the new generator)")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Optimizer steps")] = 30,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate")] = 1e-4,
    l2sp: Annotated[float, typer.Option("--l2sp", min=0.0, help="Pull toward the original weights (keeps behaviour on reals)")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the sampling and the steps")] = 0,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the AUC interval (--curve)")] = 200,
    data_root: DataRootOption = None,
) -> int:
    """Update a network detector with a few images of a new generator (few-shot adaptation)."""
    from ..adapt import AdaptSettings, adapt_detector, few_shot_curve
    from ..data.walk import image_files
    from ..detector.builtin import detector_folder

    detector = detector_folder(detector)

    settings = AdaptSettings(steps=steps, lr=lr, l2sp=l2sp, seed=seed)
    fake_paths, real_paths = image_files(fakes), image_files(reals) if reals else []
    if not fake_paths:
        raise UserError(f"{fakes}: no images found")
    if (curve is None) != (test is None):
        raise UserError("--curve and --test go together: the counts to try and the set to measure on")
    start_line(f"adapt: {detector} on {len(fake_paths)} fakes and {len(real_paths)} reals, {steps} steps -> {output} "
             "(loading the detector)", [detector])
    if curve is not None:
        from ..data import load_dataset
        from ..report import write_report_safely

        test_set = load_dataset(test, data_root)
        table = few_shot_curve(detector, fake_paths, test_set, _ks(curve), output, real_paths, settings, bootstrap, warn)
        for _, row in table.iterrows():
            console.print(f"k={int(row['level']):>4}: AUC {row['auc']:.3f} on {int(row['n_test'])} test images", highlight=False)
        html = write_report_safely(output)
        if html is not None:
            console.print(f"report: {html}", highlight=False)
        return ExitStatus.OK
    import numpy as np

    if k is not None:
        rng = np.random.default_rng(seed)
        fake_paths = [fake_paths[i] for i in rng.permutation(len(fake_paths))[:k]]
        real_paths = [real_paths[i] for i in rng.permutation(len(real_paths))[:k]]
    adapted = adapt_detector(detector, fake_paths, real_paths, output, settings, warn)
    console.print(f"adapted on {adapted.n_fakes} fakes and {adapted.n_reals} reals "
                  f"(threshold {adapted.threshold:.3f}) -> [bold]{adapted.path}[/]")
    return ExitStatus.PARTIAL if adapted.skipped else ExitStatus.OK
