"""Where independent training runs execute: in this process one after another, or as Ray tasks spread over the
GPUs of a host or the hosts of a Ray cluster.

Ray does the scheduling, placement and fault handling: a run asks Ray for the resources of one run
(`run_resources`: one GPU, or without GPUs all the CPUs of the smallest node, so a 2-core machine trains one
candidate at a time), and a worker process that dies is retried once by Ray (`max_retries=1`) before the run
counts as failed. An exception raised by the run itself is not retried: it is the run's failure.

Both executors have one method, `map(function, items, after=None)`, which yields `(item, value, failure)` as runs
finish, `failure` being None or the reason (a string). `function` must be picklable for Ray (a module-level function
or an instance of a module-level class). `after` ({item: [items it needs]}, hashable items) holds an item back until
the items it needs (those among `items`; others count as available) have finished without failure: Ray gets the
items that are ready, the executor waits for any to finish and submits what became ready, and so on. An item whose
prerequisite failed is not run; it is yielded with the failure "waits for X, which failed".
"""
import logging
import os

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the local instance's shared-memory object store; runs exchange file paths, not tensors, so little is needed
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 ** 2
#: the address that starts a local Ray instance (as no address does)
LOCAL = "local"


def failure_reason(error):
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:300] if text else type(error).__name__


class InProcessExecutor:
    """Runs each item in this process, in order (debugging, notebooks, cheap analytic objectives)."""

    def map(self, function, items, after=None):
        items = list(items)
        prerequisites = _Prerequisites(items, after)
        for item in items:
            blocked = prerequisites.blocked(item)
            if blocked is not None:
                yield item, None, blocked
                continue
            try:
                value = function(item)
            except Exception as error:  # the run failed; the search records why and goes on
                prerequisites.finished(item, ok=False)
                yield item, None, failure_reason(error)
            else:
                prerequisites.finished(item, ok=True)
                yield item, value, None


class _Prerequisites:
    """Which items of a `map` may start: those whose prerequisites among the items finished without failure."""

    def __init__(self, items, after):
        # without `after` nothing is tracked, so items need not be hashable (the search's candidates are not)
        self.after = {item: [p for p in needed if p in items] for item, needed in (after or {}).items()}
        self.done, self.failed = set(), set()

    def blocked(self, item):
        """The failure of an item that must not run (a prerequisite failed, or has not run), else None."""
        if not self.after:
            return None
        for prerequisite in self.after.get(item, ()):
            if prerequisite in self.failed:
                self.failed.add(item)
                return f"waits for {prerequisite}, which failed"
            if prerequisite not in self.done:
                self.failed.add(item)
                return f"waits for {prerequisite}, which comes after it"
        return None

    def ready(self, item):
        return not self.after or all(p in self.done for p in self.after.get(item, ()))

    def doomed(self, item):
        return bool(self.after) and any(p in self.failed for p in self.after.get(item, ()))

    def finished(self, item, ok):
        if self.after:
            (self.done if ok else self.failed).add(item)


def connect_ray(address=None, num_cpus=None):
    """Joins the Ray cluster at `address` ("auto", "HOST:PORT" or "ray://HOST:10001"), or starts a local instance
    with `num_cpus` (default: every CPU) and every GPU of this machine when `address` is None or "local". Workers
    get this repository on their path and the driver's Keras backend; on a cluster every node needs the repository
    and the data at the same paths, and the output folder on a shared file system (runs hand checkpoints over by
    path). Inside a Ray task (a search that a reproduction runs on Ray) it does nothing: the task's cluster is used."""
    import ray

    if ray.is_initialized():
        return
    python_path = os.pathsep.join(p for p in (REPOSITORY, os.environ.get("PYTHONPATH")) if p)
    env_vars = {"PYTHONPATH": python_path, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    if os.environ.get("KERAS_BACKEND"):
        env_vars["KERAS_BACKEND"] = os.environ["KERAS_BACKEND"]
    options = dict(runtime_env={"env_vars": env_vars}, logging_level=logging.WARNING, configure_logging=True)
    if address in (None, LOCAL):
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                 **options)
    else:
        ray.init(address=address, **options)


def run_resources(whole_node=False):
    """Ray resources of one run on the connected cluster: one GPU when it has GPUs, else every CPU of its
    smallest node (one CPU-bound run per node: two runs on one node only compete for the same cores).
    `whole_node`: every GPU of the smallest GPU node (a run that mirrors itself over a node's GPUs)."""
    import ray

    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    gpus = [int(resources["GPU"]) for resources in nodes if resources.get("GPU", 0) >= 1]
    if gpus:
        return {"num_gpus": min(gpus) if whole_node else 1, "num_cpus": 1}
    return {"num_cpus": max(1, int(min(resources.get("CPU", 1) for resources in nodes)))}


def _call(function, item):
    return function(item)


class RayExecutor:
    """Runs the items as concurrent Ray tasks, each with `resources` (default: `run_resources()`; a dict, or a
    function item -> dict for items that need other resources).

    `address`: as `connect_ray`; the executor connects on first use. `retries`: how often Ray re-runs an item
    whose worker process died (not one that raised). Items still running when the caller stops iterating (or is
    interrupted) are cancelled; their runs resume from their own backups next time.
    """

    def __init__(self, address=None, resources=None, retries=1):
        self.address, self.resources, self.retries = address, resources, retries

    def map(self, function, items, after=None):
        import ray

        items = list(items)
        if not items:
            return  # nothing to run: no cluster to join (everything was cached)
        connect_ray(self.address)
        prerequisites = _Prerequisites(items, after)
        default = None if self.resources is not None else run_resources()
        remotes = {}

        def submit(item):
            resources = self.resources(item) if callable(self.resources) else (self.resources or default)
            key = tuple(sorted(resources.items()))
            if key not in remotes:
                remotes[key] = ray.remote(_call).options(max_retries=self.retries, retry_exceptions=False,
                                                         **resources)
            return remotes[key].remote(function, item)

        waiting, pending = list(items), {}
        try:
            while waiting or pending:
                for item in [item for item in waiting if prerequisites.doomed(item)]:
                    waiting.remove(item)
                    yield item, None, prerequisites.blocked(item)
                for item in [item for item in waiting if prerequisites.ready(item)]:
                    waiting.remove(item)
                    pending[submit(item)] = item
                if not pending:
                    if waiting:  # what they wait for is not coming: a cycle in `after`
                        raise ValueError(f"the items {waiting} wait for each other")
                    break
                done, _ = ray.wait(list(pending), num_returns=1)
                for reference in done:
                    item = pending.pop(reference)
                    value, failure = self._result(reference)
                    prerequisites.finished(item, ok=failure is None)
                    yield item, value, failure
        finally:
            for reference in pending:  # the caller stopped early or was interrupted
                ray.cancel(reference, force=True)

    def _result(self, reference):
        import ray

        try:
            return ray.get(reference), None
        except ray.exceptions.RayTaskError as error:  # the run itself raised
            cause = error.cause if error.cause is not None else error
            return None, failure_reason(cause)
        except ray.exceptions.RayError as error:  # its worker process died, also on the retry
            return None, (f"worker process died ({self.retries} retr{'y' if self.retries == 1 else 'ies'} included): "
                          f"{failure_reason(error)}")
