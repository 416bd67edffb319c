"""What the "IoU" column of AuxNet Table 1 and NeurAll Tables I/II measures.

The column is not the plain mean of the class IoUs printed beside it: on SYNTHIA (13 classes) SegNet prints 89.70
while its nine printed classes average 66.52, so the four unprinted classes would need a mean IoU of 142%. This
module tests candidate definitions (``metrics.segmentation`` computes each of them) against all printed rows of a
dataset at once, which share one validation set and so one ground-truth class distribution g:

* closed forms for the class means (``plain_mean``, ``printed_mean``, ``mean_dice``: the unprinted, "hidden",
  classes' mean score each row needs, which must lie in [0, 1]) and the per-pixel smoothed Jaccard (a floor);
* linear programs (scipy.optimize.linprog) for the scores a confusion matrix determines. Shares of all labelled
  pixels are the unknowns: g_c (shared by the rows), and per row TP_rc and FP_rc. A printed class IoU u fixes
  TP = u (g + FP); TP <= g; total FP = total FN = 1 - accuracy; and a class cannot take part in more errors than
  there are (FN_c + FP_c <= 1 - accuracy, which is also enough for an off-diagonal confusion matrix to exist). Hidden
  classes are free, so their IoUs range over [0, 1]. Frequency-weighted IoU needs only g:
  printed_r - sum_visible g_c u_rc must lie in [0, sum_hidden g_h];
* evidence on g where the printed numbers alone allow anything: the two real KITTI label images in
  ``shared/real-samples`` and stated bounds for SYNTHIA (``SYNTHIA_BOUNDS``).

``analyse()`` returns a ``Verdict`` per candidate and dataset; ``python -m reproduce.iou_definition`` prints them.

Finding (tests/test_iou_definition.py): the plain mean, the mean of the printed classes, the mean Dice and the
per-pixel smoothed Jaccard are ruled out on SYNTHIA by the printed numbers alone (the plain mean needs hidden IoUs of
129-142%); on KITTI the plain mean needs the five hidden small-object classes at 85-93%, above car in every row.
Frequency-weighted IoU fits the numbers only with implausible class shares on SYNTHIA (with the small classes <= 10%
and sidewalk >= 2% of the pixels, building <= 0.4%; 7.1% on AuxNet Table 1's rows alone) and, less firmly, on KITTI
(not at the two real images' shares, nor within a factor 1.5 of them); pixel accuracy fails KITTI's real shares.
Only ``pooled_jaccard`` (the Keras ``iou_coef`` summing over pixels and channels, acc / (2 - acc) per image for hard
predictions) and ``mean_class_accuracy`` (which the numbers barely constrain) pass every test, and of the two only
the pooled Jaccard is called an IoU, as the papers call the column: ``best_supported()``. The per-image smoothed mean
IoU cannot be decided without per-image data and would need implausibly good per-image IoUs.
"""
import dataclasses
import os
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

from common.sizes import IMAGE_SIZE
from data import class_sets
from reproduce import auxnet
from reproduce.paper_numbers import DASH, PAPER_NUMBERS

#: The tables whose rows are used: AuxNet Table 1 and NeurAll Table I (NeurAll Table II repeats AuxNet Table 1's
#: rows; Table I adds MSNet2 and RNNet2). Both papers say "validation set" for KITTI and SYNTHIA.
TABLES = (("auxnet", "table1"), ("neurall", "table1"))
AUXNET_ONLY = (("auxnet", "table1"),)
DATASETS = {"KITTI": "kitti12", "SYNTHIA": "synthia13"}
#: Printed values have two decimals in percent: a printed score may differ from the exact one by this much.
ROUNDING = 0.00005
#: The keras-contrib / eye-in-the-sky per-pixel Jaccard uses smooth = 100 (see ``pixelwise_jaccard``).
PIXELWISE_SMOOTH = 100.0
REAL_SAMPLES = Path(os.environ.get("MTL_REAL_SAMPLES", Path(__file__).resolve().parents[1].parent / "shared"
                                   / "real-samples"))
KITTI_LABELS = REAL_SAMPLES / "kitti_semantics" / "training" / "semantic"
PAPER_IMAGE_SIZE = IMAGE_SIZE

