"""The ``spikeforge`` command line.

::

    spikeforge import model.nir -o model.sfir [--dt 1e-3] [--convention snntorch]
        [--norse-tau dt-scaled|true]
    spikeforge import weights.pt --model-class mymodels:Net --input-shape 1,28,28 \
        -o model.sfir
    spikeforge opt model.sfir -p "canonicalize,dce" -o out.sfir
    spikeforge opt ann.sfir -p "fold-bn,ann-to-snn{timesteps=32}" --calibration x.npy
    spikeforge run model.sfir --input x.npy [--steps 32] [-o y.npy]
    spikeforge compile model.sfir --target reference -o build/
    spikeforge compile snn.sfir --target dynapse2 -o build/ --calibration x.npy \
        --labels y.npy -p "...,quantize-dynapse,retune{relative-std=0.2}"
    spikeforge yield build/ --data test.npz --chips 200 [--histogram yield.png]
    spikeforge run build/ --input x.npy [--steps N] [--chip N] [--no-align] [--raw]
    spikeforge passes [NAME] | spikeforge targets

Errors print one message (``spikeforge: error: ...``, with the source line and a caret
for syntax errors) and exit with status 1; ``--debug`` shows the traceback instead.
Global flags (``--debug``, ``--version``) go before or after the command.

The module imports only the standard library: ``--help``, ``--version``, ``passes``
and ``targets`` start without PyTorch or NumPy (the passes and targets are described
by ``compiler/catalog.json``); each command imports what it needs.
"""

from __future__ import annotations

import argparse
import functools
import io
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["main", "run_input"]

_ELIDE_ON_A_TERMINAL = 16
"""Tensors printed to a terminal show at most this many elements (``--elide-...``)."""
_NO_ELISION = -1  # --elide-tensors-larger-than none


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("spikeforge")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _registry_epilog() -> str:
    from compiler.catalog import pass_infos, target_infos

    try:
        passes = ", ".join(pass_infos())
        targets = ", ".join(target_infos())
    except Exception as err:  # a broken plugin must not break --help
        return f"(could not list passes and targets: {err})"
    return f"passes:  {passes}\ntargets: {targets}"


class _Parser(argparse.ArgumentParser):
    """The top-level parser: its epilog (the registry) is made only for --help."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = _registry_epilog()
        return super().format_help()


class _Version(argparse.Action):
    """``--version``: reads the installed version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest=argparse.SUPPRESS,
            default=argparse.SUPPRESS,
            nargs=0,
            help="show the version and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"spikeforge {_version()}")
        parser.exit()


