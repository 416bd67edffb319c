"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018), as compared in MultiNet++
(Table 4), Leang et al. (IV-A.4) and Novosel et al. (eq. 5, "UW").

Each task has a learned log variance s_i = log sigma_i^2 (a trainable weight of this layer, initialised
to 0, i.e. sigma = 1). Kendall et al. derive two forms from the Gaussian / Boltzmann likelihoods:

- regression     (eq. 7 there):  L_i / (2 sigma_i^2) + log sigma_i  = 0.5 exp(-s_i) L_i + 0.5 s_i
- classification (eq. 10 there): L_i / sigma_i^2     + log sigma_i  =     exp(-s_i) L_i + 0.5 s_i

`form="regression"` (the default) uses the regression form for every task, which is what most public
implementations of the compared papers do and what keeps the weights of all tasks on one scale;
`form="classification"` uses the classification form for every task; `form="per_task"` uses the
regression form for the tasks in `regression_tasks` (default depth and disparity) and the
classification form for the others.

At constant losses both forms have the same fixed point in s_i (d/ds_i = 0): the effective weight
d total / d L_i tends to 1 / (2 L_i).
"""
import keras
from keras import ops

from losses.weighting.base import WeightingStrategy

FORMS = ("regression", "classification", "per_task")


@keras.saving.register_keras_serializable(package="mtl")
class UncertaintyWeightingStrategy(WeightingStrategy):
    """total = sum_i c_i exp(-s_i) L_i + 0.5 s_i, c_i = 0.5 (regression form) or 1 (classification form).

    Args:
        tasks: task names.
        form: "regression" (default), "classification" or "per_task".
        regression_tasks: with form="per_task", the tasks that use the regression form.
    """

    def __init__(self, tasks, form="regression", regression_tasks=("depth", "disparity"), **kwargs):
        super().__init__(tasks, **kwargs)
        if form not in FORMS:
            raise ValueError(f"`form` must be one of {list(FORMS)}; got {form!r}.")
        if isinstance(regression_tasks, str) or not isinstance(regression_tasks, (list, tuple)):
            raise ValueError(f"`regression_tasks` must be a list of task names; got {regression_tasks!r}.")
        self.form = form
        self.regression_tasks = tuple(regression_tasks)
        if form == "regression":
            self.likelihood_scales = [0.5] * self.num_tasks
        elif form == "classification":
            self.likelihood_scales = [1.0] * self.num_tasks
        else:
            self.likelihood_scales = [0.5 if task in self.regression_tasks else 1.0 for task in self.tasks]

    def _create_state(self):
        self.log_variances = self._state_variable("log_variances", initial_value=0.0, trainable=True)

    def _weight_vector(self, loss_vector):
        scales = ops.convert_to_tensor(self.likelihood_scales, dtype="float32")
        return scales * ops.exp(-ops.convert_to_tensor(self.log_variances))

    def _total(self, loss_vector):
        log_variances = ops.convert_to_tensor(self.log_variances)
        return ops.sum(self._weight_vector(loss_vector) * loss_vector + 0.5 * log_variances)

    def get_config(self):
        config = super().get_config()
        config.update(form=self.form, regression_tasks=list(self.regression_tasks))
        return config