#: SYNTHIA has no label file in reach, so its plausibility bounds are assumptions, loose on purpose: the four
#: unprinted small-object classes (traffic sign, pedestrian, bicycle, traffic light) take at most 10% of the labelled
#: pixels of a front camera at street level; building at least 10% and sidewalk at least 2% in a city (the papers do
#: not name their SYNTHIA frames; SYNTHIA-SEQS-05, the validation sequence of data/readers/synthia.py, is one of the
#: release's city sequences, "New York-like" on the dataset's web page as far as we remember). Cross-check, the two
#: real KITTI label images (``kitti_sample()``): the four small classes 0.45% / 1.7%, building 22% / 14%, sidewalk
#: 1.7% / 5.6%.
SMALL_CLASSES_AT_MOST = (("traffic sign", "pedestrian", "bicycle", "traffic light"), 0.0, 0.10)
BUILDING_AT_LEAST = (("building",), 0.10, 1.0)
SIDEWALK_AT_LEAST = (("sidewalk",), 0.02, 1.0)
SYNTHIA_BOUNDS = (SMALL_CLASSES_AT_MOST, BUILDING_AT_LEAST, SIDEWALK_AT_LEAST)


@dataclasses.dataclass(frozen=True)
class PrintedRows:
    """The rows of one dataset: ``iou[r, k]`` (fraction) of visible class ``visible[k]``, ``printed[r]`` the "IoU"
    column. ``names`` is the class set; ``hidden`` its classes without a printed value."""

    dataset: str
    names: tuple
    rows: tuple
    visible: tuple
    iou: np.ndarray
    printed: np.ndarray

    @property
    def hidden(self):
        return tuple(name for name in self.names if name not in self.visible)

    @property
    def visible_index(self):
        return [self.names.index(name) for name in self.visible]

    @property
    def hidden_index(self):
        return [self.names.index(name) for name in self.hidden]

    def index(self, names):
        return [self.names.index(name) for name in names]

    def row(self, name):
        return self.rows.index(name)


def printed_rows(dataset, tables=TABLES):
    """The printed rows of ``dataset`` ("KITTI" or "SYNTHIA") in ``tables``; a row printed in two tables (SegNet)
    is kept once, after checking both print the same numbers."""
    names = class_sets.get(DATASETS[dataset]).names
    columns = [c for c in auxnet.CLASS_COLUMNS if auxnet.CLASS_COLUMNS[c] in names]
    found = {}
    for paper, table in tables:
        for (key_paper, key_table, section, row, column), value in PAPER_NUMBERS.items():
            if (key_paper, key_table, section) == (paper, table, dataset) and (column in columns or column == "IoU"):
                cells = found.setdefault(row, {})
                if cells.get(column, value) != value:
                    raise ValueError(f"{dataset} {row} {column}: the tables print {cells[column]} and {value}")
                cells[column] = value
    visible = [c for c in columns if all(cells[c] != DASH for cells in found.values())]
    if any(cells[c] != DASH for cells in found.values() for c in columns if c not in visible):
        raise ValueError(f"{dataset}: a class is printed in some rows and '-' in others")
    rows = tuple(found)
    return PrintedRows(dataset, names, rows, tuple(auxnet.CLASS_COLUMNS[c] for c in visible),
                       np.array([[found[r][c] / 100 for c in visible] for r in rows]),
                       np.array([found[r]["IoU"] / 100 for r in rows]))


# ---------------------------------------------------------------------------------------------------------------
# Evidence


@dataclasses.dataclass(frozen=True)
class KittiSample:
    """Class statistics of the real KITTI semantic label images: pixel ``counts[i, c]`` at native resolution (kitti12
    classes, ignored pixels left out), and ``present[i, c]`` at the papers' 224x384 (nearest resize)."""

    files: tuple
    counts: np.ndarray
    present: np.ndarray

    @property
    def frequencies(self):
        total = self.counts.sum(axis=0)
        return total / total.sum()

    @property
    def spread(self):
        """The largest total-variation distance between two images' class distributions: how noisy the estimate is."""
        shares = self.counts / self.counts.sum(axis=1, keepdims=True)
        return max((0.5 * np.abs(a - b).sum() for i, a in enumerate(shares) for b in shares[i + 1:]), default=0.0)


def kitti_sample(folder=KITTI_LABELS):
    """``KittiSample`` of the Cityscapes-labelId PNGs in ``folder`` (mapped labelId -> trainId -> kitti12), or None
    when there are none."""
    from PIL import Image

    from data import labels

    files = sorted(Path(folder).glob("*.png")) if Path(folder).is_dir() else []
    if not files:
        return None
    train_ids, _ = labels.cityscapes_lookup()
    to_kitti12 = class_sets.get("kitti12").lookup("kitti")
    channels = class_sets.get("kitti12").channels
    counts, present = [], []
    for file in files:
        label_ids = np.asarray(Image.open(file))
        small = np.asarray(Image.open(file).resize(PAPER_IMAGE_SIZE[::-1], Image.NEAREST))
        classes = [to_kitti12[train_ids[np.minimum(ids, len(train_ids) - 1)]] for ids in (label_ids, small)]
        counts.append(np.bincount(classes[0][classes[0] < channels], minlength=channels))
        present.append(np.bincount(classes[1][classes[1] < channels], minlength=channels) > 0)
    return KittiSample(tuple(f.name for f in files), np.array(counts), np.array(present))


