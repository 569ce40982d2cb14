"""PyTorch reference for crossfold's sequence families, the recipe `cargo bench --bench families`
runs on crossfold: per-channel standardization fitted on the training split; the given TRAIN/TEST
split; Adam 1e-3 with cosine decay to 0 over the epochs (CosineAnnealingLR, stepped per epoch),
batch 16, no early stopping; one thread; seeds 0..SEEDS-1.
  lstm:     nn.LSTM(hidden 64, 1 layer), additive attention with the last valid state as the
            query (as ../shared/reference/bench/gru_attention_torch.py for the GRU),
            logits = Linear([context; last state]).
  fcn:      Wang et al. 2017: Conv1d(128, k 8) BN ReLU, Conv1d(256, k 5) BN ReLU, Conv1d(128, k 3)
            BN ReLU, global average pooling, Linear. Convolutions padding "same", no bias.
  resnet1d: Wang et al. 2017: three residual blocks (64, 128, 128 filters) of Conv1d k 8, 5, 3
            with BN (ReLU after the first two), a shortcut (1x1 Conv1d + BN when the channels
            change, else BN), ReLU of the sum; global average pooling, Linear.
Sequences of different lengths are padded per batch; the convolutional families mask what is
past each length (zero before every convolution, out of batch norm's statistics and the pooling),
so a sequence is convolved as if alone, as crossfold does.
Prints one JSON line per (family, dataset): test accuracies, their mean and std, and the median
training sequences/s.
Usage: OMP_NUM_THREADS=1 python3 families_torch.py DATA_DIR FAMILY DATASET
Environment: EPOCHS (per family: lstm 150, fcn 100, resnet1d 100), SEEDS (5).
"""
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Using padding='same'")
EPOCHS = {"lstm": 150, "fcn": 100, "resnet1d": 100}


def read_ts(path):
    xs, ys, data = [], [], False
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if not data:
            continue
        *dims, label = line.split(":")
        xs.append(np.array([[float(v) for v in d.split(",")] for d in dims], dtype=np.float32).T)
        ys.append(label)
    return xs, ys


class Lstm(nn.Module):
    def __init__(self, d, k, h=64):
        super().__init__()
        self.lstm = nn.LSTM(d, h, batch_first=True)
        self.W_s = nn.Linear(h, h, bias=False)
        self.W_h = nn.Linear(h, h, bias=False)
        self.v = nn.Linear(h, 1, bias=False)
        self.output = nn.Linear(2 * h, k)

    def forward(self, x, lengths, mask):
        H, _ = self.lstm(x)
        s = H[torch.arange(H.shape[0]), lengths - 1]
        e = self.v(torch.tanh(self.W_s(s)[:, None, :] + self.W_h(H))).squeeze(-1)
        a = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
        return self.output(torch.cat([torch.einsum("bt,bth->bh", a, H), s], dim=1))


