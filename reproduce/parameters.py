"""`python -m reproduce.parameters`: our networks' parameter counts at 224x384x3 beside the papers' printed ones
(the README's model table). Ours are computed now (models.__main__'s builders); the papers' come from
reproduce/paper_numbers.py, with their table and row."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: (builder call of `python -m models`, key of paper_numbers.PARAMETER_COUNTS or None: no count printed)
PAPER_ROWS = (
    ("build_segnet(12)", "segnet_kitti"),
    ("build_segnet(13)", "segnet_synthia"),
    ("build_segnet(12)", "segnet_kitti_neurall"),
    ("build_segnet(13)", "segnet_synthia_neurall"),
    ("build_auxnet(12)", "auxnet_kitti"),
    ("build_auxnet(13)", "auxnet_synthia"),
    ("build_fusenet(12)", "fusenet_kitti"),
    ("build_fusenet(13)", "fusenet_synthia"),
    ("build_msnet2(12)", "msnet2_kitti"),
    ("build_msnet2(13)", "msnet2_synthia"),
    ("build_rnnet2(12)", "rnnet2_kitti"),
    ("build_rnnet2(13)", "rnnet2_synthia"),
    ('build_multitask({"segmentation": 20})', "multinet_seg"),
    ('build_multitask({"depth": 1})', "multinet_depth"),
    ('build_multitask({"motion": 2})', "multinet_motion"),
    ("build_multinet_pp(frames=1)", "multinet_3task_1frame"),
    ("build_multinet_pp()", "multinet_3task_2frame"),
    ("build_detseg(3, 19)", None),
    ("build_selfsup()", None),
)


def main():
    from models.__main__ import model_table
    from reproduce.paper_numbers import PARAMETER_COUNTS, matches_printed

    builders = dict(model_table())
    counts = {}
    print("Parameter counts at 224x384x3, weights=None (ours computed now; the paper's as printed)")
    print("| builder | paper, table, row | ours | paper's | match |")
    print("|---|---|---|---|---|")
    for call, key in PAPER_ROWS:
        ours = counts[call] = counts.get(call) or builders[call]().count_params()
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