# ---------------------------------------------------------------------------------------------------------------
# Linear programs


class _Program:
    """Linear constraints over non-negative variables, solved with scipy's HiGHS. Terms are (index, coefficient)."""

    def __init__(self, size=0):
        self.size = size
        self.upper, self.upper_rhs, self.equal, self.equal_rhs = [], [], [], []

    def new_variables(self, count):
        self.size += count
        return list(range(self.size - count, self.size))

    def _matrix(self, rows):
        matrix = np.zeros((len(rows), self.size))
        for i, terms in enumerate(rows):
            for index, coefficient in terms:
                matrix[i, index] += coefficient
        return matrix

    def at_most(self, terms, value):
        self.upper.append(list(terms))
        self.upper_rhs.append(value)

    def at_least(self, terms, value):
        self.at_most([(i, -c) for i, c in terms], -value)

    def equals(self, terms, value):
        self.equal.append(list(terms))
        self.equal_rhs.append(value)

    def solve(self, maximize=()):
        """(feasible, maximum of sum coefficient * variable over ``maximize`` or None, solution or None);
        ``maximize``: variable indices or (index, coefficient) pairs."""
        terms = [term if isinstance(term, tuple) else (term, 1.0) for term in maximize]
        objective = -self._matrix([terms])[0]
        result = linprog(objective, A_ub=self._matrix(self.upper) if self.upper else None,
                         b_ub=self.upper_rhs or None, A_eq=self._matrix(self.equal) if self.equal else None,
                         b_eq=self.equal_rhs or None, bounds=(0, None), method="highs")
        if result.status != 0:
            return False, None, None
        return True, (-result.fun if terms else None), result.x


def _frequency_constraints(program, rows, frequencies, share_bounds):
    """g is variables 0..C-1: a distribution, optionally fixed, optionally with bounds on sums of shares."""
    classes = range(len(rows.names))
    program.equals([(c, 1.0) for c in classes], 1.0)
    if frequencies is not None:
        for c in classes:
            program.equals([(c, 1.0)], float(frequencies[c]))
    for names, low, high in share_bounds:
        program.at_least([(c, 1.0) for c in rows.index(names)], low)
        program.at_most([(c, 1.0) for c in rows.index(names)], high)


def _frequency_weighted_constraints(rows, frequencies=None, share_bounds=()):
    program = _Program(len(rows.names))
    _frequency_constraints(program, rows, frequencies, share_bounds)
    for r in range(len(rows.rows)):
        visible = list(zip(rows.visible_index, rows.iou[r]))
        program.at_most(visible, rows.printed[r] + ROUNDING)
        program.at_least(visible + [(h, 1.0) for h in rows.hidden_index], rows.printed[r] - ROUNDING)
    return program


def frequency_weighted_program(rows, frequencies=None, share_bounds=(), maximize=()):
    """Is there one class distribution g with printed_r - sum_visible g_c u_rc in [0, sum_hidden g_h] for every row
    (the hidden IoUs free in [0, 1])? Returns ``_Program.solve``'s triple; ``maximize``: class names."""
    return _frequency_weighted_constraints(rows, frequencies, share_bounds).solve(rows.index(maximize))


def _confusion_constraints(rows, accuracy_range, frequencies=None, share_bounds=(), mean_recall=False):
    """The program of ``confusion_program`` and, per row, the indices of its TP share variables."""
    classes = len(rows.names)
    program = _Program(classes * (1 + 2 * len(rows.rows)))
    _frequency_constraints(program, rows, frequencies, share_bounds)
    true_positives = []
    for r, printed in enumerate(rows.printed):
        tp = [classes * (1 + 2 * r) + c for c in range(classes)]
        fp = [classes * (2 + 2 * r) + c for c in range(classes)]
        true_positives.append(tp)
        for c, iou in zip(rows.visible_index, rows.iou[r]):
            program.equals([(tp[c], 1.0), (c, -iou), (fp[c], -iou)], 0.0)
        for c in range(classes):
            program.at_most([(tp[c], 1.0), (c, -1.0)], 0.0)
            # FN_c + FP_c <= errors, i.e. g_c - TP_c + FP_c + accuracy <= 1
            program.at_most([(c, 1.0), (tp[c], -1.0), (fp[c], 1.0)] + [(t, 1.0) for t in tp], 1.0)
        program.equals([(i, 1.0) for i in tp + fp], 1.0)  # total FP = 1 - accuracy
        low, high = accuracy_range(printed)
        program.at_least([(t, 1.0) for t in tp], low - ROUNDING)
        program.at_most([(t, 1.0) for t in tp], high + ROUNDING)
        if mean_recall:
            terms = _mean_recall_terms(tp, frequencies)
            program.at_least(terms, printed - ROUNDING)
            program.at_most(terms, printed + ROUNDING)
    return program, true_positives


