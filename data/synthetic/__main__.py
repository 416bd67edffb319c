"""Command line: python -m data.synthetic --layout kitti --out DIR --num N --seed S [options]."""
import argparse
import sys

from data.synthetic.layouts import DEFAULT_SCALE, LAYOUTS, write_dataset


def _image_size(text):
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 256x512, got {text!r}") from None
    return height, width


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m data.synthetic",
        description="Render synthetic driving scenes (stereo pair, previous frame, depth/disparity, semantic "
                    "labels, motion masks, 2D/3D boxes) and write them in a dataset's official on-disk layout.")
    parser.add_argument("--layout", required=True, choices=LAYOUTS, help="dataset layout to write")
    parser.add_argument("--out", required=True, help="output root folder (the dataset root for the readers)")
    parser.add_argument("--num", type=int, default=20, help="number of scenes/frames (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, default=None,
                      help="image size relative to the native camera (defaults: "
                           + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_SCALE.items()) + ")")
    size.add_argument("--image-size", type=_image_size, default=None, metavar="HxW", help="e.g. 256x512")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share written to val (cityscapes, synthia)")
    parser.add_argument("--motion-dir", default="motion",
                        help="folder for motion masks of kitti/cityscapes/synthia, relative to --out (default motion)")
    parser.add_argument("--vary-size", action="store_true", help="kitti: vary camera and size by recording day")
    parser.add_argument("--overwrite", action="store_true", help="replace a tree written with other parameters")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        out = write_dataset(args.layout, args.out, args.num, args.seed, scale=args.scale, image_size=args.image_size,
                            val_fraction=args.val_fraction, motion_dir=args.motion_dir, vary_size=args.vary_size,
                            overwrite=args.overwrite, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, OSError) as error:
        parser.error(str(error))
    print(f"{args.layout} tree with {args.num} scenes in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
