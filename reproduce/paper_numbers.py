"""Numbers printed in the papers, as data, with the table and row they come from.

Only what the code compares against so far: parameter counts. Values are the papers', never ours.
"""

# (builder key, description) -> (paper, table, row, parameter count printed there)
PARAMETER_COUNTS = {
    "segnet_kitti": ("AuxNet", "Table 2", "SegNet, KITTI (12 classes)", 23_672_264),
    "segnet_synthia": ("AuxNet", "Table 2", "SegNet, SYNTHIA (13 classes)", 23_683_054),
    "auxnet_kitti": ("AuxNet", "Table 2", "AuxNet, KITTI (12 classes)", 23_676_142),
    "auxnet_synthia": ("AuxNet", "Table 2", "AuxNet, SYNTHIA (13 classes)", 23_686_932),
    "fusenet_kitti": ("AuxNet", "Table 2", "FuseNet, KITTI (12 classes)", 47_259_976),
    "fusenet_synthia": ("AuxNet", "Table 2", "FuseNet, SYNTHIA (13 classes)", 47_270_766),
    "msnet2_kitti": ("NeurAll", "Table I", "MSNet2, KITTI", 23_715_272),
    "msnet2_synthia": ("NeurAll", "Table I", "MSNet2, SYNTHIA", 23_739_412),
    "segnet_kitti_neurall": ("NeurAll", "Table I", "SegNet, KITTI", 23_668_680),
    "segnet_synthia_neurall": ("NeurAll", "Table I", "SegNet, SYNTHIA", 23_692_820),
    "rnnet2_kitti": ("NeurAll", "Table I", "RNNet2, KITTI", 31_847_828),
    "rnnet2_synthia": ("NeurAll", "Table I", "RNNet2, SYNTHIA", 31_861_968),
    "multinet_seg": ("MultiNet++", "Table 2", "Segmentation (20 classes)", 23_774_712),
    "multinet_depth": ("MultiNet++", "Table 2", "Depth", 23_591_590),
    "multinet_motion": ("MultiNet++", "Table 2", "Motion", 23_596_044),
    "multinet_3task_1frame": ("MultiNet++", "Table 2", "3 tasks, 1 frame", 23_786_922),
    "multinet_3task_2frame": ("MultiNet++", "Table 2", "3 tasks, 2 frames (MultiNet++)", 23_869_354),
}
