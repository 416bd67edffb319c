"""`python -m models`: builds every network of the five papers at 224x384 and prints its parameter count.
`--summary CALL` prints one model's Keras summary. (The papers' printed counts beside ours: `python -m
reproduce.parameters`.)"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def model_table():
    """(builder call, builder) rows; models are built one at a time, when a row's builder is called."""
    import models as m

    return [
        ("build_segnet(12)", lambda: m.build_segnet(12)),
        ("build_segnet(13)", lambda: m.build_segnet(13)),
        ("build_auxnet(12)", lambda: m.build_auxnet(12)),
        ("build_auxnet(13)", lambda: m.build_auxnet(13)),
        ("build_fusenet(12)", lambda: m.build_fusenet(12)),
        ("build_fusenet(13)", lambda: m.build_fusenet(13)),
        ("build_msnet2(12)", lambda: m.build_msnet2(12)),
        ("build_msnet2(13)", lambda: m.build_msnet2(13)),
        ("build_rnnet2(12)", lambda: m.build_rnnet2(12)),
        ("build_rnnet2(13)", lambda: m.build_rnnet2(13)),
        ('build_multitask({"segmentation": 20})', lambda: m.build_multitask({"segmentation": 20})),
        ('build_multitask({"depth": 1})', lambda: m.build_multitask({"depth": 1})),
        ('build_multitask({"motion": 2})', lambda: m.build_multitask({"motion": 2})),
        ("build_multinet_pp(frames=1)", lambda: m.build_multinet_pp(frames=1)),
        ("build_multinet_pp()", lambda: m.build_multinet_pp()),
        ("build_detseg(3, 19)", lambda: m.build_detseg(3, 19)),
        ("build_selfsup()", lambda: m.build_selfsup()),
    ]


def main(argv=None):
    from models.cli import add_import_argument, import_modules

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", metavar="BUILDER_CALL", help="print the Keras summary of one row, e.g. "
                        "'build_multinet_pp()'")
    add_import_argument(parser)
    args = parser.parse_args(argv)
    import_modules(args.imports)
    rows = model_table()
    if args.summary:
        matches = [build for call, build in rows if call == args.summary]
        if not matches:
            parser.error(f"--summary must be one of: {', '.join(call for call, _ in rows)}")
        matches[0]().summary(expand_nested=False)
        return
    print("Parameter counts at 224x384x3, weights=None")
    print("| builder | parameters |")
    print("|---|---|")
    for call, build in rows:
        print(f"| `{call}` | {build().count_params():,} |")


if __name__ == "__main__":
    main()
