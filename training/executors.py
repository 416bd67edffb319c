"""Where independent training runs execute: in this process one after another, or as Ray tasks spread over the
GPUs of a host or the hosts of a Ray cluster.

Ray does the scheduling, placement and fault handling: a run asks Ray for the resources of one run
(`run_resources`: one GPU, or without GPUs all the CPUs of the smallest node, so a 2-core machine trains one
candidate at a time), and a worker process that dies is retried once by Ray (`max_retries=1`) before the run
counts as failed. An exception raised by the run itself is not retried: it is the run's failure.

Both executors have one method, `map(function, items)`, which yields `(item, value, failure)` as runs finish,
`failure` being None or the reason (a string). `function` must be picklable for Ray (a module-level function or
an instance of a module-level class).
"""
import logging
import os

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the local instance's shared-memory object store; runs exchange file paths, not tensors, so little is needed
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 ** 2


def failure_reason(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


class InProcessExecutor:
    """Runs each item in this process, in order (debugging, notebooks, cheap analytic objectives)."""

    def map(self, function, items):
        for item in items:
            try:
                value = function(item)
            except Exception as error:  # the run failed; the search records why and goes on
                yield item, None, failure_reason(error)
            else:
                yield item, value, None


def connect_ray(address=None, num_cpus=None):
    """Joins the Ray cluster at `address` ("auto", "HOST:PORT" or "ray://HOST:10001"), or starts a local instance
    with `num_cpus` (default: every CPU) and every GPU of this machine when `address` is None. Workers get this repository on their path
    and the driver's Keras backend; on a cluster every node needs the repository and the data at the same
    paths, and the output folder on a shared file system (runs hand checkpoints over by path)."""
    import ray

    if ray.is_initialized():
        return
    python_path = os.pathsep.join(p for p in (REPOSITORY, os.environ.get("PYTHONPATH")) if p)
    env_vars = {"PYTHONPATH": python_path, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    if os.environ.get("KERAS_BACKEND"):
        env_vars["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]
    options = dict(runtime_env={"env_vars": env_vars}, logging_level=logging.WARNING, configure_logging=True)
    if address is None:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 **options)
    else:
        ray.init(address=address, **options)


def run_resources():
    """Ray resources of one run on the connected cluster: one GPU when it has GPUs, else every CPU of its
    smallest node (one CPU-bound run per node: two runs on one node only compete for the same cores)."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    if any(resources.get("GPU", 0) >= 1 for resources in nodes):
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": max(1, int(min(resources.get("CPU", 1) for resources in nodes)))}


def _call(function, item):
    return function(item)


class RayExecutor:
    """Runs the items as concurrent Ray tasks, each with `resources` (default: `run_resources()`).

    `address`: as `connect_ray`; the executor connects on first use. `retries`: how often Ray re-runs an item
    whose worker process died (not one that raised).
    """

    def __init__(self, address=None, resources=None, retries=1):
        self.address, self.resources, self.retries = address, resources, retries

    def map(self, function, items):
        import ray

        connect_ray(self.address)
        resources = self.resources or run_resources()
        remote = ray.remote(_call).options(max_retries=self.retries, retry_exceptions=False, **resources)
        pending = {remote.remote(function, item): item for item in items}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for reference in done:
                item = pending.pop(reference)
                try:
                    value = ray.get(reference)
                except ray.exceptions.RayTaskError as error:  # the run itself raised
                    cause = error.cause if error.cause is not None else error
                    yield item, None, failure_reason(cause)
                except ray.exceptions.RayError as error:  # its worker process died, also on the retry
                    yield item, None, (f"worker process died ({self.retries} retr{'y' if self.retries == 1 else 'ies'}"
                                       f" included): {failure_reason(error)}")
                else:
                    yield item, value, None