def _mean_recall_terms(tp, frequencies):
    """Mean recall = mean over classes with ground truth of TP_c / g_c: linear only for fixed frequencies."""
    if frequencies is None:
        raise ValueError("mean recall needs fixed frequencies (the problem is bilinear otherwise)")
    present = [c for c in range(len(tp)) if frequencies[c] > 0]
    return [(tp[c], 1.0 / (frequencies[c] * len(present))) for c in present]


def confusion_program(rows, accuracy_range, frequencies=None, share_bounds=(), mean_recall=False, maximize=()):
    """Is there one class distribution g and per row a confusion matrix with the printed class IoUs whose pixel
    accuracy lies in ``accuracy_range(printed) -> (low, high)``? ``mean_recall=True`` also asks the mean class
    recall to equal the printed value, which is linear only for fixed ``frequencies``. ``maximize``: class names
    whose share to maximise. Returns ``_Program.solve``'s triple."""
    program, _ = _confusion_constraints(rows, accuracy_range, frequencies, share_bounds, mean_recall)
    return program.solve(rows.index(maximize))


def reachable_range(rows, frequencies, score="accuracy"):
    """Per row, the (lowest, highest) pixel accuracy or mean recall (``score="mean_recall"``) that a confusion matrix
    with the row's printed class IoUs reaches at the fixed class ``frequencies``."""
    ranges = []
    for r in range(len(rows.rows)):
        program, (tp,) = _confusion_constraints(_single(rows, r), accuracy_any, frequencies)
        terms = [(t, 1.0) for t in tp] if score == "accuracy" else _mean_recall_terms(tp, frequencies)
        _, high, _ = program.solve(terms)
        _, negated_low, _ = program.solve([(i, -c) for i, c in terms])
        ranges.append((-negated_low, high))
    return ranges


def distance_to_feasible(rows, reference, accuracy_range=None):
    """The smallest total-variation distance (share of pixels that would have to change class) between the class
    distribution ``reference`` and one that fits every row: under frequency-weighted IoU (``accuracy_range=None``)
    or under the confusion LP with ``accuracy_range``. None when no distribution fits."""
    if accuracy_range is None:
        program = _frequency_weighted_constraints(rows)
    else:
        program, _ = _confusion_constraints(rows, accuracy_range)
    overlap = program.new_variables(len(rows.names))  # overlap_c <= min(g_c, reference_c)
    for c, w in enumerate(overlap):
        program.at_most([(w, 1.0), (c, -1.0)], 0.0)
        program.at_most([(w, 1.0)], float(reference[c]))
    feasible, most, _ = program.solve(overlap)
    return 1.0 - most if feasible else None


def band_needed(rows, reference, accuracy_range=None, largest=10.0, steps=20):
    """The smallest factor k for which a distribution with every class share within [reference / k, reference * k]
    fits every row (FW for ``accuracy_range=None``, else the confusion LP): how far off an estimate of the class
    frequencies must be for the candidate to fit. Bisection to ~1%; ``largest`` when even that band fails."""
    def fits(k):
        bounds = tuple(((name,), reference[c] / k, min(1.0, reference[c] * k)) for c, name in enumerate(rows.names))
        if accuracy_range is None:
            return frequency_weighted_program(rows, share_bounds=bounds)[0]
        return confusion_program(rows, accuracy_range, share_bounds=bounds)[0]

    if fits(1.0):
        return 1.0
    low, high = 1.0, largest
    if not fits(high):
        return largest
    for _ in range(steps):
        middle = (low * high) ** 0.5
        low, high = (low, middle) if fits(middle) else (middle, high)
    return high


def _single(rows, r):
    return dataclasses.replace(rows, rows=rows.rows[r:r + 1], iou=rows.iou[r:r + 1], printed=rows.printed[r:r + 1])


def accuracy_any(printed):
    return 0.0, 1.0


def accuracy_is_printed(printed):
    return printed, printed


def accuracy_for_pooled_jaccard(printed):
    """Pixel accuracies a mean over images of acc_i / (2 - acc_i) = printed allows: f(a) = a / (2 - a) is convex and
    f(a) <= a, so mean acc lies in [printed, 2 printed / (1 + printed)] (Jensen), with equal valid pixels per image
    (the papers resize every image to 224x384; ignored pixels are few on KITTI: 0.6% in the real images)."""
    return printed, 2 * printed / (1 + printed)


