"""`python -m reproduce PAPER --estimate [--gpu-images-per-second R]`: what the full budget costs, without training.

For each distinct network of the selection (builder, options, image size; the weighting strategy changes little of a
step's time) it times a few training steps
on one batch of the run's own data on this machine (after one step that builds and traces), and multiplies by the
images the runs would train on: epochs x the train split's batches x batch size (a meta-learning search: x its
evaluations), the budget `python -m reproduce` would give them with the same options. Runs already finished in OUT
are not counted. With `--gpu-images-per-second R` it adds the hours at a stated training throughput (images per
second of the GPU you have in mind; one number for every network, so a coarse figure).
"""
import dataclasses
import json
import time

TIMED_STEPS = 3


@dataclasses.dataclass
class NetworkTiming:
    key: str
    runs: int = 0
    images: int = 0
    seconds_per_image: float = None
    tasks: list = None


def network_key(experiment, settings):
    from reproduce.plan import run_image_size

    return json.dumps([experiment.builder, experiment.builder_options, run_image_size(experiment, settings)],
                      sort_keys=True, default=str)


def images_of(plan, name, tasks):
    """Images run `name` of `plan` trains on under its budget (a search: all its evaluations)."""
    from reproduce.recipe import training_data

    plan_budget = plan.budget(name)
    _, steps = training_data(plan[name], plan.settings, plan_budget, tasks)
    images = plan_budget.epochs * steps * plan_budget.batch_size
    if plan[name].search is not None:
        images *= int(plan_budget.search.get("max_evaluations", 1))
    return images


def seconds_per_image(plan, name):
    """(wall seconds per training image of run `name`'s network at its batch size on this machine, its tasks)."""
    import keras

    from models.fused_adam import FusedAdam
    from reproduce.plan import run_image_size
    from reproduce.recipe import build_model, loss_overrides, training_data

    experiment, settings = plan[name], plan.settings
    plan_budget = dataclasses.replace(plan.budget(name), steps_per_epoch=1)
    model = build_model(experiment, "random", run_image_size(experiment, settings))
    model.compile(optimizer=FusedAdam(plan.learning_rate(name)), weighting=experiment.weighting,
                  weighting_options=experiment.weighting_options or None, loss=loss_overrides(experiment) or None)
    train, _ = training_data(experiment, settings, plan_budget, model.tasks)
    inputs, targets = next(iter(train))
    model.train_on_batch(inputs, targets)  # builds and traces
    started = time.perf_counter()
    for _ in range(TIMED_STEPS):
        model.train_on_batch(inputs, targets)
    elapsed = time.perf_counter() - started
    keras.backend.clear_session()
    return elapsed / (TIMED_STEPS * int(next(iter(inputs.values())).shape[0])), list(model.tasks)


def estimate(selection, settings, gpu_images_per_second=None, echo=print, plan=None):
    """Prints and returns {network key: NetworkTiming} of the selection's runs that are not finished."""
    from reproduce.lifecycle import is_cached

    plan = plan or selection.plan(settings)
    names = [name for name in plan.order(selection.experiments()) if not is_cached(plan, name)]
    timings = {}
    echo(f"{len(names)} runs to train ({len(plan.order(selection.experiments())) - len(names)} finished in "
         f"{settings.out}); timing {TIMED_STEPS} steps of each network on this machine")
    for name in names:
        experiment = plan[name]
        key = network_key(experiment, settings)
        if key not in timings:
            timings[key] = NetworkTiming(key)
            timings[key].seconds_per_image, timings[key].tasks = seconds_per_image(plan, name)
        timings[key].runs += 1
        timings[key].images += images_of(plan, name, timings[key].tasks)
    header = "| network | runs | images | hours here |" + (" hours at the GPU rate |" if gpu_images_per_second else "")
    echo(header)
    echo("|---|---|---|---|" + ("---|" if gpu_images_per_second else ""))
    total_images = total_hours = 0.0
    for key, timing in timings.items():
        hours = timing.images * timing.seconds_per_image / 3600
        total_images += timing.images
        total_hours += hours
        builder, options, size = json.loads(key)
        row = (f"| {builder}({_options(options)}) at {size[0]}x{size[1]} | {timing.runs} | {timing.images:,} | "
               f"{hours:,.1f} |")
        if gpu_images_per_second:
            row += f" {timing.images / gpu_images_per_second / 3600:,.1f} |"
        echo(row)
    summary = f"total: {len(names)} runs, {int(total_images):,} images, {total_hours:,.1f} hours on this machine"
    if gpu_images_per_second:
        summary += f", {total_images / gpu_images_per_second / 3600:,.1f} hours at {gpu_images_per_second:g} images/s"
    echo(summary)
    return timings


def _options(options):
    return ", ".join(f"{key}={value!r}" for key, value in sorted(options.items()))
