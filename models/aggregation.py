"""Two-frame aggregation of the shared encoder's pyramid levels.

- concat: channel concatenation (MSNet2, NeurAll; MultiNet++), doubling the decoder's score-layer inputs;
- sum: element-wise addition (MultiNet++ Fig. 1 option), decoder unchanged;
- convlstm: a ConvLSTM2D over the two encoded frames, oldest first (RNNet2, NeurAll). NeurAll does not give the
  recurrent unit's size, and its RNNet2 parameter count matches no consistent variant, so the width and kernel are
  options; the default (a 1x1 ConvLSTM2D per level with 1/4 of the level's channels) lands near the paper's
  31.8M parameters. See the README's model table.
"""
from keras import layers

from models.layers import StackFrames

AGGREGATIONS = ("concat", "sum", "convlstm")
DEFAULT_LSTM_FRACTION = 4


def validate_aggregation(aggregation):
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation={aggregation!r} is not one of {AGGREGATIONS}.")
    return aggregation


def aggregate_frames(previous, current, aggregation, levels=("P3", "P4", "P5"), lstm_filters=None,
                     lstm_kernel_size=1):
    """Fuses two pyramids level by level; returns a pyramid with the same level names.

    lstm_filters: dict level -> filters for "convlstm" (default: channels // 4 per level).
    """
    validate_aggregation(aggregation)
    fused = {}
    for level in levels:
        tag = level.lower()
        if aggregation == "concat":
            fused[level] = layers.Concatenate(name=f"aggregate_concat_{tag}")([current[level], previous[level]])
        elif aggregation == "sum":
            fused[level] = layers.Add(name=f"aggregate_sum_{tag}")([current[level], previous[level]])
        else:
            channels = current[level].shape[-1]
            filters = (lstm_filters or {}).get(level, channels // DEFAULT_LSTM_FRACTION)
            sequence = StackFrames(name=f"aggregate_stack_{tag}")([previous[level], current[level]])
            fused[level] = layers.ConvLSTM2D(filters, lstm_kernel_size, padding="same",
                                             name=f"aggregate_convlstm_{tag}")(sequence)
    return fused


def aggregated_frame_features(model, levels=("P3", "P4", "P5")):
    """{level: (previous, current)}: the symbolic encoder outputs that a 2-frame model's aggregation layers read.

    Read through each aggregation layer's public `input` (every such layer is called once), in the order
    `aggregate_frames` passes them: concat and sum take [current, previous], the ConvLSTM's stack [previous, current].
    """
    pairs = {}
    for level in levels:
        tag = level.lower()
        for kind, current_first in (("concat", True), ("sum", True), ("stack", False)):
            try:
                layer = model.get_layer(f"aggregate_{kind}_{tag}")
            except ValueError:
                continue
            first, second = layer.input
            pairs[level] = (second, first) if current_first else (first, second)
            break
        else:
            raise ValueError(f"The model has no aggregation layer for pyramid level {level} (expected one named "
                             f"aggregate_{{concat,sum,stack}}_{tag}); is it a 2-frame model of models.build_*?")
    return pairs
