"""Per-frame latency at batch 1 on CPU: SegNet vs naive 2-frame MultiNet++ vs streaming MultiNet++.

    python -m benchmarks.streaming_latency [--frames 20] [--height 224 --width 384]

The three are timed round-robin, frame by frame, in one process, so load from other work on the machine hits
all of them alike. Reports the median per-frame latency and the ratio to SegNet (target: streaming <= 1.15x).
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20, help="timed frames per model (after 3 warm-up frames)")
    parser.add_argument("--height", type=int, default=224)
    parser.add_argument("--width", type=int, default=384)
    args = parser.parse_args(argv)

    import models
    from models.streaming import StreamingPredictor

    shape = (args.height, args.width, 3)
    segnet = models.build_segnet(20, input_shape=shape)
    multinet = models.build_multinet_pp(input_shape=shape)
    streaming = StreamingPredictor(multinet)
    frames = np.random.default_rng(0).uniform(0, 255, (args.frames + 4,) + shape).astype("float32")

    runners = {
        "SegNet (1 frame, segmentation)": lambda t: segnet.predict_on_batch(frames[t:t + 1]),
        "MultiNet++ naive (encoder on both frames)": lambda t: multinet.predict_on_batch(
            {"image": frames[t:t + 1], "previous_image": frames[t - 1:t]}),
        "MultiNet++ streaming (cached previous features)": lambda t: streaming.step(frames[t]),
    }
    times = {name: [] for name in runners}
    for t in range(1, args.frames + 4):
        for name, run in runners.items():
            start = time.perf_counter()
            run(t)
            if t > 3:
                times[name].append(time.perf_counter() - start)

    base = np.median(times["SegNet (1 frame, segmentation)"])
    print(f"Per-frame latency, batch 1, {args.height}x{args.width}, CPU ({os.cpu_count()} cores), "
          f"median of {args.frames} frames")
    print("| model | median ms | x SegNet |")
    print("|---|---|---|")
    for name, values in times.items():
        median = np.median(values)
        print(f"| {name} | {median * 1000:.1f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
