"""`python -m models`: builds every network of the five papers at 224x384 and prints its parameter count beside
the paper's (the README's model table). `--summary NAME` prints one model's Keras summary."""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def model_table():
    """(builder call, builder, key of reproduce.paper_numbers or None) rows; models are built one at a time."""
    import models as m

    return [
        ("build_segnet(12)", lambda: m.build_segnet(12), "segnet_kitti"),
        ("build_segnet(13)", lambda: m.build_segnet(13), "segnet_synthia"),
        ("build_segnet(12)", lambda: m.build_segnet(12), "segnet_kitti_neurall"),
        ("build_segnet(13)", lambda: m.build_segnet(13), "segnet_synthia_neurall"),
        ("build_auxnet(12)", lambda: m.build_auxnet(12), "auxnet_kitti"),
        ("build_auxnet(13)", lambda: m.build_auxnet(13), "auxnet_synthia"),
        ("build_fusenet(12)", lambda: m.build_fusenet(12), "fusenet_kitti"),
        ("build_fusenet(13)", lambda: m.build_fusenet(13), "fusenet_synthia"),
        ("build_msnet2(12)", lambda: m.build_msnet2(12), "msnet2_kitti"),
        ("build_msnet2(13)", lambda: m.build_msnet2(13), "msnet2_synthia"),
        ("build_rnnet2(12)", lambda: m.build_rnnet2(12), "rnnet2_kitti"),
        ("build_rnnet2(13)", lambda: m.build_rnnet2(13), "rnnet2_synthia"),
        ('build_multitask({"segmentation": 20})', lambda: m.build_multitask({"segmentation": 20}), "multinet_seg"),
        ('build_multitask({"depth": 1})', lambda: m.build_multitask({"depth": 1}), "multinet_depth"),
        ('build_multitask({"motion": 2})', lambda: m.build_multitask({"motion": 2}), "multinet_motion"),
        ("build_multinet_pp(frames=1)", lambda: m.build_multinet_pp(frames=1), "multinet_3task_1frame"),
        ("build_multinet_pp()", lambda: m.build_multinet_pp(), "multinet_3task_2frame"),
        ("build_detseg(3, 19)", lambda: m.build_detseg(3, 19), None),
        ("build_selfsup()", lambda: m.build_selfsup(), None),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summary", metavar="BUILDER_CALL", help="print the Keras summary of one row, e.g. "
                        "'build_multinet_pp()'")
    args = parser.parse_args(argv)
    from reproduce.paper_numbers import PARAMETER_COUNTS, matches_printed

    rows = model_table()
    if args.summary:
        matches = [build for call, build, _ in rows if call == args.summary]
        if not matches:
            parser.error(f"--summary must be one of: {', '.join(call for call, _, _ in rows)}")
        matches[0]().summary(expand_nested=False)
        return
    print("Parameter counts at 224x384x3, weights=None (ours computed now; the paper's as printed)")
    print("| builder | paper, table, row | ours | paper's | match |")
    print("|---|---|---|---|---|")
    for call, build, key in rows:
        ours = build().count_params()
        if key is None:
            print(f"| `{call}` | (no count printed) | {ours:,} | - | - |")
            continue
        paper, table, row, theirs = PARAMETER_COUNTS[key]
        if isinstance(theirs, str):  # printed rounded ("23.77M"): compared at the printed resolution
            verdict = "at the printed resolution" if matches_printed(ours, theirs) else "differs"
            print(f"| `{call}` | {paper} {table}, {row} | {ours:,} | {theirs} | {verdict} |")
            continue
        verdict = "exact" if ours == theirs else f"differs by {ours - theirs:+,}"
        print(f"| `{call}` | {paper} {table}, {row} | {ours:,} | {theirs:,} | {verdict} |")


if __name__ == "__main__":
    main()