def _global_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The flags every command takes, before or after the command's name.

    After the command they default to ``SUPPRESS``, so a flag given before the
    command is not reset by the command's parser.
    """
    default: Any = False if top else argparse.SUPPRESS
    parser.add_argument("--version", action=_Version)
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default,
        help="show tracebacks on errors",
    )


def _elide_arg(text: str) -> int:
    if text == "none":
        return _NO_ELISION
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of elements >= 0 or none, got {text!r}"
        )
    return value


def _pass_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spikeforge",
        description="Compile trained networks for neuromorphic hardware.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_flags(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, top=False)
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=argparse.ArgumentParser,  # no registry epilog on commands
    )

    def add(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], **kwargs
        )
        return command

    opt = add("opt", help="run a pass pipeline on a .sfir file")
    opt.add_argument("input", help=".sfir file, or - for standard input")
    opt.add_argument("-p", "--pipeline", default="", help='e.g. "canonicalize,dce"')
    opt.add_argument("-o", "--output", help="output .sfir (default: standard output)")
    opt.add_argument(
        "--print-ir-after-all", action="store_true", help="IR after each pass"
    )
    opt.add_argument(
        "--print-ir-before-all", action="store_true", help="IR before each pass"
    )
    for when in ("after", "before"):
        opt.add_argument(
            f"--print-ir-{when}",
            metavar="PASS",
            action="extend",
            type=_pass_names,
            default=[],
            help=f"IR {when} each run of this pass (repeat, or a comma list)",
        )
    opt.add_argument(
        "--elide-tensors-larger-than",
        metavar="N",
        type=_elide_arg,
        help="print tensors with more than N elements as "
        'blob<...> "__elided__" (readable, not parseable); default: '
        f"{_ELIDE_ON_A_TERMINAL} when printing to a terminal, none otherwise; "
        "files written with -o are never elided",
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

    imp = add("import", help="import a .nir or PyTorch .pt model to .sfir")
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
    imp.add_argument(
        "--norse-tau",
        choices=("dt-scaled", "true"),
        help="a Norse .nir's time constants: dt-scaled (Norse 1.1.0 wrote dt*tau) or "
        "true (other Norse versions); implies --convention norse; default: detected",
    )
    imp.add_argument(
        "--reset-delay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="snnTorch's reset_delay: subtract one step late (default) or, with "
        "--no-reset-delay, in the same step (.nir, convention snntorch)",
    )
    imp.add_argument(
        "--v-min",
        help="membrane floor of every spiking neuron: a number, -threshold (write "
        "--v-min=-threshold) or none (Sinabs' min_v_mem; .nir)",
    )

    run = add(
        "run",
        help="run a .sfir graph or a compiled build folder",
        description="Run a .sfir graph (reference interpreter) or a build folder "
        "(its chip emulator). A build takes the graph's own input: (batch, time, "
        "*input shape) spikes as 0/1 or integer counts, and returns the graph's "
        "outputs only, aligned in time with the float graph.",
    )
    run.add_argument("input", help=".sfir file, or a folder written by 'compile'")
    run.add_argument(
        "--input",
        dest="data",
        required=True,
        help=".npy (batch, time, *input shape), or .npz by input name",
    )
    run.add_argument(
        "--steps",
        type=int,
        help="run this many steps (an input with time 1 is held for all of them)",
    )
    run.add_argument(
        "--chip",
        type=int,
        help="builds: run the sampled (mismatched) chip N; default: the ideal chip "
        "(digital targets such as Xylo run every chip alike)",
    )
    run.add_argument(
        "--seed",
        type=int,
        help="builds: the same as --chip N (the chip instance), kept for scripts",
    )
    run.add_argument(
        "--no-align",
        action="store_true",
        help="builds: keep the chip's timing (outputs late by one step per hidden "
        "layer) instead of aligning them with the float graph",
    )
    run.add_argument(
        "--raw",
        action="store_true",
        help="builds: the chip's own I/O (every chip input channel as integer "
        "counts, every output channel, the chip's timing)",
    )
    run.add_argument("-o", "--output", help="write the output to this .npy")
    run.add_argument(
        "--plot",
        metavar="PNG",
        help="draw input, hidden and output spike rasters (first sample) into this "
        "image (needs spikeforge[plot])",
    )
    run.add_argument(
        "--record",
        action="store_true",
        help="record the neurons' internal states; with --plot, also draw membrane "
        "traces",
    )

    comp = add("compile", help="compile a .sfir graph for a target")
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
        "--strict",
        action="store_true",
        help="refuse, naming each difference, where the target's adapters would "
        "approximate the network's semantics (instead of warning)",
    )
    comp.add_argument(
        "--no-fidelity",
        action="store_true",
        help="skip the check of the ideal chip against the float graph",
    )
    comp.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars on stderr"
    )
    comp.add_argument(
        "--energy-figure",
        action="append",
        default=[],
        metavar="KIND=VALUE",
        help="your own energy figure, replacing the published one (repeatable; SI "
        "units): synaptic_event, spike, neuron_update (J per event), static_power "
        "(W), ann_mac (J per MAC of the ANN's reference accelerator)",
    )
    comp.add_argument(
        "--no-energy",
        action="store_true",
        help="skip the energy estimate per inference",
    )
    comp.add_argument(
        "--plot-placement",
        metavar="PNG",
        help="draw the cores (allocate-cores placement) into this image",
    )

    yld = add("yield", help="accuracy of a compiled build on many sampled chips")
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
        "-q", "--quiet", action="store_true", help="no progress bar on stderr"
    )
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

    passes = add(
        "passes",
        help="list the registered passes and their options",
        description="List the passes: each option's kind, default, choices and "
        "help. With NAME, that pass in full.",
    )
    passes.add_argument("name", nargs="?", metavar="NAME", help="one pass, in full")
    add("targets", help="list the registered targets")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_plugin_warnings(warnings.showwarning)
            return int(_COMMANDS[args.command](args))
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        if getattr(args, "debug", False):
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


def _show_plugin_warnings(show: Any) -> Any:
    """``warnings.showwarning`` that prints a broken plugin as one line."""

    def shown(message: Any, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if category.__name__ == "PluginWarning":
            print(f"spikeforge: warning: {message}", file=sys.stderr)
        else:
            show(message, category, *rest, **kw)

    return shown


def _is_user_error(err: Exception) -> bool:
    # NOTE: an error of one of these classes means its module is loaded already;
    # importing the others here would pull in PyTorch to print one line.
    user_errors: list[type] = [OSError, ValueError]
    for module, name in (
        ("ir.errors", "IRError"),
        ("compiler.errors", "CompileError"),
        ("backends.base", "TargetError"),
        ("frontends.errors", "FrontendError"),
    ):
        loaded = sys.modules.get(module)
        if loaded is not None:
            user_errors.append(getattr(loaded, name))
    return isinstance(err, tuple(user_errors))


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
    elide = _elision(args, sys.stderr)
    manager = PassManager(
        Pipeline.parse(args.pipeline),
        verify=not args.no_verify,
        print_ir_after_all=args.print_ir_after_all,
        print_ir_after=args.print_ir_after,
        print_ir_before=args.print_ir_before,
        print_ir_before_all=args.print_ir_before_all,
        elide_tensors_larger_than=elide,
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
        text = ir.to_text(result, elide_larger_than=_elision(args, sys.stdout))
        sys.stdout.write(text)
    return 0


def _elision(args: argparse.Namespace, stream: Any) -> int | None:
    """``--elide-tensors-larger-than``, else a limit when ``stream`` is a terminal."""
    given = args.elide_tensors_larger_than
    if given is not None:
        return None if given == _NO_ELISION else int(given)
    isatty = getattr(stream, "isatty", None)
    return _ELIDE_ON_A_TERMINAL if isatty is not None and isatty() else None


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
        if any(d < 1 for d in shape):
            raise ValueError(
                f"--input-shape {args.input_shape!r}: every dimension must be >= 1"
            )
    if Path(args.input).suffix.lower() == ".nir" and Path(args.input).is_file():
        import warnings

        from frontends.nir import from_nir_info

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph, info = from_nir_info(
                args.input,
                dt=args.dt,
                reset=args.reset,
                convention=args.convention,
                norse_tau=args.norse_tau,
                reset_delay=args.reset_delay,
                v_min=_v_min_arg(args.v_min),
            )
        for w in caught:
            print(f"spikeforge: warning: {w.message}", file=sys.stderr)
        print(f"{args.input}: {info.describe()}", file=sys.stderr)
    else:
        if args.norse_tau is not None:
            raise ValueError("--norse-tau applies to .nir files only")
        graph = import_file(
            args.input,
            input_shape=shape,
            dt=args.dt,
            reset=args.reset,
            convention=args.convention,
            reset_delay=args.reset_delay,
            v_min=_v_min_arg(args.v_min),
            model_class=args.model_class,
            trusted=args.trust_pickle,
        )
    ir.save(graph, args.output)
    print(f"imported {args.input}: {len(graph)} nodes -> {args.output}")
    return 0


def _v_min_arg(text: str | None) -> float | str | None:
    """``--v-min``: a number, or a name the NIR frontend checks."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _load_array(path: str) -> Any:
    """An ``.npy`` array, or an ``.npz``'s arrays by name; errors name the file."""
    import zipfile

    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise OSError(f"{path}: no such file") from None
    except EOFError:
        raise ValueError(f"{path}: the file is empty, expected .npy or .npz") from None
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npy or .npz file ({err})") from None
    return data


