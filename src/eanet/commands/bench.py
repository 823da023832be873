"""``eanet bench``: speed of inference, training and data loading, CPU latency, memory; agreement of the fast paths.

    eanet bench --out bench.json                                      # everything this machine can measure
    eanet bench --sections cpu-latency --cpu-threads 1,2 --out cpu.json
    eanet bench --quick                                               # tiny network: checks every path runs
"""

from __future__ import annotations

import argparse
import sys

_EPILOG = """\
sections:
  inference    full model (network + hand-model layers) at --batch-sizes: fp32 reference, TF32, bf16 autocast,
               bf16 weights, channels-last, unfused vs fused attention, torch.compile, CUDA graphs (GPU)
  train-step   forward + losses + backward + Adam at --train-batch-size, data on the device and fed by the real
               data pipeline (GPU)
  data         the data pipeline alone: CPU time per sample, loader throughput, projection to 16 cores
  cpu-latency  batch 1 on the CPU: PyTorch eager (unoptimised) vs the fast paths (ONNX Runtime fp32/int8, ...),
               interleaved in one process
  memory       weights and peak memory of inference and of a training step

Every fast path is compared with the exact fp32 reference on synthetic test crops (mean joint / max vertex
difference, mm; bounds: fp32 paths <= 0.1 mm, bf16 paths mean joint <= 0.5 mm and max vertex <= 2 mm). Without
--checkpoint the model is trained for --train-steps steps on synthetic data first (agreement needs real weights).
Synthetic data and ONNX exports are cached in --cache-dir. GPU sections print "not measured" without CUDA.

examples:
  eanet bench --out runs/bench-h100.json --cache-dir /tmp/eanet-bench
  eanet bench --sections inference --batch-sizes 1,32,128 --compile-mode default
  eanet bench --sections cpu-latency,memory --cpu-threads 1,2 --cpu-repeats 9 --out runs/bench-cpu.json
  eanet bench --checkpoint runs/eanet/best.safetensors --sections cpu-latency
"""


def register(sub: argparse._SubParsersAction) -> None:
    from eanet.cli import DEVICE_HELP, add_config_arguments, add_renamed_option

    parser = sub.add_parser(
        "bench",
        help="benchmark inference, training, data loading and CPU latency; check the fast paths' agreement",
        description="Measure EANet's speed on this machine (medians of repeated, synchronised runs after warm-up) "
        "and how closely every fast path reproduces the fp32 reference. Prints a table naming the machine and the "
        "library versions; --out writes every number to a JSON file.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sections", default="all", help="comma-separated sections, or all (default)")
    parser.add_argument("--checkpoint", help="trained .safetensors checkpoint (default: the configuration's init)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--batch-sizes", default="1,32,128", help="inference batch sizes (default 1,32,128)")
    parser.add_argument("--train-batch-size", type=int, default=32, help="training-step batch (default 32)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up calls per GPU measurement (default 5)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per GPU measurement (default 20)")
    parser.add_argument("--cpu-repeats", type=int, default=7, help="interleaved rounds of cpu-latency (default 7)")
    parser.add_argument("--cpu-threads", help="comma-separated CPU thread counts (default: 1 and all usable cores)")
    parser.add_argument("--train-steps", type=int, default=20,
                        help="Adam steps on synthetic data before measuring, without --checkpoint (default 20)")  # fmt: skip
    parser.add_argument("--agreement-samples", type=int, default=16, help="synthetic crops for agreement (16)")
    parser.add_argument("--compile-mode", default="max-autotune-no-cudagraphs",
                        choices=("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"),
                        help="torch.compile mode of the compiled GPU variants")  # fmt: skip
    parser.add_argument("--cpu-compile", action="store_true", help="also time torch.compile on the CPU (slow)")
    parser.add_argument("--cpu-bf16", action="store_true", help="also time bf16 on a CPU without bf16 instructions")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime paths")
    parser.add_argument("--data-workers", type=int, help="data-loader workers (default: usable cores - 1, <= 16)")
    parser.add_argument("--data-batches", type=int, default=20, help="batches timed through the data loader")
    parser.add_argument("--cache-dir", dest="work_dir",
                        help="cache for synthetic data and ONNX exports (default: temporary)")  # fmt: skip
    parser.add_argument("--out", dest="json_path", help="write all results to this JSON file")
    add_renamed_option(parser, "--json", "--out", example="eanet bench --out bench.json")
    add_renamed_option(parser, "--work-dir", "--cache-dir", example="eanet bench --cache-dir /tmp/eanet-bench")
    parser.add_argument("--quick", action="store_true", help="tiny network, few repeats: checks the code paths run")
    parser.add_argument("--omp-wait-policy", default="auto", choices=("auto", "passive", "active", "inherit"),
                        help="OpenMP wait policy of this process; auto: passive unless OMP_WAIT_POLICY is set or torch "
                        "is already loaded. With it set, cpu-latency also times PyTorch in the default environment "
                        "in a child process")  # fmt: skip
    add_config_arguments(parser, default="eanet")
    parser.set_defaults(func=run)


def _ints(text: str, flag: str) -> tuple[int, ...]:
    from eanet.cli import CommandError

    try:
        values = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise CommandError(f"{flag} must be positive integers separated by commas, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    import os

    from eanet.cli import CommandError

    policy = args.omp_wait_policy
    if policy == "auto":
        policy = "inherit" if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ else "passive"
    if policy != "inherit":
        if "torch" in sys.modules:
            raise CommandError(f"--omp-wait-policy {policy} must be set before torch is imported; use auto or inherit")
        # Read once by the OpenMP runtime when torch loads. Passive waits: on a machine whose cores are shared, spinning
        # threads wait for descheduled peers (docs/speed.md). cpu-latency still times the default in a child process.
        os.environ["OMP_WAIT_POLICY"] = policy.upper()

    from eanet.bench import SECTIONS, BenchOptions, format_report, run_bench, write_json

    sections = SECTIONS if args.sections == "all" else tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise CommandError(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)} or all")
    quick = args.quick
    options = BenchOptions(
        sections=sections,
        config=args.config,
        overrides=tuple(args.overrides),
        checkpoint=args.checkpoint,
        device=args.device,
        batch_sizes=(1, 2) if quick and args.batch_sizes == "1,32,128" else _ints(args.batch_sizes, "--batch-sizes"),
        train_batch_size=args.train_batch_size,
        warmup=min(args.warmup, 1) if quick else args.warmup,
        repeats=min(args.repeats, 2) if quick else args.repeats,
        cpu_repeats=min(args.cpu_repeats, 2) if quick else args.cpu_repeats,
        cpu_threads=_ints(args.cpu_threads, "--cpu-threads") if args.cpu_threads else None,
        train_steps=min(args.train_steps, 2) if quick else args.train_steps,
        agreement_samples=min(args.agreement_samples, 4) if quick else args.agreement_samples,
        compile_mode=args.compile_mode,
        cpu_compile=args.cpu_compile,
        cpu_bf16=args.cpu_bf16,
        onnx=not args.no_onnx,
        data_workers=args.data_workers,
        data_batches=args.data_batches,
        work_dir=args.work_dir,
        json_path=args.json_path,
        quick=quick,
    )
    results = run_bench(options)
    sys.stdout.write(format_report(results))
    if args.json_path:
        path = write_json(results, args.json_path)
        sys.stdout.write(f"wrote {path}\n")
    return 0
