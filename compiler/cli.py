"""The ``spikeforge`` command line.

::

    spikeforge import model.nir -o model.sfir [--dt 1e-3] [--convention snntorch]
    spikeforge import weights.pt --model-class mymodels:Net --input-shape 1,28,28 \
        -o model.sfir
    spikeforge opt model.sfir -p "canonicalize,dce" -o out.sfir
    spikeforge opt ann.sfir -p "fold-bn,ann-to-snn{timesteps=32}" --calibration x.npy
    spikeforge run model.sfir --input x.npy [--steps 32] [-o y.npy]
    spikeforge compile model.sfir --target reference -o build/
    spikeforge compile snn.sfir --target dynapse2 -o build/ --calibration x.npy \
        --labels y.npy -p "...,quantize-dynapse,retune{relative-std=0.2}"
    spikeforge yield build/ --data test.npz --chips 200 [--histogram yield.png]
    spikeforge run build/ --input x.npy
    spikeforge passes | spikeforge targets

Errors print one message (``spikeforge: error: ...``, with the source line and a caret
for syntax errors) and exit with status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]


def _version() -> str:
    try:
        return metadata.version("spikeforge")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _registry_epilog() -> str:
    from backends import available_targets
    from compiler.registry import available_passes

    try:
        passes = ", ".join(available_passes())
        targets = ", ".join(available_targets())
    except Exception as err:  # a broken plugin must not break --help
        return f"(could not list passes and targets: {err})"
    return f"passes:  {passes}\ntargets: {targets}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeforge",
        description="Compile trained networks for neuromorphic hardware.",
        epilog=_registry_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"spikeforge {_version()}"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    opt = sub.add_parser("opt", help="run a pass pipeline on a .sfir file")
    opt.add_argument("input", help=".sfir file, or - for standard input")
    opt.add_argument("-p", "--pipeline", default="", help='e.g. "canonicalize,dce"')
    opt.add_argument("-o", "--output", help="output .sfir (default: standard output)")
    opt.add_argument(
        "--print-ir-after-all", action="store_true", help="IR after each pass"
    )
    opt.add_argument(
        "--time-passes", action="store_true", help="print each pass's time"
    )
    opt.add_argument("--no-verify", action="store_true", help="skip verification")
    opt.add_argument(
        "--calibration", help=".npy samples (N, *input_shape) for passes that take them"
    )
    opt.add_argument(
        "--labels", help=".npy classes (N,) of the calibration samples (retune)"
    )
    opt.add_argument(
        "--inline-limit",
        type=int,
        default=None,
        help="arrays above this many elements go to the sidecar .npz (with -o)",
    )

    imp = sub.add_parser("import", help="import a .nir or PyTorch .pt model to .sfir")
    imp.add_argument(
        "input", help="model.nir, model.pt (state dict or TorchScript; see README)"
    )
    imp.add_argument("-o", "--output", required=True, help="output .sfir")
    imp.add_argument(
        "--model-class",
        metavar="MODULE:CLASS",
        help="load a .pt state dict into this nn.Module class, e.g. mymodels:Net",
    )
    imp.add_argument(
        "--trust-pickle",
        action="store_true",
        help="unpickle a whole pickled module (runs code from the file: only for "
        "files you made or trust)",
    )
    imp.add_argument(
        "--input-shape", help="one sample's shape without batch, e.g. 1,28,28 (.pt)"
    )
    imp.add_argument("--dt", type=float, help="time step in seconds (.nir)")
    imp.add_argument("--reset", choices=("subtract", "zero"), help="reset mode (.nir)")
    imp.add_argument(
        "--convention",
        help="exporter convention of a .nir file (snntorch, rockpool, sinabs, norse, exact)",
    )

    run = sub.add_parser("run", help="run a .sfir graph or a compiled build folder")
    run.add_argument("input", help=".sfir file, or a folder written by 'compile'")
    run.add_argument(
        "--input", dest="data", required=True, help=".npy (batch, time, ...)"
    )
    run.add_argument(
        "--steps", type=int, help="hold a one-step input for this many steps"
    )
    run.add_argument("--seed", type=int, default=0, help="chip instance (emulators)")
    run.add_argument("-o", "--output", help="write the output to this .npy")

    comp = sub.add_parser("compile", help="compile a .sfir graph for a target")
    comp.add_argument("input", help=".sfir file")
    comp.add_argument("-t", "--target", required=True, help="see 'spikeforge targets'")
    comp.add_argument(
        "-o", "--output", required=True, help="folder for the configuration"
    )
    comp.add_argument("-p", "--pipeline", help="replace the target's default pipeline")
    comp.add_argument("--calibration", help=".npy calibration data for the passes")
    comp.add_argument(
        "--labels", help=".npy classes (N,) of the calibration samples (retune)"
    )
    comp.add_argument(
        "--plot-placement",
        metavar="PNG",
        help="draw the cores (allocate-cores placement) into this image",
    )

    yld = sub.add_parser(
        "yield", help="accuracy of a compiled build on many sampled chips"
    )
    yld.add_argument("build", help="folder written by 'spikeforge compile'")
    yld.add_argument(
        "--data", required=True, help=".npz with 'x' (N, T, *input) and 'y' (N,)"
    )
    yld.add_argument("--chips", type=int, default=100, help="chips to sample")
    yld.add_argument(
        "--relative-std",
        type=float,
        help="mismatch of the sampled chips, relative (default: the target's, 0.1)",
    )
    yld.add_argument("--seed", type=int, default=1, help="first chip's mismatch seed")
    yld.add_argument(
        "--tolerance", type=float, default=0.02, help="allowed accuracy drop"
    )
    yld.add_argument(
        "--reference",
        type=float,
        help="the float model's accuracy (default: ideal chip)",
    )
    yld.add_argument("--histogram", metavar="PNG", help="write the histogram here")
    yld.add_argument(
        "--batch", type=int, default=32, help="chips per batched run (per dask task)"
    )
    yld.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="run the batches here one after another (local), or as dask tasks "
        "(needs spikeforge[distributed]); same accuracies either way",
    )
    yld.add_argument(
        "--dask-scheduler",
        choices=("threads", "processes", "synchronous"),
        help="with --engine dask: dask's local scheduler (default: dask's own)",
    )

    sub.add_parser("passes", help="list the registered passes and their options")
    sub.add_parser("targets", help="list the registered targets")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if args.debug:
            raise
        if not _is_user_error(err):
            print(
                f"spikeforge: internal error: {type(err).__name__}: {err} "
                "(run with --debug for the traceback)",
                file=sys.stderr,
            )
            return 2
        print(f"spikeforge: error: {err}", file=sys.stderr)
        return 1


def _is_user_error(err: Exception) -> bool:
    from backends import TargetError
    from compiler.errors import CompileError
    from frontends.errors import FrontendError
    from ir import IRError

    user_errors = (
        IRError,
        CompileError,
        TargetError,
        FrontendError,
        OSError,
        ValueError,
    )
    return isinstance(err, user_errors)


def _read_graph(path: str) -> Any:
    import ir

    if path == "-":
        return ir.parse(sys.stdin.read(), source_name="<stdin>")
    if not Path(path).is_file():
        raise OSError(f"{path}: no such file")
    return ir.load(path)


def _cmd_opt(args: argparse.Namespace) -> int:
    import ir
    from compiler.pass_manager import PassManager
    from compiler.pipeline import Pipeline

    if args.output:
        ir.serialize.check_save_path(args.output)  # before any work
    graph = _read_graph(args.input)
    manager = PassManager(
        Pipeline.parse(args.pipeline),
        verify=not args.no_verify,
        print_ir_after_all=args.print_ir_after_all,
    )
    inputs: dict[str, Any] = {}
    if args.calibration:
        inputs["calibration"] = _load_array(args.calibration)
    if args.labels:
        inputs["labels"] = _load_array(args.labels)
    result = manager.run(graph, **inputs)
    if args.time_passes:
        total = sum(t.seconds for t in manager.timings)
        print(f"{'pass':<40} {'ms':>10}", file=sys.stderr)
        for t in manager.timings:
            print(f"{t.pass_spec:<40} {t.seconds * 1e3:>10.2f}", file=sys.stderr)
        print(f"{'total':<40} {total * 1e3:>10.2f}", file=sys.stderr)
    if args.output:
        limit = (
            ir.serialize.DEFAULT_INLINE_LIMIT
            if args.inline_limit is None
            else args.inline_limit
        )
        ir.save(result, args.output, inline_limit=limit)
    else:
        sys.stdout.write(ir.to_text(result))
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    import ir
    from frontends.files import import_file

    ir.serialize.check_save_path(args.output)  # before any work
    shape = None
    if args.input_shape:
        try:
            shape = tuple(int(d) for d in args.input_shape.split(","))
        except ValueError:
            raise ValueError(
                f"--input-shape {args.input_shape!r}: expected integers like 1,28,28"
            ) from None
    graph = import_file(
        args.input,
        input_shape=shape,
        dt=args.dt,
        reset=args.reset,
        convention=args.convention,
        model_class=args.model_class,
        trusted=args.trust_pickle,
    )
    ir.save(graph, args.output)
    print(f"imported {args.input}: {len(graph)} nodes -> {args.output}")
    return 0


def _load_array(path: str) -> Any:
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            return {k: data[k] for k in data.files}
    return data


def _cmd_run(args: argparse.Namespace) -> int:
    import ir

    inputs = _load_array(args.data)
    source = Path(args.input)
    if source.is_dir():
        from backends import get_target

        meta = _read_json(source / "config.json")
        target = get_target(str(meta.get("target")))
        emulator = target.emulator(target.load_config(source), seed=args.seed)
        outputs = emulator.run(inputs)
    else:
        outputs = ir.interpret(_read_graph(args.input), inputs, steps=args.steps)
    arrays = _as_numpy(outputs)
    if args.output:
        from ir.serialize import atomic_write

        buffer = io.BytesIO()
        if len(arrays) == 1:
            np.save(buffer, next(iter(arrays.values())))
        else:
            savez: Any = np.savez  # numpy's stub types **kwargs as its flags
            savez(buffer, **arrays)
        atomic_write(args.output, buffer.getvalue())
    for name, arr in arrays.items():
        print(f"{name}: shape {tuple(arr.shape)}")
        if not args.output:
            print(np.array2string(arr, precision=4, threshold=200, suppress_small=True))
    return 0


def _as_numpy(outputs: Any) -> dict[str, np.ndarray]:
    if isinstance(outputs, dict):
        return {str(k): _as_numpy(v)["output"] for k, v in outputs.items()}
    if hasattr(outputs, "detach"):
        return {"output": outputs.detach().cpu().numpy()}
    return {"output": np.asarray(outputs)}


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        raise OSError(
            f"{path}: no such file (is {path.parent} a 'compile' output?)"
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}:{err.colno}: {err.msg}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return value


def _cmd_compile(args: argparse.Namespace) -> int:
    from compiler.api import compile as compile_graph

    graph = _read_graph(args.input)
    inputs: dict[str, Any] = {}
    if args.calibration:
        inputs["calibration"] = _load_array(args.calibration)
    if args.labels:
        inputs["labels"] = _load_array(args.labels)
    result = compile_graph(graph, args.target, pipeline=args.pipeline, **inputs)
    result.config.save(args.output)
    print(result.report)
    print(f"wrote {args.output}")
    if args.plot_placement:
        from compiler.allocation.plot import plot_placement
        from compiler.passes.allocate_cores import core_model_of

        plot_placement(result.graph, core_model_of(args.target), args.plot_placement)
        print(f"wrote {args.plot_placement}")
    return 0


def _cmd_yield(args: argparse.Namespace) -> int:
    from backends import get_target
    from compiler.chip_yield import chip_yield, histogram, histogram_text

    source = Path(args.build)
    meta = _read_json(source / "config.json")
    target = get_target(str(meta.get("target")))
    config = target.load_config(source)
    if args.relative_std is not None:
        import dataclasses

        if not hasattr(target, "relative_std"):
            raise ValueError(
                f"--relative-std: target '{target.name}' has no mismatch (a digital "
                "chip); every chip runs alike"
            )
        if not args.relative_std >= 0:
            raise ValueError(f"--relative-std must be >= 0, got {args.relative_std}")
        target = dataclasses.replace(target, relative_std=args.relative_std)  # type: ignore[type-var]
    try:
        with np.load(args.data, allow_pickle=False) as data:
            x, y = data["x"], data["y"]
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{args.data}: needs arrays 'x' and 'y' ({err})") from None
    report = chip_yield(
        target,
        config,
        x,
        y,
        chips=args.chips,
        seed=args.seed,
        tolerance=args.tolerance,
        reference=args.reference,
        batch=args.batch,
        engine=args.engine,
        dask_scheduler=args.dask_scheduler,
    )
    print(report)
    print()
    print(histogram_text([("chips", report)]))
    if args.histogram:
        histogram([(target.name, report)], args.histogram)
        print(f"wrote {args.histogram}")
    return 0


def _cmd_passes(args: argparse.Namespace) -> int:
    from compiler.registry import available_passes

    for name, cls in available_passes().items():
        print(f"{name:<20} {cls.summary()}")
        for option, kind in cls.options().items():
            print(f"{'':<22}{option.replace('_', '-')}: {kind.describe()}")
        if cls.inputs:
            print(f"{'':<22}inputs: {', '.join(cls.inputs)}")
    return 0


def _cmd_targets(args: argparse.Namespace) -> int:
    from backends import available_targets, get_target

    for name in available_targets():
        target = get_target(name)
        print(f"{name:<20} {target.description}")
        print(f"{'':<22}pipeline: {target.default_pipeline}")
    return 0


_COMMANDS = {
    "import": _cmd_import,
    "opt": _cmd_opt,
    "run": _cmd_run,
    "compile": _cmd_compile,
    "yield": _cmd_yield,
    "passes": _cmd_passes,
    "targets": _cmd_targets,
}


if __name__ == "__main__":
    sys.exit(main())
