"""Commands over experiment runs: `grid`, `report`, `demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..console import console
from ..errors import UserError
from .app import app
from .options import CacheOption, out_option


@app.command()
def grid(
    config: Annotated[Path, typer.Argument(help="YAML config naming datasets, transforms, backbones, reductions, classifiers")],
    out: Annotated[Optional[Path], out_option("Run folder (default: runs/CONFIG_NAME)")] = None,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Parallel processes (default: cores)")] = None,
    cache: CacheOption = None,
) -> None:
    """Run every combination in CONFIG; resumable; writes results.csv/.parquet and the report."""
    from ..grid.config import load_config

    settings = load_config(config)  # validated before anything heavy is imported
    from ..grid import run_grid

    if cache:
        settings = settings.model_copy(update={"cache": str(cache)})
    run_dir = out or Path("runs") / config.stem
    run_grid(settings, run_dir, jobs)
    announce_report(run_dir)
    print_notice(settings.notice)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A grid or fine-tune run folder")],
    metric: Annotated[str, typer.Option(help="Metric that ranks methods")] = "auc",
) -> None:
    """(Re)write report.html and report.md for a run folder."""
    from ..report import load_results, write_report
    from ..runs.folder import RESULTS_CSV

    if not (run_dir / RESULTS_CSV).exists():
        raise UserError(f"{run_dir}: no {RESULTS_CSV} (not a run folder?)")
    html, markdown = write_report(run_dir, metric=metric)
    print_best(load_results(run_dir), metric)
    console.print(f"report: {html}\nsummary: {markdown}")


def announce_report(run_dir: Path) -> None:
    """Write the run's report (a failure only warns: the results are on disk) and say where it is."""
    from ..report import write_report_safely

    html = write_report_safely(run_dir)
    if html is not None:
        console.print(f"report: {html}", highlight=False)


def print_notice(notice: str | None) -> None:
    """The config's caveat (the demo's "toy data"), last, where the eye lands after a run."""
    if notice:
        console.print(f"[bold yellow]{escape(notice)}[/]", highlight=False, soft_wrap=True)


def print_best(results, metric: str = "auc", n: int = 8) -> None:
    from ..report import best_rows

    best = best_rows(results, metric=metric, n=n)
    if best.empty:
        return
    columns = ["backbone", "transform", "reduction", "classifier", "test_dataset"]
    table = Table(*[c.replace("_dataset", "") for c in columns], metric, "accuracy", title="best within-dataset combinations")
    for _, row in best.iterrows():
        table.add_row(*[str(row[c]) for c in columns], f"{row[metric]:.3f}", f"{row['accuracy']:.3f}")
    console.print(table)


DEMO_NOTICE = (
    "Toy data: 64 px crops of a few scikit-image photographs against the same crops passed through a "
    "simulated up-sampler. Near-perfect scores here show the pipeline works, not that any detector "
    "works on real photographs or real generators (for that, see the README's Generalization section)."
)


@app.command()
def demo(
    out: Annotated[Path, out_option("Run folder")] = Path("runs/demo"),
    full: Annotated[bool, typer.Option("--full", help="The full demo grid: every classifier and reduction, two "
                                       "transforms, 100 images per class (minutes, not seconds)")] = False,
    jobs: Annotated[Optional[int], typer.Option(min=1)] = None,
    cache: CacheOption = None,
    per_class: Annotated[Optional[int], typer.Option(min=10, help="Images per class per simulated generator (default: 40; --full: 100)")] = None,
) -> None:
    """Build the offline demo set (photo crops vs simulated up-sampling) and run a small grid on it: toy data."""
    from ..grid.config import GridConfig
    from ..data.demo import make_demo_dataset
    from ..grid import run_grid
    from ..report import load_results

    per_class = per_class or (100 if full else 40)
    data = make_demo_dataset(out / "data", per_class=per_class)
    console.print(f"demo data: {data} (64 px crops of scikit-image photos; fakes: simulated decoder up-sampling)")
    settings = GridConfig.model_validate(demo_config(data, cache, full))
    run_grid(settings, out, jobs)
    announce_report(out)
    print_best(load_results(out))
    print_notice(settings.notice)


def demo_config(data: Path, cache: Path | None, full: bool = False) -> dict:
    """The demo's grid: by default seconds on 2 cores with every section of the report (best
    combinations, generalization, heatmaps, ROC curves, robustness); `full` is the wide grid."""
    datasets = {"tconv": str(data / "tconv"), "upsample_conv": str(data / "upsample_conv")}
    common = {"datasets": datasets, "cache": str(cache) if cache else None, "notice": DEMO_NOTICE}
    if full:
        return {**common,
                "backbones": ["efficientnet_lite0", "fft_spectrum"],
                "transforms": ["none", "blur"],
                "reductions": {"none": {}, "pca": {"n_components": 32}, "autoencoder": {"bottleneck": 32, "max_epochs": 40}},
                "classifiers": "all",
                "protocols": {
                    "within": {"test_size": 0.3, "seeds": [0]},
                    "cross": True,
                    "robustness": {"jpeg": [100, 60, 30], "blur": [0, 2], "downscale": [0.5], "datasets": ["tconv"], "top": 2},
                },
                "bootstrap": 200}
    return {**common,
            "backbones": ["efficientnet_lite0", "fft_spectrum"],
            "transforms": ["none"],
            "reductions": {"none": {}, "pca": {"n_components": 16}},
            "classifiers": ["linear_probe", "svm_rbf", "random_forest"],
            "protocols": {
                "within": {"test_size": 0.3, "seeds": [0]},
                "cross": True,
                "robustness": {"jpeg": [60], "blur": [2], "downscale": [0.5], "datasets": ["tconv"], "top": 2},
            },
            "bootstrap": 100}
