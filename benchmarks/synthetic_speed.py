"""Speed of the synthetic scene generator: KITTI-size (1242x375) scenes with right and previous frames.

    taskset -c 0 python -m benchmarks.synthetic_speed [--num 100] [--write]

Renders `num` scenes with data.synthetic.render_scene (left, right, previous frame and all ground truth) and prints
seconds and scenes per second; --write instead times write_dataset("kitti", ...), i.e. rendering plus the PNGs.
Pin it to one core (taskset) for the one-core figure; numpy here is single-threaded either way.
"""
import argparse
import tempfile
import time

from data.synthetic import render_scene, write_dataset


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.synthetic_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=100, help="scenes to render (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="time write_dataset('kitti') instead of render_scene")
    args = parser.parse_args(argv)
    render_scene(args.seed, 96, 320)  # warm-up: texture tiles, imports
    start = time.perf_counter()
    if args.write:
        with tempfile.TemporaryDirectory() as out:
            write_dataset("kitti", out, args.num, args.seed, progress=False)
            seconds = time.perf_counter() - start
        what = "rendered and written as a KITTI tree"
    else:
        for index in range(args.num):
            render_scene([args.seed, index])
        seconds = time.perf_counter() - start
        what = "rendered (left + right + previous, 1242x375)"
    print(f"{args.num} scenes {what} in {seconds:.1f} s: {args.num / seconds:.2f} scenes/s")


if __name__ == "__main__":
    main()
