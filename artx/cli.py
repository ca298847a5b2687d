"""The ``artx`` command: list plugins and reproductions, run reproductions, label digits.

Exit codes: 0 success, 1 a run failed, 2 bad arguments (with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from artx import __version__

PRESETS = ("quick", "paper")


class _UsageError(Exception):
    """Bad command-line input; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (not the whole usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from artx.registry import KINDS

    parser = _Parser(
        prog="artx", description="artx: plugin-based extensions of the Adversarial Robustness Toolbox (ART)."
    )
    parser.add_argument("--version", action="version", version=f"artx {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)")
    # -v also after the command (artx reproduce NAME -v); counted together with the one before it
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", dest="sub_verbose", action="count", default=0, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    plugins = commands.add_parser(
        "plugins",
        parents=[verbose],
        help="list installed plugins",
        description=(
            "List plugins found through entry points (kind, name, distribution, version) without importing them; "
            "--check imports each one and adds its status and one-line description."
        ),
    )
    plugins.add_argument("--kind", choices=sorted(KINDS), help="only this kind of plugin")
    plugins.add_argument("--check", action="store_true", help="import every plugin: status (ok/broken) and description")

    commands.add_parser(
        "reproductions",
        parents=[verbose],
        help="list the reproductions: paper, presets, data, expected wall time",
        description="List every installed reproduction with its paper, its presets, the data each needs and the "
        "wall time of the committed paper-preset run (docs/results, on 2 CPU cores) where there is one.",
    )

    report = commands.add_parser(
        "report",
        parents=[verbose],
        help="build the static HTML report of the committed results",
        description="Write one HTML page per reproduction (ours beside the paper, cell by cell, claims, notes, "
        "figures) and an index, from RESULTS/<name>/results.json.",
    )
    report.add_argument("--results", default="docs/results", help="folder of results (default: docs/results)")
    report.add_argument("--out", default="docs/report", help="output folder (default: docs/report)")

    reproduce = commands.add_parser(
        "reproduce",
        parents=[verbose],
        help="reproduce a paper's tables and figures",
        description="Run a reproduction plugin and write results.json, table.md and figures to OUT/NAME/.",
    )
    reproduce.add_argument("name", help="reproduction name (see 'artx reproductions')")
    reproduce.add_argument(
        "--preset",
        choices=PRESETS,
        default="quick",
        help="quick: offline, embedded data, minutes; paper: full data (default: quick)",
    )
    reproduce.add_argument("--seeds", type=_positive_int, help="number of seeds (default: the preset's)")
    reproduce.add_argument(
        "--data-dir", help="folder with full MNIST/Fashion-MNIST in torchvision's layout (default: $ARTX_DATA_DIR)"
    )
    reproduce.add_argument("--out", default="results", help="output folder (default: results)")
    reproduce.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    reproduce.add_argument(
        "--labels", help="human labels CSV (index,label) for reproductions that relabel data, e.g. from 'artx relabel'"
    )
    reproduce.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    reproduce.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="run the reproduction's units on N local processes (default: 1)",
    )
    reproduce.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the units as Ray tasks: on a local Ray instance, or on the cluster at ADDRESS (needs artx[ray])",
    )
    reproduce.add_argument(
        "--threads-per-unit",
        type=_positive_int,
        default=1,
        help="torch threads of each unit, the same on every engine so results are identical (default: 1)",
    )
    reproduce.add_argument(
        "--fresh", action="store_true", help="recompute every unit (default: reuse units a killed run finished)"
    )

    relabel = commands.add_parser(
        "relabel",
        parents=[verbose],
        help="label distorted digits by hand (terminal)",
        description=(
            "Show each distorted training image in the terminal and record the digit you read in it. Keys: 0-9 "
            "label, s skip (not identifiable), u undo, q quit. The CSV (index,label) is written after every key; run "
            "again to resume. Pass the file to 'artx reproduce minimal-dataset --labels FILE'. The images are the same "
            "seeded draw the reproduction uses."
        ),
    )
    relabel.add_argument("--dataset", default="mnist", help="mnist, fashion-mnist or mnist-5k (default: mnist)")
    relabel.add_argument("--data-dir", help="folder with full datasets (default: $ARTX_DATA_DIR)")
    relabel.add_argument(
        "--count",
        type=_positive_int,
        default=5000,
        help="number of training images to label (default: 5000, the paper's)",
    )
    relabel.add_argument(
        "--seed", type=int, default=0, help="seed of the draw of images (default: 0, as the reproduction)"
    )
    relabel.add_argument(
        "--transform",
        default="minimal-dataset",
        help="preprocessor plugin that distorts the images (default: minimal-dataset)",
    )
    relabel.add_argument(
        "--out",
        default="modified-mnist-labels.csv",
        help="CSV file to write and resume (default: modified-mnist-labels.csv)",
    )
    return parser


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    table = [header, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _cmd_plugins(args: argparse.Namespace) -> int:
    from artx.registry import list_plugins

    rows = list_plugins(args.kind, load_plugins=args.check)
    if args.check:
        header = ("KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS", "DESCRIPTION")
        _print_table(header, [(r.kind, r.name, r.distribution, r.version, r.status, r.description) for r in rows])
    else:
        header = ("KIND", "NAME", "DISTRIBUTION", "VERSION")
        _print_table(header, [(r.kind, r.name, r.distribution, r.version) for r in rows])
    for row in rows:
        if row.error:
            print(f"{row.status}: {row.kind}/{row.name}: {row.error}", file=sys.stderr)
    if not rows:
        print("no plugins found", file=sys.stderr)
    return 0


def _cmd_reproductions(args: argparse.Namespace) -> int:
    from artx import registry
    from artx.reproduction import committed_run

    for name in registry.names("reproduction"):
        try:
            reproduction = registry.create("reproduction", name)
        except (registry.PluginLoadError, TypeError) as error:
            print(f"{name}: broken ({error})", file=sys.stderr)
            continue
        print(f"{name}: {reproduction.title}")
        for preset_name, preset in reproduction.presets.items():
            datasets = ", ".join(reproduction.datasets(preset))
            offline = "offline" if set(reproduction.datasets(preset)) <= {"mnist-5k"} else "needs --data-dir"
            run = committed_run(name, preset_name)
            timing = "no committed run"
            if run:
                over = (
                    f" (over several invocations, {run['resumed_units']} unit(s) resumed)"
                    if run["resumed_units"]
                    else ""
                )
                timing = f"{run['minutes']:.0f} min on {run['threads']}{over}"
            print(f"  --preset {preset_name}: {preset.seeds} seed(s), {datasets} ({offline}); {timing}")
            print(f"      {preset.description}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from artx.report import build_report

    try:
        pages = build_report(args.results, args.out)
    except ValueError as error:
        raise _UsageError(f"artx report: {error}") from None
    print(f"wrote {len(pages)} pages to {args.out}/ (open {pages[0]})")
    return 0


def _progress_line(line: str) -> None:
    """A reproduction's progress, on stderr (stdout carries the results table), flushed at once
    so that a pipe or a log file shows a long run is alive."""
    print(line, file=sys.stderr, flush=True)


def _cmd_reproduce(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from artx import registry
    from artx.reproduction import run_reproduction
    from artx.validation import resolve_device

    try:
        reproduction = registry.load("reproduction", args.name)
        if args.device != "cpu":
            try:
                resolve_device(args.device)
            except ValueError:
                raise ValueError(
                    f"--device {args.device}: torch sees no CUDA device here (or the name is not cpu/cuda/cuda:N); "
                    "use --device cpu"
                ) from None
        if args.data_dir is not None and not os.path.isdir(args.data_dir):
            raise ValueError(
                f"--data-dir {args.data_dir!r} is not a folder; it must hold MNIST/raw/ and/or FashionMNIST/raw/ "
                "with the idx files (see the README's 'Full datasets')"
            )
        if args.labels is not None and not getattr(reproduction, "accepts_labels", False):
            raise ValueError(f"--labels: reproduction {args.name!r} takes no labels file")
        if args.labels is not None and not os.path.isfile(args.labels):
            raise ValueError(f"--labels must be an existing CSV file (index,label); got {args.labels!r}")
    except (registry.PluginNotFoundError, ValueError) as error:
        raise _UsageError(f"artx reproduce: {error}") from None
    from artx.data import CorruptDatasetError, DatasetNotFoundError
    from artx.engines import EngineError, UnitError
    from artx.relabel import LabelsFileError
    from artx.results import OutputError

    try:
        results = run_reproduction(
            args.name,
            preset=args.preset,
            seeds=args.seeds,
            data_dir=args.data_dir,
            out_dir=args.out,
            device=args.device,
            command="artx " + " ".join(shlex.quote(a) for a in argv),
            labels=args.labels,
            report=None if args.quiet else _progress_line,
            workers=args.workers,
            ray=args.ray is not None,
            ray_address=None if args.ray in (None, "local") else args.ray,
            threads_per_unit=args.threads_per_unit,
            resume=not args.fresh,
        )
    except OutputError as error:  # checked before any work: a usage problem
        raise _UsageError(f"artx reproduce: --out: {error}") from None
    except EngineError as error:
        raise _UsageError(f"artx reproduce: {error}") from None
    except UnitError as error:  # finished units are kept: rerunning the command resumes
        print(f"artx reproduce {args.name}: {error} (finished units are kept; rerun to resume)", file=sys.stderr)
        return 1
    except (
        DatasetNotFoundError,
        CorruptDatasetError,
        LabelsFileError,
    ) as error:  # a user's setup problem: no traceback
        print(f"artx reproduce {args.name}: {error}", file=sys.stderr)
        return 1
    print(results.markdown())
    written = ["results.json", "table.md", *sorted(results.figures)]
    print(f"{results.claim_summary()} ({results.wall_seconds / 60:.1f} min). Wrote to {results.out_dir}/:")
    for name in written:
        print(f"  {name}")
    return 0


def _cmd_relabel(args: argparse.Namespace) -> int:
    from artx import data, registry
    from artx.relabel import disjoint_subsets, read_single_key, relabel_interactive

    try:
        if args.dataset not in data.DATASETS:
            raise ValueError(f"--dataset must be one of {', '.join(data.DATASETS)}; got {args.dataset!r}")
        transform = registry.create("preprocessor", args.transform)
        x, _ = data.load(args.dataset, "train", data_dir=args.data_dir)
        (indices,) = disjoint_subsets(len(x), [args.count], seed=args.seed)
    except (registry.PluginNotFoundError, registry.PluginLoadError, ValueError, TypeError) as error:
        raise _UsageError(f"artx relabel: {error}") from None
    except (data.DatasetNotFoundError, data.CorruptDatasetError) as error:
        print(f"artx relabel: {error}", file=sys.stderr)
        return 1
    distorted, _ = transform(x[indices])
    labels = relabel_interactive(distorted, indices, args.out, read=read_single_key)
    print(f"{len(labels)}/{len(indices)} labelled in {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        verbosity = args.verbose + getattr(args, "sub_verbose", 0)
        logging.basicConfig(
            level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)],
            format="%(levelname)s %(name)s: %(message)s",
        )
        # ART logs its own success rates ("Success rate of FGM attack: 0.00%") by its own
        # definitions, which read as contradicting artx's tables: only at -vv.
        logging.getLogger("art").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
        if args.command == "plugins":
            return _cmd_plugins(args)
        if args.command == "reproductions":
            return _cmd_reproductions(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "reproduce":
            return _cmd_reproduce(args, argv)
        if args.command == "relabel":
            return _cmd_relabel(args)
        parser.print_help()
        return 2
    except _UsageError as error:
        print(str(error), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