def _load_npz(path: str, keys: Sequence[str]) -> list[np.ndarray]:
    """The arrays ``keys`` of the ``.npz`` at ``path``; errors name the file."""
    data = _load_array(path)
    need = ", ".join(repr(k) for k in keys)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a single .npy array; expected an .npz with {need}")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ValueError(
            f"{path}: needs arrays {need}, has {', '.join(map(repr, data)) or 'none'}"
        )
    return [data[k] for k in keys]


def run_input(path: str) -> Any:
    """Read a ``spikeforge run`` input file and check every array in it.

    The one input check of ``spikeforge run``, for a graph and a build folder alike:
    each array must pass :func:`ir.check_input` (real numbers, finite, at least one
    sample and one time step); the error names the file (and the array of an
    ``.npz``). A chip's emulator checks, in addition, that it gets spike counts.
    """
    from ir import check_input

    data = _load_array(path)
    if isinstance(data, dict):
        if not data:
            raise ValueError(f"{path}: the .npz holds no arrays")
        for key, value in data.items():
            check_input(value, source=f"{path}[{key!r}]")
        return data
    check_input(data, source=path)
    return data


def _cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    import ir
    from ir.inputs import check_steps

    steps = None if args.steps is None else check_steps(args.steps, source="--steps")
    inputs = run_input(args.data)
    source = Path(args.input)
    if args.chip is not None and args.seed is not None and args.chip != args.seed:
        raise ValueError(f"--chip {args.chip} and --seed {args.seed} disagree")
    chip = args.chip if args.chip is not None else args.seed
    if args.record and not args.plot:
        raise ValueError("--record: the recorded states are drawn with --plot PNG")
    rasters: dict[str, Any] = {}
    membranes: dict[str, Any] = {}
    if source.is_dir():
        outputs = _run_build(source, inputs, args, chip)
        if args.plot:
            rasters, membranes = _build_panels(source, inputs, outputs, args, chip)
    else:
        flags = [
            name
            for name, given in (
                ("--chip/--seed", chip is not None),
                ("--no-align", args.no_align),
                ("--raw", args.raw),
            )
            if given
        ]
        if flags:
            raise ValueError(
                f"{', '.join(flags)}: only for a build folder; {args.input} is a "
                "graph (run by the reference interpreter)"
            )
        graph = _read_graph(args.input)
        if args.plot:
            outputs, recording = ir.interpret(graph, inputs, steps=steps, record=True)
            rasters, membranes = _graph_panels(graph, recording, args.record)
        else:
            outputs = ir.interpret(graph, inputs, steps=steps)
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
    if args.plot:
        _plot_run(rasters, membranes, args.plot)
    return 0