# ---------------------------------------------------------------------------------------------------------------
# Candidates


@dataclasses.dataclass(frozen=True)
class Verdict:
    """``consistent``: with the printed rows alone (frequencies free, hidden scores in [0, 1]); None when the printed
    numbers cannot decide. ``plausible``: also with the evidence (KITTI real labels, ``SYNTHIA_BOUNDS``, known class
    behaviour); None when there is no evidence to test. ``numbers``: what decides it."""

    candidate: str
    dataset: str
    consistent: object
    plausible: object
    reason: str
    numbers: dict = dataclasses.field(default_factory=dict)


def _percent(values, rows):
    return dict(zip(rows.rows, np.round(100 * np.asarray(values), 2).tolist()))


def _class_mean_verdict(candidate, rows, visible_scores, label):
    """A mean over the N classes of a per-class score: the H hidden classes' mean score is fixed by each row. The
    hidden classes (small or thin objects) cannot plausibly beat car, the best-scored object class of driving
    benchmarks (as we recall, e.g., the FCN-8s baseline of the Cityscapes paper, Cordts et al. 2016)."""
    required = (len(rows.names) * rows.printed - visible_scores.sum(axis=1)) / len(rows.hidden)
    car = visible_scores[:, rows.visible.index("car")]
    numbers = {"required_hidden_mean": _percent(required, rows), "required_minus_car": _percent(required - car, rows)}
    text = (f"the {len(rows.hidden)} hidden classes need a mean {label} of {100 * required.min():.1f}-"
            f"{100 * required.max():.1f}%")
    if not np.all((required >= -ROUNDING * len(rows.names)) & (required <= 1 + ROUNDING * len(rows.names))):
        return Verdict(candidate, rows.dataset, False, False, text, numbers)
    above_car = int(np.sum(required > car))
    return Verdict(candidate, rows.dataset, True, above_car == 0,
                   f"{text}, above the row's car in {above_car} of {len(rows.rows)} rows", numbers)


def plain_mean(rows, evidence):
    """mean_c IoU_c over the class set (``miou``; keras.metrics.MeanIoU, tf.metrics.mean_iou)."""
    return _class_mean_verdict("plain_mean", rows, rows.iou, "IoU")


def mean_dice(rows, evidence):
    """mean_c Dice_c, Dice = 2 IoU / (1 + IoU) (``mean_dice``)."""
    return _class_mean_verdict("mean_dice", rows, 2 * rows.iou / (1 + rows.iou), "Dice")


def printed_mean(rows, evidence):
    """The mean of the printed class columns only."""
    gap = rows.printed - rows.iou.mean(axis=1)
    consistent = bool(np.all(np.abs(gap) <= 2 * ROUNDING))
    return Verdict("printed_mean", rows.dataset, consistent, consistent,
                   f"printed minus the printed classes' mean: {100 * gap.min():+.2f} to {100 * gap.max():+.2f}",
                   {"gap": _percent(gap, rows)})


def pixelwise_jaccard(rows, evidence, smooth=PIXELWISE_SMOOTH):
    """keras-contrib's ``jaccard_distance`` core / eye-in-the-sky's ``iou``: (I + s) / (U + s) summed over the
    channel axis only, i.e. per pixel, then averaged: 1 for a right pixel and s / (2 + s) for a wrong one, so the score
    is 1 - (1 - acc) 2 / (2 + s) >= s / (2 + s)."""
    floor = smooth / (2 + smooth)
    consistent = bool(np.all(rows.printed >= floor))
    return Verdict("pixelwise_jaccard", rows.dataset, consistent, None if consistent else False,
                   f"cannot be below {100 * floor:.2f}% (smooth {smooth:g}); the rows print "
                   f"{100 * rows.printed.min():.2f}-{100 * rows.printed.max():.2f}", {"floor": round(100 * floor, 2)})


def _evidence_sample(rows, evidence):
    return evidence.get("kitti") if rows.dataset == "KITTI" else None


def _hidden_share_note(rows, sample, accuracy_range=None):
    """How far the real frequencies are from fitting: FW <= pixel accuracy, so both need (1 - h) FW_visible <=
    printed, with h the hidden share at hidden IoU 0 and the visible classes in the real images' proportions; and
    the total-variation distance to the nearest distribution that fits, and the band of ``band_needed``."""
    frequencies = sample.frequencies
    visible = frequencies[rows.visible_index]
    needed = np.max(1 - rows.printed / (rows.iou @ (visible / visible.sum())))
    distance = distance_to_feasible(rows, frequencies, accuracy_range)
    band = band_needed(rows, frequencies, accuracy_range)
    return (f"; it would need >= {100 * needed:.1f}% of the pixels in the hidden classes, all at IoU 0 (the real "
            f"images: {100 * frequencies[rows.hidden_index].sum():.1f}%), or {100 * distance:.1f}% of all pixels "
            f"moved to other classes, or class shares off by a factor {band:.2f} from the two images' (which differ "
            f"from each other by {100 * sample.spread:.0f}% of pixels)")


