"""Pictures: image grids (Pillow) and training curves (matplotlib, Agg)."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image


def grid(images: np.ndarray, columns: int = 8, pad: int = 2, zoom: int = 2) -> Image.Image:
    """Tiles (n, h, w) float images in [0, 1] into one grayscale picture, `columns` per row."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w = images.shape
    rows = -(-n // columns)
    canvas = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad), np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = img
    picture = Image.fromarray((canvas * 255).round().astype(np.uint8), mode="L")
    return picture.resize((picture.width * zoom, picture.height * zoom), Image.Resampling.NEAREST)


def save_reconstructions(originals: np.ndarray, reconstructions: np.ndarray, path: str, columns: int = 8) -> None:
    """Saves originals (top rows) above their reconstructions (bottom rows); both (n, h, w) in [0, 1]."""
    n = originals.shape[0]
    columns = min(columns, n)
    both = np.concatenate([originals, np.asarray(reconstructions).reshape(originals.shape)])
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    grid(both, columns).save(path)


def save_grid(images: np.ndarray, path: str, columns: int = 8) -> None:
    """Saves (n, h, w) float images in [0, 1] as one grid picture."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    grid(images, columns).save(path)


def save_latent_map(codes: np.ndarray, labels: np.ndarray, path: str, title: str = "") -> None:
    """Scatter of (n, 2) codes coloured by integer label, with a legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7)
    ax.legend(*points.legend_elements(), title="label", loc="best", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_curves(history: list[dict], path: str) -> None:
    """Plots train_loss and test_* metrics per epoch from metrics.jsonl records."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    names = [k for k in (history[0] if history else {}) if k == "train_loss" or k.startswith("test_")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in names:
        ax.plot(epochs, [r.get(name, np.nan) for r in history], marker="o", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
