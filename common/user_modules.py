"""`--import MODULE`: a user's own task or weighting-strategy module, loaded before anything else on a command line.

Such a module registers what it defines when imported (`tasks.register(...)`, `@keras.saving.
register_keras_serializable` for its layers and losses, `losses.weighting.register(...)` for a strategy), so the
rest of the command (reading a `.keras` file, building a model, training) finds it by name. MODULE is a dotted
module name importable from the current folder or `sys.path`, or a path to a `.py` file.
"""
import importlib
import importlib.util
import os
import sys


class UserModuleError(ImportError):
    """A --import value that cannot be loaded; the message names it."""


def import_user_modules(names, option="--import"):
    """Imports each module of `names` (dotted names or .py paths) in order; returns the modules."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # `python -m` puts the cwd first too; a console script may not
    return [_import_one(name, option) for name in names or ()]


def portable(names):
    """`names` as another process (a Ray worker started elsewhere) can import them: .py paths made absolute."""
    return tuple(os.path.abspath(name) if name.endswith(".py") else name for name in names or ())


def _import_one(name, option):
    if name.endswith(".py"):
        if not os.path.isfile(name):
            raise UserModuleError(f"{option} {name}: no such file.")
        module_name = os.path.splitext(os.path.basename(name))[0]
        known = sys.modules.get(module_name)
        if known is not None and os.path.abspath(getattr(known, "__file__", "") or "") == os.path.abspath(name):
            return known  # a worker that runs many tasks imports it once: registering twice would clash
        spec = importlib.util.spec_from_file_location(module_name, name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and name.startswith(error.name):
            raise UserModuleError(f"{option} {name}: no module of that name on the path (run from the folder that "
                                  f"holds {name.replace('.', '/')}.py, add its folder to PYTHONPATH, or pass the "
                                  f".py file's path).") from None
        raise