def _synthia_verdict(candidate, rows, feasible, program, reason):
    """SYNTHIA plausibility: does a distribution within ``SYNTHIA_BOUNDS`` fit, and how much building do the rows
    allow within the other bounds?"""
    plausible = program(share_bounds=SYNTHIA_BOUNDS)[0]
    ok, building, _ = program(share_bounds=(SMALL_CLASSES_AT_MOST, SIDEWALK_AT_LEAST), maximize=("building",))
    building = round(100 * building, 2) if ok else None
    return Verdict(candidate, rows.dataset, feasible, feasible and plausible,
                   f"{reason}; within SYNTHIA_BOUNDS: {'feasible' if plausible else 'infeasible'} (with the small "
                   f"classes <= 10% and sidewalk >= 2% building can take at most "
                   f"{'-' if building is None else building}%; bound >= 10%)", {"max_building_share": building})


def frequency_weighted_iou(rows, evidence):
    """sum_c (G_c / G) IoU_c (Long et al. 2015)."""
    feasible = frequency_weighted_program(rows)[0]
    reason = f"frequencies free: {'feasible' if feasible else 'infeasible'}"
    if rows.dataset == "SYNTHIA":
        def program(**options):
            return frequency_weighted_program(rows, **options)
        return _synthia_verdict("frequency_weighted_iou", rows, feasible, program, reason)
    sample = _evidence_sample(rows, evidence)
    if sample is None:
        return Verdict("frequency_weighted_iou", rows.dataset, feasible, None, f"{reason}; no frequency evidence")
    frequencies = sample.frequencies
    fw_visible = rows.iou @ frequencies[rows.visible_index]
    plausible = frequency_weighted_program(rows, frequencies=frequencies)[0]
    return Verdict("frequency_weighted_iou", rows.dataset, feasible, feasible and plausible,
                   f"{reason}; at the real KITTI images' frequencies the printed classes alone give "
                   f"{100 * fw_visible.min():.1f}-{100 * fw_visible.max():.1f}%, above the printed value in "
                   f"{int(np.sum(fw_visible > rows.printed + ROUNDING))} of {len(rows.rows)} rows"
                   f"{_hidden_share_note(rows, sample)}",
                   {"visible_fw_at_real_frequencies": _percent(fw_visible, rows)})


def _confusion_verdict(candidate, rows, evidence, accuracy_range, what):
    """Candidates that fix the pixel accuracy of each row to a range: the confusion-matrix LP."""
    feasible = confusion_program(rows, accuracy_range)[0]
    reason = f"{what}; frequencies free: {'feasible' if feasible else 'infeasible'}"
    if rows.dataset == "SYNTHIA":
        def program(**options):
            return confusion_program(rows, accuracy_range, **options)
        return _synthia_verdict(candidate, rows, feasible, program, reason)
    sample = _evidence_sample(rows, evidence)
    if sample is None:
        return Verdict(candidate, rows.dataset, feasible, None, f"{reason}; no frequency evidence")
    frequencies = sample.frequencies
    plausible = confusion_program(rows, accuracy_range, frequencies=frequencies)[0]
    reachable = reachable_range(rows, frequencies)
    needed = [accuracy_range(p) for p in rows.printed]
    fits = [low <= high_needed + ROUNDING and low_needed - ROUNDING <= high
            for (low, high), (low_needed, high_needed) in zip(reachable, needed)]
    note = "" if plausible else _hidden_share_note(rows, sample, accuracy_range)
    return Verdict(candidate, rows.dataset, feasible, feasible and plausible,
                   f"{reason}; at the real KITTI images' frequencies {sum(fits)} of {len(fits)} rows fit (SegNet: "
                   f"accuracy reachable {100 * reachable[0][0]:.1f}-{100 * reachable[0][1]:.1f}%, needed "
                   f"{100 * needed[0][0]:.1f}-{100 * needed[0][1]:.1f}%){note}",
                   {"reachable_accuracy": dict(zip(rows.rows, np.round(100 * np.array(reachable), 2).tolist())),
                    "needed_accuracy": dict(zip(rows.rows, np.round(100 * np.array(needed), 2).tolist()))})


def pixel_accuracy(rows, evidence):
    """sum_c TP_c / G; also the flattened Keras ``dice_coef`` on one-hot hard predictions."""
    return _confusion_verdict("pixel_accuracy", rows, evidence, accuracy_is_printed, "accuracy = printed")


