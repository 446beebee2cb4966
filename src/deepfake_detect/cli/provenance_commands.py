"""`inspect`: every piece of provenance evidence each file carries, without scoring pixels."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.text import Text

from ..console import console, warn
from ..errors import ExitStatus, UserError
from .app import app
from .options import AllowNetworkOption, TrustDirOption, WatermarksOption, provenance_reader

SIGNAL_STYLES = {"generated": "red", "edited": "red", "tampered": "magenta", "capture": "green",
                 "info": "", "problem": "yellow"}


@app.command()
def inspect(
    paths: Annotated[list[str], typer.Argument(help="Images, folders (searched recursively) or .txt files listing paths")],
    trust_dir: TrustDirOption = None,
    allow_network: AllowNetworkOption = False,
    watermarks: WatermarksOption = False,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="table | jsonl (default: table)")] = None,
) -> int:
    """Print all provenance evidence per file: C2PA credentials (signer, generator, actions,
    validation state), IPTC/XMP source type, generator metadata, watermarks; and the verdict
    that evidence alone gives (pixels are not scored: use `predict` for both)."""
    from ..provenance import decide
    from .rows import collect_inputs, printable

    if fmt not in (None, "table", "jsonl"):
        raise UserError(f"--format must be table or jsonl, not '{fmt}'")
    reader = provenance_reader(trust_dir, allow_network, watermarks)
    inputs = collect_inputs(paths)
    for folder in inputs.empty_folders:
        warn(f"{folder}: no images found (looked for image suffixes, recursively)")
    missing = [p for p in inputs.paths if not Path(p).is_file()]
    if not inputs.paths or len(missing) == len(inputs.paths):
        named = f" ({missing[0]}: no such file)" if missing else ""
        raise UserError(f"nothing to inspect: no image files among the given paths{named}")
    out = Console(highlight=False, soft_wrap=True)  # the findings are the output: stdout
    for path in missing:
        warn(f"{path}: no such file")
    for path in inputs.paths:
        if path in missing:
            continue
        provenance = reader.read_path(path)
        decision = decide(None, 0.5, provenance)
        if fmt == "jsonl":
            sys.stdout.write(json.dumps({"path": printable(str(path)), "verdict": decision.verdict.value,
                                         "evidence": decision.evidence, "provenance": provenance.as_dict()},
                                        ensure_ascii=False) + "\n")
            sys.stdout.flush()
            continue
        out.print(Text(f"{printable(str(path))}  [{provenance.format or 'not an image'}]", style="bold"))
        for finding in provenance.findings:
            state = f" [{finding.state}]" if finding.state else ""
            out.print(Text(f"  {finding.signal.value:<9}{state} ", style=SIGNAL_STYLES[finding.signal.value])
                      + Text(finding.text))
        if not provenance.findings:
            out.print("  no provenance data (this proves nothing: most files carry none, and re-encoding strips it)")
        out.print(Text(f"  verdict from this evidence alone: {decision.verdict.value}", style="dim"))
    out.file.flush()
    trust = reader.describe()["trust_lists"]
    console.print(f"trust lists: {trust or 'none given (signers not checked; --trust-dir or DEEPFAKE_DETECT_TRUST_DIR)'}"
                  f"; network: {'allowed' if reader.allow_network else 'off'}", highlight=False)
    return ExitStatus.PARTIAL if missing else ExitStatus.OK
