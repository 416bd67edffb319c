"""Encoders, decoders, aggregation and the builders of every network of the five papers."""
from models.builders import (build_auxnet, build_detseg, build_fusenet, build_msnet2, build_multinet_pp,
                             build_multitask, build_rnnet2, build_segnet, build_selfsup)
from models.encoders import BACKBONES, PYRAMID_LAYERS, build_encoder
from models.multitask_model import MultiTaskModel, NonFiniteLossError

__all__ = ["BACKBONES", "PYRAMID_LAYERS", "MultiTaskModel", "NonFiniteLossError", "build_auxnet", "build_detseg",
           "build_encoder", "build_fusenet", "build_msnet2", "build_multinet_pp", "build_multitask",
           "build_rnnet2", "build_segnet", "build_selfsup"]
