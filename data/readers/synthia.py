"""SYNTHIA-SEQS reader (one folder per unpacked SYNTHIA-SEQS-XX-SEASON archive under root).

Layout::

    root/SYNTHIA-SEQS-02-SPRING/RGB/Stereo_Left/Omni_F/000000.png        left image
    root/SYNTHIA-SEQS-02-SPRING/RGB/Stereo_Right/Omni_F/000000.png       right image
    root/SYNTHIA-SEQS-02-SPRING/Depth/Stereo_Left/Omni_F/000000.png      uint16 depth in centimetres (1 or 3 equal
                                                                        channels; the first is read) -> metres
    root/SYNTHIA-SEQS-02-SPRING/GT/LABELS/Stereo_Left/Omni_F/000000.png  16-bit PNG, class id in the first channel

Splits follow MultiNet++: ``train`` = SYNTHIA-SEQS-02-* (all seasons), ``val`` = SYNTHIA-SEQS-05-*; options
``train_sequences`` / ``val_sequences`` take sequence numbers (2) or folder glob patterns ("SYNTHIA-SEQS-04-*").
13 classes: ids 1..12 and 15 -> 0..12 (sky, building, road, sidewalk, fence, vegetation, pole, car, traffic sign,
pedestrian, bicycle, lanemarking, traffic light); void 0 and the reserved 13/14 -> 255.
The previous frame of 2-frame models is the previous file number in the same folder; frames without one (the first
of each sequence) are left out.
"""
import fnmatch
import os
import warnings

from data import labels
from data.readers.base import Example, Reader, list_files, pair_up, require_dir

CAMERA = "Omni_F"
FOLDERS = {
    "image": ("RGB", "Stereo_Left"),
    "right_image": ("RGB", "Stereo_Right"),
    "depth": ("Depth", "Stereo_Left"),
    "segmentation": ("GT", "LABELS", "Stereo_Left"),
}


def _patterns(sequences, option):
    if isinstance(sequences, (str, int)):
        sequences = [sequences]
    patterns = []
    for sequence in sequences:
        if isinstance(sequence, int):
            patterns.append(f"SYNTHIA-SEQS-{sequence:02d}-*")
        elif isinstance(sequence, str):
            patterns.append(sequence)
        else:
            raise ValueError(f"{option} takes sequence numbers or folder patterns, got {sequence!r}")
    return patterns


class SynthiaReader(Reader):
    name = "synthia"
    splits = ("train", "val")
    tasks = ("segmentation", "depth", "right_image", "colorization")
    frames = (1, 2)
    defaults = {"train_sequences": (2,), "val_sequences": (5,), "skip_unpaired": False}
    segmentation_lookup = labels.synthia_lookup()
    depth_encoding = "centimetres"
    class_names = labels.SYNTHIA_CLASSES

    def root_hint(self):
        return "Expected SYNTHIA-SEQS-* folders (e.g. SYNTHIA-SEQS-02-SPRING) unpacked into it."

    def sequences(self, split):
        option = f"{split}_sequences"
        patterns = _patterns(self.options[option], option)
        folders = sorted(
            entry for entry in os.listdir(self.root)
            if os.path.isdir(os.path.join(self.root, entry)) and any(fnmatch.fnmatch(entry, p) for p in patterns)
        )
        if not folders:
            found = sorted(e for e in os.listdir(self.root) if e.startswith("SYNTHIA"))
            raise FileNotFoundError(
                f"No folder in {self.root} matches {option}={patterns} (unpack e.g. SYNTHIA-SEQS-02-SPRING.rar "
                f"there); found: {found[:10]}"
            )
        return folders

    def list_examples(self, split, tasks, frames=1, depth_input=False):
        self.check_request(split, tasks, frames)
        wanted = ["image"] + [f for f in ("right_image", "depth", "segmentation") if f in tasks]
        if depth_input and "depth" not in wanted:
            wanted.append("depth")
        examples, without_previous = [], 0
        for sequence in self.sequences(split):
            archive = f"{sequence}.rar"
            fields = {
                field: {
                    f"{sequence}/{name}": path
                    for name, path in list_files(
                        require_dir(os.path.join(self.root, sequence, *FOLDERS[field], CAMERA), archive), ".png"
                    ).items()
                }
                for field in wanted
            }
            paired = pair_up(fields, self.options["skip_unpaired"], {f: archive for f in fields})
            first = min(paired, default=None)
            for name in paired:
                files = {field: entries[name] for field, entries in fields.items()}
                if frames == 2:
                    frame = name.split("/")[-1]
                    previous = os.path.join(os.path.dirname(files["image"]), f"{int(frame) - 1:0{len(frame)}d}.png")
                    if not os.path.isfile(previous):
                        without_previous += name != first
                        continue
                    files["previous_image"] = previous
                examples.append(Example(name, files))
        if without_previous:
            warnings.warn(f"synthia frames=2: left out {without_previous} frames whose previous frame is missing.")
        return examples
