"""Base class of the task-weighting strategies (DESIGN.md, "Losses and task weighting").

A strategy turns the per-task losses of one batch into the total loss that the optimizer minimises.
Every strategy is a `keras.layers.Layer` so that its state (learned log variances, moving averages,
epoch-level loss history) is tracked, saved and restored with the model that owns it. All state is
created in `__init__`, because the task names are known at construction; nothing waits for a first call.

Conventions shared by every subclass:
- losses enter as a dict task -> scalar and are stacked into a float32 vector in `self.tasks` order;
- `_total(loss_vector)` is the differentiable total loss (keras.ops only; it may update state with
  `Variable.assign`, which also works inside a compiled train step);
- `_weight_vector(loss_vector)` is the closed-form d total / d L_task for those losses, given the
  state left by the latest `combine`.
"""
import inspect

import keras
from keras import ops

EPSILON = 1e-12


def _validate_tasks(tasks):
    if isinstance(tasks, str) or not isinstance(tasks, (list, tuple)):
        raise ValueError(
            f"`tasks` must be a list or tuple of task names, e.g. ['segmentation', 'depth']; got {tasks!r}."
        )
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError("`tasks` must name at least one task; got an empty sequence.")
    if not all(isinstance(task, str) and task for task in tasks):
        raise ValueError(f"`tasks` must contain non-empty strings only; got {tasks!r}.")
    duplicates = sorted({task for task in tasks if tasks.count(task) > 1})
    if duplicates:
        raise ValueError(f"`tasks` must be unique; repeated: {duplicates}.")
    return tasks


def check_number(argument, value, minimum=None, maximum=None, integer=False, open_minimum=False, open_maximum=False):
    """Returns `value` as a float (an int if `integer`); raises ValueError naming `argument` unless it is such a
    number in [minimum, maximum] (`open_minimum` / `open_maximum`: that bound excluded)."""
    kinds = (int,) if integer else (int, float)
    valid = not isinstance(value, bool) and isinstance(value, kinds)
    if valid and minimum is not None:
        valid = value > minimum if open_minimum else value >= minimum
    if valid and maximum is not None:
        valid = value < maximum if open_maximum else value <= maximum
    if not valid:
        bounds = [f"{'>' if open_minimum else '>='} {minimum}" if minimum is not None else "",
                  f"{'<' if open_maximum else '<='} {maximum}" if maximum is not None else ""]
        raise ValueError(f"`{argument}` must be {'an integer' if integer else 'a number'} "
                         f"{' and '.join(filter(None, bounds))}; got {value!r}.".replace("  ", " ").replace(" ;", ";"))
    return int(value) if integer else float(value)