def _graph_panels(
    graph: Any, recording: Any, record: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rasters (inputs, spiking nodes, outputs) and membrane traces (``v`` of each
    neuron node, with ``--record``) of an interpreted graph, in dependency order."""
    rasters: dict[str, Any] = {}
    membranes: dict[str, Any] = {}
    outputs = set(graph.outputs())
    for name in graph.topo_order():
        states = recording.get(name, {})
        if "output" not in states:
            continue
        neuron = "v" in states
        if name in graph.inputs() or name in outputs or neuron:
            rasters[name] = states["output"]
        if record and neuron:
            membranes[f"{name} v"] = states["v"]
    return rasters, membranes


def _build_panels(
    source: Path, inputs: Any, outputs: Any, args: argparse.Namespace, chip: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rasters of a build's run: the chip's input channels, its hidden neurons and
    the outputs; membrane traces with ``--record``. Hidden neurons and states come
    from the chip emulator's own recording (Xylo ``run(record=True)``, Dynap-SE2
    ``DynapseEmulator.run(record=True)``); a target without one draws input and
    output only, and says so."""
    import numpy as np

    from backends import get_target, graph_emulator

    target = get_target(str(_read_json(source / "config.json").get("target")))
    config = target.load_config(source)
    seed = chip if chip is not None or hasattr(target, "graph_emulator") else 0
    if not args.raw and hasattr(target, "graph_emulator"):
        shaped: Any = graph_emulator(target, config, chip=chip)
        raster = shaped.chip_raster(inputs, steps=args.steps)
        raw = shaped.raw
    else:
        raw = target.emulator(config, seed=seed)
        raster = np.asarray(inputs)
    rasters: dict[str, Any] = {"chip input": raster}
    membranes: dict[str, Any] = {}
    hidden, states = _chip_recording(raw, raster)
    if hidden is None:
        print(
            f"spikeforge: note: the {target.name} emulator records no hidden "
            "neurons; the picture shows input and output only",
            file=sys.stderr,
        )
    else:
        rasters["hidden"] = hidden
        if args.record:
            membranes.update(states)
    for name, arr in _as_numpy(outputs).items():
        rasters[name] = arr
    return rasters, membranes


def _chip_recording(raw: Any, raster: Any) -> tuple[Any, dict[str, Any]]:
    """``(hidden spikes, {name: states})`` from a chip emulator's recording, or
    ``(None, {})`` when it has none this CLI knows."""
    inner = getattr(raw, "emulator", None)  # Dynap-SE2: DynapseChip.emulator
    if inner is not None and hasattr(inner, "run"):
        got = inner.run(raster, record=True)
        if getattr(got, "imem", None) is not None:
            # (chips, batch, time, neurons): the one chip of this run
            return got.spikes[0].numpy(), {"imem (A)": got.imem[0].numpy()}
    import inspect

    if "record" in inspect.signature(raw.run).parameters:
        result = raw.run(raster, record=True)
        if isinstance(result, tuple) and len(result) == 2:
            states = result[1]
            if isinstance(states, dict) and "Spikes" in states:
                return states["Spikes"], {
                    k: states[k] for k in ("Vmem", "Vmem_out") if k in states
                }
    return None, {}


def _plot_run(rasters: dict[str, Any], membranes: dict[str, Any], path: str) -> None:
    import numpy as np

    from spikeforge.plot import overview

    drawable: dict[str, Any] = {}
    for name, value in rasters.items():
        arr = _as_numpy(value)["output"]
        if arr.size and (np.any(arr < 0) or np.any(arr != np.round(arr))):
            print(
                f"spikeforge: note: '{name}' holds analog values, not spikes; "
                "not drawn as a raster",
                file=sys.stderr,
            )
            continue
        drawable[name] = arr
    traces = {k: _as_numpy(v)["output"] for k, v in membranes.items()}
    try:
        overview(drawable, traces, path=path)
    except ImportError as err:  # no matplotlib: one line naming the extra
        raise ValueError(f"--plot: {err}") from None
    print(f"wrote {path}")


def _run_build(source: Path, inputs: Any, args: argparse.Namespace, chip: Any) -> Any:
    import numpy as np

    import ir
    from backends import get_target, graph_emulator

    meta = _read_json(source / "config.json")
    target = get_target(str(meta.get("target")))
    config = target.load_config(source)
    if not args.raw and hasattr(target, "graph_emulator"):
        from backends.graph_io import GraphIOError

        shaped: Any = graph_emulator(target, config, chip=chip)
        try:
            return shaped.run(inputs, steps=args.steps, align=not args.no_align)
        except GraphIOError as err:  # name the input file
            raise GraphIOError(f"{args.data}: {err}") from None
    # The chip's own I/O (or a plugin target without graph_emulator, whose
    # emulator defines its I/O): --steps holds a one-step input here.
    # NOTE: seed None is the ideal chip of a target with graph_emulator (the
    # protocol's meaning); an older plugin's emulator takes an int seed.
    seed = chip if chip is not None or hasattr(target, "graph_emulator") else 0
    emulator = target.emulator(config, seed=seed)
    if args.steps is not None:
        x = np.asarray(inputs)
        if x.ndim < 2 or x.shape[1] not in (1, args.steps):
            raise ValueError(
                f"input has shape {x.shape}; --steps {args.steps} needs time 1 or "
                f"{args.steps}"
            )
        inputs = np.repeat(x, args.steps // x.shape[1], axis=1)
    try:
        return emulator.run(inputs)
    except ir.InputError as err:  # the emulator's spike check: name the file
        raise ir.InputError(err.detail, source=args.data, index=err.index) from None


def _as_numpy(outputs: Any) -> dict[str, np.ndarray]:
    import numpy as np

    if isinstance(outputs, dict):
        return {str(k): _as_numpy(v)["output"] for k, v in outputs.items()}
    if hasattr(outputs, "detach"):
        return {"output": outputs.detach().cpu().numpy()}
    return {"output": np.asarray(outputs)}


def _read_json(path: Path) -> dict[str, Any]:
    from backends.jsonfile import read_json_object

    if not path.is_file():
        raise OSError(f"{path}: no such file (is {path.parent} a 'compile' output?)")
    return read_json_object(path, error=ValueError)


def _progress_from_flags(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Run ``command`` with progress bars off under ``--quiet`` (else on a terminal
    only: ``compiler.progress``)."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        from compiler.progress import progress_mode

        with progress_mode("off" if getattr(args, "quiet", False) else "auto"):
            return command(args)

    return run


@_progress_from_flags
def _cmd_compile(args: argparse.Namespace) -> int:
    from compiler.api import FidelityWarning
    from compiler.api import compile as compile_graph
    from compiler.energy import parse_figures
    from compiler.errors import AdapterWarning

    figures = parse_figures(args.energy_figure)  # fails before any work
    if figures and args.no_energy:
        raise ValueError("--energy-figure and --no-energy: choose one")
    graph = _read_graph(args.input)
    inputs: dict[str, Any] = {}
    if args.calibration:
        inputs["calibration"] = _load_array(args.calibration)
    if args.labels:
        inputs["labels"] = _load_array(args.labels)
    if args.plot_placement:
        from compiler.passes.allocate_cores import core_model_of

        # Fails before anything is written: a target without cores has no placement.
        model = core_model_of(args.target)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FidelityWarning)
        warnings.simplefilter("always", AdapterWarning)
        result = compile_graph(
            graph,
            args.target,
            pipeline=args.pipeline,
            strict=args.strict,
            fidelity=not args.no_fidelity,
            energy=False if args.no_energy else (figures or True),
            **inputs,
        )
    for warning in caught:
        if issubclass(warning.category, (FidelityWarning, AdapterWarning)):
            print(f"spikeforge: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if args.plot_placement:
        from compiler.allocation.plot import plot_placement

        # NOTE: drawn before the build is written, so that a failing plot (no
        # placement, no matplotlib) leaves no build behind.
        plot_placement(result.graph, model, args.plot_placement)
    result.config.save(args.output)
    print(result.report)
    print(f"wrote {args.output}")
    if args.plot_placement:
        print(f"wrote {args.plot_placement}")
    return 0


@_progress_from_flags
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
    from ir import check_input

    x, y = _load_npz(args.data, ("x", "y"))
    check_input(x, source=f"{args.data}['x']")
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
    from compiler.catalog import pass_infos

    infos = pass_infos()
    if args.name is not None:
        if args.name not in infos:
            raise ValueError(f"unknown pass '{args.name}'; passes: {', '.join(infos)}")
        print(_pass_in_full(infos[args.name]))
        return 0
    for info in infos.values():
        print(f"{info.name:<20} {info.summary}")
        for option in info.options:
            print(f"{'':<4}{_option_line(option)}")
        if info.inputs:
            print(f"{'':<4}inputs: {', '.join(info.inputs)}")
    return 0


def _option_line(option: Any) -> str:
    """``name=default  kind: help`` for one option (a ``catalog.OptionInfo``)."""
    default = "(required)" if option.default is None else option.default
    text = f"{option.name}={default}"
    kind = option.kind
    helped = f"{kind}; {option.help}" if option.help else kind
    return f"{text:<28} {helped}" if len(text) < 28 else f"{text}  {helped}"


def _pass_in_full(info: Any) -> str:
    """``spikeforge passes NAME``: a ``catalog.PassInfo`` in full."""
    lines = [f"{info.name}: {info.summary}", ""]
    rest = info.description.split("\n", 1)[1:] if info.description else []
    if rest and rest[0].strip():
        lines += [rest[0].strip().replace("``", ""), ""]
    lines.append("options:" if info.options else "options: none")
    for option in info.options:
        default = "(required)" if option.default is None else option.default
        lines.append(f"  {option.name}: {option.kind}, default {default}")
        if option.choices:
            lines.append(f"      choices: {', '.join(option.choices)}")
        if option.help:
            lines.append(f"      {option.help}")
    if info.inputs:
        lines.append(f"inputs: {', '.join(info.inputs)}")
    lines.append(f"defined in: {info.module}")
    example = " ".join(
        f"{o.name}={o.default}" for o in info.options[:2] if o.default is not None
    )
    lines.append(
        f'example: spikeforge opt in.sfir -p "{info.name}'
        + (f"{{{example}}}" if example else "")
        + '"'
    )
    return "\n".join(lines)


def _cmd_targets(args: argparse.Namespace) -> int:
    from compiler.catalog import target_infos

    for info in target_infos().values():
        print(f"{info.name:<20} {info.description}")
        print(f"{'':<22}pipeline: {info.default_pipeline}")
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
