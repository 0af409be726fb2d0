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


def autoencoder_throughput(images: np.ndarray, batch_size: int, epochs: int, compile: bool | str = False,
                           device: str | None = None) -> dict:
    """The chapter's AE loop (MSE, Adam lr 1e-4, weight decay 1e-5) on [-1, 1] pixels held in memory."""
    import torch

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 127.5 - 1.0).to(device)
    model = chapter_autoencoder().to(device)
    mse = torch.nn.MSELoss()
    step_model = _compiled(model, compile)
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


def _compiled(model, compile: bool | str):
    """model, or torch.compile(model) (compile=True: default mode; a string: that mode, e.g.
    "reduce-overhead", which replays CUDA graphs on a GPU)."""
    import torch

    if not compile:
        return model
    return torch.compile(model, mode=compile if isinstance(compile, str) else None)


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

    return _timed(epoch, epochs, steps * batch_size, device)


def _timed(epoch, epochs, samples, device) -> dict:
    """Runs one warm-up epoch, then `epochs` timed ones."""
    import torch

    t0 = time.perf_counter()
    epoch()
    _sync(device)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch()
    _sync(device)
    epoch_s = (time.perf_counter() - t0) / epochs
    return {"samples_per_s": samples / epoch_s, "epoch_s": epoch_s, "first_epoch_s": warmup,
            "torch": torch.__version__, "torch_device": device}


def conv_autoencoder_throughput(images, batch_size, epochs, device=None, compile: bool | str = False) -> dict:
    """The chapter's conv AE loop (MSE, Adam lr 1e-4, weight decay 1e-5) on [-1, 1] pixels in memory."""
    import torch

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(images[:, None].astype(np.float32) / 127.5 - 1.0).to(device)
    model = chapter_conv_autoencoder().to(device)
    mse = torch.nn.MSELoss()
    model = _compiled(model, compile)
    return _loop(model, lambda m, x: mse(m(x), x), data, batch_size, epochs, 1e-4, 1e-5, device)


def vae_throughput(images, batch_size, epochs, device=None, compile: bool | str = False) -> dict:
    """The chapter's VAE loop: summed BCE (on logits) + analytic KL, Adam lr 1e-4, pixels in [0, 1]."""
    import torch
    import torch.nn.functional as F

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0).to(device)
    model = chapter_vae().to(device)
    model = _compiled(model, compile)

    def loss_of(m, x):
        logits, mu, logvar = m(x)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    return _loop(model, loss_of, data, batch_size, epochs, 1e-4, 0.0, device)


class ChapterRBM:
    """The chapter's RBM class (torch.mm + bernoulli), with its update's transposes fixed and a
    learning rate added (the chapter's update has lr = 1 and a W of shape (hidden, visible) updated by
    a (visible, hidden) matrix)."""

    def __init__(self, num_visible_nodes, num_hidden_nodes, device):
        import torch

        self.W = torch.randn(num_hidden_nodes, num_visible_nodes, device=device) * 0.01
        self.a = torch.zeros(1, num_hidden_nodes, device=device)
        self.b = torch.zeros(1, num_visible_nodes, device=device)

    def sample_hidden_nodes(self, x):
        import torch

        p_h_given_v = torch.sigmoid(torch.mm(x, self.W.t()) + self.a.expand(x.shape[0], -1))
        return p_h_given_v, torch.bernoulli(p_h_given_v)

    def sample_visible_nodes(self, y):
        import torch

        p_v_given_h = torch.sigmoid(torch.mm(y, self.W) + self.b.expand(y.shape[0], -1))
        return p_v_given_h, torch.bernoulli(p_v_given_h)

    def train(self, v0, vk, ph0, phk, lr):
        import torch

        self.W += lr * (torch.mm(v0.t(), ph0) - torch.mm(vk.t(), phk)).t() / v0.shape[0]
        self.b += lr * torch.sum((v0 - vk), 0) / v0.shape[0]
        self.a += lr * torch.sum((ph0 - phk), 0) / v0.shape[0]


def rbm_throughput(images, batch_size, epochs, k=1, n_hidden=500, device=None) -> dict:
    """The chapter's CD-k loop on statically binarized images (no momentum, as in the chapter)."""
    import torch

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy((images.reshape(len(images), -1) > 127).astype(np.float32)).to(device)
    rbm = ChapterRBM(data.shape[1], n_hidden, device)
    steps = len(data) // batch_size

    def epoch():
        perm = torch.randperm(len(data), device=device)
        for i in range(steps):
            v0 = data[perm[i * batch_size : (i + 1) * batch_size]]
            vk = v0
            ph0, _ = rbm.sample_hidden_nodes(v0)
            for _ in range(k):
                _, hk = rbm.sample_hidden_nodes(vk)
                _, vk = rbm.sample_visible_nodes(hk)
            phk, _ = rbm.sample_hidden_nodes(vk)
            rbm.train(v0, vk, ph0, phk, 0.05)

    return _timed(epoch, epochs, steps * batch_size, device)


def sklearn_rbm_throughput(images, batch_size, epochs, n_hidden=500) -> dict:
    """scikit-learn's BernoulliRBM (PCD-1) at the same size and batch: fit() with n_iter epochs."""
    from sklearn.neural_network import BernoulliRBM

    data = (images.reshape(len(images), -1) > 127).astype(np.float64)
    rbm = BernoulliRBM(n_components=n_hidden, batch_size=batch_size, learning_rate=0.05, n_iter=1, random_state=0)
    t0 = time.perf_counter()
    rbm.fit(data)  # warm-up epoch
    warmup = time.perf_counter() - t0
    rbm.n_iter = epochs
    t0 = time.perf_counter()
    rbm.fit(data)
    epoch_s = (time.perf_counter() - t0) / epochs
    return {"samples_per_s": len(data) / epoch_s, "epoch_s": epoch_s, "first_epoch_s": warmup}


def chapter_recommender_throughput(ratings, batch_size, epochs, k=10, n_hidden=200, device=None) -> dict:
    """The chapter's MovieLens RBM epoch with its bugs fixed (users x movies like/dislike matrix, -1 for
    unrated and clamped back after each Gibbs step, CD-10, 200 hidden units): `ratings` is the
    (n_users, n_items) uint8 training matrix."""
    import torch

    device = device or default_device()
    torch.manual_seed(0)
    data = torch.from_numpy(ratings.astype(np.float32)).to(device)
    data[data == 0] = -1
    data[(data == 1) | (data == 2)] = 0
    data[data >= 3] = 1
    rbm = ChapterRBM(data.shape[1], n_hidden, device)
    steps = len(data) // batch_size

    def epoch():
        for i in range(steps):
            v0 = data[i * batch_size : (i + 1) * batch_size]
            vk = v0.clone()
            ph0, _ = rbm.sample_hidden_nodes(v0)
            for _ in range(k):
                _, hk = rbm.sample_hidden_nodes(vk)
                _, vk = rbm.sample_visible_nodes(hk)
                vk[v0 < 0] = v0[v0 < 0]
            phk, _ = rbm.sample_hidden_nodes(vk)
            rbm.train(v0, vk, ph0, phk, 1.0)

    return _timed(epoch, epochs, steps * batch_size, device)
