"""scikit-learn's side of `cargo bench --bench search`: HalvingRandomSearchCV (experimental)
with MLPClassifier over the same space (less dropout, which MLPClassifier has not), the epochs
(max_iter) as the resource from --min-epochs to --epochs by --eta, stratified k-fold, scored
by the held-out log loss. One thread.

Prints a JSON line: the best mean log loss, its parameters, wall seconds.
"""
import json
import time
import warnings

import sklearn
from scipy.stats import loguniform
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingRandomSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from search_args import arguments, table


def main():
    a = arguments()
    x, y = table(a.csv)
    y = y.to_numpy()
    model = make_pipeline(StandardScaler(), MLPClassifier(
        solver="adam", batch_size=64, alpha=0.0, shuffle=True, random_state=a.seed))
    space = {
        "mlpclassifier__learning_rate_init": loguniform(1e-4, 1e-1),
        "mlpclassifier__hidden_layer_sizes": [(32,), (128, 64), (256, 256)],
    }
    search = HalvingRandomSearchCV(
        model, space, n_candidates=a.trials, factor=a.eta, resource="mlpclassifier__max_iter",
        min_resources=a.min_epochs, max_resources=a.epochs,
        cv=StratifiedKFold(a.folds, shuffle=True, random_state=a.seed),
        scoring="neg_log_loss", random_state=a.seed, n_jobs=1, refit=False)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    search.fit(x, y)
    wall = time.perf_counter() - start
    print(json.dumps({
        "anchor": "sklearn_halving", "best_log_loss": -float(search.best_score_),
        "best_params": {k.split("__")[1]: str(v) for k, v in search.best_params_.items()},
        "wall_seconds": wall, "sklearn": sklearn.__version__,
    }))


if __name__ == "__main__":
    main()
