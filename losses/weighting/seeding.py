"""Random draws of the random weighting strategies (RLW's weights, PCGrad's and GradVac's task orders, GradDrop's
thresholds) as pure functions of (seed, step).

A random strategy keeps a step counter in one of its Keras variables and draws with the pair [seed + stream, step]
through keras.random's stateless generators (tf.random.stateless_*, jax.random), so:
- every replica of a tf.distribute run draws the same numbers (the counter is a mirrored variable that every
  replica advances alike), and they are the numbers one device draws at the same step: a distributed run follows
  the one-device run draw for draw;
- a model restored from a `.keras` file continues the stream where it stopped (the counter is saved with it);
- the same seed gives the same run, on either backend's own generator.
Keras' `SeedGenerator` would keep a second state variable that each replica advances on its own; a seed here is a
value, not a generator.
"""
import random

import keras
from keras import ops

#: keeps the seeds of the streams of one strategy apart (any odd prime works; streams are few)
_STREAM_STRIDE = 7919
_SEED_LIMIT = 2**31 - 1


def resolve_seed(seed):
    """The seed a random strategy records in its config: `seed` itself, or for None one drawn from Python's
    `random` (which `keras.utils.set_random_seed` seeds), so that a saved model replays its stream."""
    if seed is None:
        return random.randint(0, _SEED_LIMIT - 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_LIMIT:
        raise ValueError(f"`seed` must be None or an integer in [0, {_SEED_LIMIT}); got {seed!r}.")
    return seed


class StepSeed(keras.random.SeedGenerator):
    """The `seed=` argument of one keras.random draw: the fixed pair [seed + stream, step].

    Args:
        seed: the strategy's integer seed.
        step: the strategy's step counter (a scalar tensor or variable, float or int).
        stream: separates several draws of one step (e.g. one per gradient block).
    """

    def __init__(self, seed, step, stream=0):
        # SeedGenerator.__init__ would create a state variable (not allowed inside a compiled step, and advanced per
        # replica); this seed is a value, so only the part of the interface keras.random reads is provided: next().
        self.name = "step_seed"
        # JAX's raw keys are uint32 pairs; TensorFlow's stateless ops take int32 (keras casts int64 to it anyway).
        dtype = "uint32" if keras.backend.backend() == "jax" else "int32"
        first = ops.convert_to_tensor((seed + _STREAM_STRIDE * stream) % _SEED_LIMIT, dtype="int32")
        self._value = ops.cast(ops.stack([first, ops.cast(step, "int32")]), dtype)

    def next(self, ordered=True):
        return self._value