def pooled_jaccard(rows, evidence):
    """The Keras ``iou_coef`` over all pixels and channels per image, acc / (2 - acc) for hard predictions."""
    return _confusion_verdict("pooled_jaccard", rows, evidence, accuracy_for_pooled_jaccard,
                              "accuracy in [printed, 2 printed / (1 + printed)]")


def mean_class_accuracy(rows, evidence, samples=400, seed=0):
    """mean_c TP_c / G_c. With free frequencies any value is reachable (a class with a tiny share can have recall 1
    at any IoU: its false positives are a negligible share of another class's pixels), so only a frequency vector
    tests it. KITTI: the real images' frequencies (an LP). SYNTHIA: random distributions within ``SYNTHIA_BOUNDS``
    (one that fits proves feasibility; none found proves nothing)."""
    reason = "frequencies free: feasible (any value is)"
    sample = _evidence_sample(rows, evidence)
    if sample is not None:
        frequencies = sample.frequencies
        plausible = confusion_program(rows, accuracy_any, frequencies=frequencies, mean_recall=True)[0]
        reachable = reachable_range(rows, frequencies, score="mean_recall")
        return Verdict("mean_class_accuracy", rows.dataset, True, plausible,
                       f"{reason}; at the real KITTI images' frequencies: {'feasible' if plausible else 'infeasible'}"
                       f" (SegNet: mean recall reachable {100 * reachable[0][0]:.1f}-{100 * reachable[0][1]:.1f}%,"
                       f" a weak test)",
                       {"reachable_mean_recall": dict(zip(rows.rows, np.round(100 * np.array(reachable), 2).tolist()))})
    if rows.dataset != "SYNTHIA":
        return Verdict("mean_class_accuracy", rows.dataset, True, None, f"{reason}; no frequency evidence")
    generator = np.random.default_rng(seed)
    small = rows.index(SMALL_CLASSES_AT_MOST[0])
    others = [c for c in range(len(rows.names)) if c not in small]
    for _ in range(samples):
        g = np.zeros(len(rows.names))  # the small classes' total uniform in [0, 10%], the rest uniform on a simplex
        g[small] = generator.uniform(0, SMALL_CLASSES_AT_MOST[2]) * generator.dirichlet(np.ones(len(small)))
        g[others] = (1 - g[small].sum()) * generator.dirichlet(np.ones(len(others)))
        in_bounds = all(low <= g[rows.index(names)].sum() <= high for names, low, high in SYNTHIA_BOUNDS)
        if in_bounds and confusion_program(rows, accuracy_any, frequencies=g, mean_recall=True)[0]:
            shares = ", ".join(f"{name} {100 * share:.1f}%" for name, share in zip(rows.names, g))
            return Verdict("mean_class_accuracy", rows.dataset, True, True,
                           f"{reason}; within SYNTHIA_BOUNDS e.g. at {shares}",
                           {"frequencies": dict(zip(rows.names, np.round(g, 4).tolist()))})
    return Verdict("mean_class_accuracy", rows.dataset, True, None,
                   f"{reason}; no distribution within SYNTHIA_BOUNDS found in {samples} draws (undecided)")


def image_mean_iou_smoothed(rows, evidence):
    """mean over images of mean_c (I_c + 1) / (U_c + 1), absent-from-both classes counting 1. Per-image quantities
    are not printed, so the rows cannot decide it. It needs printed = a + (1 - a) m, with a the share of (image,
    class) pairs absent from both ground truth and prediction and m the mean per-image IoU of the other pairs;
    m is compared with the printed classes' whole-set mean IoU, which is generous (the pairs include the small
    hidden classes)."""
    sample = _evidence_sample(rows, evidence)
    if sample is not None:
        absent = float(np.mean(~sample.present))
        source = f"<= {100 * absent:.1f}% of (image, class) pairs absent (the real KITTI images at 224x384)"
    else:
        absent = len(rows.hidden) / len(rows.names)
        source = f"<= {100 * absent:.1f}% absent (only the hidden classes missing from each frame)"
    required = (rows.printed - absent) / (1 - absent)
    visible_mean = rows.iou.mean(axis=1)
    return Verdict("image_mean_iou_smoothed", rows.dataset, None, bool(np.all(required <= visible_mean)),
                   f"not decidable from the printed numbers; with {source} the other pairs need a mean per-image IoU "
                   f"of {100 * required.min():.1f}-{100 * required.max():.1f}% against "
                   f"{100 * visible_mean.min():.1f}-{100 * visible_mean.max():.1f}% for the printed classes; ruled "
                   f"out if the class columns are per-image values too (the column would be their plain mean)",
                   {"absent_share": round(absent, 4), "required_present_iou": _percent(required, rows)})


