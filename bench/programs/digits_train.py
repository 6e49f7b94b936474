"""A user's own training script, as a W&B user writes one: argparse options, wandb.init with
them as config, a small PyTorch MLP on scikit-learn's digits, val_acc logged every epoch."""
import argparse

import torch
from sklearn.datasets import load_digits

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
run = wandb.init(project="bench-programs", config=vars(args))
config = wandb.config
digits = load_digits()
x = torch.tensor(digits.data, dtype=torch.float32) / 16
y = torch.tensor(digits.target)
train, val = slice(0, 1437), slice(1437, None)
model = torch.nn.Sequential(torch.nn.Linear(64, config.hidden), torch.nn.ReLU(),
                            torch.nn.Linear(config.hidden, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
for epoch in range(1, config.epochs + 1):
    for batch in torch.randperm(1437).split(32):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x[train][batch]), y[train][batch]).backward()
        optimizer.step()
    with torch.no_grad():
        val_acc = (model(x[val]).argmax(1) == y[val]).float().mean().item()
    wandb.log({"epoch": epoch, "val_acc": val_acc})
wandb.finish()
