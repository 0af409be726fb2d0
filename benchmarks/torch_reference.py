"""The chapter's PyTorch training loops, written plainly (eager, data in memory), as references."""
from __future__ import annotations

import time

import numpy as np


def chapter_autoencoder():
    from torch import nn

    class autoencoder_model(nn.Module):  # the chapter's class, unchanged
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Linear(28 * 28, 128), nn.ReLU(True), nn.Linear(128, 64), nn.ReLU(True),
                nn.Linear(64, 12), nn.ReLU(True), nn.Linear(12, 3))
            self.decoder = nn.Sequential(
                nn.Linear(3, 12), nn.ReLU(True), nn.Linear(12, 64), nn.ReLU(True),
                nn.Linear(64, 128), nn.ReLU(True), nn.Linear(128, 28 * 28), nn.Tanh())

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return autoencoder_model()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def autoencoder_throughput(images: np.ndarray, batch_size: int, epochs: int, compile: bool = False,
                           device: str | None = None) -> dict:
    """The chapter's AE loop (MSE, Adam lr 1e-4, weight decay 1e-5) on [-1, 1] pixels held in memory."""
    import torch

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 127.5 - 1.0).to(device)
    model = chapter_autoencoder().to(device)
    criterion = torch.nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-5)
    step_model = torch.compile(model) if compile else model
    steps = len(data) // batch_size

    def epoch():
        perm = torch.randperm(len(data), device=device)
        for i in range(steps):
            image = data[perm[i * batch_size : (i + 1) * batch_size]]
            output = step_model(image)
            loss = criterion(output, image)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return loss.item()

    t0 = time.perf_counter()
    epoch()
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    _sync(device)
    epoch_s = (time.perf_counter() - t0) / epochs
    return {"samples_per_s": steps * batch_size / epoch_s, "epoch_s": epoch_s, "first_epoch_s": warmup,
            "torch": torch.__version__, "torch_device": device}
