"""What `python -m models.predict` and `python -m models.export` share: reading a user's model file and turning a
user's mistake into one clear line on stderr with exit code 2 instead of a traceback."""
import os
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

USAGE_ERROR_EXIT = 2


class UsageError(Exception):
    """A bad option, file or missing package; its message names the culprit and says what to do."""


def run_command(main, argv=None):
    """Runs `main(argv)`; a `UsageError` prints `error: message` and exits 2, anything else is a real bug."""
    try:
        return main(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR_EXIT


def load_model(path):
    """A `MultiTaskModel` from a `.keras` file (or a run folder holding `model.keras`), without its optimizer."""
    import keras

    import models
    import models.detection  # noqa: F401  (registers the YOLO head for deserialisation)

    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.keras")):
        path = os.path.join(path, "model.keras")
    if not os.path.isfile(path):
        raise UsageError(f"--model {path}: no such file (a .keras file written by model.save, or a run folder "
                         f"of python -m reproduce with --keep-models).")
    if not path.endswith(".keras"):
        raise UsageError(f"--model {path}: expected a .keras file written by model.save(...), not "
                         f"{os.path.splitext(path)[1] or 'a file without extension'}.")
    if not zipfile.is_zipfile(path):
        raise UsageError(f"--model {path} is not a .keras archive (a .keras file is a zip written by model.save).")
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for foreign or damaged files
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"--model {path} is not a Keras model this library can read ({reason[:300]}).") from None
    if not isinstance(model, models.MultiTaskModel):
        raise UsageError(f"--model {path} is a Keras model but not a multi-task model of this library (a "
                         f"models.MultiTaskModel with outputs keyed by task, made by models.build_*).")
    return model


def parse_size(text, option):
    """"HxW" -> (H, W), both positive multiples of 32 (the encoders' output stride)."""
    try:
        height, width = (int(value) for value in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected HEIGHTxWIDTH such as 224x384.") from None
    if height < 32 or width < 32 or height % 32 or width % 32:
        raise UsageError(f"{option} {text}: height and width must be positive multiples of 32 (the encoders "
                         f"downsample by 32).")
    return height, width


def check_tasks(model, tasks, option="--head"):
    """The tasks named in a comma-separated option, each one of the model's."""
    names = [name.strip() for name in tasks.split(",") if name.strip()]
    unknown = [name for name in names if name not in model.tasks]
    if not names or unknown:
        raise UsageError(f"{option} {tasks!r}: this model's tasks are {', '.join(model.tasks)}"
                         + (f"; unknown: {', '.join(unknown)}." if unknown else "."))
    return names


def add_model_argument(parser):
    parser.add_argument("--model", required=True, help="a .keras file (model.save) or a run folder with model.keras")
    add_import_argument(parser)


def add_import_argument(parser):
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="a module of yours to import first (a dotted name or a .py path), e.g. one that registers "
                             "a task or a weighting strategy; repeatable")


def import_modules(names):
    """Imports the --import modules; a module that cannot be found is a UsageError naming it."""
    from common.user_modules import UserModuleError, import_user_modules

    try:
        return import_user_modules(names)
    except UserModuleError as error:
        raise UsageError(str(error)) from None