class MaskedBN(nn.BatchNorm1d):
    """BatchNorm1d over the valid steps only (m: (B, 1, T) of 0/1); 0 past each length."""

    def forward(self, h, m):
        if not self.training:
            y = F.batch_norm(h, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
            return y * m
        n = m.sum()
        mean = (h * m).sum((0, 2)) / n
        var = (((h - mean[None, :, None]) * m) ** 2).sum((0, 2)) / n
        with torch.no_grad():
            self.running_mean.mul_(0.9).add_(0.1 * mean)
            self.running_var.mul_(0.9).add_(0.1 * var * n / (n - 1))
        y = (h - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        return (y * self.weight[None, :, None] + self.bias[None, :, None]) * m


class Unit(nn.Module):
    def __init__(self, c_in, c_out, k):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, k, padding="same", bias=False)
        self.bn = MaskedBN(c_out)


class Block(nn.Module):
    def __init__(self, c_in, filters, kernels, residual):
        super().__init__()
        chans = [c_in] + [filters] * len(kernels)
        self.units = nn.ModuleList([Unit(chans[i], filters, k) for i, k in enumerate(kernels)])
        self.residual = residual
        if residual:
            self.shortcut = nn.Module()
            if c_in != filters:
                self.shortcut.conv = nn.Conv1d(c_in, filters, 1, bias=False)
            self.shortcut.bn = MaskedBN(filters)

    def forward(self, h, m):
        x = h
        for u, unit in enumerate(self.units):
            h = unit.bn(unit.conv(h), m)
            if not (self.residual and u == len(self.units) - 1):
                h = torch.relu(h)
        if self.residual:
            s = self.shortcut
            h = torch.relu(h + s.bn(s.conv(x) if hasattr(s, "conv") else x, m))
        return h


class ConvNet(nn.Module):
    def __init__(self, d, k, filters, kernels, residual):
        super().__init__()
        blocks, c = [], d
        for i, f in enumerate(filters):
            blocks.append(Block(c, f, kernels if residual else [kernels[i]], residual))
            c = f
        self.blocks = nn.ModuleList(blocks)
        self.output = nn.Linear(c, k)

    def forward(self, x, lengths, mask):
        m = mask[:, None, :].to(x.dtype)
        h = x.transpose(1, 2) * m
        for block in self.blocks:
            h = block(h, m)
        return self.output(h.sum(2) / lengths[:, None].to(x.dtype))


def build(family, d, k):
    if family == "lstm":
        return Lstm(d, k)
    if family == "fcn":
        return ConvNet(d, k, [128, 256, 128], [8, 5, 3], False)
    return ConvNet(d, k, [64, 128, 128], [8, 5, 3], True)


def pad(xs, mean, std):
    T, d = max(len(x) for x in xs), xs[0].shape[1]
    X = np.zeros((len(xs), T, d), dtype=np.float32)
    M = np.zeros((len(xs), T), dtype=bool)
    for i, x in enumerate(xs):
        X[i, : len(x)] = (x - mean) / std
        M[i, : len(x)] = True
    return torch.tensor(X), torch.tensor([len(x) for x in xs]), torch.tensor(M)


def run(data_dir, family, name, seed, epochs, batch=16):
    xtr, ytr = read_ts(f"{data_dir}/{name}_TRAIN.ts")
    xte, yte = read_ts(f"{data_dir}/{name}_TEST.ts")
    classes = sorted(set(ytr))
    cat = np.concatenate(xtr)
    mean, std = cat.mean(0), cat.std(0) + 1e-8
    Xtr, Ltr, Mtr = pad(xtr, mean, std)
    Xte, Lte, Mte = pad(xte, mean, std)
    Ytr = torch.tensor([classes.index(y) for y in ytr])
    Yte = np.array([classes.index(y) for y in yte])
    torch.manual_seed(seed)
    net = build(family, Xtr.shape[2], len(classes))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Ytr), generator=g)
        for i in range(0, len(perm), batch):
            idx = perm[i: i + batch]
            T = int(Ltr[idx].max())
            loss = F.cross_entropy(net(Xtr[idx, :T], Ltr[idx], Mtr[idx, :T]), Ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        schedule.step()
    secs = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(Xte[i:i + 256], Lte[i:i + 256], Mte[i:i + 256]).argmax(1)
                          for i in range(0, len(Yte), 256)]).numpy()
    return float((pred == Yte).mean()), len(Ytr) * epochs / secs


if __name__ == "__main__":
    data_dir, family, name = sys.argv[1], sys.argv[2], sys.argv[3]
    epochs = int(os.environ.get("EPOCHS", EPOCHS[family]))
    accs, rates = [], []
    for seed in range(int(os.environ.get("SEEDS", 5))):
        a, r = run(data_dir, family, name, seed, epochs)
        accs.append(a)
        rates.append(r)
    print(json.dumps({"family": family, "dataset": name, "torch": torch.__version__, "epochs": epochs,
                      "test_accuracy_mean": round(float(np.mean(accs)), 4),
                      "test_accuracy_std": round(float(np.std(accs)), 4),
                      "accuracies": [round(a, 4) for a in accs],
                      "train_samples_per_s_median": round(float(np.median(rates)), 1)}), flush=True)