class WeightingStrategy(keras.layers.Layer):
    """Combines per-task losses into one differentiable total loss.

    Args:
        tasks: list/tuple of task names; the order is kept (it decides e.g. which task is the
            reference of the loss-ratio strategies or the main task of FTWB when not given).
    """

    #: True for the strategies that combine per-task gradients (losses/weighting/gradient.py): the model's train
    #: step then computes one gradient per task and hands them to the strategy
    needs_task_gradients = False
    #: False for a strategy without task weights (GradDrop): `task_weights` is empty and the logs carry no
    #: `{task}_weight`
    has_task_weights = True

    def __init__(self, tasks, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.tasks = _validate_tasks(tasks)
        self.num_tasks = len(self.tasks)
        # task_weights needs the losses that the loss-dependent strategies (GLS, FLS, TWB...) saw last.
        self.last_losses = self._state_variable("last_losses", initial_value=1.0)
        self._create_state()
        self.built = True

    # ---- construction helpers -------------------------------------------------------------------
    def _create_state(self):
        """Creates the strategy's own variables; called once from `__init__`."""

    def _state_variable(self, name, initial_value=1.0, shape=None, trainable=False):
        shape = (self.num_tasks,) if shape is None else shape
        return self.add_weight(
            shape=shape,
            initializer=keras.initializers.Constant(initial_value),
            dtype="float32",
            trainable=trainable,
            # Under tf.distribute each replica assigns the state from its own losses; keep their mean.
            aggregation="none" if trainable else "mean",
            name=name,
        )

    def _task_index(self, task, argument):
        if task not in self.tasks:
            raise ValueError(f"`{argument}` must be one of the tasks {list(self.tasks)}; got {task!r}.")
        return self.tasks.index(task)

    @classmethod
    def option_names(cls):
        """The options `losses.weighting.get(name, tasks, **options)` accepts for this strategy."""
        parameters = inspect.signature(cls.__init__).parameters
        return tuple(
            name
            for name, parameter in parameters.items()
            if name not in ("self", "tasks") and parameter.kind is not inspect.Parameter.VAR_KEYWORD
        )

    # ---- public API --------------------------------------------------------------------------------
    def combine(self, losses, training=True):
        """Returns the total loss (float32 scalar) for a dict task -> scalar loss. With `training=False`
        (evaluation batches) the strategies whose state follows the training steps (FAMO, RLW) leave it alone."""
        loss_vector = self._loss_vector(losses)
        total = self._total(loss_vector) if training else self._evaluation_total(loss_vector)
        self.last_losses.assign(ops.stop_gradient(loss_vector))
        return total

    def call(self, losses):
        return self.combine(losses)

    def effective_weights(self, losses):
        """d total / d L_task at these losses (closed form), as a dict task -> scalar tensor; for the gradient
        strategies the weights alpha of the latest combination; empty without task weights."""
        if not self.has_task_weights:
            return {}
        weights = self._weight_vector(self._loss_vector(losses))
        return {task: weights[index] for index, task in enumerate(self.tasks)}

    def end_epoch(self, epoch, mean_losses):
        """Epoch-level update; prepares the weights of epoch `epoch + 1` (epochs counted from 0)."""

    @property
    def task_weights(self):
        """The current d total / d L_task of each task as python floats (at the last losses seen)."""
        if not self.has_task_weights:
            return {}
        weights = ops.convert_to_numpy(self._weight_vector(ops.convert_to_tensor(self.last_losses)))
        return {task: float(weights[index]) for index, task in enumerate(self.tasks)}

    def get_config(self):
        config = super().get_config()
        config["tasks"] = list(self.tasks)
        return config

    # ---- subclass hooks ----------------------------------------------------------------------------
    def _total(self, loss_vector):
        raise NotImplementedError

    def _weight_vector(self, loss_vector):
        raise NotImplementedError

    def _evaluation_total(self, loss_vector):
        """The total of an evaluation batch (default: as in training)."""
        return self._total(loss_vector)

    # ---- shared helpers ----------------------------------------------------------------------------
    def _loss_vector(self, losses, argument="losses"):
        if not isinstance(losses, dict):
            raise ValueError(f"`{argument}` must be a dict task -> scalar loss; got {type(losses).__name__}.")
        missing = [task for task in self.tasks if task not in losses]
        extra = sorted(set(losses) - set(self.tasks))
        if missing or extra:
            raise ValueError(
                f"`{argument}` must have exactly the keys {list(self.tasks)}; missing {missing}, unexpected {extra}."
            )
        return ops.stack(
            [ops.reshape(ops.cast(losses[task], "float32"), ()) for task in self.tasks]
        )

    def _mean_loss_vector(self, mean_losses):
        # Epoch means arrive as python floats from the model; tensors are accepted too.
        return self._loss_vector(
            {task: ops.convert_to_tensor(value, dtype="float32") for task, value in dict(mean_losses).items()}
            if isinstance(mean_losses, dict)
            else mean_losses,
            argument="mean_losses",
        )


class LinearWeightingStrategy(WeightingStrategy):
    """total = sum_i w_i L_i with weights held in a non-trainable variable (constants for autodiff)."""

    def _create_state(self):
        self.loss_weights = self._state_variable("loss_weights", initial_value=1.0)

    def _total(self, loss_vector):
        return ops.sum(ops.stop_gradient(ops.convert_to_tensor(self.loss_weights)) * loss_vector)

    def _weight_vector(self, loss_vector):
        return ops.convert_to_tensor(self.loss_weights)
