"""What the search anchors of `cargo bench --bench search` share: their command line (the
space's budget, as the bench passes it) and the dataset read as features and string labels."""
import argparse

import numpy as np
import pandas as pd


def arguments(extra=()):
    """The bench's arguments; `extra` adds (name, type, default) options."""
    p = argparse.ArgumentParser()
    p.add_argument("csv")
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--min-epochs", type=int, default=5)
    p.add_argument("--eta", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    for name, kind, default in extra:
        p.add_argument(name, type=kind, default=default)
    return p.parse_args()


def table(csv):
    """The features as float32 and the label column as strings."""
    df = pd.read_csv(csv)
    y = df.pop("label").astype(str)
    return df.to_numpy(np.float32), y
