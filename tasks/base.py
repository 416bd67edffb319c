"""`Task`: everything the package knows about one kind of output, and the registry the layers look tasks up in.

A task says what its head ends with, how it is trained (its default loss, the target it reads), how it is scored
(streaming Keras metrics during `fit`, whole-set scores after it), how the input pipeline makes its target, and how
its output is drawn and saved (TensorBoard panels, `python -m models.predict` pictures and `.npy` arrays). Every
layer that used to branch on task names asks the task instead, so a new task is one module:

    import tasks

    class EdgesTask(tasks.Task):
        name, activation, channels = "edges", "sigmoid", 1
        fields = ("depth",)                            # what the readers must give for its target
        def derive(self, inputs, targets, options):    # the target, made after augmentation
            ...
    tasks.register(EdgesTask())

and `python -m models.predict --import my_tasks ...` (or `import my_tasks` in a notebook) makes it known. The
built-in tasks (segmentation, motion, depth, colorization, disparity, detection) are modules of this package.

The methods have working defaults for a dense, per-pixel task whose target is one field of the data; a task
overrides what differs. The pipeline's part runs in TensorFlow (tf.data); everything else uses keras.ops or numpy.
"""

_REGISTRY = {}


class Task:
    """One kind of output. Subclasses set the class attributes and override the methods that differ."""

    #: the output's name in a model's output dict, in targets and in logs
    name = None
    #: the activation the head ends with (None: the task has its own head, `head` says how to build it)
    activation = "linear"
    #: default output channels (None: the builder must be told, e.g. the number of classes)
    channels = None
    #: the outputs are per-class probabilities: the arg-max is the prediction (label tasks)
    class_probabilities = False
    #: the target value that marks a pixel without label (losses and metrics skip it), or None
    ignore_value = None
    #: fields the readers give that the target is made of (None: the task's own field, `name`)
    fields = None
    #: the targets entry `fit` reads for this task (None: `name`; stereo disparity reads "right_image")
    target = None
    #: the targets entry holding the ground truth this task's output is compared with in panels and
    #: evaluation (None: `target_key`)
    truth = None
    #: the target is made from the images alone (colorization): stereo views may then be swapped and flipped
    from_images = False

    # ---------------------------------------------------------------- names
    @property
    def data_fields(self):
        return tuple(self.fields) if self.fields is not None else (self.name,)

    @property
    def target_key(self):
        return self.target or self.name

    @property
    def truth_key(self):
        return self.truth or self.target_key

    @property
    def derived(self):
        """The target is computed by `derive` after augmentation rather than read as one field."""
        return type(self).derive is not Task.derive

    def __repr__(self):
        return f"<task {self.name!r} ({type(self).__module__}.{type(self).__name__})>"

    # ---------------------------------------------------------------- input pipeline (TensorFlow, in tf.data)
    def derive(self, inputs, targets, options):
        """The target of one example from its inputs and decoded fields (after augmentation), or None when the
        target is the field `name` itself. `options`: the pipeline options of data.load."""
        return None

    # ---------------------------------------------------------------- model
    def head(self, pyramid, channels, name, decoder):
        """The task's output tensor on an encoder's pyramid; `decoder(pyramid, channels, activation, name)` is the
        builder's decoder (FCN8 or U-Net)."""
        if self.activation is None:
            raise ValueError(f"task {self.name!r} has its own head; build it with the builder made for it.")
        return decoder(pyramid, channels, self.activation, name)

    def training_target(self, inputs, targets):
        """What the loss compares the output with, from the batch's inputs and targets (keras.ops)."""
        return targets[self.target_key]

    def loss(self, **options):
        """The default `keras.losses.Loss` of the task."""
        raise NotImplementedError(f"task {self.name!r} has no default loss; pass one to compile(loss={{...}}).")

    def loss_options(self, channels):
        """Constructor options the default loss needs from the model (e.g. the number of classes)."""
        return {}

    # ---------------------------------------------------------------- scores
    def streaming_metrics(self, channels, prefix, **options):
        """Streaming Keras metrics for compile(metrics=...), named `{prefix}{score}`; [] when the task has none."""
        return []

    def evaluator(self, channels, context):
        """An object with `update(predicted, targets, first_index)` and `scores() -> {"task/score": value}` that
        scores a whole split after training (reproduce.evaluation), or None. `context` knows the run: its class
        set, depth unit, image size."""
        return None

    def sample(self, predicted):
        """What the qualitative figures keep of a batch of predictions."""
        return predicted.argmax(-1) if self.class_probabilities else predicted

    # ---------------------------------------------------------------- pictures and saved arrays (numpy)
    def panel(self, prediction, truth, image, painter):
        """(prediction tile, ground-truth tile or None), each (h, w, 3) uint8, for the TensorBoard panels.
        `painter`: training.callbacks.PredictionPanels (palette(task, channels), renderers(), model)."""
        raise NotImplementedError(f"task {self.name!r} has no TensorBoard panel")

    def output_at_size(self, value, image, renderer):
        """The saved `.npy` of one image: the raw output (h, w, C) turned into the task's result at the image's
        size. `renderer`: models.predict.Renderer (input size, units, class set)."""
        raise NotImplementedError(f"task {self.name!r} has no prediction output")

    def picture(self, image, output, renderer):
        """(H, W, 3) uint8 picture of `output_at_size`'s result over or beside the image."""
        raise NotImplementedError(f"task {self.name!r} has no prediction picture")

    def unit(self, renderer):
        """The unit key (data/depth_units.py) the saved values are in, for summaries; None for unitless ones."""
        return None


def register(task, replace=False):
    """Makes `task` (a `Task` instance) known to every layer under `task.name`; returns it."""
    if not isinstance(task, Task):
        raise TypeError(f"register() takes a tasks.Task instance, got {type(task).__name__}")
    if not isinstance(task.name, str) or not task.name.isidentifier():
        raise ValueError(f"a task's name must be an identifier (it names outputs, targets and logs), got {task.name!r}")
    if task.name in _REGISTRY and not replace and type(_REGISTRY[task.name]) is not type(task):
        raise ValueError(f"task {task.name!r} is already registered as {_REGISTRY[task.name]!r}; pass replace=True "
                         f"to replace it.")
    _REGISTRY[task.name] = task
    return task


def get_task(name):
    """The registered `Task` called `name`; a clear error listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(_REGISTRY))}. A task of your "
                         f"own is registered with tasks.register(...) in a module you import first (the command "
                         f"lines take --import MODULE).") from None


def find_task(name):
    """The registered `Task` called `name`, or None."""
    return _REGISTRY.get(name)


def registered():
    """Names of every registered task, in registration order."""
    return tuple(_REGISTRY)
