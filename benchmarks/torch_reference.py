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
    mse = torch.nn.MSELoss()
    step_model = torch.compile(model) if compile else model
    return _loop(step_model, lambda m, x: mse(m(x), x), data, batch_size, epochs, 1e-4, 1e-5, device)


def chapter_conv_autoencoder():
    from torch import nn

    class conv_autoencoder(nn.Module):  # the chapter's class, unchanged
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 16, 3, stride=3, padding=1), nn.ReLU(True), nn.MaxPool2d(2, stride=2),
                nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.ReLU(True), nn.MaxPool2d(2, stride=1))
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(8, 16, 3, stride=2), nn.ReLU(True),
                nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1), nn.ReLU(True),
                nn.ConvTranspose2d(8, 1, 2, stride=2, padding=1), nn.Tanh())

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return conv_autoencoder()


def chapter_vae():
    import torch.nn.functional as F
    from torch import nn

    class VariationalAutoEncoder(nn.Module):  # the chapter's class, its bugs fixed
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def forward(self, x):
            import torch

            h1 = F.relu(self.fc1(x))
            mu, logvar = self.fc21(h1), self.fc22(h1)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            return self.fc4(F.relu(self.fc3(z))), mu, logvar

    return VariationalAutoEncoder()


def _loop(model, loss_of, data, batch_size, epochs, lr, weight_decay, device) -> dict:
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = len(data) // batch_size

    def epoch():
        perm = torch.randperm(len(data), device=device)
        for i in range(steps):
            loss = loss_of(model, data[perm[i * batch_size : (i + 1) * batch_size]])
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


def conv_autoencoder_throughput(images, batch_size, epochs, device=None) -> dict:
    """The chapter's conv AE loop (MSE, Adam lr 1e-4, weight decay 1e-5) on [-1, 1] pixels in memory."""
    import torch

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(images[:, None].astype(np.float32) / 127.5 - 1.0).to(device)
    model = chapter_conv_autoencoder().to(device)
    mse = torch.nn.MSELoss()
    return _loop(model, lambda m, x: mse(m(x), x), data, batch_size, epochs, 1e-4, 1e-5, device)


def vae_throughput(images, batch_size, epochs, device=None) -> dict:
    """The chapter's VAE loop: summed BCE (on logits) + analytic KL, Adam lr 1e-4, pixels in [0, 1]."""
    import torch
    import torch.nn.functional as F

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0).to(device)
    model = chapter_vae().to(device)

    def loss_of(m, x):
        logits, mu, logvar = m(x)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    return _loop(model, loss_of, data, batch_size, epochs, 1e-4, 0.0, device)