CANDIDATES = {
    "plain_mean": plain_mean,
    "printed_mean": printed_mean,
    "mean_dice": mean_dice,
    "pixelwise_jaccard": pixelwise_jaccard,
    "frequency_weighted_iou": frequency_weighted_iou,
    "pixel_accuracy": pixel_accuracy,
    "pooled_jaccard": pooled_jaccard,
    "mean_class_accuracy": mean_class_accuracy,
    "image_mean_iou_smoothed": image_mean_iou_smoothed,
}
#: The candidates their sources call an IoU / Jaccard index. The papers name the column so ("Mean IoU and
#: categorical IoU were used", AuxNet Sec. 4.1; "Mean class IoU (Intersection over Union) and per-class IoU were
#: used", NeurAll Sec. IV-C).
CALLED_IOU = ("plain_mean", "printed_mean", "pixelwise_jaccard", "frequency_weighted_iou", "pooled_jaccard",
              "image_mean_iou_smoothed")


def analyse(tables=TABLES, kitti_labels=KITTI_LABELS):
    """{(candidate, dataset): Verdict} for every candidate of ``CANDIDATES`` on KITTI and SYNTHIA."""
    evidence = {"kitti": kitti_sample(kitti_labels)}
    verdicts = {}
    for dataset in DATASETS:
        rows = printed_rows(dataset, tables)
        for name, check in CANDIDATES.items():
            verdicts[(name, dataset)] = check(rows, evidence)
    return verdicts


def surviving(verdicts):
    """The candidates consistent with every printed row and plausible on every dataset (decided, not merely not
    ruled out)."""
    return [name for name in CANDIDATES
            if all(verdicts[(name, d)].consistent is True and verdicts[(name, d)].plausible is True for d in DATASETS)]


def best_supported(verdicts):
    """The surviving candidates that their sources call an IoU, as the papers call the column; else all survivors."""
    survivors = surviving(verdicts)
    return [name for name in survivors if name in CALLED_IOU] or survivors


def kitti_dash_columns(kitti_labels=KITTI_LABELS):
    """What the "-" cells of KITTI say: Pole is a kitti12 class that the real KITTI labels contain (so a whole-set
    IoU for it is defined, never NaN); Lane has no KITTI label (the Cityscapes labelIds have no lane marking)."""
    sample = kitti_sample(kitti_labels)
    names = class_sets.get("kitti12").names
    pole = names.index("pole")
    return {
        "pole_in_class_set": "pole" in names,
        "lane_in_class_set": "lanemarking" in names,
        "pole_share": None if sample is None else float(sample.frequencies[pole]),
        "pole_present_in_every_image": None if sample is None else bool(sample.present[:, pole].all()),
    }


def report(verdicts=None, tables=TABLES):
    """The analysis of ``tables`` as text (``verdicts``: ``analyse(tables)``'s, to reuse them)."""
    verdicts = analyse(tables) if verdicts is None else verdicts
    word = {True: "yes", False: "NO", None: "?"}
    lines = ['What the "IoU" column of AuxNet Table 1 / NeurAll Tables I-II measures',
             "(consistent: with all printed rows, frequencies free; plausible: also with the evidence; "
             "?: undecided)", ""]
    for dataset in DATASETS:
        rows = printed_rows(dataset, tables)
        lines.append(f"{dataset}: {len(rows.rows)} rows ({', '.join(rows.rows)}); {len(rows.names)} classes, "
                     f"hidden: {', '.join(rows.hidden)}")
        for name in CANDIDATES:
            verdict = verdicts[(name, dataset)]
            lines.append(f"  {name:24s} consistent {word[verdict.consistent]:3s} plausible "
                         f"{word[verdict.plausible]:3s} {verdict.reason}")
        lines.append("")
    dashes = kitti_dash_columns()
    pole = ("(no real KITTI labels to check)" if dashes["pole_share"] is None else
            f"in the real KITTI labels {100 * dashes['pole_share']:.2f}% of the pixels, present in every image: "
            f"{dashes['pole_present_in_every_image']}, so a whole-set pole IoU exists and the papers left it out")
    lines.append(f"KITTI '-' columns: Pole is a kitti12 class {pole}; Lane is no KITTI class. Under the pooled "
                 f"Jaccard the column does not depend on which classes the 12 channels are.")
    lines.append(f"Consistent and plausible on both datasets: {', '.join(surviving(verdicts)) or 'none'}")
    lines.append(f"Best-supported reading (called IoU, as the papers' column): "
                 f"{', '.join(best_supported(verdicts)) or 'none fits'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
